package imapserver

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/caucus-org/caucus/auth"
)

func imapCode(err error) imap.ResponseCode {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie.Code
	}
	return ""
}

// TestLoginOnlyMailAppPassword: the account password, a files-only app
// password, and an unknown account are refused alike; a mail app password
// signs in.
func TestLoginOnlyMailAppPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	m := e.member(t, "anna@example.org")
	files := e.auth.AppPassword(t, m.User, "laptop", auth.ScopeFiles)
	for _, tc := range []struct{ name, login, pw string }{
		{"account password", m.Account.Login, m.Password},
		{"files app password", m.Account.Login, files},
		{"unknown account", "nobody@example.org", m.secret},
		{"other account's login", "bob@example.org", m.secret},
	} {
		c := e.dial(t, nil)
		err := c.Login(tc.login, tc.pw).Wait()
		if err == nil || imapCode(err) != imap.ResponseCodeAuthenticationFailed {
			t.Errorf("%s: %v, want NO [AUTHENTICATIONFAILED]", tc.name, err)
		}
	}
	c := e.dial(t, nil)
	if err := c.Login(m.Account.Login, m.secret).Wait(); err != nil {
		t.Fatalf("mail app password: %v", err)
	}
	// Typed on a phone: case and dashes do not matter.
	c2 := e.dial(t, nil)
	if err := c2.Login(strings.ToUpper(m.Account.Login), strings.ToUpper(strings.ReplaceAll(m.secret, "-", ""))).Wait(); err != nil {
		t.Fatalf("app password typed differently: %v", err)
	}
}

