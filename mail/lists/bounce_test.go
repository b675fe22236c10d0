package lists

import (
	"fmt"
	"strings"
	"testing"
)

// dsn is a notification (RFC 3464) for rcpt with the action and status.
func dsn(rcpt, action, status string) []byte {
	return []byte(strings.ReplaceAll(fmt.Sprintf(`From: MAILER-DAEMON@mx.outside.example
To: news+b@example-party.org
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain

Your message could not be delivered.
--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.outside.example
Arrival-Date: Mon, 1 Jun 2026 10:00:00 +0000

Final-Recipient: rfc822; %s
Original-Recipient: rfc822;%s
Action: %s
Status: %s
Diagnostic-Code: smtp; 550 5.1.1 <%s>: Recipient address rejected:
  User unknown

--B1
Content-Type: text/rfc822-headers

Subject: Hello
--B1--
`, rcpt, rcpt, action, status, rcpt), "\n", "\r\n"))
}

func TestParseDSN(t *testing.T) {
	t.Parallel()
	got, err := ParseDSN(dsn("gone@outside.example", "failed", "5.1.1"))
	if err != nil {
		t.Fatal(err)
	}
	want := DSNRecipient{FinalRecipient: "gone@outside.example", Action: "failed", Status: "5.1.1",
		Diagnostic: "smtp; 550 5.1.1 <gone@outside.example>: Recipient address rejected: User unknown"}
	if len(got) != 1 || got[0] != want || !got[0].Permanent() {
		t.Errorf("ParseDSN = %+v, want %+v", got, want)
	}
	for _, bad := range [][]byte{
		[]byte("From: a@b\r\nSubject: hi\r\n\r\nno report"),
		[]byte("Content-Type: multipart/report; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n"),
		[]byte("Content-Type: multipart/report; boundary=x\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; a\r\n--x--\r\n"),
	} {
		if _, err := ParseDSN(bad); err == nil {
			t.Errorf("ParseDSN(%q) took it", bad)
		}
	}
}

// TestBounceSuspends: three permanent failures to a subscriber's return
// path suspend it; delays, a forged return path and plain mail count
// nothing; a suspended address gets no copies.
func TestBounceSuspends(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := t.Context()
	f.svc.Subscribe(ctx, "admin", f.list, "gone@outside.example", SourceAdmin, "")
	subs, _ := f.svc.Subscribers(ctx, f.list)
	verp := "news+" + f.svc.verpTag(f.list, subs[0].ID) + "@example-party.org"
	forged := "news+b-" + fmt.Sprint(subs[0].ID) + "-0000000000000000@example-party.org"
	for _, tc := range []struct {
		rcpt string
		msg  []byte
	}{
		{forged, dsn("gone@outside.example", "failed", "5.1.1")},
		{forged, dsn("gone@outside.example", "failed", "5.1.1")},
		{forged, dsn("gone@outside.example", "failed", "5.1.1")},
		{verp, dsn("gone@outside.example", "delayed", "4.4.1")},
		{verp, dsn("gone@outside.example", "failed", "4.2.2")},
		{verp, []byte("From: x@y\r\nSubject: out of office\r\n\r\nback soon")},
		{verp, dsn("gone@outside.example", "failed", "5.1.1")},
		{verp, dsn("gone@outside.example", "failed", "5.1.1")},
	} {
		if err := f.svc.Accept(ctx, Inbound{Rcpt: tc.rcpt, From: "", Msg: tc.msg}); err != nil {
			t.Fatal(err)
		}
	}
	subs, _ = f.svc.Subscribers(ctx, f.list)
	if subs[0].State != StateActive || subs[0].HardBounces != 2 {
		t.Fatalf("after two permanent failures: %+v", subs[0])
	}
	if err := f.svc.Accept(ctx, Inbound{Rcpt: verp, Msg: dsn("gone@outside.example", "failed", "5.1.1")}); err != nil {
		t.Fatal(err)
	}
	subs, _ = f.svc.Subscribers(ctx, f.list)
	if subs[0].State != StateSuspended || subs[0].HardBounces != 3 || !strings.HasPrefix(subs[0].LastBounce, "5.1.1") {
		t.Fatalf("after three: %+v", subs[0])
	}
	f.svc.Accept(ctx, Inbound{Rcpt: "news@example-party.org", From: "anna@example-party.org", Login: "anna@example-party.org", Msg: post("anna@example-party.org", "x")})
	f.svc.SendPending(ctx)
	if _, ok := byRcpt(t, f.sender.take())["gone@outside.example"]; ok {
		t.Error("a suspended address got a copy")
	}
}

func FuzzParseDSN(f *testing.F) {
	f.Add(dsn("a@b.example", "failed", "5.1.1"))
	f.Add([]byte("Content-Type: multipart/report; boundary=x\r\n\r\n--x\r\nContent-Type: message/global-delivery-status\r\n\r\nA: b\r\n\r\nFinal-Recipient: utf-8; ü@x\r\nAction: failed\r\nStatus: 5.0.0\r\n--x--\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rcpts, err := ParseDSN(b)
		if err == nil && (len(rcpts) == 0 || len(rcpts) > maxDSNRcpts) {
			t.Fatalf("%d recipients without an error", len(rcpts))
		}
		for _, r := range rcpts {
			if len(r.Diagnostic) > maxDSNField {
				t.Fatalf("diagnostic of %d bytes", len(r.Diagnostic))
			}
		}
	})
}

// TestParseDSNLimits: a notification with more recipient blocks than
// maxDSNRcpts is read up to the limit, and a field longer than
// maxDSNField is cut.
func TestParseDSNLimits(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n")
	for i := range maxDSNRcpts + 10 {
		fmt.Fprintf(&b, "\r\nFinal-Recipient: rfc822; r%d@x.example\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; %s\r\n", i, strings.Repeat("d", 2*maxDSNField))
	}
	b.WriteString("--x--\r\n")
	got, err := ParseDSN([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != maxDSNRcpts {
		t.Errorf("%d recipients, want %d", len(got), maxDSNRcpts)
	}
	if len(got[0].Diagnostic) != maxDSNField {
		t.Errorf("diagnostic of %d bytes, want %d", len(got[0].Diagnostic), maxDSNField)
	}
}
