package web

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// wantHeaders is every header Secure must set, with its exact value.
var wantHeaders = map[string]string{
	"Content-Security-Policy":      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
	"Strict-Transport-Security":    "max-age=63072000; includeSubDomains",
	"X-Content-Type-Options":       "nosniff",
	"Referrer-Policy":              "no-referrer",
	"X-Frame-Options":              "DENY",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
	"Permissions-Policy":           "camera=(), microphone=(), geolocation=(), interest-cohort=()",
	"Cache-Control":                "no-store",
}

func testMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})
	mux.HandleFunc("POST /post", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			Error(w, r, http.StatusRequestEntityTooLarge)
			return
		}
		io.WriteString(w, "done")
	})
	mux.HandleFunc("GET /cached", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		io.WriteString(w, "static")
	})
	return mux
}

func checkHeaders(t *testing.T, h http.Header) {
	t.Helper()
	for k, want := range wantHeaders {
		if got := h.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func TestSecureHeaders(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Secure(testMux(), 1<<10))
	defer srv.Close()
	for _, tc := range []struct {
		method, path string
		hdr          map[string]string
		code         int
	}{
		{"GET", "/ok", nil, 200},
		{"GET", "/missing", nil, 404},
		{"POST", "/post", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader("x"))
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.code)
			}
			checkHeaders(t, resp.Header)
		})
	}
}

func TestSecureKeepsHandlerCacheControl(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	Secure(testMux(), 1<<10).ServeHTTP(rec, httptest.NewRequest("GET", "/cached", nil))
	if got := rec.Result().Header.Values("Cache-Control"); len(got) != 1 || got[0] != "public, max-age=3600" {
		t.Fatalf("Cache-Control = %q", got)
	}
}

func TestSecureCrossOrigin(t *testing.T) {
	t.Parallel()
	h := Secure(testMux(), 1<<10)
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		code               int
	}{
		{"post cross-site", "POST", "/post", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"post same-site", "POST", "/post", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"post same-origin", "POST", "/post", map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"post typed by user", "POST", "/post", map[string]string{"Sec-Fetch-Site": "none"}, 200},
		{"post no browser headers", "POST", "/post", nil, 200},
		{"post foreign origin", "POST", "/post", map[string]string{"Origin": "https://evil.example"}, 403},
		{"post own origin", "POST", "/post", map[string]string{"Origin": "http://caucus.example"}, 200},
		{"get cross-site", "GET", "/ok", map[string]string{"Sec-Fetch-Site": "cross-site"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var body io.Reader
			if tc.method == "POST" {
				body = strings.NewReader("a=b")
			}
			req := httptest.NewRequest(tc.method, "http://caucus.example"+tc.path, body)
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d (body %q)", rec.Code, tc.code, rec.Body)
			}
			if tc.code == 403 && strings.TrimSpace(rec.Body.String()) != "Forbidden" {
				t.Errorf("refusal body %q, want the generic text", rec.Body)
			}
		})
	}
}

func TestSecureBodyLimit(t *testing.T) {
	t.Parallel()
	type result struct {
		n   int
		err error
	}
	got := make(chan result, 1)
	read := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		got <- result{len(b), err}
	})
	mux := http.NewServeMux()
	mux.Handle("POST /small", read)
	mux.Handle("POST /big", WithMaxBody(read, 100))
	mux.Handle("POST /tiny", WithMaxBody(read, 5))
	h := Secure(mux, 10)

	for _, tc := range []struct {
		path    string
		size    int
		wantErr bool
	}{
		{"/small", 10, false},
		{"/small", 11, true},
		{"/big", 100, false},
		{"/big", 101, true},
		{"/tiny", 6, true},
	} {
		req := httptest.NewRequest("POST", "http://caucus.example"+tc.path, bytes.NewReader(make([]byte, tc.size)))
		h.ServeHTTP(httptest.NewRecorder(), req)
		res := <-got
		var mbe *http.MaxBytesError
		if tc.wantErr != errors.As(res.err, &mbe) {
			t.Errorf("%s with %d bytes: read %d, err %v; want error %v", tc.path, tc.size, res.n, res.err, tc.wantErr)
		}
	}
}

// TestSecureBodyLimitServer: a body over the limit is refused, and the
// connection closed after the answer rather than read to the body's end,
// under ErrorPages too (whose writer wraps the server's).
func TestSecureBodyLimitServer(t *testing.T) {
	t.Parallel()
	mux := testMux()
	for name, h := range map[string]http.Handler{
		"Secure":     Secure(mux, 16),
		"ErrorPages": ErrorPages(Secure(mux, 16), mux, styled{}),
	} {
		srv := httptest.NewServer(h)
		defer srv.Close()
		for size, want := range map[int]int{16: 200, 17: 413, 1 << 20: 413} {
			resp, err := srv.Client().Post(srv.URL+"/post", "application/octet-stream", bytes.NewReader(make([]byte, size)))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want || resp.Close != (want == 413) {
				t.Errorf("%s, %d bytes: status %d, connection closed %v; want %d, %v", name, size, resp.StatusCode, resp.Close, want, want == 413)
			}
		}
	}
}

