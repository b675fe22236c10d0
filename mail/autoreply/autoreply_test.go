package autoreply

import (
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/mail"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/mail/msgauth"
	"github.com/caucus-org/caucus/mail/queue"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/store"
	"github.com/caucus-org/caucus/mail/submit"
)

type testEnv struct {
	auth  *authtest.Env
	store *store.Store
	dir   *route.Directory
	queue *queue.Queue
	r     *Responder
	alice *authtest.User // has left; has an auto-reply
	bob   *authtest.User
}

func newEnv(t *testing.T) *testEnv { return newEnvB(t) }

func newEnvB(t testing.TB) *testEnv {
	t.Helper()
	a := authtest.New(t, auth.Config{}, store.Component(), route.Component(), queue.Component(), Component())
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	mblobs, err := blob.OpenDir(filepath.Join(t.TempDir(), "mail"))
	if err != nil {
		t.Fatal(err)
	}
	qblobs, err := blob.OpenDir(filepath.Join(t.TempDir(), "queue"))
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{auth: a}
	e.store = store.New(a.DB, mblobs, log, store.Options{Now: a.Clock.Now})
	e.dir = route.New(a.DB, a.Auth, []string{"example-party.org"}, a.Clock.Now)
	e.queue = queue.New(queue.Config{Hostname: "mx.example-party.org", Now: a.Clock.Now}, a.DB, qblobs, log)
	keys, err := msgauth.GenerateKeys("example-party.org", a.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Answers go out as all of caucus's mail does, through mail/submit.
	sub := submit.New(submit.Config{Hostname: "mx.example-party.org"}, submit.Deps{
		Store: e.store, Dir: e.dir, Queue: e.queue, Log: log, Now: a.Clock.Now,
		Signer: submit.DKIMSigner{Keys: map[string][]msgauth.DKIMKey{"example-party.org": keys}},
	})
	e.r = New(Config{Hostname: "mx.example-party.org", Now: a.Clock.Now}, Deps{DB: a.DB, Dir: e.dir, Mail: sub, Log: log})
	e.alice = a.User(t, "alice@example-party.org", auth.RoleMember)
	e.bob = a.User(t, "bob@example-party.org", auth.RoleMember)
	if err := e.dir.SetAutoReply(t.Context(), "admin", e.alice.Account.ID, &route.AutoReply{
		Body: "Alice has left the party.\nPlease write to bob@example-party.org.", Until: a.Clock.Now().Add(30 * 24 * time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	return e
}

func message(extra string) []byte {
	return []byte("From: Carol <carol@elsewhere.example>\r\nTo: Alice <alice@example-party.org>\r\n" + extra +
		"Subject: Hello\r\nMessage-ID: <m1@elsewhere.example>\r\nReferences: <m0@elsewhere.example>\r\n\r\nHi Alice\r\n")
}

// queued returns the recipients of the queued messages from the null
// reverse-path.
func (e *testEnv) queued(t *testing.T) []string {
	t.Helper()
	items, err := e.queue.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		if it.From != "" {
			t.Errorf("queued from %q, want the null reverse-path", it.From)
		}
		out = append(out, it.Rcpts...)
	}
	return out
}

// TestRespondRules: which messages get an answer (RFC 3834 section 2).
func TestRespondRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		from  string
		rcpts []string
		msg   []byte
		want  int
	}{
		{"plain", "carol@elsewhere.example", []string{"alice@example-party.org"}, message(""), 1},
		{"subaddress and case", "carol@elsewhere.example", []string{"Alice+x@Example-Party.org"}, message(""), 1},
		{"auto-submitted no", "carol@elsewhere.example", []string{"alice@example-party.org"}, message("Auto-Submitted: no\r\n"), 1},
		{"twice the same address", "carol@elsewhere.example", []string{"alice@example-party.org", "alice@example-party.org"}, message(""), 1},
		{"null sender", "", []string{"alice@example-party.org"}, message(""), 0},
		{"mailer-daemon", "MAILER-DAEMON@elsewhere.example", []string{"alice@example-party.org"}, message(""), 0},
		{"list owner", "owner-news@elsewhere.example", []string{"alice@example-party.org"}, message(""), 0},
		{"list request", "news-request@elsewhere.example", []string{"alice@example-party.org"}, message(""), 0},
		{"auto-replied", "carol@elsewhere.example", []string{"alice@example-party.org"}, message("Auto-Submitted: auto-replied\r\n"), 0},
		{"auto-generated", "carol@elsewhere.example", []string{"alice@example-party.org"}, message("Auto-Submitted: auto-generated\r\n"), 0},
		{"precedence bulk", "carol@elsewhere.example", []string{"alice@example-party.org"}, message("Precedence: bulk\r\n"), 0},
		{"precedence list", "carol@elsewhere.example", []string{"alice@example-party.org"}, message("Precedence: List\r\n"), 0},
		{"precedence junk", "carol@elsewhere.example", []string{"alice@example-party.org"}, message("Precedence: junk\r\n"), 0},
		{"list-id", "carol@elsewhere.example", []string{"alice@example-party.org"}, message("List-Id: <news.elsewhere.example>\r\n"), 0},
		{"list-unsubscribe", "carol@elsewhere.example", []string{"alice@example-party.org"}, message("List-Unsubscribe: <mailto:x@elsewhere.example>\r\n"), 0},
		{"outlook suppress", "carol@elsewhere.example", []string{"alice@example-party.org"}, message("X-Auto-Response-Suppress: OOF, AutoReply\r\n"), 0},
		{"not addressed (bcc or group)", "carol@elsewhere.example", []string{"alice@example-party.org"},
			[]byte("From: carol@elsewhere.example\r\nTo: press@example-party.org\r\nSubject: x\r\n\r\nx\r\n"), 0},
		{"no auto-reply", "carol@elsewhere.example", []string{"bob@example-party.org"},
			[]byte("From: carol@elsewhere.example\r\nTo: bob@example-party.org\r\nSubject: x\r\n\r\nx\r\n"), 0},
		{"from itself", "alice@example-party.org", []string{"alice@example-party.org"}, message(""), 0},
		{"not a message", "carol@elsewhere.example", []string{"alice@example-party.org"}, []byte("no header here"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			n, err := e.r.Respond(t.Context(), tc.from, tc.rcpts, tc.msg)
			if err != nil || n != tc.want {
				t.Fatalf("Respond = %d, %v; want %d", n, err, tc.want)
			}
			if q := e.queued(t); len(q) != tc.want {
				t.Errorf("queued for %v, want %d answers", q, tc.want)
			}
		})
	}
}

// TestOncePerInterval: a sender gets one answer per interval, per address;
// an auto-reply past its end answers no more.
func TestOncePerInterval(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	send := func() int {
		t.Helper()
		n, err := e.r.Respond(ctx, "carol@elsewhere.example", []string{"alice@example-party.org"}, message(""))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := send(); n != 1 {
		t.Fatalf("first message: %d answers", n)
	}
	e.auth.Clock.Advance(DefaultInterval - time.Minute)
	if n := send(); n != 0 {
		t.Errorf("second message within the interval: %d answers", n)
	}
	if n, err := e.r.Respond(ctx, "dave@elsewhere.example", []string{"alice@example-party.org"}, message("")); n != 1 || err != nil {
		t.Errorf("another sender: %d, %v", n, err)
	}
	e.auth.Clock.Advance(2 * time.Minute)
	if n, err := e.r.Prune(ctx); err != nil || n != 1 {
		t.Errorf("Prune = %d, %v; want carol's record gone", n, err)
	}
	if n := send(); n != 1 {
		t.Errorf("after the interval: %d answers", n)
	}
	if got := e.queued(t); !slices.Equal(got, []string{"carol@elsewhere.example", "dave@elsewhere.example", "carol@elsewhere.example"}) {
		t.Errorf("queued %v", got)
	}
	e.auth.Clock.Advance(31 * 24 * time.Hour)
	if n := send(); n != 0 {
		t.Errorf("after the auto-reply's end: %d answers", n)
	}
}

// TestAnswerToLocalSender: a member writing to the departed address gets
// the answer in her INBOX at once: signed, threaded, marked as automatic.
func TestAnswerToLocalSender(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	orig := "From: Bob <bob@example-party.org>\r\nTo: alice@example-party.org\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n" +
		"Message-ID: <m2@example-party.org>\r\nReferences: <m0@example-party.org> <m1@example-party.org>\r\n\r\nHi\r\n"
	if n, err := e.r.Respond(ctx, "bob@example-party.org", []string{"alice@example-party.org"}, []byte(orig)); n != 1 || err != nil {
		t.Fatalf("Respond = %d, %v", n, err)
	}
	if q := e.queued(t); len(q) != 0 {
		t.Errorf("a local answer was queued: %v", q)
	}
	mb, err := e.store.Mailbox(ctx, e.bob.Account.ID, "INBOX")
	if err != nil || mb.Messages != 1 {
		t.Fatalf("bob's INBOX: %+v, %v", mb, err)
	}
	msgs, err := e.store.Messages(ctx, mb.ID, []imap.UID{1})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("messages: %v, %v", msgs, err)
	}
	body, err := e.store.OpenBody(msgs[0].Blob)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	m, err := mail.ReadMessage(body)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(m.Body)
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(m.Header.Get("Subject"))
	for field, want := range map[string]string{
		"Auto-Submitted": "auto-replied",
		"To":             "<bob@example-party.org>",
		"In-Reply-To":    "<m2@example-party.org>",
		"References":     "<m0@example-party.org> <m1@example-party.org> <m2@example-party.org>",
		"Content-Type":   "text/plain; charset=utf-8",
	} {
		if got := m.Header.Get(field); got != want {
			t.Errorf("%s: %q, want %q", field, got, want)
		}
	}
	if subject != "Auto: Grüße" {
		t.Errorf("Subject %q", subject)
	}
	if from, err := m.Header.AddressList("From"); err != nil || len(from) != 1 || from[0].Address != "alice@example-party.org" {
		t.Errorf("From %v, %v", from, err)
	}
	if !strings.Contains(m.Header.Get("DKIM-Signature"), "d=example-party.org") {
		t.Errorf("not DKIM-signed: %q", m.Header.Get("DKIM-Signature"))
	}
	if !strings.Contains(string(text), "Please write to bob@example-party.org.") {
		t.Errorf("body %q", text)
	}
}

// TestReferencesBounded: a huge References field is cut to the first
// and the latest IDs.
func TestReferencesBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var refs []string
	for i := range 100 {
		refs = append(refs, fmt.Sprintf("<r%d@elsewhere.example>", i))
	}
	h := mail.Header{"Message-Id": {"<last@elsewhere.example>"}, "References": {strings.Join(refs, " ")}, "Subject": {"x"}}
	msg, err := e.r.compose("alice@example-party.org", "Alice", "carol@elsewhere.example", route.AutoReply{Body: "gone"}, h)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(strings.NewReader(string(msg)))
	if err != nil {
		t.Fatal(err)
	}
	got := msgIDs(m.Header.Get("References"))
	if len(got) != maxReferences || got[0] != "<r0@elsewhere.example>" || got[len(got)-1] != "<last@elsewhere.example>" {
		t.Errorf("References has %d IDs: %v", len(got), got)
	}
}

// TestFailedAnswerRetried: an answer that could not be sent is not
// counted, so the sender's next message tries again.
func TestFailedAnswerRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	broken := New(Config{Hostname: "mx.example-party.org", Now: e.auth.Clock.Now}, Deps{DB: e.auth.DB, Dir: e.dir}) // no queue
	if n, err := broken.Respond(ctx, "carol@elsewhere.example", []string{"alice@example-party.org"}, message("")); n != 0 || err == nil {
		t.Fatalf("Respond without a queue = %d, %v; want an error", n, err)
	}
	if n, err := e.r.Respond(ctx, "carol@elsewhere.example", []string{"alice@example-party.org"}, message("")); n != 1 || err != nil {
		t.Errorf("Respond after the failure = %d, %v; want 1 answer", n, err)
	}
}
