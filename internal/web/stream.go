package web

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
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
// from then, the first time once the transfer has lasted 100 ms. When ctx
// ends (the credential was revoked, say), both deadlines are set in the
// past at once, so that a blocked read or write returns, and every later
// move keeps them there. When ctx ends with a cause of its own, not the
// plain [context.Canceled] of a request that ended, the connection is also
// reset (see [ConnContext]): what the kernel had queued for the client is
// dropped, so the client is cut at once, not some megabytes later. Call
// Reading and Writing from the handler's goroutine, and Stop before the
// handler returns: after that the response writer must not be touched (an
// HTTP/2 one no longer has a stream).
type Deadlines struct {
	rc            *http.ResponseController
	ctx           context.Context
	read, written time.Time // of the last moves

	// MinReadRate's bound: rate bytes a second on average, after grace
	// from start; got is the body's bytes read so far.
	rate  int64
	grace time.Duration
	start time.Time
	got   int64

	stopAfter func() bool // stops the reaction to ctx
	mu        sync.Mutex  // orders the reaction to ctx against Stop
	stopped   bool
	wasReset  bool
	react     func() // tests: runs first in the reaction to ctx
}

// firstMove is how long a transfer under [Deadlines] lasts before its
// deadlines are first moved: a request answered sooner, as most are, keeps
// the server's (ReadTimeout and WriteTimeout, 60 s and 120 s from the
// request's start), and over HTTP/2 each move is a message to the
// connection's serve loop and a timer reset, two per upload.
const firstMove = 100 * time.Millisecond

// NewDeadlines returns the deadlines of w's connection, ended by ctx.
func NewDeadlines(ctx context.Context, w http.ResponseWriter) *Deadlines {
	d := &Deadlines{rc: http.NewResponseController(w), ctx: ctx}
	// Moves come at most once a second: the first once firstMove has passed.
	d.read = time.Now().Add(firstMove - time.Second)
	d.written = d.read
	d.stopAfter = context.AfterFunc(ctx, func() {
		if d.react != nil {
			d.react()
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if !d.stopped { // stopAfter cannot hold back a reaction that has begun
			// Reset first: a write that fails on the past deadline has
			// net/http close the connection, gracefully.
			d.reset()
			d.rc.SetReadDeadline(past())
			d.rc.SetWriteDeadline(past())
		}
	})
	return d
}

// connKey is the context key of a request's connection (ConnContext).
type connKey struct{}

// ConnContext is an [http.Server]'s ConnContext that lets [Deadlines]
// reset a request's connection when its transfer is revoked. [NewServer]
// sets it.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// resetConn closes the connection of ctx's request with a TCP reset
// (SO_LINGER 0): the kernel drops what it still had to send, and the
// client sees the connection reset rather than receiving that data and a
// clean end. An HTTP/2 connection goes with all its streams, which are the
// same client's.
func resetConn(ctx context.Context) {
	c, ok := ctx.Value(connKey{}).(net.Conn)
	if !ok {
		return
	}
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn() // not tls.Conn.Close, which would write an alert
	}
	if tcp, ok := c.(*net.TCPConn); ok {
		tcp.SetLinger(0)
	}
	c.Close()
}

// past returns a deadline long gone.
func past() time.Time { return time.Unix(1, 0) }

// Stop ends the reaction to ctx. Call it before the handler returns.
func (d *Deadlines) Stop() {
	d.stopAfter()
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.stopped && d.ctx.Err() != nil {
		// The handler may have seen ctx end before the reaction ran.
		d.reset()
	}
	d.stopped = true
}

// reset resets the connection if ctx ended with a cause of its own.
// d.mu is held.
func (d *Deadlines) reset() {
	if !d.wasReset && !errors.Is(context.Cause(d.ctx), context.Canceled) {
		d.wasReset = true
		resetConn(d.ctx)
	}
}

// MinReadRate bounds how slowly the request body may arrive: once grace
// has passed from now, at least rate bytes a second on average since now,
// and never an idle wait over IOIdle. A sender that trickles (a byte every
// few seconds, to hold a connection and an upload open) is cut when it
// falls behind. Call it before the body is read, with [SlideReads].
func (d *Deadlines) MinReadRate(rate int64, grace time.Duration) {
	d.rate, d.grace, d.start = rate, grace, time.Now()
}

func (d *Deadlines) move(last *time.Time, set func(time.Time) error) {
	if now := time.Now(); now.Sub(*last) >= time.Second {
		*last = now
		// An error means the writer has no deadlines (a test's recorder).
		set(now.Add(IOIdle))
	}
	d.keepPast(set)
}

// keepPast sets a past deadline if ctx has ended.
func (d *Deadlines) keepPast(set func(time.Time) error) {
	// Checked after the move, so that the move cannot undo a past deadline
	// set by whoever ended ctx meanwhile.
	if d.ctx.Err() != nil {
		d.mu.Lock()
		if !d.stopped {
			d.reset()
		}
		d.mu.Unlock()
		set(past())
	}
}

// Reading is called before each read of the request body.
func (d *Deadlines) Reading() {
	if d.rate <= 0 {
		d.move(&d.read, d.rc.SetReadDeadline)
		return
	}
	// At the minimum rate, the bytes read so far were due by then.
	due := d.start.Add(d.grace + time.Duration(float64(d.got)/float64(d.rate)*float64(time.Second)))
	if idle := time.Now().Add(IOIdle); idle.Before(due) {
		due = idle
	}
	d.rc.SetReadDeadline(due)
	d.keepPast(d.rc.SetReadDeadline)
}

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
	n, err := b.ReadCloser.Read(p)
	b.d.got += int64(n)
	return n, err
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