func TestNewServer(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	h := http.NotFoundHandler()
	s := NewServer(h, log)
	if s.Handler == nil || s.ReadHeaderTimeout != ReadHeaderTimeout || s.ReadTimeout != ReadTimeout ||
		s.WriteTimeout != WriteTimeout || s.IdleTimeout != IdleTimeout || s.MaxHeaderBytes != 64*1024 {
		t.Fatalf("server limits not set: %+v", s)
	}
	if ReadHeaderTimeout.Seconds() != 10 || ReadTimeout.Seconds() != 60 || WriteTimeout.Seconds() != 120 || IdleTimeout.Seconds() != 120 {
		t.Fatal("timeouts differ from the design")
	}
	s.ErrorLog.Print("http: TLS handshake error from 192.0.2.1:1234: EOF")
	if out := buf.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "TLS handshake error") {
		t.Fatalf("ErrorLog not bridged to slog at Warn: %q", out)
	}
	if NewServer(h, nil).ErrorLog == nil {
		t.Fatal("nil logger: ErrorLog nil")
	}
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		remote, want string
	}{
		{"192.0.2.7:4567", "192.0.2.7"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"[::ffff:192.0.2.9]:80", "192.0.2.9"},
		// A zone names the server's interface, not the client: two
		// spellings of one address would count as two.
		{"[fe80::1%eth0]:80", "fe80::1"},
		{"[fe80::1%2]:80", "fe80::1"},
		{"fe80::1%eth0", "fe80::1"},
		{"198.51.100.3", "198.51.100.3"},
		{"@", "invalid IP"},
		{"", "invalid IP"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		r.Header.Set("X-Forwarded-For", "203.0.113.66")
		if got := ClientAddr(r).String(); got != tc.want {
			t.Errorf("ClientAddr(%q) = %s, want %s", tc.remote, got, tc.want)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "[::ffff:10.0.0.1]:1"
	if a := ClientAddr(r); !a.Is4() || a != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("mapped address not unmapped: %v", a)
	}
}

func FuzzClientAddr(f *testing.F) {
	for _, s := range []string{"192.0.2.7:4567", "[::ffff:1.2.3.4]:80", "[fe80::1%eth0]:80", "", "::1"} {
		f.Add(s, "203.0.113.9")
	}
	f.Add("@", "for=198.51.100.1")
	f.Fuzz(func(t *testing.T, s, forwarded string) {
		r := &http.Request{RemoteAddr: s}
		a := ClientAddr(r)
		if a.Is4In6() || a.Zone() != "" {
			t.Fatalf("ClientAddr(%q) = %v, still mapped or zoned", s, a)
		}
		// No header a client writes moves the address.
		r.Header = http.Header{"X-Forwarded-For": {forwarded}, "Forwarded": {forwarded}, "X-Real-Ip": {forwarded}}
		if got := ClientAddr(r); got != a {
			t.Fatalf("ClientAddr(%q) with proxy headers %q = %v, want %v", s, forwarded, got, a)
		}
		if !a.IsValid() {
			return
		}
		// One client has one address: the result, written with or
		// without a port, reads back as itself.
		for _, ra := range []string{a.String(), netip.AddrPortFrom(a, 443).String()} {
			if got := ClientAddr(&http.Request{RemoteAddr: ra}); got != a {
				t.Fatalf("ClientAddr(%q) = %v, but ClientAddr(%q) = %v", s, a, ra, got)
			}
		}
	})
}

func TestRandomToken(t *testing.T) {
	t.Parallel()
	for nbytes, wantLen := range map[int]int{32: 43, 16: 22, 20: 27, 0: 22, -5: 22} {
		if got := RandomToken(nbytes); len(got) != wantLen {
			t.Errorf("RandomToken(%d) has length %d, want %d", nbytes, len(got), wantLen)
		}
	}
	seen := make(map[string]bool)
	for range 10000 {
		tok := RandomToken(16)
		if seen[tok] {
			t.Fatalf("duplicate token %q", tok)
		}
		seen[tok] = true
		if strings.ContainsAny(tok, "+/=") {
			t.Fatalf("token %q is not unpadded base64url", tok)
		}
	}
}

func TestTokenHash(t *testing.T) {
	t.Parallel()
	a, b := TokenHash("abc"), TokenHash("abd")
	if len(a) != 32 || bytes.Equal(a, b) || !bytes.Equal(a, TokenHash("abc")) {
		t.Fatalf("TokenHash: %x %x", a, b)
	}
	// SHA-256("abc"), FIPS 180-2 appendix B.1.
	if want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; hex.EncodeToString(a) != want {
		t.Fatalf("TokenHash(abc) = %x", a)
	}
}

func TestError(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	rec.Header().Set("Cache-Control", "max-age=60")
	Error(rec, httptest.NewRequest("GET", "/", nil), http.StatusInternalServerError)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 500 || strings.TrimSpace(string(body)) != "Internal Server Error" ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Error: %d %q %v", res.StatusCode, body, res.Header)
	}
	rec = httptest.NewRecorder()
	Error(rec, httptest.NewRequest("GET", "/", nil), 599)
	if rec.Code != 599 || strings.TrimSpace(rec.Body.String()) != "Error" {
		t.Fatalf("unknown code: %d %q", rec.Code, rec.Body)
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	JSON(rec, http.StatusCreated, map[string]int{"n": 3})
	var got map[string]int
	if rec.Code != 201 || rec.Header().Get("Content-Type") != "application/json" ||
		json.Unmarshal(rec.Body.Bytes(), &got) != nil || got["n"] != 3 {
		t.Fatalf("JSON: %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
	rec = httptest.NewRecorder()
	JSON(rec, http.StatusOK, func() {})
	if rec.Code != 500 || !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("unencodable value: %d %q", rec.Code, rec.Body)
	}
}

// TestNewServerHTTP2Settings reads the SETTINGS a client is sent over real
// TLS with ALPN h2: the upload window and frame size that let a WebDAV PUT
// over HTTP/2 keep up, and no more than that.
func TestNewServerHTTP2Settings(t *testing.T) {
	t.Parallel()
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	ts.Config = NewServer(http.NotFoundHandler(), nil)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer ts.Close()

	conn, err := tls.Dial("tcp", ts.Listener.Addr().String(), &tls.Config{
		RootCAs: ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, NextProtos: []string{"h2"}, ServerName: "example.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN %q, want h2", p)
	}
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	got := map[http2.SettingID]uint32{}
	connWindow := uint32(65535) // RFC 9113's initial connection window
	for settings := false; !settings || connWindow == 65535; {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the server's first frames: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				f.ForeachSetting(func(s http2.Setting) error { got[s.ID] = s.Val; return nil })
				settings = true
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				connWindow += f.Increment
			}
		}
	}
	if got[http2.SettingInitialWindowSize] != MaxHTTP2Window {
		t.Errorf("stream window %d, want %d", got[http2.SettingInitialWindowSize], MaxHTTP2Window)
	}
	if connWindow != MaxHTTP2Window {
		t.Errorf("connection window %d, want %d", connWindow, MaxHTTP2Window)
	}
	if got[http2.SettingMaxFrameSize] != MaxHTTP2Frame {
		t.Errorf("max frame size %d, want %d", got[http2.SettingMaxFrameSize], MaxHTTP2Frame)
	}
}

