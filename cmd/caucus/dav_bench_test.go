package main

// Benchmarks of WebDAV throughput against the --dev server, compared on
// the same disk and under the same clients with cp, with rclone serve
// webdav (a Go WebDAV server over the OS file system) and with Apache
// httpd's mod_dav (C, over the OS file system); all three servers speak
// HTTPS with the same certificate:
//
//	go test ./cmd/caucus -run '^$' -bench BenchmarkDAV -benchtime 1x
//
// CAUCUS_BENCH_MB sets the large file's size (default 1024),
// CAUCUS_BENCH_FILES the number of 10 KB files (default 10000),
// CAUCUS_BENCH_PARALLEL how many requests curl keeps in flight for them
// (default 8), and
// CAUCUS_BENCH_CURL extra curl arguments (e.g. --http1.1: curl speaks
// HTTP/2 to caucus and rclone serve, which offer it, and HTTP/1.1 to
// Apache, where mod_http2 is not loaded). A
// sub-benchmark pattern picks servers and loads, e.g.
// -bench 'BenchmarkDAVSmallFiles/(caucus|apache)/.*-curl'.
//
// The large file goes up and down with curl. The small files go with
// rclone copy (8 transfers), and with curl --parallel (8 connections).
// rclone's WebDAV backend paces its calls (at least 10 ms apart in
// rclone 1.60, shared by all transfers), which caps it near 100 requests
// per second whatever the server; the curl load measures the servers.

import (
	"cmp"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/testtool"
)

type davTarget struct {
	name            string
	url, user, pass string
	ca              string // the CA certificate for curl and rclone
}

// benchTargets starts caucus, rclone serve webdav and Apache httpd with
// mod_dav, and returns them in that order.
func benchTargets(b *testing.B, dir string) []davTarget {
	rclone := testtool.Need(b, "rclone")
	apache := testtool.Need(b, "apache2")
	cdir := filepath.Join(dir, "caucus")
	srv := startDevB(b, cdir)
	b.Cleanup(func() { srv.shutdown(b.Context()) })
	secret := newFilesAccount(b, srv, "bench@localhost")
	_, port, _ := net.SplitHostPort(srv.addrs["https"])
	ca := filepath.Join(cdir, "dev-cert.pem")
	key := filepath.Join(cdir, "dev-key.pem")

	// rclone serve webdav over a plain directory, with the same TLS
	// certificate so that all pay for TLS.
	rdir := filepath.Join(dir, "rclone-root")
	os.MkdirAll(rdir, 0o700)
	raddr := freeAddr(b)
	cmd := exec.Command(rclone, "serve", "webdav", rdir, "--addr", raddr, "--user", "bench", "--pass", "bench-pass",
		"--cert", ca, "--key", key)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitListening(b, raddr)
	_, rport, _ := net.SplitHostPort(raddr)

	aport := startApache(b, apache, filepath.Join(dir, "apache"), ca, key)
	return []davTarget{
		{name: "caucus", url: "https://localhost:" + port + "/dav/Home/", user: "bench@localhost", pass: secret, ca: ca},
		{name: "rclone-serve", url: "https://localhost:" + rport + "/", user: "bench", pass: "bench-pass", ca: ca},
		// No authentication configured: Apache ignores the credentials.
		{name: "apache", url: "https://localhost:" + aport + "/", user: "bench", pass: "bench-pass", ca: ca},
	}
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitListening(b *testing.B, addr string) {
	for range 200 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("nothing listens on %s", addr)
}

// apacheConf is a self-contained httpd configuration: mod_dav with the
// file system provider (mod_dav_fs) at /, over TLS (mod_ssl), with
// the event MPM, as Debian's apache2 package builds them.
const apacheConf = `ServerRoot "{{dir}}"
ServerName localhost
PidFile "{{dir}}/httpd.pid"
DefaultRuntimeDir "{{dir}}/run"
ErrorLog "{{dir}}/error.log"
LogLevel warn
Listen {{addr}}
{{user}}
LoadModule mpm_event_module {{mod}}/mod_mpm_event.so
LoadModule authz_core_module {{mod}}/mod_authz_core.so
LoadModule socache_shmcb_module {{mod}}/mod_socache_shmcb.so
LoadModule ssl_module {{mod}}/mod_ssl.so
LoadModule dav_module {{mod}}/mod_dav.so
LoadModule dav_fs_module {{mod}}/mod_dav_fs.so
SSLEngine on
SSLCertificateFile "{{cert}}"
SSLCertificateKeyFile "{{key}}"
SSLSessionCache "shmcb:{{dir}}/run/ssl_scache(512000)"
KeepAlive On
MaxKeepAliveRequests 0
Timeout 60
LimitRequestBody 0
DavLockDB "{{dir}}/run/DavLock"
DocumentRoot "{{dir}}/root"
<Directory "{{dir}}/root">
	Dav On
	Require all granted
</Directory>
`

// startApache runs apache2 in the foreground with a configuration in dir
// and returns its port. Run as root, its workers run as nobody, which
// then owns the served directory.
func startApache(b *testing.B, apache, dir, cert, key string) (port string) {
	for _, d := range []string{"run", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			b.Fatal(err)
		}
	}
	userLines := ""
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			b.Fatal(err)
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			b.Fatal(err)
		}
		userLines = "User " + u.Username + "\nGroup " + g.Name
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, d := range []string{"run", "root"} {
			if err := os.Chown(filepath.Join(dir, d), uid, gid); err != nil {
				b.Fatal(err)
			}
		}
		// The workers must reach dir/root through the temporary
		// directories above it.
		for d := dir; d != os.TempDir() && d != "/" && len(d) > len(os.TempDir()); d = filepath.Dir(d) {
			os.Chmod(d, 0o711)
		}
	}
	addr := freeAddr(b)
	conf := strings.NewReplacer("{{dir}}", dir, "{{addr}}", addr, "{{user}}", userLines,
		"{{mod}}", "/usr/lib/apache2/modules", "{{cert}}", cert, "{{key}}", key).Replace(apacheConf)
	confPath := filepath.Join(dir, "httpd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(apache, "-d", dir, "-f", confPath, "-DFOREGROUND")
	out, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt) // graceful-stop would wait for clients
		if err := cmd.Wait(); err != nil {
			b.Logf("apache2: %v", err)
		}
		out.Close()
	})
	waitListening(b, addr)
	_, port, _ = net.SplitHostPort(addr)
	return port
}

