package password

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cheap are parameters that keep tests fast; production uses DefaultParams.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

func TestHashVerify(t *testing.T) {
	t.Parallel()
	h := NewHasher(cheap, 0)
	ctx := context.Background()
	phc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("unexpected PHC string %q", phc)
	}
	ok, err := h.Verify(ctx, "correct horse battery staple", phc)
	if err != nil || !ok {
		t.Fatalf("Verify(right password) = %v, %v; want true, nil", ok, err)
	}
	for _, wrong := range []string{"", "correct horse battery stapl", "Correct horse battery staple", "correct horse battery staple "} {
		ok, err := h.Verify(ctx, wrong, phc)
		if err != nil || ok {
			t.Errorf("Verify(%q) = %v, %v; want false, nil", wrong, ok, err)
		}
	}
	// Two hashes of one password differ by their salt.
	phc2, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if phc2 == phc {
		t.Error("two hashes of the same password are equal: salt not random")
	}
	// A hash made with other parameters still verifies.
	other := NewHasher(Params{Memory: 128, Time: 2, Threads: 2, KeyLen: 16, SaltLen: 8}, 1)
	ok, err = other.Verify(ctx, "correct horse battery staple", phc)
	if err != nil || !ok {
		t.Fatalf("Verify with another Hasher = %v, %v; want true, nil", ok, err)
	}
}

func TestDefaultParams(t *testing.T) {
	t.Parallel()
	h := NewHasher(Params{}, 1)
	if got, want := h.Params(), DefaultParams(); got != want {
		t.Fatalf("zero Params gave %+v, want %+v", got, want)
	}
	phc, err := h.Hash(context.Background(), "a fine long passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("unexpected PHC string %q", phc)
	}
	p, salt, key, err := ParsePHC(phc)
	if err != nil {
		t.Fatal(err)
	}
	if p != DefaultParams() || len(salt) != 16 || len(key) != 32 {
		t.Fatalf("ParsePHC = %+v, %d-byte salt, %d-byte key", p, len(salt), len(key))
	}
}

func TestNewHasherPanicsOnBadParams(t *testing.T) {
	t.Parallel()
	for _, p := range []Params{
		{Memory: 2 << 20},
		{Time: 17},
		{Threads: 17},
		{SaltLen: 4},
		{KeyLen: 65},
		{Memory: 8, Threads: 2},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewHasher(%+v) did not panic", p)
				}
			}()
			NewHasher(p, 1)
		}()
	}
}

func TestNeedsRehash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := NewHasher(cheap, 0)
	mk := func(p Params) string {
		t.Helper()
		phc, err := NewHasher(p, 1).Hash(ctx, "some password")
		if err != nil {
			t.Fatal(err)
		}
		return phc
	}
	tests := []struct {
		name string
		phc  string
		want bool
	}{
		{"same", mk(cheap), false},
		{"stronger", mk(Params{Memory: 128, Time: 2, Threads: 1, KeyLen: 64, SaltLen: 32}), false},
		{"more threads", mk(Params{Memory: 64, Time: 1, Threads: 4, KeyLen: 32, SaltLen: 16}), false},
		{"less memory", mk(Params{Memory: 32, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}), true},
		{"shorter key", mk(Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 16, SaltLen: 16}), true},
		{"shorter salt", mk(Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 8}), true},
		{"malformed", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5", true},
	}
	for _, tt := range tests {
		if got := h.NeedsRehash(tt.phc); got != tt.want {
			t.Errorf("%s: NeedsRehash(%q) = %v, want %v", tt.name, tt.phc, got, tt.want)
		}
	}
	strong := NewHasher(Params{Memory: 64, Time: 3, Threads: 1, KeyLen: 32, SaltLen: 16}, 1)
	if !strong.NeedsRehash(mk(cheap)) {
		t.Error("a hash with fewer passes does not need a rehash")
	}
}

