package fileweb

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
)

// FuzzPublicLinks sends the pages of shared links, which anyone holding a
// link reaches without signing in (a folder's listing and downloads, a
// link's password form, a drop's upload form), any method, path after the
// token, query, Range, Content-Type and body. They never fail with a
// server error; nothing outside the shared folders is ever served; and
// the only change anyone can make is a new file in the drop folder.
func FuzzPublicLinks(f *testing.F) {
	e := newEnv(f, files.Options{DropFileBytes: 4096, DropLinkBytes: 1 << 20})
	anna := e.user(f, "anna@example.org", auth.RoleMember)
	for _, d := range []string{"Inbox", "Public"} {
		want(f, "mkdir", anna.post(f, "/files/mkdir/Home", url.Values{"name": {d}}), http.StatusSeeOther)
	}
	want(f, "upload", anna.upload(f, "/files/upload/Home", anna.csrf(f), false, [2]string{"secret.txt", "anna's secret"}), http.StatusSeeOther)
	want(f, "upload", anna.upload(f, "/files/upload/Home/Public", anna.csrf(f), false, [2]string{"pub.txt", "public words"}), http.StatusSeeOther)
	want(f, "upload", anna.upload(f, "/files/upload/Home/Inbox", anna.csrf(f), false, [2]string{"in.txt", "dropped before"}), http.StatusSeeOther)
	tokens := []string{
		makeLink(f, anna, "Home/Inbox", url.Values{"days": {"30"}, "kind": {"drop"}}),
		makeLink(f, anna, "Home/Public", url.Values{"days": {"30"}}),
		makeLink(f, anna, "Home/Public", url.Values{"days": {"30"}, "password": {"open sesame"}}),
		makeLink(f, anna, "Home/Public/pub.txt", url.Values{"days": {"30"}}),
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	}
	listing := func(t testing.TB) []string {
		var out []string
		for _, d := range []string{"/Home", "/Home/Public", "/Home/Inbox"} {
			ns, err := e.store.List(t.Context(), actorOf(anna), d)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range ns {
				out = append(out, n.Path)
			}
		}
		slices.Sort(out)
		return out
	}
	before := listing(f)

	multipartBody := "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../secret.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--B--\r\n"
	for _, s := range []struct {
		tok     uint8
		post    bool
		rest, q string
		rng, ct string
		body    string
	}{
		{0, false, "", "", "", "", ""},
		{0, true, "/upload", "", "", "multipart/form-data; boundary=B", multipartBody},
		{0, true, "/upload", "", "", "multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\\x00.\"\r\n\r\n" + strings.Repeat("x", 5000) + "\r\n--B--\r\n"},
		{3, false, "/dl", "", "bytes=0-3,5-", "", ""},
		{1, false, "/dl", "", "bytes=-1", "", ""},
		{2, true, "", "", "", "application/x-www-form-urlencoded", "password=open+sesame"},
		{2, true, "", "", "", "application/x-www-form-urlencoded", "password=wrong&password=open+sesame"},
		{3, false, "/dl", "inline=1", "bytes=99999999999999999999-", "", ""},
		{4, false, "/..%2f..%2fHome", "", "", "", ""},
	} {
		f.Add(s.tok, s.post, s.rest, s.q, s.rng, s.ct, []byte(s.body))
	}
	h := e.ts.Config.Handler
	f.Fuzz(func(t *testing.T, tok uint8, post bool, rest, query, rng, ctype string, body []byte) {
		method := http.MethodGet
		if post {
			method = http.MethodPost
		}
		req := httptest.NewRequestWithContext(t.Context(), method, "https://files.example.org/", bytes.NewReader(body))
		req.URL.Path = "/s/" + tokens[int(tok)%len(tokens)] + rest
		req.URL.RawQuery = query
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q ? %q: %d %s", method, req.URL.Path, query, rec.Code, rec.Body)
		}
		if strings.Contains(rec.Body.String(), "anna's secret") || strings.Contains(rec.Body.String(), "dropped before") {
			t.Fatalf("%s %q ? %q served what was not shared", method, req.URL.Path, query)
		}
		after := listing(t)
		for _, p := range after {
			if !slices.Contains(before, p) && !strings.HasPrefix(p, "/Home/Inbox/") {
				t.Fatalf("%s %q made %s outside the drop folder", method, req.URL.Path, p)
			}
		}
		for _, p := range before {
			if !slices.Contains(after, p) {
				t.Fatalf("%s %q removed %s", method, req.URL.Path, p)
			}
		}
		for p, content := range map[string]string{"/Home/secret.txt": "anna's secret", "/Home/Inbox/in.txt": "dropped before", "/Home/Public/pub.txt": "public words"} {
			_, rc, err := e.store.OpenPath(t.Context(), actorOf(anna), p)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if string(b) != content {
				t.Fatalf("%s %q changed %s to %q", method, req.URL.Path, p, b)
			}
		}
	})
}
