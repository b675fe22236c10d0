package mailimport

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mboxWriter builds an mbox file as Google Takeout writes one: LF line
// ends, mboxrd quoting, an X-Gmail-Labels field.
type mboxWriter struct{ b bytes.Buffer }

// add appends a message (CRLF or LF line ends) with labels ("" none).
func (w *mboxWriter) add(msg []byte, labels string) {
	w.b.WriteString("From 1234567890123456789@xxx Mon Mar 02 09:30:00 +0000 2026\n")
	text := strings.ReplaceAll(string(msg), "\r\n", "\n")
	if labels != "" {
		text = "X-Gmail-Labels: " + labels + "\n" + text
	}
	for _, line := range strings.SplitAfter(text, "\n") {
		if strings.HasPrefix(strings.TrimLeft(line, ">"), "From ") {
			w.b.WriteString(">")
		}
		w.b.WriteString(line)
	}
	if !strings.HasSuffix(text, "\n") {
		w.b.WriteString("\n")
	}
	w.b.WriteString("\n")
}

// crlf gives msg CRLF line ends.
func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n"))
}

// withLabels is what caucus stores of a message written by add: the
// label field, then the message, CRLF, without the empty line that
// separates mbox entries.
func withLabels(msg []byte, labels string) []byte {
	s := strings.ReplaceAll(string(msg), "\r\n", "\n")
	if labels != "" {
		s = "X-Gmail-Labels: " + labels + "\n" + s
	}
	return crlf(s)
}