func TestParsePHC(t *testing.T) {
	t.Parallel()
	const salt = "c2FsdHNhbHQ"     // "saltsalt"
	const key = "a2V5a2V5a2V5a2V5" // "keykeykeykey"
	good := "$argon2id$v=19$m=65536,t=3,p=4$" + salt + "$" + key
	p, s, k, err := ParsePHC(good)
	if err != nil {
		t.Fatalf("ParsePHC(%q): %v", good, err)
	}
	want := Params{Memory: 65536, Time: 3, Threads: 4, SaltLen: 8, KeyLen: 12}
	if p != want || string(s) != "saltsalt" || string(k) != "keykeykeykey" {
		t.Fatalf("ParsePHC = %+v %q %q", p, s, k)
	}

	bad := []string{
		"",
		"$",
		"argon2id$v=19$m=65536,t=3,p=4$" + salt + "$" + key,
		"$argon2i$v=19$m=65536,t=3,p=4$" + salt + "$" + key,
		"$argon2d$v=19$m=65536,t=3,p=4$" + salt + "$" + key,
		"$ARGON2ID$v=19$m=65536,t=3,p=4$" + salt + "$" + key,
		"$argon2id$v=16$m=65536,t=3,p=4$" + salt + "$" + key,
		"$argon2id$m=65536,t=3,p=4$" + salt + "$" + key,          // no version
		"$argon2id$v=019$m=65536,t=3,p=4$" + salt + "$" + key,    // leading zero
		"$argon2id$v=19$t=3,m=65536,p=4$" + salt + "$" + key,     // order
		"$argon2id$v=19$m=65536,t=3$" + salt + "$" + key,         // missing p
		"$argon2id$v=19$m=65536,t=3,p=4,k=1$" + salt + "$" + key, // extra param
		"$argon2id$v=19$m=065536,t=3,p=4$" + salt + "$" + key,
		"$argon2id$v=19$m=+65536,t=3,p=4$" + salt + "$" + key,
		"$argon2id$v=19$m=-1,t=3,p=4$" + salt + "$" + key,
		"$argon2id$v=19$m=,t=3,p=4$" + salt + "$" + key,
		"$argon2id$v=19$m=99999999999,t=3,p=4$" + salt + "$" + key,
		"$argon2id$v=19$m=4294967297,t=3,p=4$" + salt + "$" + key, // overflows uint32
		"$argon2id$v=19$m=1048577,t=3,p=4$" + salt + "$" + key,    // > 1 GiB
		"$argon2id$v=19$m=31,t=3,p=4$" + salt + "$" + key,         // < 8 KiB per thread
		"$argon2id$v=19$m=65536,t=0,p=4$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=17,p=4$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=3,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=3,p=17$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=3,p=256$" + salt + "$" + key,                     // overflows uint8
		"$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$" + key,                             // 4-byte salt
		"$argon2id$v=19$m=65536,t=3,p=4$" + salt + "$a2V5",                         // 3-byte key
		"$argon2id$v=19$m=65536,t=3,p=4$" + strings.Repeat("QUFB", 22) + "$" + key, // 66-byte salt
		"$argon2id$v=19$m=65536,t=3,p=4$" + salt + "$" + strings.Repeat("QUFB", 22),
		"$argon2id$v=19$m=65536,t=3,p=4$" + salt + "=$" + key, // padding
		"$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHR$" + key,   // stray bits
		"$argon2id$v=19$m=65536,t=3,p=4$c2Fsd\nHNhbHQ$" + key, // line break
		"$argon2id$v=19$m=65536,t=3,p=4$c2Fsd-HNhbHQ$" + key,  // URL alphabet
		"$argon2id$v=19$m=65536,t=3,p=4$" + salt + "$" + key + "$",
		"$argon2id$v=19$m=65536,t=3,p=4$" + salt,
		" " + good,
		good + " ",
		good + "\n",
		"$argon2id$v=19$m=65536,t=3,p=4$" + salt + "$" + key + strings.Repeat("A", 300),
	}
	for _, s := range bad {
		if _, _, _, err := ParsePHC(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParsePHC(%q) error = %v, want ErrMalformed", s, err)
		}
	}

	h := NewHasher(cheap, 1)
	for _, s := range bad[:5] {
		if ok, err := h.Verify(context.Background(), "whatever", s); ok || !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%q) = %v, %v; want false, ErrMalformed", s, ok, err)
		}
	}
}

