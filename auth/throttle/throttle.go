// Package throttle slows repeated failed sign-ins per account and per source
// address with growing delays, without ever locking an account out for good
// (NIST SP 800-63B §5.2.2: at most 100 consecutive failures per account
// before rate limiting dominates).
//
// A sign-in path asks Wait for the account's key and the address's key
// before checking a password; if Wait returns more than zero it refuses the
// attempt without checking anything, and otherwise it checks and then calls
// Fail or Succeed with the same keys:
//
//	keys := []string{throttle.AccountKey(login), throttle.AddrKey(addr)}
//	if d := l.Wait(keys...); d > 0 {
//		return errTryLater(d)
//	}
//	if !check(login, password) {
//		l.Fail(keys...)
//		return errBadLogin
//	}
//	l.Succeed(throttle.AccountKey(login))
//
// Succeed clears only the keys it is given: clearing the address on one
// success would let an attacker who owns one account reset the count for
// the guesses they make at others from the same address.
//
// After Free failures in a row, each further failure makes a key wait
// Base, then 2×Base, 4×Base …, at most Max. With the defaults (5 free,
// 1 s doubling, 5 min cap) a guesser gets about 15 tries in the first
// 10 minutes and then one every 5 minutes; with a Limit, a key that has
// failed Limit times in a row waits until its failures are forgotten. The
// state lives in memory only, bounded by MaxKeys; a restart forgets it.
//
// Which keys a sign-in counts against is the caller's policy: auth keeps
// separate keys per kind of credential, so that failures with one kind
// never hold up another (see auth's throttle.go).
package throttle

