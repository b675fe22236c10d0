package store

import (
	"context"
	"database/sql"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/blob"
)

// forged is a message a member could APPEND or import: it carries the
// fields only this host's MX writes, claiming the host's name, so that a
// reader would take it for mail the MX checked and found authentic (a
// "verified" party leader), or for mail the MX warned about.
const forged = "Authentication-Results: mail.example.org; dmarc=pass header.from=example.org; spf=pass; dkim=pass header.d=example.org\r\n" +
	"X-Caucus-Warning: nothing to see\r\n" +
	"Authentication-Results: other.example; dkim=fail\r\n" +
	"From: Party Leader <leader@example.org>\r\nTo: anna@example.org\r\nSubject: Wire the money today\r\n" +
	"Date: Mon, 1 Jun 2026 09:00:00 +0000\r\nMessage-ID: <forged@example.org>\r\n\r\n" +
	"Authentication-Results: mail.example.org; this line is body text\r\n"

// stored reads the body of the message uid of mailbox mb.
func (e *env) stored(t *testing.T, mb int64, uid imap.UID) string {
	t.Helper()
	msgs, err := e.s.Messages(t.Context(), mb, []imap.UID{uid})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Messages: %v, %v", msgs, err)
	}
	rc, err := e.s.OpenBody(msgs[0].Blob)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != msgs[0].Size {
		t.Errorf("stored %d bytes, size says %d", len(b), msgs[0].Size)
	}
	return string(b)
}

// checkStripped fails if the stored message still carries the fields in
// this host's name, or lost anything else.
func checkStripped(t *testing.T, how, got string) {
	t.Helper()
	if strings.Contains(got, "Authentication-Results: mail.example.org; dmarc=pass") || strings.Contains(got, "X-Caucus-Warning") {
		t.Errorf("%s kept the host's own findings:\n%s", how, got)
	}
	for _, keep := range []string{"Authentication-Results: other.example; dkim=fail\r\n", "From: Party Leader <leader@example.org>\r\n",
		"\r\n\r\nAuthentication-Results: mail.example.org; this line is body text\r\n"} {
		if !strings.Contains(got, keep) {
			t.Errorf("%s lost %q:\n%s", how, keep, got)
		}
	}
}

// TestOwnFindingsRemoved: APPEND and import keep no Authentication-Results
// in this host's name and no X-Caucus-Warning from the message they are
// given (RFC 8601 section 5), as submission does: only the MX writes
// them. Delivery, which the MX does after writing its own, keeps them.
func TestOwnFindingsRemoved(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.Hostname = "mail.example.org" })
	ctx := t.Context()
	acct := e.account(t, 1)

	mb, uid, err := e.s.Append(ctx, acct, "INBOX", strings.NewReader(forged), nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	checkStripped(t, "APPEND", e.stored(t, mb.ID, uid))

	// A header longer than one read, the field at its end.
	long := "X-Filler: " + strings.Repeat("x", 900) + "\r\n"
	_, uid2, err := e.s.Append(ctx, acct, "INBOX", strings.NewReader(strings.Repeat(long, 20)+forged), nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	checkStripped(t, "APPEND of a long header", e.stored(t, mb.ID, uid2))

	_, mbs, uids, err := e.s.Import(ctx, acct, strings.NewReader(forged), time.Time{},
		func(context.Context, *sql.Tx, blob.Ref, int64) ([]Placement, error) {
			return []Placement{{Mailbox: "Archive"}}, nil
		})
	if err != nil || len(uids) != 1 {
		t.Fatalf("Import: %v", err)
	}
	checkStripped(t, "import", e.stored(t, mbs[0].ID, uids[0]))

	got, err := e.s.Deliver(ctx, []int64{acct}, strings.NewReader(forged))
	if err != nil {
		t.Fatal(err)
	}
	if body := e.stored(t, mb.ID, got[acct]); body != forged {
		t.Errorf("delivery changed the message:\n%s", body)
	}
}
