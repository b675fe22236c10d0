package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// Do runs actions on the tab within the step timeout; on failure it fails
// the test with what the page shows.
func (b *Browser) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, b.step)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.T.Fatalf("%s: %v (page: %s)", what, err, b.Describe())
	}
}

// Navigate opens path on the server.
func (b *Browser) Navigate(path string) {
	b.T.Helper()
	b.Do("open "+path, chromedp.Navigate(b.URL+path))
}

// Click clicks the first element matching the CSS selector sel.
func (b *Browser) Click(sel string) {
	b.T.Helper()
	b.Do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// Text returns the text of the first element matching sel.
func (b *Browser) Text(sel string) string {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, b.step)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.T.Fatalf("read %s: %v (page: %s)", sel, err, b.Describe())
	}
	return s
}

// Location returns the tab's URL.
func (b *Browser) Location() string {
	b.T.Helper()
	s, err := chromedp.Run(b.Ctx, chromedp.Location())
	if err != nil {
		b.T.Fatal(err)
	}
	return s
}

// PageState is what WaitPage reads from the page.
type PageState struct {
	Path   string `json:"path"`
	Found  bool   `json:"found"`
	Status string `json:"status"` // the WebAuthn script's messages (#status)
	Error  string `json:"error"`  // the server's error message on the page (.error)
	Notice string `json:"notice"` // .notice
	Title  string `json:"title"`
}

// State reads the page: its path, title, messages, and whether an element
// matches sel once the document has loaded.
func (b *Browser) State(ctx context.Context, sel string) (PageState, error) {
	q, _ := json.Marshal(sel)
	return chromedp.Run(ctx, chromedp.Evaluate[PageState](`(() => {
		const s = document.getElementById("status"), e = document.querySelector(".error"), n = document.querySelector(".notice");
		return {
			path: location.pathname,
			found: document.readyState !== "loading" && document.querySelector(`+string(q)+`) !== null,
			status: s ? s.textContent.trim() : "",
			error: e ? e.textContent.trim() : "",
			notice: n ? n.textContent.trim() : "",
			title: document.title,
		};
	})()`))
}

// Describe sums up the page for a failure message.
func (b *Browser) Describe() string {
	ctx, cancel := context.WithTimeout(b.Ctx, 2*time.Second)
	defer cancel()
	st, err := b.State(ctx, "body")
	if err != nil {
		return "unreadable: " + err.Error()
	}
	return fmt.Sprintf("%s %q, error %q, status %q", st.Path, st.Title, st.Error, st.Status)
}

// WaitPage waits until the tab shows exactly path with an element matching
// sel. It fails at once when the page's WebAuthn script reports an error.
func (b *Browser) WaitPage(path, sel string) PageState {
	b.T.Helper()
	return b.waitFor(path, sel, func(p string) bool { return p == path })
}

// WaitPrefix is WaitPage for any path starting with prefix.
func (b *Browser) WaitPrefix(prefix, sel string) PageState {
	b.T.Helper()
	return b.waitFor(prefix, sel, func(p string) bool { return strings.HasPrefix(p, prefix) })
}

func (b *Browser) waitFor(what, sel string, match func(path string) bool) PageState {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, b.step)
	defer cancel()
	var last PageState
	for {
		st, err := b.State(ctx, sel)
		if err == nil {
			last = st
			if match(st.Path) && st.Found {
				return st
			}
			if st.Status != "" && !strings.HasPrefix(st.Status, "Follow your browser") {
				b.T.Fatalf("waiting for %s: the page's script says %q (on %s %q)", what, st.Status, st.Path, st.Title)
			}
		} // else: a navigation replaced the page under the evaluation; read again
		select {
		case <-ctx.Done():
			b.T.Fatalf("waiting for %s with %s: %v; last seen %s %q, error %q, notice %q, status %q", what, sel, ctx.Err(), last.Path, last.Title, last.Error, last.Notice, last.Status)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
