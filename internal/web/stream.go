package web

import (
	"context"
	"io"
	"net/http"
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
// from then. When ctx ends (the credential was revoked, say), the next move
// sets the deadlines in the past instead, so the transfer stops. Use it from
// the handler's goroutine only.
type Deadlines struct {
	rc            *http.ResponseController
	ctx           context.Context
	read, written time.Time // of the last moves
}

// NewDeadlines returns the deadlines of w's connection, ended by ctx.
func NewDeadlines(ctx context.Context, w http.ResponseWriter) *Deadlines {
	return &Deadlines{rc: http.NewResponseController(w), ctx: ctx}
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
		set(time.Unix(1, 0)) // long past
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
