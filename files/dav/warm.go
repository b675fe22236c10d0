package dav

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
	"sync"
	"time"
)

// warmIdle is how long a goroutine of a warmPool waits for its next call.
const warmIdle = 10 * time.Second

// warmPool runs calls on goroutines it keeps between them, each waiting
// up to idle for its next call; a call that finds none waiting starts
// one. Go's HTTP/2 server runs each request on a goroutine of its own,
// whose stack starts small and is grown, each time copied whole, to the
// depth an upload reaches in the store (SQLite's statements, run in the
// group commit by the upload that leads it): 4-7% of the server's CPU in
// an HTTP/2 upload of 10 or 64 KiB, none over HTTP/1.1, whose connection
// keeps one goroutine, and its stack, from request to request.
type warmPool struct {
	idle time.Duration
	mu   sync.Mutex
	free []*warmWorker // waiting for a call, the last to have served last
}

func newWarmPool(idle time.Duration) *warmPool { return &warmPool{idle: idle} }

// warmWorker is a goroutine of a warmPool.
type warmWorker struct {
	calls chan *warmCall // of 1: the call it was taken from free for
}

// warmCall is one call of run.
type warmCall struct {
	f        func()
	done     chan struct{}
	panicked any // what f panicked with, re-raised by run
}

// run calls f on a goroutine of the pool and returns when f has returned.
// A panic in f is raised again in run's goroutine, so that net/http
// recovers it for the request as before.
func (p *warmPool) run(f func()) {
	c := &warmCall{f: f, done: make(chan struct{})}
	p.mu.Lock()
	var w *warmWorker
	if n := len(p.free); n > 0 {
		w = p.free[n-1]
		p.free = p.free[:n-1]
	}
	p.mu.Unlock()
	if w != nil {
		w.calls <- c
	} else {
		go p.serve(&warmWorker{calls: make(chan *warmCall, 1)}, c)
	}
	<-c.done
	if c.panicked != nil {
		panic(c.panicked)
	}
}

// serve runs c and then the calls w is given, until none came for p.idle.
// A worker is free again before its caller learns that its call is done,
// so that calls one after another all run on it.
func (p *warmPool) serve(w *warmWorker, c *warmCall) {
	t := time.NewTimer(p.idle)
	defer t.Stop()
	for {
		p.call(w, c)
		t.Reset(p.idle)
		select {
		case c = <-w.calls:
		case <-t.C:
			if p.leave(w) {
				return
			}
			c = <-w.calls // taken from free meanwhile: its call is coming
		}
	}
}

// leave takes w out of free, unless a call took it first.
func (p *warmPool) leave(w *warmWorker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := slices.Index(p.free, w)
	if i < 0 {
		return false
	}
	p.free = slices.Delete(p.free, i, i+1)
	return true
}

// call runs c on w, and frees w before telling c's caller.
func (p *warmPool) call(w *warmWorker, c *warmCall) {
	defer close(c.done)
	defer func() {
		p.mu.Lock()
		p.free = append(p.free, w)
		p.mu.Unlock()
	}()
	defer func() {
		switch v := recover(); v {
		case nil:
		case http.ErrAbortHandler: // net/http's own, raised as it is
			c.panicked = v
		default:
			c.panicked = fmt.Errorf("dav: panic in a call of the pool: %v\n%s", v, debug.Stack())
		}
	}()
	c.f()
}
