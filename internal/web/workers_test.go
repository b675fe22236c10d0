package web

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// workersServer serves h over HTTP/2 (and HTTP/1.1) with NewServer's
// server, its messages logged into logs; it returns the server's workers.
func workersServer(t *testing.T, h http.Handler, logs *syncBuffer) (*httptest.Server, *workers) {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = NewServer(h, slog.New(slog.NewTextHandler(logs, nil)))
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts, ts.Config.Handler.(*workers)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWorkersKeepGoroutines: HTTP/2 requests one after another are
// served by one kept goroutine, requests at once by several, each
// answer its own request's; HTTP/1.1 requests stay on their connection's
// goroutine.
func TestWorkersKeepGoroutines(t *testing.T) {
	t.Parallel()
	ts, ws := workersServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Proto, r.URL.Path)
	}), &syncBuffer{})
	c := ts.Client()
	get := func(path string) string {
		t.Helper()
		resp, err := c.Get(ts.URL + path)
		if err != nil {
			t.Error(err)
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for i := range 20 {
		if got, want := get(fmt.Sprint("/", i)), fmt.Sprint("HTTP/2.0 /", i); got != want {
			t.Fatalf("%q, want %q", got, want)
		}
	}
	if n := ws.n.Load(); n != 1 {
		t.Errorf("%d workers after 20 requests one after another, want 1", n)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if got, want := get(fmt.Sprint("/at-once/", i)), fmt.Sprint("HTTP/2.0 /at-once/", i); got != want {
				t.Errorf("%q, want %q", got, want)
			}
		})
	}
	wg.Wait()
	if n := ws.n.Load(); n < 1 || n > maxWorkers {
		t.Errorf("%d workers", n)
	}

	// HTTP/1.1 (here without TLS) runs on the connection's goroutine.
	plain := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}), nil)
	h1 := httptest.NewUnstartedServer(nil)
	h1.Config = plain
	h1.Start()
	t.Cleanup(h1.Close)
	resp, err := h1.Client().Get(h1.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "HTTP/1.1" || plain.Handler.(*workers).n.Load() != 0 {
		t.Errorf("HTTP/1.1: %q, %d workers", b, plain.Handler.(*workers).n.Load())
	}
}

// TestWorkersHandlerEnds: a handler that panics, aborts
// (http.ErrAbortHandler) or ends its goroutine (runtime.Goexit) on a
// worker ends its request as it would on the request's own goroutine:
// the client's request fails, net/http logs a panic with the handler's
// stack and an abort without one, and the next requests are served.
func TestWorkersHandlerEnds(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	ts, _ := workersServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			panic("boom in the handler")
		case "/abort":
			panic(http.ErrAbortHandler)
		case "/exit":
			runtime.Goexit()
		}
		io.WriteString(w, "ok")
	}), logs)
	c := ts.Client()
	for _, path := range []string{"/panic", "/abort", "/exit", "/panic", "/exit"} {
		resp, err := c.Get(ts.URL + path)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Errorf("%s: the request ended without an error", path)
		}
		resp, err = c.Get(ts.URL + "/")
		if err != nil {
			t.Fatalf("after %s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("after %s: %q", path, b)
		}
	}
	out := logs.String()
	if strings.Count(out, "boom in the handler") != 2 || !strings.Contains(out, "the handler's goroutine") || !strings.Contains(out, "workers_test.go") {
		t.Errorf("the panics' log lacks the value or the handler's stack:\n%s", out)
	}
	if strings.Contains(out, "abort") {
		t.Errorf("an abort was logged:\n%s", out)
	}
}