// styled is an ErrorRenderer that writes a marked HTML page, or fails.
type styled struct{ fail bool }

func (s styled) RenderError(w http.ResponseWriter, r *http.Request, code int) error {
	if s.fail {
		return errors.New("broken template")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, err := io.WriteString(w, "<h1>styled "+http.StatusText(code)+"</h1>")
	return err
}

// TestErrorPages: under ErrorPages, the mux's own 404 and 405 (keeping
// Allow), Secure's cross-origin 403 and a handler's Error(500) are the
// renderer's pages with the security headers; a failing renderer falls
// back to plain text; without ErrorPages, Error stays plain text.
func TestErrorPages(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /only-post", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /broken", func(w http.ResponseWriter, r *http.Request) { Error(w, r, http.StatusInternalServerError) })
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fine") })
	serve := func(h http.Handler, method, path string, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	h := ErrorPages(Secure(mux, 1<<10), mux, styled{})
	for _, c := range []struct {
		method, path string
		hdr          []string
		code         int
	}{
		{"GET", "/nothing-here", nil, 404},
		{"GET", "/only-post", nil, 405},
		{"POST", "/only-post", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"GET", "/broken", nil, 500},
	} {
		rec := serve(h, c.method, c.path, c.hdr...)
		want := "<h1>styled " + http.StatusText(c.code) + "</h1>"
		if rec.Code != c.code || rec.Body.String() != want || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("%s %s: %d %q %q, want %d %q", c.method, c.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body, c.code, want)
		}
		if rec.Header().Get("Content-Security-Policy") != ContentSecurityPolicy || rec.Header().Values("X-Content-Type-Options")[0] != "nosniff" {
			t.Errorf("%s %s: headers %v", c.method, c.path, rec.Header())
		}
		if c.code == 405 && rec.Header().Get("Allow") != "POST" {
			t.Errorf("405 without Allow: %v", rec.Header())
		}
	}
	if rec := serve(h, "GET", "/ok"); rec.Code != 200 || rec.Body.String() != "fine" {
		t.Errorf("GET /ok: %d %q", rec.Code, rec.Body)
	}
	for name, h := range map[string]http.Handler{
		"failing renderer": ErrorPages(Secure(mux, 1<<10), mux, styled{fail: true}),
		"no ErrorPages":    Secure(mux, 1<<10),
	} {
		rec := serve(h, "GET", "/broken")
		if rec.Code != 500 || rec.Body.String() != "Internal Server Error\n" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
			t.Errorf("%s: %d %q %q", name, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
}

// TestDownloadHeaders: a file's content served under Secure keeps the
// fields that protect any response, gets the download's (attachment,
// octet-stream, nosniff, a sandbox that allows no script and no framing)
// and loses the four that only a rendered page needs; the values, set
// with one allocation, stay apart when one of them is added to.
func TestDownloadHeaders(t *testing.T) {
	h := Secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		DownloadHeaders(w.Header())
		w.Header().Add("Content-Disposition", "inline") // must not reach X-Content-Type-Options
		io.WriteString(w, "<script>alert(1)</script>")
	}), 0)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/dav/Home/x.html", nil))
	got := rec.Result().Header
	want := map[string][]string{
		"Content-Type":                 {"application/octet-stream"},
		"Content-Disposition":          {"attachment", "inline"},
		"Content-Security-Policy":      {"sandbox; default-src 'none'; frame-ancestors 'none'"},
		"X-Content-Type-Options":       {"nosniff"},
		"Strict-Transport-Security":    {wantHeaders["Strict-Transport-Security"]},
		"Cross-Origin-Resource-Policy": {"same-origin"},
		"Cache-Control":                {"no-store"},
	}
	for k, v := range want {
		if g := got.Values(k); strings.Join(g, "|") != strings.Join(v, "|") {
			t.Errorf("%s: %q, want %q", k, g, v)
		}
	}
	for _, k := range []string{"Referrer-Policy", "X-Frame-Options", "Cross-Origin-Opener-Policy", "Permissions-Policy"} {
		if v, ok := got[k]; ok {
			t.Errorf("%s: %q on a download", k, v)
		}
	}
}

