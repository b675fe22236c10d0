package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/db"
)

func TestAppend(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	e.takeChanges()
	date := time.Date(2026, 3, 3, 8, 30, 0, 0, time.FixedZone("", 2*3600))
	mb, uid, err := e.s.Append(ctx, acct, "inbox", strings.NewReader(msgPlain), []imap.Flag{"\\seen", "$Important", "\\Recent", "$important"}, date)
	if err != nil {
		t.Fatal(err)
	}
	if uid != 1 || mb.Name != "INBOX" || mb.Messages != 1 || mb.Unseen != 0 || mb.Size != int64(len(msgPlain)) || mb.UIDNext != 2 || mb.HighestModSeq != 2 {
		t.Errorf("Append returned %+v, UID %d", mb, uid)
	}
	msgs, err := e.s.Messages(ctx, mb.ID, []imap.UID{uid})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Messages: %v, %v", msgs, err)
	}
	m := msgs[0]
	if !slices.Equal(m.Flags, []imap.Flag{"$Important", imap.FlagSeen}) {
		t.Errorf("flags %v", m.Flags)
	}
	if !m.InternalDate.Equal(date) {
		t.Errorf("internal date %v, want %v", m.InternalDate, date)
	}
	if _, off := m.InternalDate.Zone(); off != 2*3600 {
		t.Errorf("internal date zone offset %d, want 7200", off)
	}
	if m.Size != int64(len(msgPlain)) || m.ModSeq != 2 || m.UID != uid {
		t.Errorf("message %+v", m)
	}
	if m.Envelope == nil || m.Envelope.Subject != "Meeting agenda for Thursday" || m.Envelope.MessageID != "agenda-1@example.org" ||
		len(m.Envelope.From) != 1 || m.Envelope.From[0].Host != "example.org" || m.Envelope.From[0].Name != "Anna Schmidt" {
		t.Errorf("envelope %+v", m.Envelope)
	}
	if m.BodyStructure == nil || m.BodyStructure.MediaType() != "text/plain" {
		t.Errorf("body structure %#v", m.BodyStructure)
	}
	body, err := e.s.OpenBody(m.Blob)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(body)
	body.Close()
	if err != nil || string(b) != msgPlain {
		t.Errorf("body %q, %v", b, err)
	}
	if c := e.takeChanges(); len(c) != 1 || c[0].Kind != ChangeAppend || c[0].MailboxID != mb.ID || !slices.Equal(c[0].UIDs, []imap.UID{uid}) {
		t.Errorf("changes %+v", c)
	}

	// A zero date is now.
	_, uid2, err := e.s.Append(ctx, acct, "INBOX", strings.NewReader(msgAlt), nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ = e.s.Messages(ctx, mb.ID, []imap.UID{uid2})
	if len(msgs) != 1 || !msgs[0].InternalDate.Equal(e.now) || msgs[0].Flags == nil || len(msgs[0].Flags) != 0 {
		t.Errorf("second message %+v", msgs)
	}
	if mb := e.mailbox(t, acct, "INBOX"); mb.Unseen != 1 || mb.Messages != 2 {
		t.Errorf("INBOX %+v", mb)
	}

	for _, tt := range []struct {
		name    string
		mailbox string
		flags   []imap.Flag
		want    error
	}{
		{"missing mailbox", "Nope", nil, ErrNoMailbox},
		{"bad name", "a//b", nil, ErrNoMailbox},
		{"unknown system flag", "INBOX", []imap.Flag{`\Bogus`}, ErrBadFlag},
		{"bad keyword", "INBOX", []imap.Flag{"two words"}, ErrBadFlag},
		{"keyword with bracket", "INBOX", []imap.Flag{"a]b"}, ErrBadFlag},
	} {
		if _, _, err := e.s.Append(ctx, acct, tt.mailbox, strings.NewReader(msgPlain), tt.flags, time.Time{}); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, _, err := e.s.Append(ctx, acct, "INBOX", strings.NewReader(""), nil, time.Time{}); err == nil {
		t.Error("empty message accepted")
	}
	e.checkCounters(t)
}

func TestUIDsNeverReused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	mb := e.mailbox(t, acct, "INBOX")
	var all []imap.UID
	for i := range 5 {
		all = append(all, e.append(t, acct, "INBOX", simple(fmt.Sprint("m", i), "x")))
	}
	if !slices.Equal(all, []imap.UID{1, 2, 3, 4, 5}) {
		t.Fatalf("UIDs %v", all)
	}
	// Expunge the last two.
	if _, _, err := e.s.StoreFlags(ctx, mb.ID, []imap.UID{4, 5}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
		t.Fatal(err)
	}
	if got, err := e.s.Expunge(ctx, mb.ID, nil); err != nil || !slices.Equal(got, []imap.UID{4, 5}) {
		t.Fatalf("Expunge: %v, %v", got, err)
	}
	if uid := e.append(t, acct, "INBOX", simple("after", "x")); uid != 6 {
		t.Errorf("UID after expunge %d, want 6", uid)
	}
	got, err := e.s.UIDs(ctx, mb.ID)
	if err != nil || !slices.Equal(got, []imap.UID{1, 2, 3, 6}) {
		t.Errorf("UIDs %v, %v", got, err)
	}
	got, err = e.s.UIDsAfter(ctx, mb.ID, 2)
	if err != nil || !slices.Equal(got, []imap.UID{3, 6}) {
		t.Errorf("UIDsAfter(2) %v, %v", got, err)
	}
	if got, err := e.s.UIDsAfter(ctx, mb.ID, 6); err != nil || len(got) != 0 {
		t.Errorf("UIDsAfter(6) %v, %v", got, err)
	}
	if mb2 := e.mailbox(t, acct, "INBOX"); mb2.UIDValidity != mb.UIDValidity || mb2.UIDNext != 7 {
		t.Errorf("INBOX %+v, was %+v", mb2, mb)
	}
	if got, err := e.s.UIDs(ctx, 12345); err != nil || len(got) != 0 {
		t.Errorf("UIDs of missing mailbox: %v, %v", got, err)
	}
}

func TestMessagesAndFlagsOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	mb := e.mailbox(t, acct, "INBOX")
	for i, raw := range fixtures {
		flags := []imap.Flag{}
		if i%2 == 0 {
			flags = append(flags, imap.FlagFlagged)
		}
		e.append(t, acct, "INBOX", raw, flags...)
	}
	uids := []imap.UID{5, 99, 1, 3}
	msgs, err := e.s.Messages(ctx, mb.ID, uids)
	if err != nil {
		t.Fatal(err)
	}
	var got []imap.UID
	for _, m := range msgs {
		got = append(got, m.UID)
		if m.Envelope == nil || m.BodyStructure == nil {
			t.Errorf("message %d lacks envelope or body structure", m.UID)
		}
	}
	if !slices.Equal(got, []imap.UID{5, 1, 3}) {
		t.Errorf("Messages order %v", got)
	}
	flags, err := e.s.Flags(ctx, mb.ID, uids)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]imap.Flag{{imap.FlagFlagged}, nil, {imap.FlagFlagged}, {imap.FlagFlagged}}
	if len(flags) != len(want) {
		t.Fatalf("Flags %v", flags)
	}
	for i := range want {
		if !slices.Equal(flags[i], want[i]) || (want[i] == nil) != (flags[i] == nil) {
			t.Errorf("Flags[%d] = %v, want %v", i, flags[i], want[i])
		}
	}
	if fl, _ := e.s.Flags(ctx, mb.ID, []imap.UID{2}); len(fl) != 1 || fl[0] == nil || len(fl[0]) != 0 {
		t.Errorf("flags of a message without flags: %#v", fl)
	}
	if msgs, err := e.s.Messages(ctx, mb.ID, nil); err != nil || len(msgs) != 0 {
		t.Errorf("Messages(nil): %v, %v", msgs, err)
	}
}

func TestDeliverOneBlob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	e.account(t, 1)
	e.account(t, 2)
	// Account 3 is new to the store: Deliver makes its mailboxes.
	e.takeChanges()
	uids, err := e.s.Deliver(ctx, []int64{1, 2, 3, 2}, strings.NewReader(msgMixed))
	if err != nil {
		t.Fatal(err)
	}
	if len(uids) != 3 || uids[1] != 1 || uids[2] != 1 || uids[3] != 1 {
		t.Errorf("UIDs %v", uids)
	}
	if n := e.blobFiles(t); n != 1 {
		t.Errorf("%d blob files, want 1", n)
	}
	if n := e.count(t, `SELECT count(*) FROM blobs`); n != 1 {
		t.Errorf("%d blob rows, want 1", n)
	}
	var refs []string
	for acct := int64(1); acct <= 3; acct++ {
		mb := e.mailbox(t, acct, "INBOX")
		if mb.Messages != 1 || mb.Unseen != 1 || mb.Size != int64(len(msgMixed)) {
			t.Errorf("account %d INBOX %+v", acct, mb)
		}
		msgs, err := e.s.Messages(ctx, mb.ID, []imap.UID{uids[acct]})
		if err != nil || len(msgs) != 1 {
			t.Fatalf("Messages: %v %v", msgs, err)
		}
		refs = append(refs, string(msgs[0].Blob))
		if !msgs[0].InternalDate.Equal(e.now) {
			t.Errorf("internal date %v", msgs[0].InternalDate)
		}
	}
	if refs[0] != refs[1] || refs[1] != refs[2] {
		t.Errorf("refs differ: %v", refs)
	}
	e.mailbox(t, 3, "Trash")
	appends := 0
	for _, c := range e.takeChanges() {
		if c.Kind == ChangeAppend {
			appends++
		}
	}
	if appends != 3 {
		t.Errorf("%d append changes, want 3", appends)
	}
	// The same content appended again is still one blob, and not parsed
	// again: one blob row.
	e.append(t, 1, "Archive", msgMixed)
	if n := e.blobFiles(t); n != 1 {
		t.Errorf("%d blob files after append of the same content", n)
	}
	if n := e.count(t, `SELECT count(*) FROM blobs`); n != 1 {
		t.Errorf("%d blob rows", n)
	}
	if _, err := e.s.Deliver(ctx, nil, strings.NewReader(msgMixed)); err == nil {
		t.Error("Deliver to nobody succeeded")
	}
	e.checkCounters(t)
}

func TestQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	a, b := e.account(t, 1), e.account(t, 2)
	if err := e.s.CreateMailbox(ctx, a, "Keep"); err != nil {
		t.Fatal(err)
	}
	size := int64(len(msgAlt))
	if err := e.s.SetQuota(ctx, a, 2*size+10); err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetQuota(ctx, a, -1); err == nil {
		t.Error("negative quota accepted")
	}
	e.append(t, a, "INBOX", msgAlt)
	uid := e.append(t, a, "Keep", msgAlt)
	used, quota, err := e.s.Usage(ctx, a)
	if err != nil || used != 2*size || quota != 2*size+10 {
		t.Fatalf("Usage = %d, %d, %v", used, quota, err)
	}
	blobs := e.blobFiles(t)
	rows := e.count(t, `SELECT count(*) FROM messages`)
	e.takeChanges()

	check := func(what string, err error, adding int64) {
		t.Helper()
		if !errors.Is(err, ErrQuota) {
			t.Fatalf("%s: %v, want ErrQuota", what, err)
		}
		var qe *QuotaError
		if !errors.As(err, &qe) || len(qe.Over) != 1 || qe.Over[0].AccountID != a || qe.Over[0].Used != 2*size || qe.Over[0].Quota != 2*size+10 || qe.Over[0].Adding != adding {
			t.Errorf("%s: quota error %+v", what, qe)
		}
		if !strings.Contains(err.Error(), "account 1") || !strings.Contains(err.Error(), "kB") {
			t.Errorf("%s: error text %q", what, err)
		}
		t.Logf("%s: %v", what, err)
		if n := e.count(t, `SELECT count(*) FROM messages`); n != rows {
			t.Errorf("%s: %d messages, want %d", what, n, rows)
		}
		if u, _, _ := e.s.Usage(ctx, a); u != used {
			t.Errorf("%s: usage %d, want %d", what, u, used)
		}
		if c := e.takeChanges(); len(c) != 0 {
			t.Errorf("%s: changes %+v", what, c)
		}
	}
	_, _, err = e.s.Append(ctx, a, "INBOX", strings.NewReader(msgPlain), nil, time.Time{})
	check("Append", err, int64(len(msgPlain)))
	_, err = e.s.Deliver(ctx, []int64{b, a}, strings.NewReader(msgLatin1))
	check("Deliver", err, int64(len(msgLatin1)))
	if mb := e.mailbox(t, b, "INBOX"); mb.Messages != 0 {
		t.Errorf("Deliver stored for the account under quota: %+v", mb)
	}
	keep := e.mailbox(t, a, "Keep")
	_, _, _, err = e.s.Copy(ctx, keep.ID, []imap.UID{uid}, a, "Archive")
	check("Copy", err, size)
	// The refused bodies are noted for garbage collection.
	if n := e.count(t, `SELECT count(*) FROM blob_orphans`); n != 2 {
		t.Errorf("%d orphans noted, want 2", n)
	}
	if got := e.blobFiles(t); got != blobs+2 {
		t.Errorf("%d blob files, want %d", got, blobs+2)
	}

	// Moving does not change usage and is allowed over quota.
	if _, _, _, err := e.s.Move(ctx, keep.ID, []imap.UID{uid}, a, "Trash"); err != nil {
		t.Errorf("Move over quota: %v", err)
	}
	// Unlimited again.
	if err := e.s.SetQuota(ctx, a, 0); err != nil {
		t.Fatal(err)
	}
	e.append(t, a, "INBOX", msgPlain)
	if used, quota, _ := e.s.Usage(ctx, 42); used != 0 || quota != 0 {
		t.Errorf("unknown account usage %d of %d", used, quota)
	}
	e.checkCounters(t)
}

func TestTooLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.MaxMessageSize = 100 })
	ctx := t.Context()
	acct := e.account(t, 1)
	big := simple("big", strings.Repeat("x", 200))
	if _, _, err := e.s.Append(ctx, acct, "INBOX", strings.NewReader(big), nil, time.Time{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Append: %v", err)
	}
	if _, err := e.s.Deliver(ctx, []int64{acct}, strings.NewReader(big)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Deliver: %v", err)
	}
	if n := e.blobFiles(t); n != 0 {
		t.Errorf("%d blob files", n)
	}
	if n := e.count(t, `SELECT count(*) FROM messages`); n != 0 {
		t.Errorf("%d messages", n)
	}
}

// failingReader returns data, then an error.
type failingReader struct {
	data   io.Reader
	err    error
	cancel func()
}

