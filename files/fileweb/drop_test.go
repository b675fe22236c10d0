package fileweb

import (
	"bufio"
	"crypto/tls"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
)

// TestDropBounds is issue 12 item 6 through the pages: an anonymous
// sender cannot send a file over the drop limit, a request announcing more
// than a drop link can take is refused before its body is read, and a
// sender who trickles is cut.
func TestDropBounds(t *testing.T) {
	t.Parallel()
	e := newEnvHandler(t, files.Options{DropFileBytes: 1000, DropLinkBytes: 3000}, 64<<30, func(h *Handler) {
		h.dropRate, h.dropGrace = 1<<20, 200*time.Millisecond
	})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	want(t, "mkdir", anna.post(t, "/files/mkdir/Home", url.Values{"name": {"Inbox"}}), http.StatusSeeOther)
	tok := makeLink(t, anna, "Home/Inbox", url.Values{"days": {"7"}, "kind": {"drop"}})
	v := e.agent(nil)
	if page := v.get(t, "/s/"+tok); !strings.Contains(page.body, "up to 1.0 kB; this link takes 3.0 kB more") {
		t.Errorf("the drop page does not say the limit:\n%s", page.body)
	}
	want(t, "a file over the drop limit", v.upload(t, "/s/"+tok+"/upload", "", false, [2]string{"big.bin", strings.Repeat("x", 1001)}), http.StatusRequestEntityTooLarge)
	want(t, "a file within", v.upload(t, "/s/"+tok+"/upload", "", false, [2]string{"ok.bin", strings.Repeat("x", 1000)}), http.StatusOK)
	if anna.exists(t, "/Home/Inbox/big.bin") || !anna.exists(t, "/Home/Inbox/ok.bin") {
		t.Fatal("drop limits not kept")
	}

	// 64 GiB announced: refused at once, not after reading.
	conn, err := tls.Dial("tcp", e.ts.Listener.Addr().String(), e.ts.Client().Transport.(*http.Transport).TLSClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(conn, "POST /s/"+tok+"/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 68719476736\r\n\r\n--b\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("64 GiB announced: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("64 GiB announced: %s, want 413", resp.Status)
	}

	// A byte every 50 ms, while 1 MB/s is the least taken.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		w, _ := mw.CreateFormFile("file", "slow.txt")
		for range 60 { // 3 s in all
			if _, err := io.WriteString(w, "z"); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		pw.CloseWithError(mw.Close())
	}()
	defer pw.Close()
	req, _ := http.NewRequestWithContext(t.Context(), "POST", e.ts.URL+"/s/"+tok+"/upload", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if res, err := e.ts.Client().Do(req); err == nil {
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Fatal("a trickling drop was taken")
		}
	}
	if anna.exists(t, "/Home/Inbox/slow.txt") {
		t.Fatal("a trickling drop was stored")
	}
}
