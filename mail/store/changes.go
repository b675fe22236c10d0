package store

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Changes is the store's change bus: the one door through which committed
// changes leave the store. The store publishes every change after its
// transaction committed; any number of listeners subscribe and
// unsubscribe at any time. The IMAP server is one subscriber (live
// sessions see deliveries and each other's changes, and IDLE wakes up);
// webmail live updates are meant to be another, subscribing through the
// same door.
//
// [Bus] is the in-process implementation, for one node. A multi-node
// implementation (PostgreSQL LISTEN/NOTIFY, say) slots in behind the same
// interface: its Publish sends the change to every node, and each node
// hands what it receives to its local subscribers; no protocol package
// changes.
//
// Ordering: Publish calls every subscriber before it returns, from the
// goroutine that made the change, so a subscriber sees one writer's
// changes in commit order, and the writer's call (an IMAP command, a
// delivery) returns only after every subscriber has seen them. A
// subscriber must therefore not block long and must not call the store's
// write methods.
type Changes interface {
	// Publish hands a committed change to every current subscriber.
	Publish(Change)
	// Subscribe adds fn as a listener. fn is called for every change
	// published after Subscribe returned, until unsubscribe is called;
	// once unsubscribe has returned, no call of fn starts. unsubscribe
	// may be called more than once.
	Subscribe(fn func(Change)) (unsubscribe func())
}

// Bus is the in-process [Changes]: subscribers are called in the order
// they subscribed, synchronously, by the publishing goroutine. Subscribing
// and unsubscribing are safe at any time, from any goroutine, also from a
// subscriber while a change is being published. The zero Bus is ready to
// use.
type Bus struct {
	mu   sync.Mutex                    // serialises changes to subs
	subs atomic.Pointer[[]*subscriber] // copy on write: Publish reads without the lock
}

// subscriber is one listener of a Bus.
type subscriber struct {
	fn     func(Change)
	active atomic.Bool
}

// NewBus returns a Bus with no subscribers.
func NewBus() *Bus { return &Bus{} }

// Publish calls every subscriber with c. It holds no lock while it does,
// so a subscriber may subscribe or unsubscribe (itself or another) from
// within; one subscribed meanwhile gets the next change, not this one.
func (b *Bus) Publish(c Change) {
	p := b.subs.Load()
	if p == nil {
		return
	}
	for _, s := range *p {
		if s.active.Load() {
			s.fn(c)
		}
	}
}

// Subscribe adds fn as a listener; see [Changes.Subscribe].
func (b *Bus) Subscribe(fn func(Change)) (unsubscribe func()) {
	s := &subscriber{fn: fn}
	s.active.Store(true)
	b.mu.Lock()
	defer b.mu.Unlock()
	var subs []*subscriber
	if p := b.subs.Load(); p != nil {
		subs = slices.Clone(*p)
	}
	subs = append(subs, s)
	b.subs.Store(&subs)
	return func() { b.unsubscribe(s) }
}

// unsubscribe removes s; a Publish already past the list skips it, since
// it is no longer active.
func (b *Bus) unsubscribe(s *subscriber) {
	s.active.Store(false)
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.subs.Load()
	if p == nil {
		return
	}
	subs := slices.DeleteFunc(slices.Clone(*p), func(x *subscriber) bool { return x == s })
	b.subs.Store(&subs)
}