// TestSTARTTLSBeforeLogin: port 143 offers STARTTLS and LOGINDISABLED, and
// refuses LOGIN before TLS.
func TestSTARTTLSBeforeLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	m := e.member(t, "anna@example.org")
	c, err := imapclient.DialInsecure(e.imap, e.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !caps.Has(imap.CapStartTLS) || !caps.Has(imap.CapLoginDisabled) {
		t.Errorf("plain capabilities %v, want STARTTLS and LOGINDISABLED", caps)
	}
	if err := c.Login(m.Account.Login, m.secret).Wait(); err == nil {
		t.Fatal("LOGIN accepted before STARTTLS")
	}
	c2, err := imapclient.DialStartTLS(e.imap, e.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Login(m.Account.Login, m.secret).Wait(); err != nil {
		t.Fatalf("LOGIN after STARTTLS: %v", err)
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	m := e.member(t, "anna@example.org")
	c := e.login(t, m, nil)
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []imap.Cap{imap.CapIMAP4rev1, imap.CapIMAP4rev2, imap.CapIdle, imap.CapMove, imap.CapUIDPlus,
		imap.CapSpecialUse, imap.CapNamespace, imap.CapLiteralPlus, imap.CapSASLIR, imap.CapUnselect, imap.CapESearch,
		imap.CapStatusSize, "APPENDLIMIT=67108864"} {
		if !caps.Has(want) {
			t.Errorf("capability %s missing from %v", want, caps)
		}
	}
}

// TestMailboxCommands drives LIST, STATUS, CREATE, RENAME, DELETE,
// SUBSCRIBE, NAMESPACE with the go-imap client.
func TestMailboxCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	m := e.member(t, "anna@example.org")
	c := e.login(t, m, nil)
	list, err := c.List("", "*", &imap.ListOptions{ReturnSpecialUse: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]imap.MailboxAttr{}
	for _, l := range list {
		for _, a := range l.Attrs {
			switch a {
			case imap.MailboxAttrSent, imap.MailboxAttrDrafts, imap.MailboxAttrTrash, imap.MailboxAttrJunk, imap.MailboxAttrArchive:
				got[l.Mailbox] = a
			}
		}
		if _, ok := got[l.Mailbox]; !ok {
			got[l.Mailbox] = ""
		}
	}
	want := map[string]imap.MailboxAttr{"INBOX": "", "Sent": imap.MailboxAttrSent, "Drafts": imap.MailboxAttrDrafts, "Trash": imap.MailboxAttrTrash, "Junk": imap.MailboxAttrJunk, "Archive": imap.MailboxAttrArchive}
	for name, attr := range want {
		if a, ok := got[name]; !ok || a != attr {
			t.Errorf("LIST: %s has %q (present %v), want %q", name, a, ok, attr)
		}
	}
	if err := c.Create("Campaign/2027", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("Campaign", "Elections", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	list, err = c.List("", "Elections/%", nil).Collect()
	if err != nil || len(list) != 1 || list[0].Mailbox != "Elections/2027" {
		t.Fatalf("LIST after rename: %+v, %v", list, err)
	}
	if err := c.Delete("Trash").Wait(); err == nil {
		t.Error("DELETE Trash succeeded; special-use mailboxes stay")
	}
	if err := c.Subscribe("Elections/2027").Wait(); err != nil {
		t.Fatal(err)
	}
	subs, err := c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil || !containsMailbox(subs, "Elections/2027") {
		t.Errorf("subscribed list %+v, %v", subs, err)
	}
	if err := c.Delete("Elections/2027").Wait(); err != nil {
		t.Fatal(err)
	}
	ns, err := c.Namespace().Wait()
	if err != nil || len(ns.Personal) != 1 || ns.Personal[0].Delim != '/' {
		t.Errorf("NAMESPACE %+v, %v", ns, err)
	}
	appendMsg(t, c, "INBOX", message("a@example.org", "anna@example.org", "one", "hello"), nil)
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, NumUnseen: true, Size: true, UIDNext: true, UIDValidity: true}).Wait()
	if err != nil || st.NumMessages == nil || *st.NumMessages != 1 || st.Size == nil || *st.Size == 0 || *st.NumUnseen != 1 || st.UIDValidity == 0 {
		t.Errorf("STATUS %+v, %v", st, err)
	}
	if _, err := c.Select("Nope", nil).Wait(); err == nil {
		t.Error("SELECT of a missing mailbox succeeded")
	}
}

func containsMailbox(l []*imap.ListData, name string) bool {
	for _, d := range l {
		if d.Mailbox == name {
			return true
		}
	}
	return false
}

// TestMessageCommands: APPEND, FETCH (flags, envelope, body structure,
// bodies, partial), SEARCH, STORE, COPY, MOVE, EXPUNGE, UID EXPUNGE,
// UNSELECT.
func TestMessageCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	m := e.member(t, "anna@example.org")
	c := e.login(t, m, nil)
	date := time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)
	msgs := []string{
		message("Leader <leader@example.org>", "anna@example.org", "Manifesto draft", "Please read the manifesto before Thursday."),
		message("press@example.org", "anna@example.org", "Press list", "The journalists list is attached."),
		message("vol@example.org", "anna@example.org", "Leaflets", "We need 500 leaflets printed."),
	}
	var uids []imap.UID
	for i, msg := range msgs {
		opts := &imap.AppendOptions{Time: date.Add(time.Duration(i) * time.Hour)}
		if i == 2 {
			opts.Flags = []imap.Flag{imap.FlagFlagged, "campaign"}
		}
		uids = append(uids, appendMsg(t, c, "INBOX", msg, opts))
	}
	if uids[0] >= uids[1] || uids[1] >= uids[2] {
		t.Fatalf("APPEND UIDs %v not increasing", uids)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 3 || sel.UIDValidity == 0 {
		t.Fatalf("SELECT %+v, %v", sel, err)
	}
	fetched, err := c.Fetch(imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, InternalDate: true, RFC822Size: true, BodyStructure: &imap.FetchItemBodyStructure{},
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil || len(fetched) != 3 {
		t.Fatalf("FETCH: %d messages, %v", len(fetched), err)
	}
	for i, f := range fetched {
		if f.UID != uids[i] || f.Envelope == nil || f.RFC822Size != int64(len(msgs[i])) || !f.InternalDate.Equal(date.Add(time.Duration(i)*time.Hour)) {
			t.Errorf("message %d: uid %d env %v size %d date %v", i+1, f.UID, f.Envelope, f.RFC822Size, f.InternalDate)
		}
		if body := f.FindBodySection(&imap.FetchItemBodySection{}); string(body) != msgs[i] {
			t.Errorf("message %d: BODY[] differs from what was appended", i+1)
		}
		if _, ok := f.BodyStructure.(*imap.BodyStructureSinglePart); !ok {
			t.Errorf("message %d: body structure %T", i+1, f.BodyStructure)
		}
	}
	if fetched[0].Envelope.Subject != "Manifesto draft" || len(fetched[0].Envelope.From) != 1 || fetched[0].Envelope.From[0].Name != "Leader" {
		t.Errorf("envelope %+v", fetched[0].Envelope)
	}
	if !hasFlag(fetched[2].Flags, imap.FlagFlagged) || !hasFlag(fetched[2].Flags, "campaign") || hasFlag(fetched[0].Flags, imap.FlagSeen) {
		t.Errorf("flags %v / %v", fetched[0].Flags, fetched[2].Flags)
	}
	// Partial header fetch, and a non-peek fetch sets \Seen.
	part, err := c.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Partial: &imap.SectionPartial{Offset: 0, Size: 10}}, {Specifier: imap.PartSpecifierText}}}).Collect()
	if err != nil || len(part) != 1 {
		t.Fatalf("FETCH partial: %v", err)
	}
	var gotHeader, gotText bool
	for _, bs := range part[0].BodySection {
		switch bs.Section.Specifier {
		case imap.PartSpecifierHeader:
			gotHeader = string(bs.Bytes) == msgs[1][:10]
		case imap.PartSpecifierText:
			gotText = strings.Contains(string(bs.Bytes), "journalists")
		}
	}
	if !gotHeader || !gotText {
		t.Errorf("partial header %v, text %v: %+v", gotHeader, gotText, part[0].BodySection)
	}
	flags, err := c.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || !hasFlag(flags[0].Flags, imap.FlagSeen) {
		t.Errorf("after BODY[TEXT]: flags %v, %v; want \\Seen", flags, err)
	}

	// SEARCH: text, flags, header, UID.
	for _, tc := range []struct {
		name string
		crit imap.SearchCriteria
		want []uint32
	}{
		{"body", imap.SearchCriteria{Body: []string{"LEAFLETS"}}, []uint32{3}},
		{"text", imap.SearchCriteria{Text: []string{"manifesto"}}, []uint32{1}},
		{"from", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "press"}}}, []uint32{2}},
		{"flagged", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}, []uint32{3}},
		{"unseen", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, []uint32{1, 3}},
		{"keyword", imap.SearchCriteria{Flag: []imap.Flag{"campaign"}}, []uint32{3}},
		{"seq", imap.SearchCriteria{SeqNum: []imap.SeqSet{imap.SeqSetNum(2, 3)}}, []uint32{2, 3}},
		{"not", imap.SearchCriteria{Not: []imap.SearchCriteria{{Body: []string{"leaflets"}}}}, []uint32{1, 2}},
		{"none", imap.SearchCriteria{Body: []string{"no such words"}}, nil},
	} {
		data, err := c.Search(&tc.crit, nil).Wait()
		if err != nil {
			t.Errorf("SEARCH %s: %v", tc.name, err)
			continue
		}
		if got := data.AllSeqNums(); fmt.Sprint(got) != fmt.Sprint(tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("SEARCH %s = %v, want %v", tc.name, got, tc.want)
		}
	}
	usearch, err := c.UIDSearch(&imap.SearchCriteria{Body: []string{"journalists"}}, &imap.SearchOptions{ReturnMin: true, ReturnCount: true}).Wait()
	if err != nil || usearch.Count != 1 || usearch.Min != uint32(uids[1]) {
		t.Errorf("UID SEARCH RETURN (MIN COUNT): %+v, %v", usearch, err)
	}

	// STORE, COPY, MOVE, EXPUNGE.
	stored, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagAnswered, "urgent"}}, nil).Collect()
	if err != nil || len(stored) != 1 || !hasFlag(stored[0].Flags, imap.FlagAnswered) || !hasFlag(stored[0].Flags, "urgent") {
		t.Fatalf("STORE: %+v, %v", stored, err)
	}
	cp, err := c.Copy(imap.SeqSetNum(1), "Archive").Wait()
	if err != nil || cp.UIDValidity == 0 || len(cp.DestUIDs) == 0 {
		t.Fatalf("COPY: %+v, %v", cp, err)
	}
	if _, err := c.Copy(imap.SeqSetNum(1), "Nowhere").Wait(); imapCode(err) != imap.ResponseCodeTryCreate {
		t.Errorf("COPY to a missing mailbox: %v, want TRYCREATE", err)
	}
	mv, err := c.Move(imap.SeqSetNum(3), "Archive").Wait()
	if err != nil || mv.DestUIDs == nil {
		t.Fatalf("MOVE: %+v, %v", mv, err)
	}
	if n := c.Mailbox().NumMessages; n != 2 {
		t.Errorf("after MOVE the client counts %d messages, want 2", n)
	}
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	expunged, err := c.Expunge().Collect()
	if err != nil || len(expunged) != 1 || expunged[0] != 1 {
		t.Fatalf("EXPUNGE: %v, %v", expunged, err)
	}
	// UID EXPUNGE removes only the given \Deleted message.
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.UIDExpunge(imap.UIDSetNum(uids[0])).Collect(); err != nil || len(got) != 0 {
		t.Errorf("UID EXPUNGE of an already expunged UID: %v, %v", got, err)
	}
	if got, err := c.UIDExpunge(imap.UIDSetNum(uids[1])).Collect(); err != nil || len(got) != 1 {
		t.Errorf("UID EXPUNGE: %v, %v", got, err)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status("Archive", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 2 {
		t.Errorf("Archive after COPY and MOVE: %+v, %v", st, err)
	}
	// UIDs are never reused: a new message gets a higher one.
	if u := appendMsg(t, c, "INBOX", message("x@example.org", "anna@example.org", "new", "new"), nil); u <= uids[2] {
		t.Errorf("UID %d after expunges, want > %d", u, uids[2])
	}
}

func hasFlag(flags []imap.Flag, f imap.Flag) bool {
	for _, x := range flags {
		if strings.EqualFold(string(x), string(f)) {
			return true
		}
	}
	return false
}

// TestTwoSessions: a session that IDLEs sees what another session and a
// delivery do to its mailbox.
func TestTwoSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	m := e.member(t, "anna@example.org")
	var mu sync.Mutex
	var exists uint32
	var flagUpdates []imap.Flag
	var expunges []uint32
	watcher := e.login(t, m, &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				mu.Lock()
				exists = *d.NumMessages
				mu.Unlock()
			}
		},
		Fetch: func(msg *imapclient.FetchMessageData) {
			buf, err := msg.Collect()
			if err == nil {
				mu.Lock()
				flagUpdates = append(flagUpdates, buf.Flags...)
				mu.Unlock()
			}
		},
		Expunge: func(seq uint32) {
			mu.Lock()
			expunges = append(expunges, seq)
			mu.Unlock()
		},
	})
	if _, err := watcher.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := watcher.Idle()
	if err != nil {
		t.Fatal(err)
	}
	actor := e.login(t, m, nil)
	appendMsg(t, actor, "INBOX", message("a@example.org", "anna@example.org", "first", "one"), nil)
	waitFor(t, "the idling session sees EXISTS 1", func() bool { mu.Lock(); defer mu.Unlock(); return exists == 1 })

	// A delivery (as SMTP will do) shows too.
	if _, err := e.store.Deliver(t.Context(), []int64{m.Account.ID}, strings.NewReader(message("b@example.org", "anna@example.org", "second", "two"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the idling session sees EXISTS 2 after a delivery", func() bool { mu.Lock(); defer mu.Unlock(); return exists == 2 })

	if _, err := actor.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := actor.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the idling session sees the \\Flagged flag", func() bool { mu.Lock(); defer mu.Unlock(); return hasFlag(flagUpdates, imap.FlagFlagged) })

	if err := actor.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := actor.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the idling session sees EXPUNGE 2", func() bool { mu.Lock(); defer mu.Unlock(); return len(expunges) == 1 && expunges[0] == 2 })
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestRevocationClosesIdle: revoking the app password cancels an IDLE
// connection before the revocation returns, and the client then sees it
// closed; suspending the account does the same to the others.
func TestRevocationClosesIdle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	m := e.member(t, "anna@example.org")
	other := e.auth.AppPassword(t, m.User, "laptop", auth.ScopeMail)
	phone := e.login(t, m, nil)
	if _, err := phone.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := phone.Idle(); err != nil {
		t.Fatal(err)
	}
	laptop := e.dial(t, nil)
	if err := laptop.Login(m.Account.Login, other).Wait(); err != nil {
		t.Fatal(err)
	}
	infos, err := e.auth.Auth.AppPasswords(t.Context(), m.Account.ID)
	if err != nil {
		t.Fatal(err)
	}
	var phoneID int64
	for _, i := range infos {
		if i.Name == "phone" {
			phoneID = i.ID
		}
	}
	if n := e.auth.Auth.Hub().Live(m.Account.ID); n != 2 {
		t.Fatalf("%d live connections before the revocation, want 2", n)
	}
	start := time.Now()
	if err := e.auth.Auth.RevokeAppPassword(t.Context(), "admin@example.org", m.Account.ID, phoneID, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if n := e.auth.Auth.Hub().Live(m.Account.ID); n != 1 {
		t.Errorf("%d live connections when the revocation returned, want the laptop's alone", n)
	}
	select {
	case <-phone.Closed():
		t.Logf("idle connection closed %v after revocation", time.Since(start))
	case <-time.After(10 * time.Second): // a hang, not a timing assertion
		t.Fatal("IDLE connection never closed after its app password was revoked")
	}
	// The laptop's app password was not revoked: it still works.
	if err := laptop.Noop().Wait(); err != nil {
		t.Fatalf("the other device was cut off too: %v", err)
	}
	if err := e.auth.Auth.SetState(t.Context(), "admin@example.org", m.Account.ID, auth.StateSuspended, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if n := e.auth.Auth.Hub().Live(m.Account.ID); n != 0 {
		t.Errorf("%d live connections when the suspension returned, want none", n)
	}
	select {
	case <-laptop.Closed():
	case <-time.After(10 * time.Second): // a hang, not a timing assertion
		t.Fatal("connection never closed after the account was suspended")
	}
	c := e.dial(t, nil)
	if err := c.Login(m.Account.Login, other).Wait(); err == nil {
		t.Error("suspended account signed in")
	}
}

// TestRevocationDuringLargeFetch: a revocation cuts a connection that is
// streaming a large message to a slow reader.
func TestRevocationDuringLargeFetch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	m := e.member(t, "anna@example.org")
	big := message("a@example.org", "anna@example.org", "big", strings.Repeat("x", 76)+"\r\n")
	big += strings.Repeat(strings.Repeat("y", 998)+"\r\n", 20_000) // ~20 MB
	if _, err := e.store.Deliver(t.Context(), []int64{m.Account.ID}, strings.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	// A raw TLS client that asks for the body and then reads slowly.
	conn, err := tls.Dial("tcp", e.imaps, &tls.Config{RootCAs: e.roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "a LOGIN %s %s\r\nb SELECT INBOX\r\nc FETCH 1 BODY.PEEK[]\r\n", m.Account.Login, m.secret)
	buf := make([]byte, 4096)
	var got int
	for got < 64<<10 { // wait until the body is flowing
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("reading: %v", err)
		}
		got += n
	}
	if err := e.auth.Auth.SetState(t.Context(), "admin@example.org", m.Account.ID, auth.StateSuspended, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	// The phone is on a poor link: it reads nothing for a second. By then
	// the server must have dropped the connection (its session is gone)...
	start := time.Now()
	waitFor(t, "the server closes the connection", func() bool { return e.openConns() == 0 })
	t.Logf("connection closed %v after suspension", time.Since(start))
	time.Sleep(time.Second)
	// ...so what the phone can still read is what was in flight, then EOF.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after suspension (read timed out after %d more bytes)", rest)
	}
	got += int(rest)
	if got >= len(big) {
		t.Errorf("the whole %d-byte message arrived: the FETCH was not cut", len(big))
	}
	t.Logf("%d of %d bytes reached the client", got, len(big))
}

// TestLimits: each limit answers as it should.
func TestLimits(t *testing.T) {
	t.Parallel()
	t.Run("connections per address", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Config{MaxConnsPerAddr: 3})
		var conns []net.Conn
		for range 3 {
			c, err := tls.Dial("tcp", e.imaps, &tls.Config{RootCAs: e.roots, ServerName: "localhost"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			conns = append(conns, c)
			readLine(t, c) // greeting
		}
		c, err := tls.Dial("tcp", e.imaps, &tls.Config{RootCAs: e.roots, ServerName: "localhost"})
		if err == nil {
			defer c.Close()
			if l := readLine(t, c); !strings.Contains(l, "BYE") {
				t.Errorf("4th connection got %q, want BYE", l)
			}
		}
		conns[0].Close()
		waitFor(t, "a slot is free again", func() bool {
			c, err := tls.Dial("tcp", e.imaps, &tls.Config{RootCAs: e.roots, ServerName: "localhost"})
			if err != nil {
				return false
			}
			defer c.Close()
			return strings.Contains(readLine(t, c), "OK")
		})
	})
	t.Run("connections per account", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Config{MaxConnsPerAccount: 2})
		m := e.member(t, "anna@example.org")
		e.login(t, m, nil)
		e.login(t, m, nil)
		c := e.dial(t, nil)
		if err := c.Login(m.Account.Login, m.secret).Wait(); imapCode(err) != imap.ResponseCodeLimit {
			t.Errorf("3rd login: %v, want NO [LIMIT]", err)
		}
	})
	t.Run("append limit", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Config{AppendLimit: 1000})
		m := e.member(t, "anna@example.org")
		c := e.login(t, m, nil)
		msg := message("a@example.org", "anna@example.org", "big", strings.Repeat("z", 2000))
		cmd := c.Append("INBOX", int64(len(msg)), nil)
		cmd.Write([]byte(msg))
		cmd.Close()
		if _, err := cmd.Wait(); imapCode(err) != imap.ResponseCodeTooBig {
			t.Errorf("APPEND over the limit: %v, want NO [TOOBIG]", err)
		}
	})
	t.Run("command size", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Config{})
		c, err := tls.Dial("tcp", e.imaps, &tls.Config{RootCAs: e.roots, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		readLine(t, c)
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "a LOGIN %s x\r\n", strings.Repeat("a", 100<<10))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		rest, _ := io.ReadAll(c)
		if bytes.Contains(rest, []byte("a OK")) {
			t.Errorf("a 100 KiB command line was accepted: %q", rest)
		}
	})
	t.Run("login timeout", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Config{LoginTimeout: 300 * time.Millisecond})
		c, err := tls.Dial("tcp", e.imaps, &tls.Config{RootCAs: e.roots, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		readLine(t, c)
		// Only the login timer can end this read: the next server deadline
		// is far off, and the client's own is a hang guard (a timeout error,
		// not EOF, means the server never closed the connection).
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		start := time.Now()
		_, err = io.ReadAll(c)
		if err != nil {
			t.Fatalf("idle unauthenticated connection not closed by the server: %v", err)
		}
		t.Logf("idle unauthenticated connection closed after %v (LoginTimeout 300 ms)", time.Since(start))
	})
	t.Run("failed logins throttled", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Config{})
		m := e.member(t, "anna@example.org")
		var last error
		for range 8 {
			c := e.dial(t, nil)
			last = c.Login(m.Account.Login, "wrong-wrong-wrong").Wait()
		}
		if imapCode(last) != imap.ResponseCodeUnavailable {
			t.Errorf("8th failed login: %v, want NO [UNAVAILABLE]", last)
		}
		// The right app password is never refused for wrong guesses
		// (issue 12 item 5: 136 random bits need no per-account lock).
		c := e.dial(t, nil)
		if err := c.Login(m.Account.Login, m.secret).Wait(); err != nil {
			t.Errorf("the right app password while wrong ones are throttled: %v", err)
		}
	})
}