func BenchmarkDAVLargeFile(b *testing.B) {
	curl := testtool.Need(b, "curl")
	mb := 1024
	if v, err := strconv.Atoi(os.Getenv("CAUCUS_BENCH_MB")); err == nil && v > 0 {
		mb = v
	}
	dir := b.TempDir()
	src := filepath.Join(dir, "big.bin")
	f, _ := os.Create(src)
	io.CopyN(f, rand.Reader, int64(mb)<<20)
	// On disk before any timing, so that its writeback does not compete
	// with the runs.
	f.Sync()
	f.Close()
	size := float64(int64(mb) << 20)

	b.Run("cp", func(b *testing.B) {
		for b.Loop() {
			dst := filepath.Join(dir, "cp.bin")
			start := time.Now()
			if out, err := exec.Command("cp", src, dst).CombinedOutput(); err != nil {
				b.Fatal(err, string(out))
			}
			if out, err := exec.Command("sync", dst).CombinedOutput(); err != nil {
				b.Fatal(err, string(out))
			}
			b.ReportMetric(size/1e6/time.Since(start).Seconds(), "MB/s")
			os.Remove(dst)
		}
	})
	for _, tg := range benchTargets(b, dir) {
		b.Run(tg.name+"/put", func(b *testing.B) {
			for b.Loop() {
				start := time.Now()
				runCurl(b, curl, tg, "-T", src, tg.url+"big.bin")
				b.ReportMetric(size/1e6/time.Since(start).Seconds(), "MB/s")
			}
		})
		b.Run(tg.name+"/get", func(b *testing.B) {
			for b.Loop() {
				start := time.Now()
				runCurl(b, curl, tg, "-o", "/dev/null", tg.url+"big.bin")
				b.ReportMetric(size/1e6/time.Since(start).Seconds(), "MB/s")
			}
		})
	}
}

// runCurl runs curl against tg with args, failing on any HTTP error.
func runCurl(b *testing.B, curl string, tg davTarget, args ...string) {
	b.Helper()
	args = append(append(strings.Fields(os.Getenv("CAUCUS_BENCH_CURL")), "-sSf", "--cacert", tg.ca, "-u", tg.user+":"+tg.pass), args...)
	if out, err := exec.Command(curl, args...).CombinedOutput(); err != nil {
		b.Fatal(err, string(out))
	}
}

