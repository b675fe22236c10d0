package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestSlideWrites: a response written slowly over more than twice the
// server's WriteTimeout arrives whole through SlideWrites; once the
// transfer's context ends, the next write fails and the client sees the
// body cut.
func TestSlideWrites(t *testing.T) {
	t.Parallel()
	revoke := make(chan struct{})
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		d := NewDeadlines(ctx, w)
		defer d.Stop()
		sw := SlideWrites(d, w)
		for i := range 6 {
			if r.URL.Path == "/revoked" && i == 2 {
				cancel()
				close(revoke)
			}
			if _, err := io.WriteString(sw, "tick\n"); err != nil {
				return
			}
			http.NewResponseController(sw).Flush()
			time.Sleep(400 * time.Millisecond) // 2.4 s in all
		}
	}))
	ts.Config.WriteTimeout = time.Second
	ts.Start()
	defer ts.Close()

	resp, err := ts.Client().Get(ts.URL + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != strings.Repeat("tick\n", 6) {
		t.Fatalf("slow response: %q, %v", b, err)
	}

	resp, err = ts.Client().Get(ts.URL + "/revoked")
	if err != nil {
		t.Fatal(err)
	}
	b, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	<-revoke
	if err == nil && string(b) == strings.Repeat("tick\n", 6) {
		t.Fatalf("revoked response arrived whole: %q", b)
	}
}

// TestDeadlinesAfterReturn: a context that ends while the handler runs, but
// whose reaction comes only after the handler has returned (and called
// Stop), must not touch the response writer: HTTP/2's then has no stream,
// and the server crashed with a nil dereference.
func TestDeadlinesAfterReturn(t *testing.T) {
	t.Parallel()
	cancelled, reacted, returned := make(chan struct{}), make(chan struct{}), make(chan struct{})
	late := make(chan struct{})
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		d := NewDeadlines(ctx, w)
		d.react = func() { close(reacted); <-late } // hold the reaction
		defer close(returned)
		defer d.Stop()
		io.WriteString(SlideWrites(d, w), "done")
		http.NewResponseController(w).Flush()
		cancel()
		<-reacted
		close(cancelled)
	}))
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer ts.Close()

	resp, err := ts.Client().Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("HTTP/%d, want 2", resp.ProtoMajor)
	}
	<-cancelled
	<-returned
	// net/http retires the HTTP/2 response writer just after the handler
	// returns; then the reaction may go on.
	time.Sleep(50 * time.Millisecond)
	close(late)
	time.Sleep(50 * time.Millisecond) // a crash here ends the test binary

	// And while the handler still runs, the reaction does set the past
	// deadlines: a write after it fails.
	ts2 := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		d := NewDeadlines(ctx, w)
		defer d.Stop()
		sw := SlideWrites(d, w)
		io.WriteString(sw, "first\n")
		http.NewResponseController(w).Flush()
		cancel()
		time.Sleep(50 * time.Millisecond) // the reaction runs
		for range 100 {
			if _, err := io.WriteString(w, strings.Repeat("x", 1<<10)); err != nil {
				return
			}
			http.NewResponseController(w).Flush()
		}
		t.Error("writes after the context ended went on")
	}))
	ts2.EnableHTTP2 = true
	ts2.StartTLS()
	defer ts2.Close()
	if resp, err := ts2.Client().Get(ts2.URL); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// deadlineWriter counts the deadlines set on it, as http.ResponseController
// sets them.
type deadlineWriter struct {
	nopWriter
	read, write []time.Time
}

func (w *deadlineWriter) SetReadDeadline(t time.Time) error { w.read = append(w.read, t); return nil }
func (w *deadlineWriter) SetWriteDeadline(t time.Time) error {
	w.write = append(w.write, t)
	return nil
}

// TestDeadlinesFirstMove: a request read and answered at once keeps the
// server's deadlines (over HTTP/2 each move is a message to the serve
// loop and a timer reset); once its context ends, the next read or write
// still sets a deadline in the past.
func TestDeadlinesFirstMove(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	w := &deadlineWriter{nopWriter: nopWriter{h: http.Header{}}}
	d := NewDeadlines(ctx, w)
	defer d.Stop()
	d.Reading()
	d.Writing()
	if len(w.read)+len(w.write) != 0 {
		t.Errorf("deadlines moved at once: read %v, write %v", w.read, w.write)
	}
	cancel()
	d.Reading()
	d.Writing()
	if len(w.read) == 0 || len(w.write) == 0 || !w.read[len(w.read)-1].Before(time.Now()) || !w.write[len(w.write)-1].Before(time.Now()) {
		t.Errorf("after the end: read %v, write %v, want past deadlines", w.read, w.write)
	}
}
