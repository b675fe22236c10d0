package msgview

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/caucus-org/caucus/internal/dns"
)

// tinyPNG is a 1×1 PNG.
var tinyPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")

// imageOrigin is a test server standing for the sender's image host; it
// records the requests it gets.
type imageOrigin struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newImageOrigin(t *testing.T) *imageOrigin {
	o := &imageOrigin{}
	mux := http.NewServeMux()
	mux.HandleFunc("/p.png", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "track", Value: "1"})
		w.Header().Set("Content-Type", "image/png")
		w.Write(tinyPNG)
	})
	mux.HandleFunc("/svg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png") // a lie
		w.Write([]byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write(tinyPNG)
		w.Write(make([]byte, 2<<20))
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	})
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.reqs = append(o.reqs, r)
		o.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *imageOrigin) requests() []*http.Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*http.Request(nil), o.reqs...)
}

// port is the origin's port.
func (o *imageOrigin) port() string {
	_, p, _ := net.SplitHostPort(o.srv.Listener.Addr().String())
	return p
}

func newTestProxy(t *testing.T, allow func(netip.Addr) bool) *ImageProxy {
	t.Helper()
	p, err := NewImageProxy(ProxyConfig{
		Key:  []byte("0123456789abcdef0123456789abcdef"),
		Base: "https://caucus.test/webmail/remote",
		Resolver: &dns.Mock{IP: map[string][]net.IPAddr{
			"img.example":      {{IP: net.ParseIP("127.0.0.1")}},
			"metadata.example": {{IP: net.ParseIP("169.254.169.254")}},
		}},
		AllowAddr: allow,
		MaxBytes:  1 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// get asks the proxy for a signed URL and returns the response.
func get(p *ImageProxy, proxyURL string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest(http.MethodGet, proxyURL, nil))
	return w
}

func loopbackToo(a netip.Addr) bool { return a.IsLoopback() || PublicAddr(a) }

// TestImageProxyFetch: a signed image URL is fetched without the
// member's cookies, referer or browser, and answered as an image only.
func TestImageProxyFetch(t *testing.T) {
	t.Parallel()
	o := newImageOrigin(t)
	p := newTestProxy(t, loopbackToo)
	w := get(p, p.URL("http://img.example:"+o.port()+"/p.png?member=anna"))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "image/png" || w.Body.String() != string(tinyPNG) {
		t.Fatalf("answer %d %q", w.Code, w.Header())
	}
	if w.Header().Get("Set-Cookie") != "" || w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Content-Security-Policy") != FrameCSP {
		t.Errorf("headers %q", w.Header())
	}
	reqs := o.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Header.Get("Cookie") != "" || r.Header.Get("Referer") != "" || r.UserAgent() != proxyUserAgent {
		t.Errorf("request headers %q", r.Header)
	}
}

// TestImageProxyRefuses: unsigned or tampered URLs, private and
// loopback addresses (directly, by name, by redirect), non-images and
// oversized images are refused; nothing private is contacted.
func TestImageProxyRefuses(t *testing.T) {
	t.Parallel()
	o := newImageOrigin(t)
	p := newTestProxy(t, nil) // public addresses only
	port := o.port()
	signed := p.URL("http://img.example:" + port + "/p.png")
	u, _ := url.Parse(signed)
	q := u.Query()
	q.Set("u", "http://img.example:"+port+"/other.png")
	u.RawQuery = q.Encode()
	tests := []struct {
		name, url string
		code      int
	}{
		{"unsigned", "https://caucus.test/webmail/remote?u=http://img.example/p.png", http.StatusNotFound},
		{"tampered", u.String(), http.StatusNotFound},
		{"loopback by name", signed, http.StatusBadGateway},
		{"loopback literal", p.URL("http://127.0.0.1:" + port + "/p.png"), http.StatusBadGateway},
		{"mapped loopback literal", p.URL("http://[::ffff:127.0.0.1]:" + port + "/p.png"), http.StatusBadGateway},
		{"metadata service", p.URL("http://metadata.example/latest/meta-data/"), http.StatusBadGateway},
		{"unknown name", p.URL("http://nowhere.example/p.png"), http.StatusBadGateway},
		{"not http", p.URL("file:///etc/passwd"), http.StatusBadGateway},
		{"userinfo", p.URL("http://user:pw@img.example/p.png"), http.StatusBadGateway},
	}
	for _, tc := range tests {
		if w := get(p, tc.url); w.Code != tc.code {
			t.Errorf("%s: answer %d, want %d", tc.name, w.Code, tc.code)
		}
	}
	if n := len(o.requests()); n != 0 {
		t.Errorf("the private origin got %d requests", n)
	}

	// With loopback allowed (the origin stands for a public host): what
	// it serves must still be an image of bounded size, and a redirect
	// to a private address is refused.
	p = newTestProxy(t, func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.1") })
	for _, path := range []string{"/svg", "/big", "/redirect?to=http://metadata.example/", "/redirect?to=file:///etc/passwd", "/missing"} {
		if w := get(p, p.URL("http://img.example:"+port+path)); w.Code != http.StatusBadGateway {
			t.Errorf("%s: answer %d, want 502", path, w.Code)
		}
	}
}

func TestPublicAddr(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"93.184.216.34": true, "2606:2800:220:1::1": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false, "255.255.255.255": false,
		"224.0.0.1": false, "::1": false, "fe80::1": false, "fc00::1": false, "::": false,
		"::ffff:10.0.0.1": false, "64:ff9b::a00:1": false, "2002:a00:1::": false, "192.0.2.1": false,
	} {
		if got := PublicAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("PublicAddr(%s) = %v, want %v", s, got, want)
		}
	}
}

// TestImageProxyConfig: a short key is refused.
func TestImageProxyConfig(t *testing.T) {
	t.Parallel()
	if _, err := NewImageProxy(ProxyConfig{Key: []byte("short"), Base: "/r", Resolver: &dns.Mock{}}); err == nil {
		t.Error("short key accepted")
	}
	p := newTestProxy(t, nil)
	if !strings.HasPrefix(p.URL("https://x.example/a b"), "https://caucus.test/webmail/remote?s=") {
		t.Errorf("URL = %s", p.URL("https://x.example/a b"))
	}
}
