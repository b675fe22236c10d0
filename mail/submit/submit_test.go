package submit

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/mail/message"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/store"
)

// fakeQueue records what would leave for other domains, or fails.
type fakeQueue struct {
	mu   sync.Mutex
	fail error
	sent []string // "from -> rcpts"
}

func (q *fakeQueue) Enqueue(_ context.Context, from string, rcpts []string, r io.Reader) (int64, error) {
	io.Copy(io.Discard, r)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return 0, q.fail
	}
	q.sent = append(q.sent, from+" -> "+strings.Join(rcpts, ","))
	return int64(len(q.sent)), nil
}

type env struct {
	auth  *authtest.Env
	store *store.Store
	queue *fakeQueue
	svc   *Service
	anna  auth.Account
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	a := authtest.New(t, auth.Config{}, store.Component(), route.Component())
	blobs, err := blob.OpenDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	e := &env{auth: a, queue: &fakeQueue{}}
	e.store = store.New(a.DB, blobs, log, store.Options{})
	dir := route.New(a.DB, a.Auth, []string{"example-party.org"}, a.Clock.Now)
	cfg.Hostname = "mx.example-party.org"
	e.svc = New(cfg, Deps{Store: e.store, Dir: dir, Queue: e.queue, Audit: a.Auth.Audit(), Log: log, Now: a.Clock.Now})
	e.anna = a.User(t, "anna@example-party.org", auth.RoleMember).Account
	a.User(t, "leader@example-party.org", auth.RoleMember)
	return e
}

// count is how many messages the account has in mailbox name.
func (e *env) count(t *testing.T, acct int64, name string) int {
	t.Helper()
	if err := e.store.EnsureAccount(t.Context(), acct); err != nil {
		t.Fatal(err)
	}
	mb, err := e.store.Mailbox(t.Context(), acct, name)
	if err != nil {
		t.Fatal(err)
	}
	uids, err := e.store.UIDs(t.Context(), mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	return len(uids)
}

func header(t *testing.T, msg string) *message.Header {
	t.Helper()
	h, err := message.Parse([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// refusal returns err as an *Error, failing the test if it is none.
func refusal(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is no *submit.Error", err)
	}
	return e
}

// TestRefusalsAreTyped: each refusal carries its SMTP reply and a kind a
// web page can tell apart with errors.Is; a temporary failure hides its
// cause from the reply but keeps it for errors.Is and the log.
func TestRefusalsAreTyped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{SendPerHour: 1})
	ctx := t.Context()
	who := Sender{Account: e.anna, Addr: "192.0.2.1", UserAgent: "test"}
	rcv := Received{Helo: "client.example", IP: net.IPv4(192, 0, 2, 1), With: "ESMTPSA"}

	_, err := e.svc.Mail(ctx, who, "leader@example-party.org")
	if r := refusal(t, err); r.Code != 553 || r.Enhanced != [3]int{5, 7, 1} || !errors.Is(err, ErrSendAs) {
		t.Errorf("MAIL as the leader = %v; want 553 5.7.1 ErrSendAs", err)
	}
	env, err := e.svc.Mail(ctx, who, "anna@example-party.org")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Rcpt(ctx, who, env, "nobody@example-party.org"); !errors.Is(err, ErrNoSuchUser) || refusal(t, err).Code != 550 {
		t.Errorf("RCPT to an unknown member = %v; want 550 ErrNoSuchUser", err)
	}
	for _, to := range []string{"anna@example-party.org", "friend@elsewhere.example"} {
		if err := e.svc.Rcpt(ctx, who, env, to); err != nil {
			t.Fatalf("RCPT %s: %v", to, err)
		}
	}
	forged := "From: leader@example-party.org\r\nSubject: hi\r\n\r\nHello.\r\n"
	err = e.svc.Submit(ctx, who, env, header(t, forged), []byte(forged), rcv)
	if r := refusal(t, err); r.Code != 550 || !errors.Is(err, ErrSendAs) {
		t.Errorf("From the leader = %v; want 550 ErrSendAs", err)
	}
	own := "From: Anna <anna@example-party.org>\r\nSubject: hi\r\n\r\nHello.\r\n"
	if err := e.svc.Submit(ctx, who, env, header(t, own), []byte(own), rcv); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if n := e.count(t, e.anna.ID, "INBOX"); n != 1 {
		t.Errorf("anna's INBOX holds %d messages, want 1", n)
	}
	if len(e.queue.sent) != 1 || e.queue.sent[0] != "anna@example-party.org -> friend@elsewhere.example" {
		t.Errorf("queued %q", e.queue.sent)
	}

	_, err = e.svc.Mail(ctx, who, "anna@example-party.org") // the second this hour
	if r := refusal(t, err); r.Code != 450 || r.Enhanced != [3]int{4, 7, 1} || !errors.Is(err, ErrRateLimited) {
		t.Errorf("second MAIL = %v; want 450 4.7.1 ErrRateLimited", err)
	}

	down := errors.New("queue database is locked")
	e.queue.fail = down
	in := e.svc.Inbound("carol@elsewhere.example")
	if err := e.svc.InboundRcpt(ctx, in, "friend@elsewhere.example"); !errors.Is(err, ErrRelay) {
		t.Errorf("MX RCPT to another domain = %v; want ErrRelay", err)
	}
	if err := e.svc.Send(ctx, "postmaster@example-party.org", []string{"friend@elsewhere.example"}, []byte(own)); !errors.Is(err, down) {
		t.Errorf("Send with the queue down = %v; want its cause", err)
	}
	bob := Sender{Account: e.auth.User(t, "bob@example-party.org", auth.RoleMember).Account}
	env, err = e.svc.Mail(ctx, bob, "bob@example-party.org")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Rcpt(ctx, bob, env, "friend@elsewhere.example"); err != nil {
		t.Fatal(err)
	}
	bobs := "From: bob@example-party.org\r\n\r\nHello.\r\n"
	err = e.svc.Submit(ctx, bob, env, header(t, bobs), []byte(bobs), rcv)
	r := refusal(t, err)
	if r.Code != 451 || !errors.Is(err, ErrTemporary) || !errors.Is(err, down) || strings.Contains(r.Message, "locked") {
		t.Errorf("Submit with the queue down = %v (reply %q); want 451 ErrTemporary, the cause kept out of the reply", err, r.Message)
	}
}
