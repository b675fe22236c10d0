package store

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// mboxMessage is one message read back from an mboxrd file.
type mboxMessage struct {
	fromLine string
	headers  map[string]string // the added fields
	raw      string            // the message as stored, with LF line ends
}

var fromLineRE = regexp.MustCompile(`^From \S+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$`)

// parseMbox splits an mboxrd file at its "From " lines and undoes the
// ">From " quoting.
func parseMbox(t *testing.T, data string) []mboxMessage {
	t.Helper()
	if !strings.HasPrefix(data, "From ") {
		t.Fatalf("mbox does not start with a From line: %q", data[:min(len(data), 40)])
	}
	var out []mboxMessage
	var cur *mboxMessage
	var body []string
	flush := func() {
		if cur == nil {
			return
		}
		// The blank line that ends each message is not part of it.
		if n := len(body); n == 0 || body[n-1] != "" {
			t.Errorf("message %d does not end with a blank line", len(out))
		} else {
			body = body[:n-1]
		}
		// Split off the added header fields.
		cur.headers = map[string]string{}
		for len(body) > 0 {
			k, v, ok := strings.Cut(body[0], ": ")
			if !ok || !slices.Contains([]string{"X-Caucus-Mailbox", "Status", "X-Status", "X-Keywords"}, k) {
				break
			}
			cur.headers[k] = v
			body = body[1:]
		}
		cur.raw = strings.Join(body, "\n") + "\n"
		out = append(out, *cur)
	}
	lines := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
	for _, line := range lines {
		if strings.HasPrefix(line, "From ") {
			flush()
			if !fromLineRE.MatchString(line) {
				t.Errorf("bad From line %q", line)
			}
			cur, body = &mboxMessage{fromLine: line}, nil
			continue
		}
		if strings.HasPrefix(strings.TrimLeft(line, ">"), "From ") {
			line = line[1:]
		}
		body = append(body, line)
	}
	flush()
	return out
}

func TestExportMbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	e.account(t, 2)
	if err := e.s.CreateMailbox(ctx, acct, "Kampagne/Plakate ü"); err != nil {
		t.Fatal(err)
	}
	date := time.Date(2026, 3, 2, 11, 0, 0, 0, time.FixedZone("", 3600))
	if _, _, err := e.s.Append(ctx, acct, "INBOX", strings.NewReader(msgPlain), []imap.Flag{imap.FlagSeen, imap.FlagAnswered, "$Important"}, date); err != nil {
		t.Fatal(err)
	}
	e.append(t, acct, "INBOX", msgAlt)
	e.append(t, acct, "Kampagne/Plakate ü", msgMixed, imap.FlagFlagged)
	e.append(t, acct, "Sent", msgNoDate)
	noEOL := "From: x@example.org\r\nSubject: no final newline\r\n\r\nFrom here on\r\nlast line"
	e.append(t, acct, "Sent", noEOL)
	e.append(t, 2, "INBOX", msgLatin1) // another account's: not exported

	var buf bytes.Buffer
	if err := e.s.ExportMbox(ctx, acct, &buf); err != nil {
		t.Fatal(err)
	}
	msgs := parseMbox(t, buf.String())
	want := []struct {
		mailbox, raw, sender string
	}{
		{"INBOX", msgPlain, "anna@example.org"},
		{"INBOX", msgAlt, "clara@example.net"},
		{"=?utf-8?q?Kampagne/Plakate_=C3=BC?=", msgMixed, "bob@example.org"},
		{"Sent", msgNoDate, "grace@example.org"},
		{"Sent", noEOL + "\r\n", "x@example.org"},
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages in the mbox, want %d:\n%s", len(msgs), len(want), buf.String())
	}
	for i, w := range want {
		m := msgs[i]
		if got := m.headers["X-Caucus-Mailbox"]; got != w.mailbox {
			t.Errorf("message %d mailbox %q, want %q", i, got, w.mailbox)
		}
		if wantRaw := strings.ReplaceAll(w.raw, "\r\n", "\n"); m.raw != wantRaw {
			t.Errorf("message %d:\n got %q\nwant %q", i, m.raw, wantRaw)
		}
		if !strings.HasPrefix(m.fromLine, "From "+w.sender+" ") {
			t.Errorf("message %d From line %q", i, m.fromLine)
		}
	}
	if m := msgs[0]; m.headers["Status"] != "RO" || m.headers["X-Status"] != "A" || m.headers["X-Keywords"] != "$Important" ||
		m.fromLine != "From anna@example.org Mon Mar  2 10:00:00 2026" {
		t.Errorf("first message: %+v", m)
	}
	if m := msgs[2]; m.headers["Status"] != "O" || m.headers["X-Status"] != "F" {
		t.Errorf("third message: %+v", m.headers)
	}
	// The quoting is there in the file.
	for _, q := range []string{"\n>From the office", "\n>>From the archive", "\n>From here on"} {
		if !strings.Contains(buf.String(), q) {
			t.Errorf("mbox lacks %q", q)
		}
	}
	// An account without mail exports nothing.
	buf.Reset()
	if err := e.s.ExportMbox(ctx, 99, &buf); err != nil || buf.Len() != 0 {
		t.Errorf("empty export: %q %v", buf.String(), err)
	}
}

func TestExportMboxBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acct := e.account(t, 1)
	const n = mboxBatch + 7
	for i := range n {
		e.append(t, acct, "Archive", simple(fmt.Sprint("m", i), "x"))
	}
	var buf bytes.Buffer
	if err := e.s.ExportMbox(t.Context(), acct, &buf); err != nil {
		t.Fatal(err)
	}
	if msgs := parseMbox(t, buf.String()); len(msgs) != n {
		t.Errorf("%d messages, want %d", len(msgs), n)
	}
}
