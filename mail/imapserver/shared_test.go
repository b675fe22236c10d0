package imapserver

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/mail/store"
)

// roleEnv is a server with the role mailbox press@party.example holding
// one message, read by alice, read and sent as by carol, and unknown to
// bob.
type roleEnv struct {
	*testEnv
	role              store.Role
	alice, bob, carol *member
}

const pressInbox = "Shared/press@party.example/INBOX"

func newRoleEnv(t *testing.T) *roleEnv {
	t.Helper()
	e := &roleEnv{testEnv: newEnv(t, Config{})}
	e.alice, e.bob, e.carol = e.member(t, "alice@party.example"), e.member(t, "bob@party.example"), e.member(t, "carol@party.example")
	ctx := t.Context()
	var err error
	if e.role, err = e.store.CreateRole(ctx, "press@party.example", "Press office"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.DeliverTo(ctx, []int64{e.role.Owner()}, "INBOX", strings.NewReader(message("journalist@news.example", "press@party.example", "interview", "Can we talk?"))); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetGrant(ctx, "admin", e.role.ID, e.alice.Account.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetGrant(ctx, "admin", e.role.ID, e.carol.Account.ID, true); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestRoleMailboxRead: a member granted read sees the role's mailboxes in
// the shared namespace (RFC 2342), with the rights of RFC 4314, reads and
// marks \Seen for everyone, and is refused everything else.
func TestRoleMailboxRead(t *testing.T) {
	t.Parallel()
	e := newRoleEnv(t)
	rc := e.raw(t, e.alice)
	rc.check(ex("NAMESPACE", []string{`* NAMESPACE (("" "/")) NIL (("Shared/" "/"))`}, "OK…"))
	rc.check(ex(`LIST "" "*"`, []string{
		`* LIST (\Noselect \HasChildren) "/" "Shared"`,
		`* LIST (\Noselect \HasChildren) "/" "Shared/press@party.example"`,
		`* LIST (\HasNoChildren) "/" "Shared/press@party.example/INBOX"`,
		`* LIST (\HasNoChildren) "/" "Shared/press@party.example/Sent"`,
	}, "OK…"))
	rc.check(exchange{cmd: `LIST (SPECIAL-USE) "" "*"`, result: "OK…", want: []string{`* LIST (\Sent \HasNoChildren) "/" "Sent"`},
		not: []string{`…Shared/…`}})
	rc.check(ex(`LIST "" "%"`, []string{`* LIST (\Noselect \HasChildren) "/" "Shared"`}, "OK…"))
	rc.check(ex(`LSUB "" "Shared/*"`, []string{`* LSUB () "/" "Shared/press@party.example/INBOX"`}, "OK…"))
	rc.check(ex("MYRIGHTS "+pressInbox, []string{`* MYRIGHTS "Shared/press@party.example/INBOX" "lrs"`}, "OK…"))
	rc.check(ex("MYRIGHTS INBOX", []string{`* MYRIGHTS INBOX "lrswipkxtecd"`}, "OK…"))
	rc.check(ex("GETACL "+pressInbox, []string{`* ACL "Shared/press@party.example/INBOX" "alice@party.example" "lrs"`}, "OK…"))
	rc.check(ex("LISTRIGHTS "+pressInbox+" bob@party.example", []string{`* LISTRIGHTS "Shared/press@party.example/INBOX" "bob@party.example" "" "lrs" "ip"`}, "OK…"))
	rc.check(ex("SETACL "+pressInbox+" bob@party.example +lrs", nil, "NO [NOPERM] …"))
	rc.check(ex("DELETEACL "+pressInbox+" carol@party.example", nil, "NO [NOPERM] …"))
	rc.check(ex("SETACL INBOX bob@party.example +l!", nil, "BAD …"))
	rc.check(ex("STATUS "+pressInbox+" (MESSAGES UNSEEN)", []string{`* STATUS "Shared/press@party.example/INBOX" (MESSAGES 1 UNSEEN 1)`}, "OK…"))
	rc.check(ex("CREATE Shared/press@party.example/Mine", nil, "NO [NOPERM] …"))
	rc.check(ex("CREATE Shared", nil, "NO [NOPERM] …"))
	rc.check(ex("RENAME Shared/press@party.example/INBOX Mine", nil, "NO [NOPERM] …"))
	rc.check(ex("DELETE Shared/press@party.example/Sent", nil, "NO [NOPERM] …"))
	rc.check(ex("APPEND Shared/press@party.example/Sent {3+}\r\nabc", nil, "NO [NOPERM] …"))

	u := rc.ok("SELECT " + pressInbox)
	if !slices.Contains(u, `* OK [PERMANENTFLAGS (\Seen)] Permanent flags`) {
		t.Fatalf("SELECT: %q", u)
	}
	u = rc.ok("FETCH 1 (BODY[TEXT])")
	if !anyMatch(pattern("* 1 FETCH (UID 1 FLAGS (\\Seen) BODY[TEXT] {#}Can we talk?…"), u) && !anyMatch(pattern("* 1 FETCH (…Can we talk?…"), u) {
		t.Fatalf("FETCH: %q", u)
	}
	rc.check(ex(`STORE 1 +FLAGS (\Flagged)`, nil, "NO [NOPERM] …"))
	rc.check(ex(`STORE 1 FLAGS ()`, nil, "NO [NOPERM] …"))
	rc.check(ex(`STORE 1 -FLAGS (\Seen)`, []string{`* 1 FETCH (FLAGS (\Recent))`}, "OK…"))
	rc.check(ex(`STORE 1 +FLAGS (\Seen)`, []string{`* 1 FETCH (FLAGS (\Seen \Recent))`}, "OK…"))
	rc.check(ex("EXPUNGE", nil, "NO [NOPERM] …"))
	rc.check(ex("MOVE 1 INBOX", nil, "NO [NOPERM] …"))
	rc.check(ex("COPY 1 Shared/press@party.example/Sent", nil, "NO [NOPERM] …"))
	rc.check(ex("COPY 1 Archive", nil, "OK [COPYUID # 1 1] …"))

	// \Seen is the message's: shared by everyone with access.
	rcc := e.raw(t, e.carol)
	rcc.check(ex("STATUS "+pressInbox+" (UNSEEN)", []string{`* STATUS "Shared/press@party.example/INBOX" (UNSEEN 0)`}, "OK…"))

	// The read is in the audit log: one record for the SELECT, one for
	// the FETCH, not one per message line.
	e.auth.Audit.Flush(t.Context())
	recs, err := e.auth.Audit.List(t.Context(), audit.Filter{Kind: "role.", Account: "alice@party.example"})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range recs {
		if r.Subject != "press@party.example" || r.Actor != "alice@party.example" || r.Addr == "" {
			t.Fatalf("record %+v", r.Event)
		}
		kinds = append(kinds, r.Kind)
	}
	slices.Sort(kinds)
	if !slices.Equal(kinds, []string{"role.open", "role.read"}) {
		t.Fatalf("audit kinds %q, want role.open and role.read", kinds)
	}
}

// TestRoleMailboxRefused: a member without a grant cannot tell the role
// exists.
func TestRoleMailboxRefused(t *testing.T) {
	t.Parallel()
	e := newRoleEnv(t)
	rc := e.raw(t, e.bob)
	rc.check(ex(`LIST "" "Shared*"`, nil, "OK…"))
	for _, cmd := range []string{"SELECT ", "EXAMINE ", "MYRIGHTS ", "GETACL ", "STATUS "} {
		arg := pressInbox
		if cmd == "STATUS " {
			arg += " (MESSAGES)"
		}
		rc.check(ex(cmd+arg, nil, "NO [NONEXISTENT] …"))
	}
	rc.check(ex("SELECT Shared/nobody@party.example/INBOX", nil, "NO [NONEXISTENT] …"))
	rc.check(ex("APPEND Shared/press@party.example/Sent {3+}\r\nabc", nil, "NO [NONEXISTENT] …"))
	rc.check(ex("SUBSCRIBE "+pressInbox, nil, "NO [NONEXISTENT] …"))
}

// TestRoleMailboxSendAs: a member with send-as may keep what they sent as
// the role in the role's Sent (RFC 4314 "i").
func TestRoleMailboxSendAs(t *testing.T) {
	t.Parallel()
	e := newRoleEnv(t)
	c := e.login(t, e.carol, nil)
	rights, err := c.MyRights("Shared/press@party.example/Sent").Wait()
	if err != nil || rights.Rights.String() != "lrsip" {
		t.Fatalf("MYRIGHTS %+v, %v", rights, err)
	}
	uid := appendMsg(t, c, "Shared/press@party.example/Sent", message("press@party.example", "journalist@news.example", "answer", "Yes."), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
	if uid != 1 {
		t.Fatalf("APPEND uid %d", uid)
	}
	mb, err := e.store.Mailbox(t.Context(), e.role.Owner(), "Sent")
	if err != nil || mb.Messages != 1 {
		t.Fatalf("role's Sent %+v, %v", mb, err)
	}
}

// TestRoleMailboxRevokedLive: a member's connection that has a role's
// mailbox open is ended at once when the grant is revoked; another
// member's stays, and the member's next connection no longer sees it.
func TestRoleMailboxRevokedLive(t *testing.T) {
	t.Parallel()
	e := newRoleEnv(t)
	rc := e.raw(t, e.alice)
	rc.ok("SELECT " + pressInbox)
	other := e.raw(t, e.carol)
	other.ok("SELECT " + pressInbox)
	if _, err := e.store.RevokeGrant(t.Context(), e.role.ID, e.alice.Account.ID); err != nil {
		t.Fatal(err)
	}
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, err := io.ReadAll(rc.r)
	if !strings.Contains(string(rest), "* BYE") {
		t.Fatalf("after revoke: %q, %v; want BYE and the end of the connection", rest, err)
	}
	other.ok("NOOP")
	again := e.raw(t, e.alice)
	again.check(ex("SELECT "+pressInbox, nil, "NO [NONEXISTENT] …"))
	again.check(ex(`LIST "" "Shared/*"`, nil, "OK…"))
}

// ex is an exchange: cmd, the untagged lines wanted, the tagged answer.
func ex(cmd string, want []string, result string) exchange {
	return exchange{cmd: cmd, want: want, result: result}
}

// TestRoleMailboxOwnShared: a member's own mailbox under "Shared/" whose
// next level is no address stays the member's, beside the role's.
func TestRoleMailboxOwnShared(t *testing.T) {
	t.Parallel()
	e := newRoleEnv(t)
	rc := e.raw(t, e.alice)
	rc.check(ex("CREATE Shared/notes", nil, "OK…"))
	rc.check(ex("CREATE Shared/someone@else.example", nil, "NO [NOPERM] …"))
	rc.check(ex(`LIST "" "Shared/*"`, []string{`* LIST (\HasNoChildren) "/" "Shared/notes"`, `* LIST (\HasNoChildren) "/" "Shared/press@party.example/INBOX"`}, "OK…"))
	rc.check(ex("SELECT Shared/notes", []string{"* 0 EXISTS"}, "OK…"))
	rc.check(ex("MYRIGHTS Shared/notes", []string{`* MYRIGHTS "Shared/notes" "lrswipkxtecd"`}, "OK…"))
}