func readLine(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b []byte
	one := make([]byte, 1)
	for {
		n, err := c.Read(one)
		if err != nil {
			return string(b)
		}
		if n == 1 {
			b = append(b, one[0])
			if one[0] == '\n' {
				return string(b)
			}
		}
	}
}

// TestSearchRes: SEARCH RETURN (SAVE) then FETCH $ (RFC 5182; part of
// IMAP4rev2). The go-imap client does not send SAVE, so this speaks the
// protocol directly.
func TestSearchRes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	m := e.member(t, "anna@example.org")
	c := e.login(t, m, nil)
	appendMsg(t, c, "INBOX", message("a@example.org", "anna@example.org", "one", "nothing"), nil)
	u := appendMsg(t, c, "INBOX", message("b@example.org", "anna@example.org", "two", "leaflets"), nil)
	conn, err := tls.Dial("tcp", e.imaps, &tls.Config{RootCAs: e.roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	readLine(t, conn)
	cmd := func(tag, line string) string {
		t.Helper()
		fmt.Fprintf(conn, "%s %s\r\n", tag, line)
		var out strings.Builder
		for {
			l := readLine(t, conn)
			if l == "" {
				t.Fatalf("%s: connection ended; got %q", line, out.String())
			}
			out.WriteString(l)
			if strings.HasPrefix(l, tag+" ") {
				if !strings.HasPrefix(l, tag+" OK") {
					t.Fatalf("%s: %s", line, out.String())
				}
				return out.String()
			}
		}
	}
	cmd("a", fmt.Sprintf("LOGIN %s %s", m.Account.Login, m.secret))
	cmd("b", "SELECT INBOX")
	cmd("c", "UID SEARCH RETURN (SAVE) BODY leaflets")
	if out := cmd("d", "UID FETCH $ (UID)"); !strings.Contains(out, fmt.Sprintf("UID %d", u)) || strings.Count(out, "FETCH (") != 1 {
		t.Errorf("UID FETCH $ = %q, want just UID %d", out, u)
	}
}
