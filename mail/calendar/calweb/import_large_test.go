package calweb

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/testtool/browsertest"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/calendar"
)

// bigICS writes a file of n bytes that begins as a calendar does.
func bigICS(t *testing.T, n int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "huge.ics")
	head := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
	line := "X-FILL:" + strings.Repeat("x", 70) + "\r\n"
	var b bytes.Buffer
	b.Grow(n)
	b.WriteString(head)
	for b.Len()+len(line) <= n {
		b.WriteString(line)
	}
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImportTooLargeBrowser: a member picks, in headless Chromium, a
// file a little over calendar.MaxImportBytes and imports it, over
// HTTP/1.1 and over HTTP/2 (as the server speaks with browsers): the page
// says the file is too large, not the browser's "connection reset"
// (net::ERR_CONNECTION_RESET, which HTTP/1.1 gave 3 times in 4 before
// refuseLarge).
func TestImportTooLargeBrowser(t *testing.T) {
	browsertest.Need(t)
	t.Parallel()
	file := bigICS(t, calendar.MaxImportBytes+32<<20)
	for _, proto := range []string{"http/1.1", "h2"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ann := e.member(t, "ann")
			ts := e.ts
			if proto == "h2" {
				ts = httptest.NewUnstartedServer(e.ts.Config.Handler)
				ts.EnableHTTP2 = true
				ts.Config.ConnContext = iweb.ConnContext
				ts.StartTLS()
				t.Cleanup(ts.Close)
			}
			u, err := url.Parse(ts.URL)
			if err != nil {
				t.Fatal(err)
			}
			origin := "https://localhost:" + u.Port() // a secure context with a host name, as production has
			var (
				mu     sync.Mutex
				events []string // of the POST
			)
			b := browsertest.Start(t, t.Context(), browsertest.Options{
				URL: origin, SPKI: browsertest.SPKIHash(ts.Certificate()), StepTimeout: time.Minute,
				Listener: func(ev any) {
					mu.Lock()
					defer mu.Unlock()
					switch ev := ev.(type) {
					case *network.EventResponseReceived:
						events = append(events, fmt.Sprintf("%s %d %s", ev.Response.URL, ev.Response.Status, ev.Response.Protocol))
					case *network.EventLoadingFailed:
						events = append(events, "failed: "+ev.ErrorText)
					}
				},
			})
			secure, httpOnly := true, true
			if _, err := chromedp.Call(b.Ctx, network.SetCookie, network.SetCookieParams{
				Name: login.SessionCookie, Value: ann.u.Session, URL: origin + "/", Path: "/", Secure: &secure, HTTPOnly: &httpOnly,
			}); err != nil {
				t.Fatalf("Network.setCookie: %v", err)
			}
			b.Navigate("/mail/calendar/import")
			b.Do("choose the file and import",
				chromedp.WaitVisible(chromedp.CSS("#file")),
				chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{file}),
				chromedp.Click(chromedp.CSS("#importbtn")),
			)
			ctx, cancel := context.WithTimeout(b.Ctx, time.Minute)
			defer cancel()
			got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("p.error")))
			mu.Lock()
			defer mu.Unlock()
			if err != nil || !strings.Contains(got, "a calendar file may have at most") {
				t.Fatalf("the page says %q, %v; the browser saw:\n%s", got, err, strings.Join(events, "\n"))
			}
			if want := " 413 " + proto; !strings.Contains(strings.Join(events, "\n"), want) {
				t.Errorf("no answer %q:\n%s", want, strings.Join(events, "\n"))
			}
		})
	}
}

// countingReader counts what is read of it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestImportTooLargeByLength: an upload whose Content-Length is past
// what the import reads and drains (maxImportBody) is refused with the
// page's 413 as soon as its file begins: far less than the file is sent
// before the answer comes.
func TestImportTooLargeByLength(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann := e.member(t, "ann")
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	mw.WriteField("csrf", ann.csrf(t))
	if _, err := mw.CreateFormFile("file", "huge.ics"); err != nil {
		t.Fatal(err)
	}
	size := int64(maxImportBody) + 1<<20
	body := &countingReader{r: io.MultiReader(&head, io.LimitReader(zeros{}, size-int64(head.Len())))}
	req, err := http.NewRequestWithContext(t.Context(), "POST", e.ts.URL+"/mail/calendar/import", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res := ann.do(t, req)
	if res.code != http.StatusRequestEntityTooLarge || !strings.Contains(res.body, "a calendar file may have at most") {
		t.Fatalf("%d\n%s", res.code, res.body)
	}
	if n := body.n.Load(); n > calendar.MaxImportBytes/2 {
		t.Errorf("%d bytes sent before the answer, of %d", n, size)
	}
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
