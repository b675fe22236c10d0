package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/internal/metrics"
)

func scrape(t *testing.T, r *metrics.Registry) (string, map[string]metrics.Family) {
	t.Helper()
	var b bytes.Buffer
	if err := r.Write(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	fams, err := metrics.Parse(b.Bytes())
	if err != nil {
		t.Fatalf("own exposition does not parse: %v\n%s", err, b.String())
	}
	m := map[string]metrics.Family{}
	for _, f := range fams {
		m[f.Name] = f
	}
	return b.String(), m
}

func TestExposition(t *testing.T) {
	t.Parallel()
	r := metrics.NewRegistry()
	c := r.Counter("x_requests_total", "Requests.\nSecond line with \\.", "code", "path")
	g := r.Gauge("x_open", "Open now.")
	h := r.Histogram("x_seconds", "Latency.", []float64{0.1, 1}, "route")
	r.GaugeFunc("x_bytes", "Bytes.", func(context.Context) (float64, error) { return 1e12, nil })
	c.Inc("200", `a"b\c`+"\nd")
	c.Add(2.5, "500", "/")
	g.Add(3)
	g.Add(-1)
	for _, v := range []float64{0.05, 0.1, 0.5, 7} {
		h.Observe(v, "GET /{$}")
	}
	text, m := scrape(t, r)
	want := `# HELP x_bytes Bytes.
# TYPE x_bytes gauge
x_bytes 1e+12
# HELP x_open Open now.
# TYPE x_open gauge
x_open 2
# HELP x_requests_total Requests.\nSecond line with \\.
# TYPE x_requests_total counter
x_requests_total{code="200",path="a\"b\\c\nd"} 1
x_requests_total{code="500",path="/"} 2.5
# HELP x_seconds Latency.
# TYPE x_seconds histogram
x_seconds_bucket{route="GET /{$}",le="0.1"} 2
x_seconds_bucket{route="GET /{$}",le="1"} 3
x_seconds_bucket{route="GET /{$}",le="+Inf"} 4
x_seconds_sum{route="GET /{$}"} 7.65
x_seconds_count{route="GET /{$}"} 4
`
	if text != want {
		t.Errorf("exposition:\n%s\nwant:\n%s", text, want)
	}
	if v, ok := m["x_requests_total"].Value("x_requests_total", "code", "200", "path", "a\"b\\c\nd"); !ok || v != 1 {
		t.Errorf("parsed escaped label: %v %v", v, ok)
	}
	if m["x_requests_total"].Help != "Requests.\nSecond line with \\." {
		t.Errorf("parsed help %q", m["x_requests_total"].Help)
	}
	if h.Count("GET /{$}") != 4 || c.Value("500", "/") != 2.5 || g.Value() != 2 {
		t.Error("Count/Value disagree with what was recorded")
	}
}

func TestGaugeFuncError(t *testing.T) {
	t.Parallel()
	r := metrics.NewRegistry()
	r.GaugeFunc("y_bytes", "Bytes.", func(context.Context) (float64, error) { return 0, errors.New("db down") })
	r.Counter("y_total", "Y.").Inc()
	var b bytes.Buffer
	if err := r.Write(context.Background(), &b); !errors.Is(err, metrics.ErrScrape) {
		t.Errorf("Write = %v, want ErrScrape", err)
	}
	if strings.Contains(b.String(), "\ny_bytes ") || !strings.Contains(b.String(), "y_total 1\n") {
		t.Errorf("exposition with a failing gauge:\n%s", b.String())
	}
	if _, err := metrics.Parse(b.Bytes()); err != nil {
		t.Error(err)
	}
}

func TestRegisterPanics(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]func(r *metrics.Registry){
		"bad name":         func(r *metrics.Registry) { r.Counter("1x", "") },
		"bad label":        func(r *metrics.Registry) { r.Counter("x", "", "a-b") },
		"reserved label":   func(r *metrics.Registry) { r.Counter("x", "", "__x") },
		"le":               func(r *metrics.Registry) { r.Histogram("x", "", []float64{1}, "le") },
		"twice":            func(r *metrics.Registry) { r.Counter("x", ""); r.Gauge("x", "") },
		"buckets":          func(r *metrics.Registry) { r.Histogram("x", "", []float64{2, 1}) },
		"label count":      func(r *metrics.Registry) { r.Counter("x", "", "a").Inc() },
		"counter negative": func(r *metrics.Registry) { r.Counter("x", "").Add(-1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f(metrics.NewRegistry())
		}()
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"no final newline":   "x 1",
		"no value":           "x\n",
		"bad value":          "x one\n",
		"go literal":         "x 0x10\n",
		"bad name":           "1x 1\n",
		"bad label name":     "x{1a=\"b\"} 1\n",
		"unquoted label":     "x{a=b} 1\n",
		"unterminated label": "x{a=\"b} 1\n",
		"bad escape":         "x{a=\"\\t\"} 1\n",
		"label twice":        "x{a=\"1\",a=\"2\"} 1\n",
		"series twice":       "x{a=\"1\"} 1\nx{a=\"1\"} 2\n",
		"type after sample":  "x 1\n# TYPE x counter\n",
		"type twice":         "# TYPE x counter\n# TYPE x gauge\n",
		"unknown type":       "# TYPE x meter\n",
		"help twice":         "# HELP x a\n# HELP x b\n",
		"split family":       "x 1\ny 1\nx{a=\"b\"} 1\n",
		"bad timestamp":      "x 1 soon\n",
		"three fields":       "x 1 2 3\n",
		"bucket without le":  "# TYPE h histogram\nh_bucket 1\nh_sum 1\nh_count 1\n",
		"not cumulative":     "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
		"no +Inf":            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
		"+Inf != count":      "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 2\n",
		"no sum":             "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
		"bare sample":        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\nh 1\n",
	} {
		if _, err := metrics.Parse([]byte(in)); !errors.Is(err, metrics.ErrSyntax) {
			t.Errorf("%s: Parse(%q) = %v, want ErrSyntax", name, in, err)
		}
	}
	if _, err := metrics.Parse(make([]byte, metrics.MaxParse+1)); !errors.Is(err, metrics.ErrSyntax) {
		t.Errorf("oversized input: %v", err)
	}
	// What the format allows: comments, blank lines, timestamps, untyped.
	fams, err := metrics.Parse([]byte("# a comment\n\nx{a=\"1\",} 1 1700000000000\n# HELP y\ny -Inf\n"))
	if err != nil || len(fams) != 2 || !math.IsInf(fams[1].Samples[0].Value, -1) {
		t.Errorf("valid input: %+v, %v", fams, err)
	}
}

func TestNilSet(t *testing.T) {
	t.Parallel()
	var s *metrics.Set
	s.SignIn(metrics.MethodWeb, true)
	s.Accepted(metrics.ViaMX)
	s.Delivered(metrics.Local, 1)
	s.Queued()
	s.Bounced(1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if s.Listener(ln, metrics.IMAP) != ln {
		t.Error("a nil Set wrapped a listener")
	}
	h := http.NotFoundHandler()
	if s.HTTP(h) == nil {
		t.Error("a nil Set lost the handler")
	}
}

// TestListenerAndHTTP counts real connections and requests.
func TestListenerAndHTTP(t *testing.T) {
	t.Parallel()
	r := metrics.NewRegistry()
	s := metrics.NewSet(r)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /item/{id}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "item") })
	srv := httptest.NewUnstartedServer(s.HTTP(mux))
	srv.Listener = s.Listener(srv.Listener, metrics.HTTPS)
	srv.Start()
	defer srv.Close()
	for _, p := range []string{"/item/1", "/item/2", "/nothing"} {
		res, err := srv.Client().Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	srv.Client().CloseIdleConnections()
	_, m := scrape(t, r)
	get := func(fam, name string, labels ...string) float64 {
		t.Helper()
		v, ok := m[fam].Value(name, labels...)
		if !ok {
			t.Fatalf("no %s%v", name, labels)
		}
		return v
	}
	if v := get("caucus_connections_total", "caucus_connections_total", "protocol", "https"); v < 1 {
		t.Errorf("connections_total https = %v", v)
	}
	if v := get("caucus_http_request_duration_seconds", "caucus_http_request_duration_seconds_count", "route", "GET /item/{id}"); v != 2 {
		t.Errorf("requests for GET /item/{id} = %v, want 2", v)
	}
	if v := get("caucus_http_request_duration_seconds", "caucus_http_request_duration_seconds_count", "route", "unmatched"); v != 1 {
		t.Errorf("unmatched requests = %v, want 1", v)
	}
	for _, f := range m {
		for _, smp := range f.Samples {
			if strings.Contains(smp.Labels["route"], "/item/1") {
				t.Errorf("a raw path became a label: %v", smp.Labels)
			}
		}
	}
	// A connection counts as open until closed, once however often Close runs.
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	wl := s.Listener(ln, metrics.IMAP)
	defer wl.Close()
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			defer c.Close()
		}
	}()
	sc, err := wl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	_, m = scrape(t, r)
	if v := get("caucus_connections_open", "caucus_connections_open", "protocol", "imap"); v != 1 {
		t.Errorf("open imap connections = %v, want 1", v)
	}
	sc.Close()
	sc.Close()
	_, m = scrape(t, r)
	if v := get("caucus_connections_open", "caucus_connections_open", "protocol", "imap"); v != 0 {
		t.Errorf("open imap connections after two Close = %v, want 0", v)
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	var gotErr error
	for _, tc := range []struct {
		check error
		code  int
	}{{nil, 200}, {errors.New("database is locked: secret detail"), 503}} {
		h := metrics.Health(func(context.Context) error { return tc.check }, func(err error) { gotErr = err })
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		if rec.Code != tc.code || strings.Contains(rec.Body.String(), "secret") {
			t.Errorf("health with %v: %d %q", tc.check, rec.Code, rec.Body.String())
		}
	}
	if gotErr == nil {
		t.Error("the failure was not reported")
	}
}

// FuzzParse checks that Parse never panics, and that what the registry
// writes for any label value and help text parses back to the same value.
func FuzzParse(f *testing.F) {
	f.Add([]byte("# TYPE x counter\nx{a=\"1\"} 1\n"), "v", "help")
	f.Add([]byte("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"), "a\"b", "x\ny")
	f.Add([]byte("x{a=\"\\\\\"} NaN 12\n"), "\\", "\\n")
	f.Fuzz(func(t *testing.T, data []byte, label, help string) {
		metrics.Parse(data)
		r := metrics.NewRegistry()
		r.Counter("f_total", help, "l").Add(3, label)
		var b bytes.Buffer
		if err := r.Write(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		fams, err := metrics.Parse(b.Bytes())
		if err != nil {
			t.Fatalf("%v\n%s", err, b.String())
		}
		if v, ok := fams[0].Value("f_total", "l", label); !ok || v != 3 || fams[0].Help != help {
			t.Fatalf("round trip of label %q help %q: %+v", label, help, fams)
		}
	})
}
