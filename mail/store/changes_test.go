package store

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBusSubscribers: every subscriber gets every change, in publish
// order; one that unsubscribed gets no more, the others still do.
func TestBusSubscribers(t *testing.T) {
	t.Parallel()
	var b Bus
	var a, c []int64
	unsubA := b.Subscribe(func(ch Change) { a = append(a, ch.MailboxID) })
	b.Subscribe(func(ch Change) { c = append(c, ch.MailboxID) })
	b.Publish(Change{MailboxID: 1})
	b.Publish(Change{MailboxID: 2})
	unsubA()
	unsubA() // twice is harmless
	b.Publish(Change{MailboxID: 3})
	if !slices.Equal(a, []int64{1, 2}) {
		t.Errorf("unsubscribed listener got %v, want [1 2]", a)
	}
	if !slices.Equal(c, []int64{1, 2, 3}) {
		t.Errorf("listener got %v, want [1 2 3]", c)
	}
}

// TestBusUnsubscribeDuringPublish: a subscriber that removes another from
// within a publish stops that one at once, even for the change being
// published.
func TestBusUnsubscribeDuringPublish(t *testing.T) {
	t.Parallel()
	var b Bus
	var unsubLater func()
	var got []string
	b.Subscribe(func(Change) { got = append(got, "first"); unsubLater() })
	unsubLater = b.Subscribe(func(Change) { got = append(got, "later") })
	b.Publish(Change{})
	b.Publish(Change{})
	if !slices.Equal(got, []string{"first", "first"}) {
		t.Errorf("calls %v, want [first first]", got)
	}
}

// TestBusSubscribeDuringPublish: subscribing from within a subscriber
// neither deadlocks nor delivers the change being published to the new
// one; the next change reaches it. Concurrent publishers, subscribers
// and unsubscribers race freely (run with -race).
func TestBusSubscribeDuringPublish(t *testing.T) {
	t.Parallel()
	var b Bus
	var mu sync.Mutex
	var inner []int64
	once := sync.OnceFunc(func() {
		b.Subscribe(func(ch Change) {
			mu.Lock()
			inner = append(inner, ch.MailboxID)
			mu.Unlock()
		})
	})
	b.Subscribe(func(Change) { once() })
	b.Publish(Change{MailboxID: 1})
	b.Publish(Change{MailboxID: 2})
	mu.Lock()
	if !slices.Equal(inner, []int64{2}) {
		t.Errorf("listener added during publish got %v, want [2]", inner)
	}
	mu.Unlock()

	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 200 {
				b.Publish(Change{MailboxID: int64(i*1000 + j)})
			}
		})
		wg.Go(func() {
			for range 200 {
				var n atomic.Int64 // other goroutines' publishes reach it too
				unsub := b.Subscribe(func(Change) { n.Add(1) })
				b.Publish(Change{})
				unsub()
				if n.Load() == 0 {
					t.Error("a subscriber missed a change published while it was subscribed")
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestStoreChangesTwoSubscribers: the store publishes a delivery to every
// subscriber of its bus, and one that unsubscribed hears nothing more.
func TestStoreChangesTwoSubscribers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acct := e.account(t, 1)
	var mu sync.Mutex
	var first, second []ChangeKind
	unsub := e.s.Changes().Subscribe(func(c Change) { mu.Lock(); first = append(first, c.Kind); mu.Unlock() })
	e.s.Changes().Subscribe(func(c Change) { mu.Lock(); second = append(second, c.Kind); mu.Unlock() })
	if _, _, err := e.s.Append(t.Context(), acct, "INBOX", strings.NewReader(msgPlain), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	unsub()
	if err := e.s.CreateMailbox(t.Context(), acct, "New"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(first, []ChangeKind{ChangeAppend}) {
		t.Errorf("first subscriber got %v, want [append] only", first)
	}
	if !slices.Equal(second, []ChangeKind{ChangeAppend, ChangeMailboxes}) {
		t.Errorf("second subscriber got %v, want [append mailboxes]", second)
	}
}