func (r *failingReader) Read(p []byte) (int, error) {
	n, err := r.data.Read(p)
	if err == io.EOF {
		if r.cancel != nil {
			r.cancel()
		}
		return n, r.err
	}
	return n, err
}

func TestFailedPutLeavesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acct := e.account(t, 1)
	e.takeChanges()

	// The context is cancelled while the body is being read.
	ctx, cancel := context.WithCancel(t.Context())
	r := &failingReader{data: strings.NewReader(msgPlain + strings.Repeat("x", 200<<10)), err: nil, cancel: cancel}
	if _, _, err := e.s.Append(ctx, acct, "INBOX", r, nil, time.Time{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with cancelled ctx: %v", err)
	}
	// The connection breaks.
	broken := &failingReader{data: strings.NewReader(msgAlt), err: io.ErrUnexpectedEOF}
	if _, err := e.s.Deliver(t.Context(), []int64{acct}, broken); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Deliver with broken reader: %v", err)
	}
	if n := e.count(t, `SELECT count(*) FROM messages`) + e.count(t, `SELECT count(*) FROM blobs`); n != 0 {
		t.Errorf("%d rows left", n)
	}
	if n := e.blobFiles(t); n != 0 {
		t.Errorf("%d blob files left", n)
	}
	if c := e.takeChanges(); len(c) != 0 {
		t.Errorf("changes %+v", c)
	}
}

func TestStoreFlags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	mb := e.mailbox(t, acct, "INBOX")
	for i := range 4 {
		e.append(t, acct, "INBOX", simple(fmt.Sprint("m", i), "x"))
	}
	e.takeChanges()
	modseq := func() uint64 { return e.mailbox(t, acct, "INBOX").HighestModSeq }
	flagsOf := func(uid imap.UID) []imap.Flag {
		fl, err := e.s.Flags(ctx, mb.ID, []imap.UID{uid})
		if err != nil {
			t.Fatal(err)
		}
		return fl[0]
	}

	// Add, with keywords in two spellings.
	m0 := modseq()
	changed, newFlags, err := e.s.StoreFlags(ctx, mb.ID, []imap.UID{1, 2, 99}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagSeen, "$Label1", "$label1", "Work"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []imap.Flag{"$Label1", "Work", imap.FlagSeen}
	if !slices.Equal(changed, []imap.UID{1, 2}) || len(newFlags) != 2 || !slices.Equal(newFlags[0], want) || !slices.Equal(newFlags[1], want) {
		t.Errorf("add: %v %v", changed, newFlags)
	}
	m1 := modseq()
	if m1 != m0+1 {
		t.Errorf("modseq %d -> %d, want one bump", m0, m1)
	}
	if got := e.mailbox(t, acct, "INBOX").Unseen; got != 2 {
		t.Errorf("unseen %d, want 2", got)
	}
	msgs, _ := e.s.Messages(ctx, mb.ID, []imap.UID{1, 3})
	if msgs[0].ModSeq != m1 || msgs[1].ModSeq >= m1 {
		t.Errorf("message modseqs %d, %d (mailbox %d)", msgs[0].ModSeq, msgs[1].ModSeq, m1)
	}
	if c := e.takeChanges(); len(c) != 1 || c[0].Kind != ChangeFlags || !slices.Equal(c[0].UIDs, []imap.UID{1, 2}) || !slices.Equal(c[0].Flags[1], want) {
		t.Errorf("changes %+v", c)
	}

	// Adding what is there changes nothing: reported, no bump, no change.
	changed, _, err = e.s.StoreFlags(ctx, mb.ID, []imap.UID{1}, imap.StoreFlagsAdd, []imap.Flag{"$LABEL1"}, 0)
	if err != nil || !slices.Equal(changed, []imap.UID{1}) {
		t.Errorf("no-op add: %v %v", changed, err)
	}
	if modseq() != m1 {
		t.Error("no-op bumped modseq")
	}
	if c := e.takeChanges(); len(c) != 0 {
		t.Errorf("no-op announced %+v", c)
	}

	// Remove, case-insensitively.
	if _, _, err := e.s.StoreFlags(ctx, mb.ID, []imap.UID{1}, imap.StoreFlagsDel, []imap.Flag{"$LABEL1", "\\SEEN"}, 0); err != nil {
		t.Fatal(err)
	}
	if got := flagsOf(1); !slices.Equal(got, []imap.Flag{"Work"}) {
		t.Errorf("after remove: %v", got)
	}
	// Replace.
	if _, _, err := e.s.StoreFlags(ctx, mb.ID, []imap.UID{1, 2}, imap.StoreFlagsSet, []imap.Flag{imap.FlagAnswered, "Done"}, 0); err != nil {
		t.Fatal(err)
	}
	for _, uid := range []imap.UID{1, 2} {
		if got := flagsOf(uid); !slices.Equal(got, []imap.Flag{"Done", imap.FlagAnswered}) {
			t.Errorf("after replace %d: %v", uid, got)
		}
	}
	if got := e.mailbox(t, acct, "INBOX").Unseen; got != 4 {
		t.Errorf("unseen %d, want 4", got)
	}

	// UNCHANGEDSINCE: message 3 was not changed since m0; 1 and 2 were.
	e.takeChanges()
	changed, newFlags, err = e.s.StoreFlags(ctx, mb.ID, []imap.UID{1, 2, 3}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagFlagged}, m0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(changed, []imap.UID{3}) || !slices.Equal(newFlags[0], []imap.Flag{imap.FlagFlagged}) {
		t.Errorf("UNCHANGEDSINCE: %v %v", changed, newFlags)
	}
	if got := flagsOf(1); slices.Contains(got, imap.FlagFlagged) {
		t.Error("UNCHANGEDSINCE changed a message modified since")
	}
	if c := e.takeChanges(); len(c) != 1 || !slices.Equal(c[0].UIDs, []imap.UID{3}) {
		t.Errorf("changes %+v", c)
	}

	// \Recent is ignored; bad flags are refused.
	if _, nf, err := e.s.StoreFlags(ctx, mb.ID, []imap.UID{4}, imap.StoreFlagsSet, []imap.Flag{"\\Recent"}, 0); err != nil || len(nf[0]) != 0 {
		t.Errorf("set \\Recent: %v %v", nf, err)
	}
	if _, _, err := e.s.StoreFlags(ctx, mb.ID, []imap.UID{4}, imap.StoreFlagsAdd, []imap.Flag{"\\Nope"}, 0); !errors.Is(err, ErrBadFlag) {
		t.Errorf("unknown system flag: %v", err)
	}
	var many []imap.Flag
	for i := range maxKeywords + 1 {
		many = append(many, imap.Flag(fmt.Sprint("k", i)))
	}
	if _, _, err := e.s.StoreFlags(ctx, mb.ID, []imap.UID{4}, imap.StoreFlagsAdd, many, 0); !errors.Is(err, ErrBadFlag) {
		t.Errorf("too many keywords: %v", err)
	}
	if _, _, err := e.s.StoreFlags(ctx, 999, []imap.UID{4}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagSeen}, 0); !errors.Is(err, ErrNoMailbox) {
		t.Errorf("missing mailbox: %v", err)
	}
	e.checkCounters(t)
}

