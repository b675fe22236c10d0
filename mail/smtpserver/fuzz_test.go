package smtpserver

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/testtool"
)

// FuzzCommands feeds arbitrary command lines to the MX and to submission
// (signed in or not): no panic, no hang.
func FuzzCommands(f *testing.F) {
	for _, s := range []string{
		"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<anna@example-party.org>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n",
		"HELO x\r\nMAIL FROM:<> SIZE=10 BODY=8BITMIME\r\nRCPT TO:<anna@example-party.org> NOTIFY=NEVER\r\nBDAT 5 LAST\r\nhello",
		"EHLO x\r\nAUTH PLAIN AGFubmFAZXhhbXBsZS1wYXJ0eS5vcmcAeA==\r\n", "EHLO x\r\nAUTH LOGIN\r\nYQ==\r\nYg==\r\n",
		"EHLO x\r\nSTARTTLS\r\n", "EHLO x\r\nMAIL FROM:<a@b.c\r\n", "RCPT TO:<>\r\n", "VRFY x\r\nEXPN y\r\nRSET\r\nNOOP\r\n",
		"EHLO x\r\nMAIL FROM:<\x00@\xff>\r\n", "DATA\r\n.\r\n",
		"EHLO x\r\nEHLO a\x00b\r\nNOOP\r\n", "EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<PostMaster> NOTIFY=NEVER\r\n",
		"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<anna@example-party.org>\r\nDATA\r\nFrom : a@b.c\r\nFrom: c@d.e\r\n\r\n" + strings.Repeat("x", 2100) + "\r\n.\r\nRSET\r\n",
	} {
		f.Add(uint8(0), []byte(s))
		f.Add(uint8(1), []byte(s))
	}
	plog := &testtool.PanicLog{}
	e := newEnvLog(f, Config{MaxConnsPerAddr: 1 << 20}, plog)
	m := e.member(f, "anna@example-party.org")
	_ = m
	f.Fuzz(func(t *testing.T, port uint8, input []byte) {
		addr := e.mx
		if port%2 == 1 {
			addr = e.sub
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		done := make(chan struct{})
		go func() { io.Copy(io.Discard, c); close(done) }()
		c.Write(input)
		io.WriteString(c, "\r\nQUIT\r\n")
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
		if p := plog.Seen(); p != "" {
			t.Fatalf("server panicked on %q: %s", input, p)
		}
	})
}

func FuzzLoginServer(f *testing.F) {
	f.Add([]byte("user"), []byte("pass"), []byte("extra"))
	f.Add([]byte{}, []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		var gotUser, gotPass string
		s := newLoginServer(func(u, p string) error { gotUser, gotPass = u, p; return nil })
		for i, resp := range [][]byte{a, b, c} {
			_, done, err := s.Next(resp)
			if len(resp) > maxLoginField && err == nil {
				t.Fatalf("step %d: %d-byte answer accepted", i, len(resp))
			}
			if done || err != nil {
				break
			}
		}
		_ = gotUser + gotPass
	})
}
