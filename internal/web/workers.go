package web

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Go's HTTP/2 server runs each request's handler on a new goroutine,
// whose stack starts small and is copied to a larger one each time a
// call goes deeper than it has room for: a WebDAV GET goes through the
// middleware, x/net/webdav, the file store and the database driver, and
// its goroutine's stack was copied four or five times, 9% of the server's
// CPU for a 10 KiB file (issue 21). HTTP/1.1 runs a connection's requests
// on the connection's goroutine, whose stack has grown already. workers
// runs HTTP/2 handlers on goroutines kept from one request to the next,
// as grpc-go's NumStreamWorkers does for the same cost: the request's own
// goroutine hands the request over and waits. When every worker is busy
// and there are maxWorkers, the handler runs where it is, as before.

// Bounds of the workers.
const (
	maxWorkers = 256              // goroutines kept at most
	workerIdle = 10 * time.Second // a worker with no request for so long ends
)

// workers serves h, HTTP/2 requests on kept goroutines.
type workers struct {
	h    http.Handler
	work chan *job // to an idle worker
	n    atomic.Int32
	jobs sync.Pool // of *job
}

// job is one request handed to a worker, and how it ended.
type job struct {
	w    http.ResponseWriter
	r    *http.Request
	done chan struct{} // one token when h returned, panicked or exited
	// What the handler did other than return: a panic's value (with the
	// worker's stack, but http.ErrAbortHandler as it is), or exit
	// (runtime.Goexit).
	panicked any
	exited   bool
}

func newWorkers(h http.Handler) *workers {
	return &workers{h: h, work: make(chan *job)}
}

func (s *workers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 {
		s.h.ServeHTTP(w, r)
		return
	}
	j, _ := s.jobs.Get().(*job)
	if j == nil {
		j = &job{done: make(chan struct{}, 1)}
	}
	j.w, j.r = w, r
	select {
	case s.work <- j:
	default:
		if s.n.Add(1) > maxWorkers {
			s.n.Add(-1)
			j.w, j.r = nil, nil
			s.jobs.Put(j)
			s.h.ServeHTTP(w, r)
			return
		}
		go s.worker(j)
	}
	<-j.done
	p, exited := j.panicked, j.exited
	*j = job{done: j.done}
	s.jobs.Put(j)
	switch {
	case exited:
		// The handler ended its goroutine (runtime.Goexit): end this one.
		runtime.Goexit()
	case p != nil:
		panic(p) // net/http's to handle, as if h had panicked here
	}
}

// worker runs j, then the requests handed to it, until it has been idle
// for workerIdle.
func (s *workers) worker(j *job) {
	defer s.n.Add(-1)
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		if !s.run(j) {
			return // the handler called runtime.Goexit: this goroutine ends
		}
		idle.Reset(workerIdle)
		select {
		case j = <-s.work:
		case <-idle.C:
			return
		}
	}
}

// run serves j and reports whether the handler returned or panicked
// (false: it called runtime.Goexit, which goes on ending this goroutine).
func (s *workers) run(j *job) (alive bool) {
	returned := false
	defer func() {
		if !returned {
			if p := recover(); p != nil {
				j.panicked, alive = handlerPanic(p), true
			} else {
				j.exited = true
			}
		}
		j.done <- struct{}{}
	}()
	s.h.ServeHTTP(j.w, j.r)
	returned = true
	return true
}

// handlerPanic is what to panic with again in the request's goroutine
// for p, a handler's panic on a worker: http.ErrAbortHandler as it is
// (net/http then logs nothing), anything else with the worker's stack,
// which net/http logs with the request's.
func handlerPanic(p any) any {
	if p == http.ErrAbortHandler {
		return p
	}
	return fmt.Errorf("%v\n\nthe handler's goroutine:\n%s", p, debug.Stack())
}