func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U")
	f.Add("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5")
	f.Add("$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5")
	f.Add("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHR$a2V5a2V5a2V5a2V5")
	f.Add("$argon2id$v=19$m=4294967297,t=3,p=4$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := ParsePHC(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParsePHC(%q) error %v does not wrap ErrMalformed", s, err)
			}
			return
		}
		// Anything accepted is within bounds and is exactly what Hash would
		// write for it: the format is canonical.
		if checkParams(p) != nil || int(p.SaltLen) != len(salt) || int(p.KeyLen) != len(key) {
			t.Fatalf("ParsePHC(%q) accepted %+v with %d-byte salt, %d-byte key", s, p, len(salt), len(key))
		}
		if again := formatPHC(p, salt, key); again != s {
			t.Fatalf("ParsePHC(%q) round trip gives %q", s, again)
		}
	})
}

// TestConcurrencyBound checks that no more than maxConcurrent computations run
// at once, and that a call waiting for a slot gives up when its context ends.
func TestConcurrencyBound(t *testing.T) {
	t.Parallel()
	const limit = 2
	h := NewHasher(cheap, limit)
	var running, peak atomic.Int32
	gate := make(chan struct{})
	h.kdf = func(password, salt []byte, p Params) []byte {
		n := running.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		<-gate
		running.Add(-1)
		return argon2id(password, salt, p)
	}

	ctx := context.Background()
	const callers = 6
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
				t.Error(err)
			}
		})
	}
	// Wait until the slots are taken; the other callers must then be queued.
	for running.Load() < limit {
		time.Sleep(time.Millisecond)
	}
	// A call whose context ends while it waits returns the context's error,
	// for Hash, Verify and Dummy alike.
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := h.Hash(cctx, "another password")
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with cancelled context = %v, want context.Canceled", err)
	}
	if _, err := h.Verify(cctx, "x", h.dummy); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with cancelled context = %v, want context.Canceled", err)
	}
	h.Dummy(cctx, "x") // returns at once rather than waiting

	close(gate)
	wg.Wait()
	if got := peak.Load(); got != limit {
		t.Errorf("peak concurrent computations = %d, want %d", got, limit)
	}
}

// TestSecondWaits checks with one slot that a second Hash waits for the first.
func TestSecondWaits(t *testing.T) {
	t.Parallel()
	h := NewHasher(cheap, 1)
	started := make(chan struct{})
	gate := make(chan struct{})
	var calls atomic.Int32
	h.kdf = func(password, salt []byte, p Params) []byte {
		if calls.Add(1) == 1 {
			close(started)
			<-gate
		}
		return argon2id(password, salt, p)
	}
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { _, err := h.Hash(ctx, "first password"); first <- err }()
	<-started

	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(tctx, "second password"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Hash while the only slot is busy = %v, want context.DeadlineExceeded", err)
	}
	second := make(chan error, 1)
	go func() { _, err := h.Hash(ctx, "second password"); second <- err }()
	select {
	case err := <-second:
		t.Fatalf("second Hash finished (%v) while the only slot is busy", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("kdf ran %d times, want 2", got)
	}
}

func TestDummy(t *testing.T) {
	t.Parallel()
	h := NewHasher(cheap, 1)
	var calls atomic.Int32
	h.kdf = func(password, salt []byte, p Params) []byte {
		calls.Add(1)
		if p != h.params {
			t.Errorf("Dummy used %+v, want the Hasher's %+v", p, h.params)
		}
		return argon2id(password, salt, p)
	}
	h.Dummy(context.Background(), "anything at all")
	if calls.Load() != 1 {
		t.Errorf("Dummy ran the kdf %d times, want 1", calls.Load())
	}
}

func benchHasher(b *testing.B) (*Hasher, string) {
	h := NewHasher(DefaultParams(), 1)
	phc, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	return h, phc
}

// BenchmarkHash measures one Hash with DefaultParams.
func BenchmarkHash(b *testing.B) {
	h, _ := benchHasher(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify measures one Verify with DefaultParams.
func BenchmarkVerify(b *testing.B) {
	h, phc := benchHasher(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := h.Verify(ctx, "correct horse battery staple", phc); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