// TestSecureHeadersOneAllocation: Secure's fields cost the handler one
// allocation for their values, not one each.
func TestSecureHeadersOneAllocation(t *testing.T) {
	h := http.Header{}
	setSecurityHeaders(h) // the map's room
	if n := testing.AllocsPerRun(100, func() { setSecurityHeaders(h) }); n > 1 {
		t.Errorf("the security headers take %.0f allocations", n)
	}
}

// nopWriter is a ResponseWriter that keeps nothing but its header map.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}

// rewindBody is a request body read again at every run.
type rewindBody struct{ strings.Reader }

func (*rewindBody) Close() error { return nil }

// TestLayersAllocations bounds what the layers in front of every
// WebDAV request allocate, ErrorPages, Secure and WithMaxBody around a
// route of the mux, for a PUT with a body the handler reads: each is paid
// per request. They were 14 (ErrorPages matched the route a second time
// and copied the request with a context of its own; Secure copied it with
// a context of its own and a body reader; WithMaxBody copied it again
// with another reader); the mux's own match (3) is counted.
func TestLayersAllocations(t *testing.T) {
	mux := http.NewServeMux()
	var got int64
	mux.Handle("/dav/", WithMaxBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			t.Fatal(err)
		}
		got = n
		w.WriteHeader(http.StatusCreated)
	}), 1<<30))
	h := ErrorPages(Secure(mux, 1<<10), mux, styled{})
	body := &rewindBody{}
	content := strings.Repeat("x", 4<<10)
	r := httptest.NewRequest("PUT", "/dav/Home/a/b/file.txt", body)
	r.ContentLength = int64(len(content))
	w := &nopWriter{h: http.Header{}}
	n := testing.AllocsPerRun(200, func() {
		body.Reset(content)
		clear(w.h)
		h.ServeHTTP(w, r)
	})
	if got != int64(len(content)) {
		t.Fatalf("the handler read %d bytes, want %d (the route's limit, not Secure's)", got, len(content))
	}
	const bound = 8
	if n > bound {
		t.Errorf("%v allocations a request, want at most %d", n, bound)
	}
}
