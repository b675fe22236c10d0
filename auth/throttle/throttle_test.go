package throttle

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// clock is a fake clock safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	got := New(Config{}, nil).Config()
	want := Config{Free: 5, Base: time.Second, Max: 5 * time.Minute, Forget: 24 * time.Hour, MaxKeys: 100000}
	if got != want {
		t.Fatalf("defaults %+v, want %+v", got, want)
	}
	if got := New(Config{Free: -1}, nil).Config().Free; got != 0 {
		t.Errorf("Free -1 gave %d, want 0", got)
	}
}

func TestDelays(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := New(Config{}, c.Now)
	k := AccountKey("alice@example.org")
	want := []time.Duration{ // Wait right after failure number i+1
		0, 0, 0, 0, 0, // Free
		1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 32 * time.Second, 64 * time.Second, 128 * time.Second,
		256 * time.Second, 5 * time.Minute, 5 * time.Minute, 5 * time.Minute,
	}
	for i, w := range want {
		if got := l.Wait(k); got != 0 {
			t.Fatalf("before failure %d: Wait = %v, want 0", i+1, got)
		}
		l.Fail(k)
		if got := l.Wait(k); got != w {
			t.Fatalf("after failure %d: Wait = %v, want %v", i+1, got, w)
		}
		// The wait counts down with time.
		if w > 0 {
			c.Advance(w / 2)
			if got := l.Wait(k); got != w-w/2 {
				t.Fatalf("after failure %d and %v: Wait = %v, want %v", i+1, w/2, got, w-w/2)
			}
			c.Advance(w - w/2)
		}
	}
	// Many more failures stay capped and never lock out for good.
	for range 1000 {
		l.Fail(k)
	}
	if got := l.Wait(k); got != 5*time.Minute {
		t.Fatalf("after 1017 failures: Wait = %v, want 5m", got)
	}
	c.Advance(5 * time.Minute)
	if got := l.Wait(k); got != 0 {
		t.Fatalf("5m after the last failure: Wait = %v, want 0", got)
	}
}

func TestDelayFormula(t *testing.T) {
	t.Parallel()
	l := New(Config{Free: 2, Base: 3 * time.Second, Max: time.Hour}, nil)
	for n, want := range map[int]time.Duration{
		0: 0, 1: 0, 2: 0,
		3: 3 * time.Second, 4: 6 * time.Second, 5: 12 * time.Second,
		12: 1536 * time.Second, 13: 3072 * time.Second, 14: time.Hour, 100: time.Hour, maxFails: time.Hour,
	} {
		if got := l.delay(n); got != want {
			t.Errorf("delay(%d) = %v, want %v", n, got, want)
		}
	}
	if got := New(Config{Free: -1}, nil).delay(1); got != time.Second {
		t.Errorf("Free -1: delay(1) = %v, want 1s", got)
	}
}

func TestSucceedResets(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := New(Config{Free: 1}, c.Now)
	acct, addr := AccountKey("bob"), AddrKey(netip.MustParseAddr("192.0.2.7"))
	for range 4 {
		l.Fail(acct, addr)
	}
	if got := l.Wait(acct); got != 4*time.Second {
		t.Fatalf("Wait = %v, want 4s", got)
	}
	l.Succeed(acct)
	if got := l.Wait(acct); got != 0 {
		t.Fatalf("after Succeed: Wait = %v, want 0", got)
	}
	if got := l.Wait(addr); got != 4*time.Second {
		t.Fatalf("address key after Succeed(account): Wait = %v, want 4s", got)
	}
	l.Fail(acct) // counts from one again: free
	if got := l.Wait(acct); got != 0 {
		t.Fatalf("first failure after Succeed: Wait = %v, want 0", got)
	}
	l.Succeed(addr, "never seen")
	if got := l.Len(); got != 1 {
		t.Fatalf("Len = %d, want 1", got)
	}
}

func TestForget(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := New(Config{Free: 1, Forget: time.Hour}, c.Now)
	k := AccountKey("carol")
	for range 3 {
		l.Fail(k)
	}
	c.Advance(time.Hour - time.Second)
	l.Fail(k) // fourth in a row: 4s
	if got := l.Wait(k); got != 4*time.Second {
		t.Fatalf("Wait = %v, want 4s", got)
	}
	c.Advance(time.Hour)
	if got := l.Wait(k); got != 0 {
		t.Fatalf("after Forget: Wait = %v, want 0", got)
	}
	if got := l.Len(); got != 0 {
		t.Fatalf("after Forget: Len = %d, want 0", got)
	}
	l.Fail(k, k) // counts from zero again
	if got := l.Wait(k); got != time.Second {
		t.Fatalf("two failures after Forget: Wait = %v, want 1s", got)
	}
}

