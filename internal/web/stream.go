package web

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// IOIdle is how long one read of a request body or one write of a response
// may take in a transfer under [Deadlines]. The server's ReadTimeout and
// WriteTimeout bound a whole request, which a large file on a slow line
// outlasts; transfers instead move the connection's deadline forward as
// they go, so a stalled client is still cut off but a slow one is not.
const IOIdle = time.Minute

// Deadlines moves one request's read and write deadlines forward as its
// body is read and its response written: at most once a second, to IOIdle
// from then. When ctx ends (the credential was revoked, say), both
// deadlines are set in the past at once, so that a blocked read or write
// returns, and every later move keeps them there. Call Reading and Writing
// from the handler's goroutine, and Stop before the handler returns: after
// that the response writer must not be touched (an HTTP/2 one no longer
// has a stream).
type Deadlines struct {
	rc            *http.ResponseController
	ctx           context.Context
	read, written time.Time // of the last moves

	stopAfter func() bool // stops the reaction to ctx
	mu        sync.Mutex  // orders the reaction to ctx against Stop
	stopped   bool
	react     func() // tests: runs first in the reaction to ctx
}

// NewDeadlines returns the deadlines of w's connection, ended by ctx.
func NewDeadlines(ctx context.Context, w http.ResponseWriter) *Deadlines {
	d := &Deadlines{rc: http.NewResponseController(w), ctx: ctx}
	d.stopAfter = context.AfterFunc(ctx, func() {
		if d.react != nil {
			d.react()
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if !d.stopped { // stopAfter cannot hold back a reaction that has begun
			d.rc.SetReadDeadline(past())
			d.rc.SetWriteDeadline(past())
		}
	})
	return d
}

// past returns a deadline long gone.
func past() time.Time { return time.Unix(1, 0) }

// Stop ends the reaction to ctx. Call it before the handler returns.
func (d *Deadlines) Stop() {
	d.stopAfter()
	d.mu.Lock()
	d.stopped = true
	d.mu.Unlock()
}

func (d *Deadlines) move(last *time.Time, set func(time.Time) error) {
	if now := time.Now(); now.Sub(*last) >= time.Second {
		*last = now
		// An error means the writer has no deadlines (a test's recorder).
		set(now.Add(IOIdle))
	}
	// Checked after the move, so that the move cannot undo a past deadline
	// set by whoever ended ctx meanwhile.
	if d.ctx.Err() != nil {
		set(past())
	}
}

// Reading is called before each read of the request body.
func (d *Deadlines) Reading() { d.move(&d.read, d.rc.SetReadDeadline) }

// Writing is called before each write of the response.
func (d *Deadlines) Writing() { d.move(&d.written, d.rc.SetWriteDeadline) }

// SlideReads replaces r's body with one that calls d.Reading before every
// read.
func SlideReads(d *Deadlines, r *http.Request) {
	r.Body = slidingBody{r.Body, d}
}

type slidingBody struct {
	io.ReadCloser
	d *Deadlines
}

func (b slidingBody) Read(p []byte) (int, error) {
	b.d.Reading()
	return b.ReadCloser.Read(p)
}

// SlideWrites returns w with d.Writing called before every write.
func SlideWrites(d *Deadlines, w http.ResponseWriter) http.ResponseWriter {
	return slidingWriter{w, d}
}

type slidingWriter struct {
	http.ResponseWriter
	d *Deadlines
}

func (s slidingWriter) Write(p []byte) (int, error) {
	s.d.Writing()
	return s.ResponseWriter.Write(p)
}

// Unwrap lets [http.ResponseController] reach the writer underneath.
func (s slidingWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
