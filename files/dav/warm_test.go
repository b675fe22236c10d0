package dav

import (
	"bytes"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// goroutineID returns the id of the calling goroutine, from its trace.
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := bytes.Cut(bytes.TrimPrefix(buf, []byte("goroutine ")), []byte(" "))
	return string(id)
}

// TestWarmPool: calls one after another run on one goroutine kept
// between them (its stack grown once), never the caller's; calls at once
// each get one, none waiting for another; a panic is raised again in the
// caller, net/http's ErrAbortHandler as it is; the goroutines end once
// idle.
func TestWarmPool(t *testing.T) {
	before := runtime.NumGoroutine()
	p := newWarmPool(50 * time.Millisecond)
	caller := goroutineID()
	ran := map[string]bool{}
	for range 20 {
		p.run(func() { ran[goroutineID()] = true })
	}
	if len(ran) != 1 || ran[caller] {
		t.Errorf("20 calls in a row ran on goroutines %v (the caller's is %s), want one of the pool's", ran, caller)
	}

	// Eight calls at once, each held until all have started.
	var wg, started sync.WaitGroup
	started.Add(8)
	release := make(chan struct{})
	var mu sync.Mutex
	at := map[string]bool{}
	for range 8 {
		wg.Go(func() {
			p.run(func() {
				mu.Lock()
				at[goroutineID()] = true
				mu.Unlock()
				started.Done()
				<-release
			})
		})
	}
	started.Wait()
	close(release)
	wg.Wait()
	if len(at) != 8 {
		t.Errorf("8 calls at once ran on %d goroutines", len(at))
	}

	for _, tc := range []struct {
		v    any
		want func(any) bool
	}{
		{http.ErrAbortHandler, func(got any) bool { return got == http.ErrAbortHandler }},
		{"broken", func(got any) bool {
			err, ok := got.(error)
			return ok && strings.Contains(err.Error(), "broken") && strings.Contains(err.Error(), "warm_test.go")
		}},
	} {
		got := func() (got any) {
			defer func() { got = recover() }()
			p.run(func() { panic(tc.v) })
			return nil
		}()
		if !tc.want(got) {
			t.Errorf("panic(%v) raised %v in the caller", tc.v, got)
		}
	}
	p.run(func() {}) // the pool still serves

	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left after the pool went idle, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
