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
		sw := SlideWrites(NewDeadlines(ctx, w), w)
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