func BenchmarkDAVSmallFiles(b *testing.B) {
	rclone := testtool.Need(b, "rclone")
	curl := testtool.Need(b, "curl")
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("CAUCUS_BENCH_FILES")); err == nil && v > 0 {
		n = v
	}
	const dirs = 100
	dir := b.TempDir()
	src := filepath.Join(dir, "small")
	name := func(i int) string { return fmt.Sprintf("d%02d/f%05d", i%dirs, i) }
	for i := range n {
		p := filepath.Join(src, name(i))
		os.MkdirAll(filepath.Dir(p), 0o700)
		buf := make([]byte, 10<<10)
		rand.Read(buf)
		os.WriteFile(p, buf, 0o600)
	}
	exec.Command("sync").Run() // the sources on disk before any timing
	b.Run("cp", func(b *testing.B) {
		for b.Loop() {
			dst := filepath.Join(dir, "cp")
			start := time.Now()
			if out, err := exec.Command("cp", "-r", src, dst).CombinedOutput(); err != nil {
				b.Fatal(err, string(out))
			}
			exec.Command("sync").Run()
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "files/s")
			os.RemoveAll(dst)
		}
	})
	for _, tg := range benchTargets(b, dir) {
		conf := filepath.Join(dir, tg.name+".conf")
		obs, _ := exec.Command(rclone, "obscure", tg.pass).Output()
		os.WriteFile(conf, fmt.Appendf(nil, "[t]\ntype = webdav\nurl = %s\nvendor = other\nuser = %s\npass = %s\n", tg.url, tg.user, obs), 0o600)
		run := func(b *testing.B, from, to string) {
			start := time.Now()
			cmd := exec.Command(rclone, "copy", "--ca-cert", tg.ca, "--transfers", "8", "--checkers", "8", from, to)
			cmd.Env = append(os.Environ(), "RCLONE_CONFIG="+conf)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatal(err, string(out))
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "files/s")
		}
		// Each run writes to a new folder, also across -count repetitions.
		puts, gets, curlPuts := 0, 0, 0
		b.Run(tg.name+"/put", func(b *testing.B) {
			for b.Loop() {
				run(b, src, fmt.Sprintf("t:small%d", puts))
				puts++
			}
		})
		b.Run(tg.name+"/get", func(b *testing.B) {
			for b.Loop() {
				run(b, "t:small0", filepath.Join(dir, fmt.Sprintf("%s-back%d", tg.name, gets)))
				gets++
			}
		})

		// The same files with curl: one request each, 8 at a time
		// (CAUCUS_BENCH_PARALLEL) over kept-alive connections.
		parallel := cmp.Or(os.Getenv("CAUCUS_BENCH_PARALLEL"), "8")
		curlParallel := func(b *testing.B, cfg string) {
			start := time.Now()
			runCurl(b, curl, tg, "--parallel", "--parallel-max", parallel, "-K", cfg)
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "files/s")
		}
		b.Run(tg.name+"/put-curl", func(b *testing.B) {
			for b.Loop() {
				top := fmt.Sprintf("%scurl%d/", tg.url, curlPuts)
				curlPuts++
				// The folders first, untimed; one curl operation
				// pairs each url with its upload-file and output.
				var mk, put strings.Builder
				fmt.Fprintf(&mk, "request = MKCOL\nurl = %q\noutput = /dev/null\n", top)
				for d := range dirs {
					fmt.Fprintf(&mk, "url = %q\noutput = /dev/null\n", fmt.Sprintf("%sd%02d/", top, d))
				}
				for j := range n {
					fmt.Fprintf(&put, "upload-file = %q\nurl = %q\noutput = /dev/null\n", filepath.Join(src, name(j)), top+name(j))
				}
				mkf, putf := filepath.Join(dir, "mkcol.curl"), filepath.Join(dir, "put.curl")
				os.WriteFile(mkf, []byte(mk.String()), 0o600)
				os.WriteFile(putf, []byte(put.String()), 0o600)
				runCurl(b, curl, tg, "-K", mkf)
				curlParallel(b, putf)
			}
		})
		b.Run(tg.name+"/get-curl", func(b *testing.B) {
			var get strings.Builder
			for i := range n {
				fmt.Fprintf(&get, "url = %q\noutput = /dev/null\n", tg.url+"curl0/"+name(i))
			}
			getf := filepath.Join(dir, "get.curl")
			os.WriteFile(getf, []byte(get.String()), 0o600)
			for b.Loop() {
				curlParallel(b, getf)
			}
		})
	}
}

// startDevB is startDev for benchmarks.
func startDevB(b *testing.B, dir string) *server {
	b.Helper()
	cfg := config.Dev(dir)
	cfg.Listen = freeListen(cfg.Listen)
	srv, err := start(b.Context(), cfg, options{dev: true, log: slog.New(slog.DiscardHandler), out: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	return srv
}
