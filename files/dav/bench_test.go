package dav_test

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/dav"
	"github.com/caucus-org/caucus/files/filestest"
	"github.com/caucus-org/caucus/internal/web"
)

// benchServer serves alice's files over WebDAV in process, over HTTPS if
// tls (the client then speaks HTTP/1.1, as most WebDAV clients do), and
// returns a client, the server's URL and alice's credentials.
func benchServer(b *testing.B, tls bool) (c *http.Client, url, login, secret string, e *filestest.Env, a files.Actor) {
	e = filestest.New(b, files.Options{})
	u, a := e.Person(b, "alice@example.org")
	secret = e.AppPassword(b, u, "bench", auth.ScopeFiles)
	mux := http.NewServeMux()
	dav.New(e.Store, e.Auth, nil, nil).Register(mux)
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(mux)
	} else {
		srv = httptest.NewServer(mux)
	}
	b.Cleanup(srv.Close)
	return srv.Client(), srv.URL, u.Account.Login, secret, e, a
}

func benchDo(b *testing.B, c *http.Client, method, url, login, secret string, body io.Reader, want int) {
	req, _ := http.NewRequest(method, url, body)
	req.SetBasicAuth(login, secret)
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatal(resp.Status)
	}
}

// BenchmarkGet fetches one small file over WebDAV (HTTP, in process): the
// per-request cost of sign-in, revocation registration, path resolution
// and serving.
func BenchmarkGet(b *testing.B) {
	c, url, login, secret, e, a := benchServer(b, false)
	home, _ := e.Store.Stat(b.Context(), a, "/Home")
	if _, err := e.Store.Put(b.Context(), a, home.ID, "f.txt", strings.NewReader(strings.Repeat("x", 10<<10)), 10<<10); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		benchDo(b, c, "GET", url+"/dav/Home/f.txt", login, secret, nil, 200)
	}
}

// BenchmarkPut stores 10 KB files one after another over WebDAV (HTTP, in
// process), in a folder of a folder: sign-in, path resolution, the blob's
// fsyncs and the commit.
func BenchmarkPut(b *testing.B) {
	c, url, login, secret, _, _ := benchServer(b, false)
	benchDo(b, c, "MKCOL", url+"/dav/Home/a", login, secret, nil, 201)
	benchDo(b, c, "MKCOL", url+"/dav/Home/a/b", login, secret, nil, 201)
	buf := make([]byte, 10<<10)
	rand.Read(buf)
	for i := 0; b.Loop(); i++ {
		buf[0], buf[1], buf[2] = byte(i), byte(i>>8), byte(i>>16)
		benchDo(b, c, "PUT", fmt.Sprintf("%s/dav/Home/a/b/f%d", url, i), login, secret, bytes.NewReader(buf), 201)
	}
}

const largeSize = 64 << 20

// BenchmarkGetLarge downloads a 64 MiB file over HTTPS (HTTP/1.1).
func BenchmarkGetLarge(b *testing.B) {
	c, url, login, secret, e, a := benchServer(b, true)
	home, _ := e.Store.Stat(b.Context(), a, "/Home")
	if _, err := e.Store.Put(b.Context(), a, home.ID, "big", io.LimitReader(rand.Reader, largeSize), largeSize); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(largeSize)
	for b.Loop() {
		benchDo(b, c, "GET", url+"/dav/Home/big", login, secret, nil, 200)
	}
}

// BenchmarkPutLarge uploads a 64 MiB file over HTTPS (HTTP/1.1), each
// time with other content, so that nothing is deduplicated.
func BenchmarkPutLarge(b *testing.B) {
	c, url, login, secret, _, _ := benchServer(b, true)
	content := make([]byte, largeSize)
	rand.Read(content)
	b.SetBytes(largeSize)
	for i := 0; b.Loop(); i++ {
		content[0], content[1] = byte(i), byte(i>>8)
		benchDo(b, c, "PUT", url+"/dav/Home/big", login, secret, bytes.NewReader(content), 201)
	}
}

// BenchmarkGetMany fetches many small files of one's home over HTTPS, as
// BenchmarkDAVManyFiles in cmd/caucus/server does with curl, with eight
// requests in flight: over HTTP/2 on one connection (h2), and over
// HTTP/1.1 on a connection per request in flight (h1.1). The files are
// put over WebDAV first, as a sync client does. The server is
// web.NewServer's, as the real listener's; the client runs in process
// too, so cpu-µs/op counts both ends. hit-% is the share of the small
// contents read from the store's content cache rather than the database.
// CAUCUS_GETMANY_FILES sets the number of files (default 500),
// CAUCUS_GETMANY_CACHE the content cache's bytes (-1: none).
func BenchmarkGetMany(b *testing.B) {
	for _, size := range []int{10 << 10, 64 << 10} {
		for _, proto := range []string{"h2", "h1.1"} {
			b.Run(fmt.Sprintf("%dKiB/%s", size>>10, proto), func(b *testing.B) {
				benchGetMany(b, size, proto == "h2")
			})
		}
	}
}

// inFlight is how many requests BenchmarkGetMany and BenchmarkPutMany
// keep in flight, as curl does in BenchmarkDAVManyFiles.
const inFlight = 8