func TestSeveralKeysTakeMax(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := New(Config{Free: 1}, c.Now)
	a, b, n := AccountKey("dave"), AccountKey("erin"), AddrKey(netip.MustParseAddr("198.51.100.1"))
	for range 3 {
		l.Fail(a)
	}
	for range 5 {
		l.Fail(n)
	}
	if got := l.Wait(a); got != 2*time.Second {
		t.Fatalf("Wait(a) = %v, want 2s", got)
	}
	if got := l.Wait(b); got != 0 {
		t.Fatalf("Wait(b) = %v, want 0", got)
	}
	if got := l.Wait(a, b, n); got != 8*time.Second {
		t.Fatalf("Wait(a, b, n) = %v, want 8s", got)
	}
	if got := l.Wait(); got != 0 {
		t.Fatalf("Wait() = %v, want 0", got)
	}
	c.Advance(3 * time.Second)
	if got := l.Wait(a, b, n); got != 5*time.Second {
		t.Fatalf("3s later: Wait(a, b, n) = %v, want 5s", got)
	}
}

func TestMaxKeys(t *testing.T) {
	t.Parallel()
	c := newClock()
	const maxKeys = 64
	l := New(Config{Free: 1, MaxKeys: maxKeys}, c.Now)

	// A key under attack keeps failing and must survive a flood of new keys.
	target := AccountKey("target")
	for i := range 2 * maxKeys {
		l.Fail(target, target)
		l.Fail(fmt.Sprintf("k%d", i))
		if n := l.Len(); n > maxKeys {
			t.Fatalf("after %d keys: Len = %d, want <= %d", i+1, n, maxKeys)
		}
		c.Advance(time.Millisecond)
	}
	if l.Wait(target) == 0 {
		t.Fatal("the attacked key was evicted")
	}

	// Keys whose delay has run out go before penalised ones.
	l2 := New(Config{Free: 1, MaxKeys: 4}, c.Now)
	l2.Fail("old-penalised", "old-penalised", "old-penalised") // 2s delay...
	c.Advance(time.Second)
	l2.Fail("expired") // one failure: no delay
	l2.Fail("p1", "p1")
	l2.Fail("p2", "p2")
	l2.Fail("new", "new")
	if l2.Wait("old-penalised") == 0 {
		t.Error("penalised key evicted before the expired one")
	}
	if l2.Len() > 4 {
		t.Errorf("Len = %d, want <= 4", l2.Len())
	}
	// Now full of penalised keys: the oldest goes.
	c.Advance(time.Millisecond)
	l2.Fail("newer", "newer")
	if l2.Wait("old-penalised") != 0 {
		t.Error("the oldest penalised key was not the one evicted")
	}
	if l2.Wait("p2") == 0 || l2.Wait("newer") == 0 {
		t.Error("a newer penalised key was evicted")
	}
}

func TestAccountKey(t *testing.T) {
	t.Parallel()
	if a, b := AccountKey("Alice@Example.ORG"), AccountKey("alice@example.org"); a != b || a != "a:alice@example.org" {
		t.Errorf("AccountKey: %q, %q", a, b)
	}
}