func TestExpunge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	mb := e.mailbox(t, acct, "INBOX")
	for i := range 6 {
		e.append(t, acct, "INBOX", simple(fmt.Sprint("m", i), "x"))
	}
	if _, _, err := e.s.StoreFlags(ctx, mb.ID, []imap.UID{2, 3, 5}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
		t.Fatal(err)
	}
	e.takeChanges()
	m0 := e.mailbox(t, acct, "INBOX").HighestModSeq

	// Only \Deleted ones of the given UIDs.
	got, err := e.s.Expunge(ctx, mb.ID, []imap.UID{1, 2, 5})
	if err != nil || !slices.Equal(got, []imap.UID{2, 5}) {
		t.Errorf("UID EXPUNGE: %v %v", got, err)
	}
	after := e.mailbox(t, acct, "INBOX")
	if after.Messages != 4 || after.HighestModSeq != m0+1 {
		t.Errorf("after expunge %+v", after)
	}
	if c := e.takeChanges(); len(c) != 1 || c[0].Kind != ChangeExpunge || !slices.Equal(c[0].UIDs, []imap.UID{2, 5}) {
		t.Errorf("changes %+v", c)
	}
	// An empty list expunges nothing; nil means the whole mailbox.
	if got, err := e.s.Expunge(ctx, mb.ID, []imap.UID{}); err != nil || len(got) != 0 {
		t.Errorf("empty list: %v %v", got, err)
	}
	if got, err := e.s.Expunge(ctx, mb.ID, nil); err != nil || !slices.Equal(got, []imap.UID{3}) {
		t.Errorf("EXPUNGE: %v %v", got, err)
	}
	// Nothing to expunge: no bump, no change.
	m1 := e.mailbox(t, acct, "INBOX").HighestModSeq
	e.takeChanges()
	if got, err := e.s.Expunge(ctx, mb.ID, nil); err != nil || len(got) != 0 {
		t.Errorf("second EXPUNGE: %v %v", got, err)
	}
	if e.mailbox(t, acct, "INBOX").HighestModSeq != m1 || len(e.takeChanges()) != 0 {
		t.Error("empty expunge bumped modseq or announced")
	}
	uids, _ := e.s.UIDs(ctx, mb.ID)
	if !slices.Equal(uids, []imap.UID{1, 4, 6}) {
		t.Errorf("UIDs %v", uids)
	}
	e.checkCounters(t)
}