// manyServer serves alice's files over HTTPS from web.NewServer's server,
// as the real listener does, with HTTP/2 (h2) or without. frame, if not
// zero, is the largest HTTP/2 frame the server takes, which Go's client
// then sends: 16 KiB is what curl sends whatever the server allows.
// CAUCUS_GETMANY_CACHE sets files.Options.ContentCache (-1: none, so
// that every small GET reads the database, as after a restart), and
// CAUCUS_BENCH_INLINE files.Options.InlineBytes (-1: none; 32768 puts
// the 64 KiB contents in blob files).
func manyServer(b *testing.B, h2 bool, frame uint32) (e *filestest.Env, c *http.Client, url, login, secret string) {
	cache, _ := strconv.Atoi(os.Getenv("CAUCUS_GETMANY_CACHE"))
	inline, _ := strconv.Atoi(os.Getenv("CAUCUS_BENCH_INLINE"))
	e = filestest.New(b, files.Options{ContentCache: cache, InlineBytes: inline})
	u, _ := e.Person(b, "alice@example.org")
	secret = e.AppPassword(b, u, "bench", auth.ScopeFiles)
	mux := http.NewServeMux()
	dav.New(e.Store, e.Auth, nil, nil).Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config = web.NewServer(mux, nil)
	if frame != 0 {
		srv.Config.HTTP2.MaxReadFrameSize = int(frame)
	}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	b.Cleanup(srv.Close)
	c = srv.Client()
	tr := c.Transport.(*http.Transport)
	tr.MaxIdleConnsPerHost = inFlight
	if !h2 {
		tr.ForceAttemptHTTP2 = false
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		tr.TLSClientConfig.NextProtos = nil
	}
	return e, c, srv.URL, u.Account.Login, secret
}

func benchGetMany(b *testing.B, size int, h2 bool) {
	n := 500
	if v, err := strconv.Atoi(os.Getenv("CAUCUS_GETMANY_FILES")); err == nil && v > 0 {
		n = v
	}
	e, c, url, login, secret := manyServer(b, h2, 0)
	benchDo(b, c, "MKCOL", url+"/dav/Home/d", login, secret, nil, http.StatusCreated)
	buf := make([]byte, size)
	for i := range n {
		rand.Read(buf)
		benchDo(b, c, "PUT", fmt.Sprintf("%s/dav/Home/d/f%d", url, i), login, secret, bytes.NewReader(buf), http.StatusCreated)
	}
	var next atomic.Int64
	b.ResetTimer() // the PUTs above are not counted in allocs/op
	cpu0, st0, w0 := processCPU(), e.Store.ContentCacheStats(), writeCalls()
	b.SetParallelism(inFlight / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) % int64(n)
			benchDo(b, c, "GET", fmt.Sprintf("%s/dav/Home/d/f%d", url, i), login, secret, nil, http.StatusOK)
		}
	})
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	if w0 >= 0 {
		b.ReportMetric(float64(writeCalls()-w0)/float64(b.N), "writes/op")
	}
	st := e.Store.ContentCacheStats()
	if hits, misses := st.Hits-st0.Hits, st.Misses-st0.Misses; hits+misses > 0 {
		b.ReportMetric(100*float64(hits)/float64(hits+misses), "hit-%")
	}
}

// BenchmarkPutMany uploads files of 10 KiB and 64 KiB over HTTPS with
// eight requests in flight, as BenchmarkDAVManyFiles in cmd/caucus/server
// does with curl: over HTTP/2 on one connection in DATA frames of 16 KiB
// as curl sends them (h2), in frames as large as the server takes
// (h2-bigframes, Go's client), and over HTTP/1.1 (h1.1). Each upload is a
// new file with its own content, in folders of 100. The client runs in
// process too: cpu-µs/op, allocs/op and writes/op count both ends.
func BenchmarkPutMany(b *testing.B) {
	for _, size := range []int{10 << 10, 64 << 10} {
		for _, proto := range []string{"h2", "h2-bigframes", "h1.1"} {
			b.Run(fmt.Sprintf("%dKiB/%s", size>>10, proto), func(b *testing.B) {
				var frame uint32
				if proto == "h2" {
					frame = 16 << 10
				}
				benchPutMany(b, size, proto != "h1.1", frame)
			})
		}
	}
}

func benchPutMany(b *testing.B, size int, h2 bool, frame uint32) {
	_, c, url, login, secret := manyServer(b, h2, frame)
	content := make([]byte, size)
	rand.Read(content)
	var next atomic.Int64
	var folders sync.Map // folder number -> *sync.Once that makes it
	mkcol := func(d int64) {
		once, _ := folders.LoadOrStore(d, new(sync.Once))
		once.(*sync.Once).Do(func() {
			benchDo(b, c, "MKCOL", fmt.Sprintf("%s/dav/Home/d%d", url, d), login, secret, nil, http.StatusCreated)
		})
	}
	mkcol(0)
	b.ResetTimer()
	cpu0, w0, g0 := processCPU(), writeCalls(), goroutinesCreated()
	b.SetParallelism(inFlight / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, size)
		copy(buf, content)
		for pb.Next() {
			i := next.Add(1)
			// Each file's own content: nothing is deduplicated.
			buf[0], buf[1], buf[2], buf[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
			mkcol(i / 100)
			benchDo(b, c, "PUT", fmt.Sprintf("%s/dav/Home/d%d/f%d", url, i/100, i), login, secret, bytes.NewReader(buf), http.StatusCreated)
		}
	})
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	if w0 >= 0 {
		b.ReportMetric(float64(writeCalls()-w0)/float64(b.N), "writes/op")
	}
	b.ReportMetric(float64(goroutinesCreated()-g0)/float64(b.N), "goroutines/op")
}

// goroutinesCreated is how many goroutines this process has started,
// both ends of the in-process benchmarks: each starts with a small stack
// that grows, copied, to what it runs.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// writeCalls returns the write system calls this process has made so
// far (syscw of /proc/self/io, which counts write, writev and the like),
// both ends of the in-process benchmarks; -1 if it cannot tell.
func writeCalls() int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "syscw:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// processCPU is the CPU time, user and system, this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