func TestAddrKey(t *testing.T) {
	t.Parallel()
	tests := []struct{ addr, want string }{
		{"192.0.2.1", "n:192.0.2.1"},
		{"::ffff:192.0.2.1", "n:192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "n:2001:db8:1:2::/64"},
		{"2001:db8:1:2::ffff", "n:2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "n:2001:db8:1:3::/64"},
		{"fe80::1%eth0", "n:fe80::/64"},
		{"::1", "n:::/64"},
	}
	for _, tt := range tests {
		if got := AddrKey(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("AddrKey(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
	if AddrKey(netip.Addr{}) != "n:invalid IP" {
		t.Errorf("AddrKey(invalid) = %q", AddrKey(netip.Addr{}))
	}

	// Same /64 shares a count; the next /64 does not.
	c := newClock()
	l := New(Config{Free: 1}, c.Now)
	l.Fail(AddrKey(netip.MustParseAddr("2001:db8:1:2::1")))
	l.Fail(AddrKey(netip.MustParseAddr("2001:db8:1:2:ffff::9")))
	if got := l.Wait(AddrKey(netip.MustParseAddr("2001:db8:1:2::77"))); got != time.Second {
		t.Errorf("same /64: Wait = %v, want 1s", got)
	}
	if got := l.Wait(AddrKey(netip.MustParseAddr("2001:db8:1:3::1"))); got != 0 {
		t.Errorf("next /64: Wait = %v, want 0", got)
	}
	l.Fail(AddrKey(netip.MustParseAddr("::ffff:203.0.113.5")), AddrKey(netip.MustParseAddr("::ffff:203.0.113.5")))
	if got := l.Wait(AddrKey(netip.MustParseAddr("203.0.113.5"))); got != time.Second {
		t.Errorf("IPv4-mapped: Wait = %v, want 1s", got)
	}
}

// TestConcurrent is meant for -race: many goroutines on shared and own keys.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := New(Config{Free: 3, MaxKeys: 50}, c.Now)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			own := fmt.Sprintf("own%d", g)
			for i := range 500 {
				k := fmt.Sprintf("k%d-%d", g, i%80)
				l.Fail("shared", own, k)
				_ = l.Wait("shared", own, k)
				if i%7 == 0 {
					l.Succeed(k)
				}
				if i%50 == 0 {
					c.Advance(time.Second)
				}
				_ = l.Len()
			}
		})
	}
	wg.Wait()
	if n := l.Len(); n > 50 {
		t.Fatalf("Len = %d, want <= 50", n)
	}
	if l.Wait("shared") == 0 {
		t.Error("the shared key, failed 4000 times, is not delayed")
	}
}

// BenchmarkWaitFail measures one Wait and one Fail on an account and an
// address key, over a working set of 10000 of each in a full table.
func BenchmarkWaitFail(b *testing.B) {
	c := newClock()
	l := New(Config{MaxKeys: 15000}, c.Now)
	accts := make([]string, 10000)
	addrs := make([]string, 10000)
	for i := range accts {
		accts[i] = AccountKey(fmt.Sprintf("user%d@example.org", i))
		addrs[i] = AddrKey(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		a, n := accts[i%len(accts)], addrs[(i*7)%len(addrs)]
		_ = l.Wait(a, n)
		l.Fail(a, n)
		i++
	}
}

// TestLimit: after Limit failures in a row a key waits until its failures
// are forgotten; Succeed clears it at once.
func TestLimit(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := New(Config{Limit: 10}, c.Now)
	k := AccountKey("ann@example.org")
	for i := range 10 {
		c.Advance(l.Wait(k))
		if i < 9 && l.Wait(k) != 0 {
			t.Fatalf("after %d failures and their wait: Wait = %v", i, l.Wait(k))
		}
		l.Fail(k)
	}
	if got := l.Wait(k); got != DefaultForget {
		t.Fatalf("after 10 failures: Wait = %v, want %v", got, DefaultForget)
	}
	c.Advance(DefaultForget - time.Second)
	if got := l.Wait(k); got != time.Second {
		t.Errorf("a second before it is forgotten: Wait = %v", got)
	}
	l.Succeed(k)
	if got := l.Wait(k); got != 0 {
		t.Errorf("after Succeed: Wait = %v, want 0", got)
	}
}

// TestObserveApply checks that another node's failures, applied, count as
// this node's own, and that applying tells no observer (no echo).
func TestObserveApply(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	a, b := New(Config{Free: 2}, clock), New(Config{Free: 2}, clock)
	var told [][]string
	a.Observe(func(failed bool, keys []string) {
		if failed {
			told = append(told, keys)
		}
	})
	b.Observe(func(bool, []string) { t.Fatal("Apply called the observer") })
	for range 3 {
		a.Fail("acct:x", "addr:y")
	}
	for _, keys := range told {
		b.Apply(true, keys...)
	}
	if a.Wait("acct:x") == 0 || b.Wait("acct:x") != a.Wait("acct:x") {
		t.Fatalf("wait on a %v, on b %v; want the same, not zero", a.Wait("acct:x"), b.Wait("acct:x"))
	}
	b.Apply(false, "acct:x")
	if b.Wait("acct:x") != 0 || b.Wait("addr:y") == 0 {
		t.Fatal("a success applied forgot the wrong keys")
	}
}

// TestSucceedUntoldWhenNothingHeld: a success is told to the observer
// (and so to the other nodes) only when it forgets a failure held here;
// every node holds the failures any node saw (Apply), so a success of
// keys none holds has nothing to clear anywhere, and a node signing in
// every WebDAV request sent one message per request to all the others.
func TestSucceedUntoldWhenNothingHeld(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := New(Config{Free: 2}, func() time.Time { return now })
	var told []bool
	l.Observe(func(failed bool, keys []string) { told = append(told, failed) })
	l.Succeed("acct:x", "addr:y")
	if len(told) != 0 {
		t.Fatalf("a success of keys not held was told: %v", told)
	}
	l.Fail("acct:x")
	l.Succeed("acct:x", "addr:y")
	if len(told) != 2 || told[0] != true || told[1] != false {
		t.Fatalf("told %v; want the failure, then the success that forgot it", told)
	}
}