import (
	"container/list"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Config sets the Limiter's delays and memory bound. Zero fields take the
// defaults given.
type Config struct {
	// Free is the number of failures allowed in a row before any delay
	// (default 5). A negative value means none: the first failure already
	// delays.
	Free int
	// Base is the delay after the first failure beyond Free (default 1s);
	// it doubles with each further failure.
	Base time.Duration
	// Max caps one delay (default 5m).
	Max time.Duration
	// Forget is how long a key is kept after its last failure (default 24h);
	// after that its count starts again from zero.
	Forget time.Duration
	// MaxKeys bounds how many keys are kept (default 100000). When a new key
	// finds the table full, keys whose delay has run out are dropped first,
	// then the ones whose last failure is oldest.
	MaxKeys int
	// Limit, if positive, is the number of failures in a row after which a
	// key waits until they are forgotten (Forget after the last one) or
	// cleared by Succeed: NIST SP 800-63B section 5.2.2 limits consecutive
	// failed attempts on one account to 100, however patient the guesser.
	Limit int
}

// Defaults applied to zero Config fields.
const (
	DefaultFree    = 5
	DefaultBase    = time.Second
	DefaultMax     = 5 * time.Minute
	DefaultForget  = 24 * time.Hour
	DefaultMaxKeys = 100000
)

// maxFails caps a key's counter; the delay is long capped by then.
const maxFails = 1 << 20

// entry is one key's state. Entries sit in a list ordered by last failure,
// oldest first.
type entry struct {
	key   string
	fails int
	last  time.Time
}

// Limiter tracks failures per key. It is safe for concurrent use.
type Limiter struct {
	cfg Config
	now func() time.Time

	mu    sync.Mutex
	keys  map[string]*list.Element // of *entry
	order *list.List               // of *entry, by last failure, oldest first

	observe func(failed bool, keys []string) // see Observe; set before use
}

// Observe makes l call fn after each Fail (failed true) and each Succeed
// that forgot a failure held (false), with the keys given, so that other nodes can be told (see
// Apply). Call it before l is used; fn must not block.
func (l *Limiter) Observe(fn func(failed bool, keys []string)) { l.observe = fn }

// Apply records a failure or a success that another node saw, as Fail or
// Succeed do, without calling the observer.
func (l *Limiter) Apply(failed bool, keys ...string) {
	if failed {
		l.fail(keys)
	} else {
		l.succeed(keys)
	}
}

// New returns a Limiter with cfg, whose zero fields take the defaults, that
// reads the time from now, or from time.Now if now is nil.
func New(cfg Config, now func() time.Time) *Limiter {
	switch {
	case cfg.Free == 0:
		cfg.Free = DefaultFree
	case cfg.Free < 0:
		cfg.Free = 0
	}
	if cfg.Base <= 0 {
		cfg.Base = DefaultBase
	}
	if cfg.Max <= 0 {
		cfg.Max = DefaultMax
	}
	if cfg.Max < cfg.Base {
		cfg.Max = cfg.Base
	}
	if cfg.Forget <= 0 {
		cfg.Forget = DefaultForget
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{
		cfg:   cfg,
		now:   now,
		keys:  make(map[string]*list.Element),
		order: list.New(),
	}
}

// Config returns the configuration in force, defaults filled in.
func (l *Limiter) Config() Config { return l.cfg }

// delay is how long a key must wait after its last failure when it has
// failed n times in a row: 0 for n <= Free, else min(Base << (n-Free-1), Max).
func (l *Limiter) delay(n int) time.Duration {
	if n <= l.cfg.Free {
		return 0
	}
	d := l.cfg.Base
	for i := n - l.cfg.Free - 1; i > 0 && d < l.cfg.Max; i-- {
		d *= 2 // cannot overflow: d < Max before doubling
	}
	return min(d, l.cfg.Max)
}

// until is when e may try again.
func (l *Limiter) until(e *entry) time.Time {
	if l.cfg.Limit > 0 && e.fails >= l.cfg.Limit {
		return e.last.Add(l.cfg.Forget)
	}
	return e.last.Add(l.delay(e.fails))
}

// forgotten reports whether e has had no failure for Forget.
func (l *Limiter) forgotten(e *entry, now time.Time) bool {
	return !now.Before(e.last.Add(l.cfg.Forget))
}

// Wait returns how long to wait before an attempt for all keys is allowed:
// the longest wait of any of them, and 0 if an attempt is allowed now.
func (l *Limiter) Wait(keys ...string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropForgotten(now)
	var wait time.Duration
	for _, k := range keys {
		el, ok := l.keys[k]
		if !ok {
			continue
		}
		e := el.Value.(*entry)
		if l.forgotten(e, now) {
			continue
		}
		wait = max(wait, l.until(e).Sub(now))
	}
	return wait
}

// Fail records a failed attempt for each of keys.
func (l *Limiter) Fail(keys ...string) {
	l.fail(keys)
	if l.observe != nil {
		l.observe(true, keys)
	}
}

func (l *Limiter) fail(keys []string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropForgotten(now)
	for _, k := range keys {
		if el, ok := l.keys[k]; ok {
			e := el.Value.(*entry)
			if l.forgotten(e, now) {
				e.fails = 0
			}
			e.fails = min(e.fails+1, maxFails)
			e.last = now
			l.order.MoveToBack(el)
			continue
		}
		if len(l.keys) >= l.cfg.MaxKeys {
			l.evict(now)
		}
		l.keys[k] = l.order.PushBack(&entry{key: k, fails: 1, last: now})
	}
}

// Succeed forgets keys, as after a successful sign-in.
func (l *Limiter) Succeed(keys ...string) {
	// Told only when it forgot a failure: every node holds the failures
	// any node saw (Apply), so one of keys none holds clears nothing.
	if l.succeed(keys) && l.observe != nil {
		l.observe(false, keys)
	}
}

// succeed forgets keys' failures and reports whether any was held.
func (l *Limiter) succeed(keys []string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	held := false
	for _, k := range keys {
		if el, ok := l.keys[k]; ok {
			l.remove(el)
			held = true
		}
	}
	return held
}

// Len returns the number of keys held.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

func (l *Limiter) remove(el *list.Element) {
	delete(l.keys, el.Value.(*entry).key)
	l.order.Remove(el)
}

// dropForgotten removes the keys, oldest first, that have had no failure for
// Forget. It costs nothing when there is none, and each key at most once.
func (l *Limiter) dropForgotten(now time.Time) {
	for el := l.order.Front(); el != nil && l.forgotten(el.Value.(*entry), now); el = l.order.Front() {
		l.remove(el)
	}
}

// evict makes room for at least one new key when the table is full. It drops
// every key whose delay has run out; if that frees less than a sixteenth of
// MaxKeys, it drops the oldest keys until that much is free, so that a flood
// of new keys pays for one scan per MaxKeys/16 insertions rather than one per
// insertion. A key under attack keeps failing and so stays among the newest.
func (l *Limiter) evict(now time.Time) {
	for el := l.order.Front(); el != nil; {
		next := el.Next()
		if !now.Before(l.until(el.Value.(*entry))) {
			l.remove(el)
		}
		el = next
	}
	target := l.cfg.MaxKeys - max(1, l.cfg.MaxKeys/16)
	for len(l.keys) > target {
		l.remove(l.order.Front())
	}
}

// AccountKey returns the key for failures against the account login:
// "a:" and login in lower case.
func AccountKey(login string) string {
	return "a:" + strings.ToLower(login)
}

// AddrKey returns the key for failures from ip: "n:" and the IPv4 address,
// or the IPv6 /64 prefix the address belongs to, since one customer of a
// provider usually holds a whole /64. An IPv4-mapped IPv6 address counts as
// IPv4, and a zone is ignored. All invalid addresses share one key.
func AddrKey(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() || ip.Is4() {
		return "n:" + ip.String()
	}
	return "n:" + netip.PrefixFrom(ip, 64).Masked().String()
}