func TestCopy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	other := e.account(t, 2)
	src := e.mailbox(t, acct, "INBOX")
	date := time.Date(2025, 12, 24, 18, 0, 0, 0, time.FixedZone("", -5*3600))
	if _, _, err := e.s.Append(ctx, acct, "INBOX", strings.NewReader(msgPlain), []imap.Flag{imap.FlagSeen, "$Urgent"}, date); err != nil {
		t.Fatal(err)
	}
	e.append(t, acct, "INBOX", msgAlt)
	e.append(t, acct, "Archive", msgLatin1) // Archive's UID 1 is taken
	e.takeChanges()

	dst, srcUIDs, dstUIDs, err := e.s.Copy(ctx, src.ID, []imap.UID{2, 1, 77}, acct, "archive")
	if !errors.Is(err, ErrNoMailbox) {
		t.Errorf("copy to archive (case-sensitive name): %v", err)
	}
	dst, srcUIDs, dstUIDs, err = e.s.Copy(ctx, src.ID, []imap.UID{2, 1, 77}, acct, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(srcUIDs, []imap.UID{1, 2}) || !slices.Equal(dstUIDs, []imap.UID{2, 3}) || dst.Name != "Archive" || dst.Messages != 3 || dst.UIDNext != 4 {
		t.Errorf("Copy = %+v %v %v", dst, srcUIDs, dstUIDs)
	}
	orig, _ := e.s.Messages(ctx, src.ID, srcUIDs)
	copies, _ := e.s.Messages(ctx, dst.ID, dstUIDs)
	for i := range orig {
		o, c := orig[i], copies[i]
		if !slices.Equal(o.Flags, c.Flags) || !o.InternalDate.Equal(c.InternalDate) || o.Blob != c.Blob || o.Size != c.Size {
			t.Errorf("copy %d differs: %+v vs %+v", i, o, c)
		}
	}
	if _, off := copies[0].InternalDate.Zone(); off != -5*3600 {
		t.Errorf("copy lost the internal date's zone: %v", copies[0].InternalDate)
	}
	if got := e.mailbox(t, acct, "INBOX"); got.Messages != 2 {
		t.Errorf("source changed: %+v", got)
	}
	if c := e.takeChanges(); len(c) != 1 || c[0].Kind != ChangeAppend || c[0].MailboxID != dst.ID || !slices.Equal(c[0].UIDs, dstUIDs) {
		t.Errorf("changes %+v", c)
	}
	// Another account's mailbox is not a source.
	if _, _, _, err := e.s.Copy(ctx, src.ID, []imap.UID{1}, other, "INBOX"); !errors.Is(err, ErrNoMailbox) {
		t.Errorf("copy from another account: %v", err)
	}
	// Nothing to copy.
	if _, s, d, err := e.s.Copy(ctx, src.ID, []imap.UID{50}, acct, "Archive"); err != nil || s != nil || d != nil {
		t.Errorf("copy of nothing: %v %v %v", s, d, err)
	}
	e.checkCounters(t)
}

func TestMove(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	src := e.mailbox(t, acct, "INBOX")
	for i, raw := range fixtures {
		var flags []imap.Flag
		if i < 2 {
			flags = []imap.Flag{imap.FlagSeen}
		}
		e.append(t, acct, "INBOX", raw, flags...)
	}
	used, _, _ := e.s.Usage(ctx, acct)
	e.takeChanges()

	// A failed move leaves the source as it was.
	if _, _, _, err := e.s.Move(ctx, src.ID, []imap.UID{1, 2}, acct, "Nope"); !errors.Is(err, ErrNoMailbox) {
		t.Errorf("move to missing: %v", err)
	}
	if got := e.mailbox(t, acct, "INBOX"); got.Messages != 5 {
		t.Errorf("failed move changed the source: %+v", got)
	}

	dst, srcUIDs, dstUIDs, err := e.s.Move(ctx, src.ID, []imap.UID{1, 3, 4}, acct, "Trash")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(srcUIDs, []imap.UID{1, 3, 4}) || !slices.Equal(dstUIDs, []imap.UID{1, 2, 3}) || dst.Messages != 3 || dst.Unseen != 2 {
		t.Errorf("Move = %+v %v %v", dst, srcUIDs, dstUIDs)
	}
	in := e.mailbox(t, acct, "INBOX")
	if uids, _ := e.s.UIDs(ctx, src.ID); !slices.Equal(uids, []imap.UID{2, 5}) || in.Messages != 2 || in.Unseen != 1 {
		t.Errorf("source after move: %+v %v", in, uids)
	}
	if u, _, _ := e.s.Usage(ctx, acct); u != used {
		t.Errorf("usage %d after move, want %d", u, used)
	}
	c := e.takeChanges()
	if len(c) != 2 || c[0].Kind != ChangeAppend || c[0].MailboxID != dst.ID || c[1].Kind != ChangeExpunge || c[1].MailboxID != src.ID || !slices.Equal(c[1].UIDs, srcUIDs) {
		t.Errorf("changes %+v", c)
	}
	// Moving within the mailbox gives new UIDs.
	_, s2, d2, err := e.s.Move(ctx, src.ID, []imap.UID{2}, acct, "INBOX")
	if err != nil || !slices.Equal(s2, []imap.UID{2}) || !slices.Equal(d2, []imap.UID{6}) {
		t.Errorf("move to itself: %v %v %v", s2, d2, err)
	}
	e.checkCounters(t)
}

