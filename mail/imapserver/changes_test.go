package imapserver

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caucus-org/caucus/mail/store"
)

// countingBus is a change bus that counts subscriptions.
type countingBus struct {
	*store.Bus
	subs, unsubs atomic.Int32
}

func (b *countingBus) Subscribe(fn func(store.Change)) func() {
	b.subs.Add(1)
	unsub := b.Bus.Subscribe(fn)
	return func() { b.unsubs.Add(1); unsub() }
}

// TestChangeBus: the server subscribes to the bus it is given, another
// listener on the same bus (as webmail will be) sees the changes IMAP
// sessions make, and Shutdown unsubscribes the server and no one else.
func TestChangeBus(t *testing.T) {
	t.Parallel()
	bus := &countingBus{Bus: store.NewBus()}
	e := newEnv(t, Config{Changes: bus})
	if n := bus.subs.Load(); n != 1 {
		t.Fatalf("server subscribed %d times, want 1", n)
	}
	m := e.member(t, "anna@example.org")
	c := e.login(t, m, nil) // creates the special-use mailboxes

	var mu sync.Mutex
	var kinds []store.ChangeKind
	bus.Bus.Subscribe(func(c store.Change) { mu.Lock(); kinds = append(kinds, c.Kind); mu.Unlock() })
	appendMsg(t, c, "INBOX", message("a@example.org", "anna@example.org", "first", "one"), nil)
	mu.Lock()
	if len(kinds) != 1 || kinds[0] != store.ChangeAppend {
		t.Errorf("second listener got %v after an IMAP APPEND, want one append", kinds)
	}
	mu.Unlock()

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := bus.unsubs.Load(); n != 1 {
		t.Errorf("server unsubscribed %d times after Shutdown, want 1", n)
	}
	if _, err := e.store.Deliver(t.Context(), []int64{m.Account.ID}, strings.NewReader(message("b@example.org", "anna@example.org", "second", "two"))); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(kinds) != 2 {
		t.Errorf("second listener got %v after the server shut down, want a second append", kinds)
	}
}