// TestTakeoutMbox imports a Takeout-like mbox with labels, quoted and
// unquoted "From " lines, odd folder names and corrupt entries: every
// good message lands once in each of its labels' folders, the bad ones
// are in the report with the reason.
func TestTakeoutMbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start()
	dir := t.TempDir()
	var w mboxWriter
	w.b.WriteString("garbage before any From line\nmore garbage\n\n")
	m1 := testMessage(1, 500, "")
	w.add(m1, "Inbox,Important,Unread,Work/Projects")
	w.add(testMessage(2, 500, ""), "Sent")
	w.add(testMessage(3, 500, ""), "Archived")
	quoted := []byte("From: a@example.org\r\nSubject: quoting\r\nMessage-ID: <q@example.org>\r\n\r\nFrom the start, this line was quoted.\r\n>From this one too.\r\n\r\nFrom here on the body says From without a date.\r\n")
	// As an mboxrd writer quotes it, but for a "From " line that a
	// careless writer left alone.
	w.b.WriteString("From x@y Mon Mar 02 09:30:00 +0000 2026\nX-Gmail-Labels: Starred,Inbox\nFrom: a@example.org\nSubject: quoting\nMessage-ID: <q@example.org>\n\n" +
		">From the start, this line was quoted.\n>>From this one too.\n\nFrom here on the body says From without a date.\n\n")
	w.add(testMessage(5, 300, ""), `"Clients, Europe",Inbox`)
	w.add(testMessage(6, 300, ""), "Projekt")
	w.add(testMessage(7, 300, ""), "projekt")
	w.add(testMessage(8, 300, ""), "Caf\u00e9")
	w.add(testMessage(9, 300, ""), "Cafe\u0301")
	w.add(testMessage(10, 300, ""), "Bad*Name%,a/./b")
	w.add([]byte("Subject no colon line\nX: y\n\nnot MIME at all\n"), "Inbox")
	w.add([]byte("From: c@example.org\nContent-Type: text/plain; charset=x-unknown-42\n\nbytes \xff\xfe\xfd\n"), "Inbox")
	w.b.WriteString("From MAILER-DAEMON Mon Mar 02 09:30:00 +0000 2026\n\nno header here\n\n")
	w.add(m1, "Inbox,Important,Unread,Work/Projects") // the same message again
	w.b.WriteString("From MAILER-DAEMON Mon Mar 02 09:30:00 +0000 2026\nSubject: cut\n\nthe file ends in the mid")
	path := filepath.Join(dir, "All mail Including Spam and Trash.mbox")
	if err := os.WriteFile(path, w.b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	id, err := e.im.Start(context.Background(), Request{AccountID: 1, Actor: "admin", Subject: "member", Source: SourceSpec{Kind: KindMbox, Paths: []string{dir}}})
	if err != nil {
		t.Fatal(err)
	}
	rep := e.waitEnd(id)
	if rep.Job.State != StateDone {
		t.Fatalf("state %s: %s", rep.Job.State, rep.Job.Message)
	}
	got := e.contents(1)
	counts := byFolder(got)
	want := map[string]int{"INBOX": 5, "Work/Projects": 1, "Sent": 1, "Archive": 1, "Clients, Europe": 1,
		"Projekt": 1, "projekt (2)": 1, "Café": 2, "Bad_Name_": 1, "a/_/b": 1}
	for f, n := range want {
		if counts[f] != n {
			t.Errorf("folder %q: %d messages, want %d (all: %v)", f, counts[f], n, counts)
		}
	}
	// The labelled message is one body in two folders, with its flags.
	h1 := hashOf(withLabels(m1, "Inbox,Important,Unread,Work/Projects"))
	for _, m := range got {
		if m.Hash == h1 && m.Flags != "$important" {
			t.Errorf("message 1 in %s has flags %q, want $important (unread)", m.Folder, m.Flags)
		}
	}
	if n := countHash(got, h1); n != 2 {
		t.Errorf("message 1 stored %d times, want 2 (INBOX and Work/Projects)", n)
	}
	// Quoted "From " lines are unquoted once; the unquoted one did not
	// split the message.
	hq := hashOf(withLabels(quoted, "Starred,Inbox"))
	if n := countHash(got, hq); n != 1 {
		t.Errorf("the quoting message: %d copies with the expected content, want 1", n)
	}
	if rep.Copied != 12 || rep.Duplicates != 1 || rep.Failed != 3 {
		t.Errorf("report: %d copied, %d duplicates, %d failed; want 12, 1, 3", rep.Copied, rep.Duplicates, rep.Failed)
	}
	reasons := ""
	for _, p := range rep.Problems {
		reasons += p.Reason + "\n"
	}
	for _, want := range []string{"before the first", "no header", "truncated", "already copied"} {
		if !strings.Contains(reasons, want) {
			t.Errorf("report does not say %q:\n%s", want, reasons)
		}
	}
	var renamed []string
	for _, f := range rep.Folders {
		if f.Renamed {
			renamed = append(renamed, f.Dest)
		}
	}
	if !strings.Contains(fmt.Sprint(renamed), "projekt (2)") || !strings.Contains(fmt.Sprint(renamed), "Bad_Name_") {
		t.Errorf("renamed folders in the report: %v", renamed)
	}
}

// countHash counts the stored messages with hash h.
func countHash(ms []stored, h string) int {
	n := 0
	for _, m := range ms {
		if m.Hash == h {
			n++
		}
	}
	return n
}

// TestMboxTooLarge: a message over the store's limit is reported and
// the job goes on.
func TestMboxTooLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.MaxMessageSize = 1 << 20 })
	e.start()
	var w mboxWriter
	w.add(testMessage(1, 300, ""), "Inbox")
	w.add(testMessage(2, 3<<20, ""), "Inbox")
	w.add(testMessage(3, 300, ""), "Inbox")
	path := filepath.Join(t.TempDir(), "big.mbox")
	if err := os.WriteFile(path, w.b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	id, err := e.im.Start(context.Background(), Request{AccountID: 1, Actor: "admin", Source: SourceSpec{Kind: KindMbox, Paths: []string{path}}})
	if err != nil {
		t.Fatal(err)
	}
	rep := e.waitEnd(id)
	if rep.Copied != 2 || rep.Failed != 1 || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].Reason, "larger") {
		t.Fatalf("report: %+v", rep)
	}
}
