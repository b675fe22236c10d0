package msgauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/caucus-org/caucus/internal/dns"
)

// testRSA is one RSA key shared by the tests, which would otherwise spend
// most of their time making keys.
var testRSA = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// testKeys returns an Ed25519 and an RSA key for domain.
func testKeys(t testing.TB, domain string) []DKIMKey {
	t.Helper()
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return []DKIMKey{
		{Domain: domain, Selector: "c2026e", Signer: ed},
		{Domain: domain, Selector: "c2026r", Signer: testRSA()},
	}
}

// publish adds the keys' DNS records to the mock.
func publish(m *dns.Mock, keys ...DKIMKey) {
	if m.TXT == nil {
		m.TXT = map[string][]string{}
	}
	for _, k := range keys {
		name, value := k.DNSRecord()
		m.TXT[name] = []string{value}
	}
}

// testMessage returns a message from the given From field value.
func testMessage(from string) []byte {
	return []byte("From: " + from + "\r\n" +
		"To: Anna Svensson <anna@example-party.org>\r\n" +
		"Subject: Meeting on Thursday\r\n" +
		"Date: Tue, 3 Mar 2026 10:00:00 +0100\r\n" +
		"Message-ID: <1@example.org>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"See you there.\r\n" +
		"-- \r\n" +
		"The secretary\r\n")
}

// sign signs msg with keys.
func sign(t testing.TB, msg []byte, keys ...DKIMKey) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := Sign(&out, bytes.NewReader(msg), keys); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// testLog sends log lines to the test's output.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// check runs a Checker on the mock for msg.
func check(t testing.TB, m *dns.Mock, ip, helo, mailFrom string, msg []byte) Result {
	t.Helper()
	c := NewChecker(m, "mx.caucus.test", testLog(t))
	in := Input{RemoteIP: net.ParseIP(ip), Helo: helo, MailFrom: mailFrom, Message: bytes.NewReader(msg), Size: int64(len(msg))}
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		in.Header = msg[:i+4]
	}
	res, err := c.Check(context.Background(), in)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return res
}

// dkimSummary returns "d/s=result ..." for the results.
func dkimSummary(rs []DKIMResult) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, r.Domain+"/"+r.Selector+"="+r.Result)
	}
	return strings.Join(parts, " ")
}
