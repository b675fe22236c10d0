package queue

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func TestNotificationFormat(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	n := &notification{
		action:     "failed",
		hostname:   "mail.example-party.org",
		postmaster: "postmaster@example-party.org",
		to:         "alice@example-party.org",
		arrival:    now.Add(-time.Hour),
		date:       now,
		rcpts:      []string{"bob@example.org", "carol@example.org"},
		outcomes: []outcome{
			fromReply(errSMTP(550, "5.7.1 line one\nline two\r\nX-Injected: yes"), "mx.example.org[192.0.2.1]"),
			permf("5.1.10", "", "domain example.org accepts no mail (null MX, RFC 7505)"),
		},
		headers: []byte("Subject: hello\r\nFrom: alice@example-party.org\r\n"),
	}
	raw := string(n.bytes())
	for _, line := range strings.Split(raw, "\r\n") {
		if len(line) > 998 {
			t.Errorf("line of %d bytes", len(line))
		}
		if strings.HasPrefix(line, "X-Injected") {
			t.Errorf("a server's reply made a header field: %q", line)
		}
	}
	if strings.Contains(strings.ReplaceAll(raw, "\r\n", ""), "\n") {
		t.Error("bare LF in notification")
	}
	d := parseDSN(t, raw)
	f := d.rcptFields(t, "bob@example.org")
	if f.Get("Status") != "5.7.1" || f.Get("Remote-MTA") != "dns; mx.example.org" ||
		f.Get("Diagnostic-Code") != "smtp; 550 5.7.1 line one line two X-Injected: yes" ||
		f.Get("Last-Attempt-Date") != "Sun, 01 Mar 2026 12:00:00 +0000" {
		t.Errorf("bob: %v", f)
	}
	f = d.rcptFields(t, "carol@example.org")
	if f.Get("Status") != "5.1.10" || f.Get("Remote-MTA") != "" || !strings.HasPrefix(f.Get("Diagnostic-Code"), "X-caucus; ") {
		t.Errorf("carol: %v", f)
	}
	if d.perMessage.Get("Arrival-Date") != "Sun, 01 Mar 2026 11:00:00 +0000" {
		t.Errorf("per-message: %v", d.perMessage)
	}
	if d.headers != "Subject: hello\r\nFrom: alice@example-party.org\r\n\r\n" && d.headers != "Subject: hello\r\nFrom: alice@example-party.org\r\n" {
		t.Errorf("headers part %q", d.headers)
	}
}

func TestFromReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err    error
		class  int
		status string
	}{
		{errSMTP(550, "5.1.1 no"), 5, "5.1.1"},
		{errSMTP(450, "4.2.1 busy"), 4, "4.2.1"},
		{errSMTP(421, "closing"), 4, "4.0.0"},
		{errSMTP(554, "4.1.1 class mismatch"), 5, "5.0.0"},
		{errSMTP(250, "odd"), 4, "4.0.0"},
		{netErr("connection reset"), 4, "4.4.2"},
	}
	for _, tt := range tests {
		o := fromReply(tt.err, "mx")
		if o.class != tt.class || o.status != tt.status {
			t.Errorf("fromReply(%v) = %+v, want class %d status %s", tt.err, o, tt.class, tt.status)
		}
	}
}

// errSMTP makes the error go-smtp's client returns for a reply.
func errSMTP(code int, msg string) error {
	e := &smtp.SMTPError{Code: code, Message: msg}
	if first, rest, ok := strings.Cut(msg, " "); ok {
		var ec smtp.EnhancedCode
		if _, err := fmt.Sscanf(first, "%d.%d.%d", &ec[0], &ec[1], &ec[2]); err == nil {
			e.EnhancedCode, e.Message = ec, rest
		}
	}
	return e
}

func netErr(s string) error { return errors.New(s) }