// TestMoveAtomic checks that a concurrent reader never sees a moved
// message in both mailboxes or in neither.
func TestMoveAtomic(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	const n = 40
	for i := range n {
		e.append(t, acct, "INBOX", simple(fmt.Sprint("m", i), "x"))
	}
	in, trash := e.mailbox(t, acct, "INBOX"), e.mailbox(t, acct, "Trash")
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			var total int
			err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE mailbox_id IN (?, ?)`, in.ID, trash.ID).Scan(&total)
			if err != nil {
				t.Error(err)
				return
			}
			if total != n {
				t.Errorf("reader saw %d messages, want %d", total, n)
				return
			}
		}
	})
	for uid := imap.UID(1); uid <= n; uid++ {
		if _, _, _, err := e.s.Move(ctx, in.ID, []imap.UID{uid}, acct, "Trash"); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	e.checkCounters(t)
}

func TestOnChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acct := e.account(t, 1)
	e.takeChanges()
	type session struct{ name string }
	origin := &session{"imap-1"}
	ctx := WithOrigin(t.Context(), origin)

	mb, uid, err := e.s.Append(ctx, acct, "INBOX", strings.NewReader(msgPlain), nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.StoreFlags(ctx, mb.ID, []imap.UID{uid}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Expunge(ctx, mb.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.s.CreateMailbox(ctx, acct, "New"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.RenameMailbox(ctx, acct, "New", "Newer"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.DeleteMailbox(ctx, acct, "Newer"); err != nil {
		t.Fatal(err)
	}
	got := e.takeChanges()
	want := []Change{
		{Kind: ChangeAppend, AccountID: acct, MailboxID: mb.ID, UIDs: []imap.UID{uid}},
		{Kind: ChangeFlags, AccountID: acct, MailboxID: mb.ID, UIDs: []imap.UID{uid}, Flags: [][]imap.Flag{{imap.FlagDeleted}}},
		{Kind: ChangeExpunge, AccountID: acct, MailboxID: mb.ID, UIDs: []imap.UID{uid}},
		{Kind: ChangeMailboxes, AccountID: acct},
		{Kind: ChangeMailboxes, AccountID: acct},
		{Kind: ChangeMailboxes, AccountID: acct},
	}
	if len(got) != len(want) {
		t.Fatalf("changes %+v", got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Kind != w.Kind || g.AccountID != w.AccountID || (w.MailboxID != 0 && g.MailboxID != w.MailboxID) || !slices.Equal(g.UIDs, w.UIDs) ||
			len(g.Flags) != len(w.Flags) || g.Origin != any(origin) {
			t.Errorf("change %d = %+v, want %+v with origin", i, g, w)
		}
		for j := range w.Flags {
			if !slices.Equal(g.Flags[j], w.Flags[j]) {
				t.Errorf("change %d flags %v, want %v", i, g.Flags, w.Flags)
			}
		}
	}
	// A delivery has no origin.
	if _, err := e.s.Deliver(t.Context(), []int64{acct}, strings.NewReader(msgAlt)); err != nil {
		t.Fatal(err)
	}
	if c := e.takeChanges(); len(c) != 1 || c[0].Origin != nil || c[0].Kind != ChangeAppend {
		t.Errorf("delivery changes %+v", c)
	}
}

// TestConcurrentWrites runs deliveries, appends, flag changes and
// expunges at once; counters and UIDs must stay exact.
func TestConcurrentWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxWithTimeout(t)
	a, b := e.account(t, 1), e.account(t, 2)
	in := e.mailbox(t, a, "INBOX")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 10 {
				raw := simple(fmt.Sprintf("w%d-%d", w, i), "x")
				if i%3 == 0 {
					raw = msgMixed // shared content
				}
				if _, err := e.s.Deliver(ctx, []int64{a, b}, strings.NewReader(raw)); err != nil {
					t.Error(err)
					return
				}
				if _, _, err := e.s.Append(ctx, a, "Sent", strings.NewReader(raw), []imap.Flag{imap.FlagSeen}, time.Time{}); err != nil {
					t.Error(err)
					return
				}
				uids, err := e.s.UIDs(ctx, in.ID)
				if err != nil {
					t.Error(err)
					return
				}
				if len(uids) > 2 {
					if _, _, err := e.s.StoreFlags(ctx, in.ID, uids[:2], imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted, imap.FlagSeen}, 0); err != nil {
						t.Error(err)
						return
					}
					if _, err := e.s.Expunge(ctx, in.ID, uids[:1]); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	e.checkCounters(t)
	if n := e.mailbox(t, b, "INBOX").Messages; n != 40 {
		t.Errorf("account 2 has %d messages, want 40", n)
	}
	if next := e.mailbox(t, a, "INBOX").UIDNext; next != 41 {
		t.Errorf("account 1 UIDNEXT %d, want 41", next)
	}
}

// TestDeliverToJunk: DeliverTo files into Junk, also for an account the
// store has not seen, and refuses any other mailbox.
func TestDeliverToJunk(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	e.account(t, 1)
	uids, err := e.s.DeliverTo(ctx, []int64{1, 2}, Junk, strings.NewReader(msgMixed))
	if err != nil {
		t.Fatal(err)
	}
	for acct := int64(1); acct <= 2; acct++ {
		if junk, in := e.mailbox(t, acct, Junk), e.mailbox(t, acct, "INBOX"); junk.Messages != 1 || in.Messages != 0 || uids[acct] != 1 {
			t.Errorf("account %d: Junk %d, INBOX %d messages, UID %d; want 1, 0, 1", acct, junk.Messages, in.Messages, uids[acct])
		}
	}
	for _, mb := range []string{"Sent", "Trash", "Archive", "inbox/x"} {
		if _, err := e.s.DeliverTo(ctx, []int64{1}, mb, strings.NewReader(msgMixed)); err == nil {
			t.Errorf("DeliverTo %q accepted", mb)
		}
	}
}

// TestStoreFlagsQueryPlan: the one statement of a STORE reads the list of
// new flags and looks each message up by primary key; it never scans the
// mailbox (a STORE 1:* would then cost the square of the mailbox's size).
func TestStoreFlagsQueryPlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if e.db.Engine() != db.SQLite {
		t.Skip("SQLite's query plan")
	}
	rows, err := e.db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+storeFlagsQuery, "[]", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(plan, func(d string) bool {
		return strings.HasPrefix(d, "SEARCH messages USING PRIMARY KEY (mailbox_id=? AND uid=?)")
	})
	j := slices.IndexFunc(plan, func(d string) bool { return d == "SCAN u" })
	if i < 0 || j < 0 || j > i || slices.ContainsFunc(plan, func(d string) bool { return strings.HasPrefix(d, "SCAN messages") }) {
		t.Errorf("query plan %q: want the list scanned, then each message searched by primary key", plan)
	}
}

// TestDeliverOneRecipient: a delivery to one account's INBOX (on
// PostgreSQL one statement checks the quota and appends) is taken when it
// fills the quota exactly, refused with the account's usage when it would
// pass it (nothing stored, no change announced), and reaches an account
// that has no mailboxes yet (they are made).
func TestDeliverOneRecipient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	a := e.account(t, 1)
	size := int64(len(msgPlain))
	if err := e.s.SetQuota(ctx, a, 2*size); err != nil {
		t.Fatal(err)
	}
	e.append(t, a, "INBOX", msgPlain)
	e.takeChanges()
	if _, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(strings.Replace(msgPlain, "Subject: ", "Subject: 2", 1)[:size])); err != nil {
		t.Fatalf("a delivery filling the quota exactly: %v", err)
	}
	if c := e.takeChanges(); len(c) != 1 || c[0].Kind != ChangeAppend || c[0].AccountID != a {
		t.Errorf("changes %+v, want one append", c)
	}
	rows := e.count(t, `SELECT count(*) FROM messages`)
	_, err := e.s.Deliver(ctx, []int64{a}, strings.NewReader(msgLatin1))
	var qe *QuotaError
	if !errors.As(err, &qe) || len(qe.Over) != 1 || qe.Over[0] != (QuotaExcess{AccountID: a, Used: 2 * size, Adding: int64(len(msgLatin1)), Quota: 2 * size}) {
		t.Fatalf("a delivery over quota: %v (%+v)", err, qe)
	}
	if n := e.count(t, `SELECT count(*) FROM messages`); n != rows {
		t.Errorf("%d messages after a refused delivery, want %d", n, rows)
	}
	if c := e.takeChanges(); len(c) != 0 {
		t.Errorf("changes after a refused delivery: %+v", c)
	}
	e.checkCounters(t)
	uids, err := e.s.Deliver(ctx, []int64{7}, strings.NewReader(msgLatin1))
	if err != nil || uids[7] != 1 {
		t.Fatalf("a delivery to an account without mailboxes: %v, %v", uids, err)
	}
	if mb := e.mailbox(t, 7, "INBOX"); mb.Messages != 1 {
		t.Errorf("its INBOX: %+v", mb)
	}
	// A body never seen before (on PostgreSQL its blobs row goes in
	// first, then the mailboxes are made), to another such account.
	fresh := strings.Replace(msgAlt, "Subject: ", "Subject: fresh ", 1)
	uids, err = e.s.Deliver(ctx, []int64{8}, strings.NewReader(fresh))
	if err != nil || uids[8] != 1 {
		t.Fatalf("a new body to an account without mailboxes: %v, %v", uids, err)
	}
	if mb := e.mailbox(t, 8, "INBOX"); mb.Messages != 1 {
		t.Errorf("its INBOX: %+v", mb)
	}
	e.checkCounters(t)
}
