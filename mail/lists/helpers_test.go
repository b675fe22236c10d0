package lists

import (
	"bytes"
	"context"
	"net/mail"
	"strings"
	"sync"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/mail/route"
)

// sent is one message a fake sender took.
type sent struct {
	from string
	to   []string
	msg  []byte
	bulk bool
}

// fakeSender records what the service hands mail/submit.
type fakeSender struct {
	mu   sync.Mutex
	msgs []sent
	fail func(to string) error // nil: every copy is taken
}

func (f *fakeSender) SendBulk(_ context.Context, from string, to []string, msg []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		if err := f.fail(to[0]); err != nil {
			return err
		}
	}
	f.msgs = append(f.msgs, sent{from, to, bytes.Clone(msg), true})
	return nil
}

func (f *fakeSender) Send(_ context.Context, from string, to []string, msg []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, sent{from, to, bytes.Clone(msg), false})
	return nil
}

// take returns and forgets what was sent.
func (f *fakeSender) take() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.msgs
	f.msgs = nil
	return out
}

// fixture is a service with a group "members" (anna, bob) and a list
// news@example-party.org of that group, moderated by anna.
type fixture struct {
	env    *authtest.Env
	svc    *Service
	sender *fakeSender
	anna   *authtest.User
	bob    *authtest.User
	list   int64
	blobs  *blob.Dir
}

func newFixture(t *testing.T, open bool) *fixture {
	t.Helper()
	env := authtest.New(t, auth.Config{}, Component(), route.Component())
	ctx := t.Context()
	f := &fixture{env: env, sender: &fakeSender{}}
	f.anna = env.User(t, "anna@example-party.org", auth.RoleMember)
	f.bob = env.User(t, "bob@example-party.org", auth.RoleMember)
	for _, u := range []*authtest.User{f.anna, f.bob} {
		if err := env.Auth.AddToGroup(ctx, "", "members", u.Account.ID); err != nil {
			t.Fatal(err)
		}
	}
	blobs, err := blob.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{Domains: []string{"example-party.org"}, BaseURL: "https://mail.example-party.org", Key: bytes.Repeat([]byte{7}, 32)},
		Deps{DB: env.DB, Auth: env.Auth, Sender: f.sender, Blobs: blobs, Now: env.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.svc, f.blobs = svc, blobs
	f.list, err = svc.Create(ctx, "admin@example-party.org", List{Address: "news@example-party.org", Name: "Party News", Group: "members", Open: open, Moderators: []string{"anna@example-party.org"}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// post is a message from author.
func post(from, subject string) []byte {
	return []byte("From: " + from + "\r\nTo: news@example-party.org\r\nSubject: " + subject +
		"\r\nDKIM-Signature: v=1; a=rsa-sha256; d=elsewhere.example; b=old\r\nList-Id: <forged.example>\r\nMessage-ID: <1@x>\r\n\r\nHello, members.\r\n")
}

// parse parses a delivered copy with the standard library's reader.
func parse(t *testing.T, b []byte) *mail.Message {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("delivered copy does not parse: %v\n%s", err, b)
	}
	return m
}

// byRcpt indexes sent copies by their one recipient.
func byRcpt(t *testing.T, msgs []sent) map[string]sent {
	t.Helper()
	out := map[string]sent{}
	for _, m := range msgs {
		if len(m.to) != 1 {
			t.Fatalf("a copy to %d recipients: %v", len(m.to), m.to)
		}
		out[strings.ToLower(m.to[0])] = m
	}
	return out
}
