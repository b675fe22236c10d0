package server

// Benchmarks of WebDAV throughput against the --dev server, compared on
// the same disk and under the same clients with cp, with rclone serve
// webdav (a Go WebDAV server over the OS file system) and with Apache
// httpd's mod_dav (C, over the OS file system); all three servers speak
// HTTPS with the same certificate:
//
//	go test ./cmd/caucus/server -run '^$' -bench BenchmarkDAV -benchtime 1x
//
// CAUCUS_BENCH_MB sets the large file's size (default 1024),
// CAUCUS_BENCH_FILES the number of 10 KB files (default 10000),
// CAUCUS_BENCH_PARALLEL how many requests curl keeps in flight for them
// (default 8), and
// CAUCUS_BENCH_CURL extra curl arguments (e.g. --http1.1: curl speaks
// HTTP/2 to all three otherwise). A
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
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/internal/testtool/pgtest"
	"github.com/caucus-org/caucus/internal/testtool/s3test"
	"github.com/jackc/pgx/v5"
)

type davTarget struct {
	name            string
	url, user, pass string
	ca              string               // the CA certificate for curl and rclone
	cpu             func() time.Duration // the server's CPU time so far; nil if unknown
	// inProcess: the server runs in this process (caucus, the floors),
	// whose page faults then are its (faults/file).
	inProcess bool
	// pgCPU and gwCPU are, for caucus-pg, PostgreSQL's and the object
	// store's share of cpu; nil otherwise.
	pgCPU, gwCPU func() time.Duration
	// pgUsage is, for caucus-pg, what PostgreSQL's processes used so far,
	// by role; nil otherwise.
	pgUsage func() pgtest.Usage
	// checkpoint, for caucus-pg, asks PostgreSQL for a checkpoint: the
	// writes that its commits deferred (dirty shared buffers written to
	// the data files and synced), done now.
	checkpoint func() error
	// walLSN, for caucus-pg, returns PostgreSQL's WAL insert position (a
	// byte count: what all its commits have logged so far); nil otherwise.
	walLSN func() int64
	counts func() counts // round trips to PostgreSQL and S3 so far; nil if not counted
	// contents is, for caucus, what its cache of small contents did so
	// far (files.Store.ContentCacheStats); nil for other servers.
	contents func() files.ContentCacheStats
	// commits is, for caucus, what its files store's group commit did so
	// far (files.Store.CommitStats); nil for other servers.
	commits func() db.GroupStats
}

// benchTargets starts caucus, rclone serve webdav and Apache httpd with
// mod_dav, and returns them in that order.
func benchTargets(b *testing.B, dir string) []davTarget {
	c := davCaucus(b, dir)
	return []davTarget{c, davRclone(b, dir, c.ca), davApache(b, dir, c.ca)}
}

// davCaucus starts the --dev server in dir/caucus with a files account.
func davCaucus(b *testing.B, dir string) davTarget {
	return davCaucusOn(b, dir, "caucus", config.Storage{})
}

// davCaucusOn starts the --dev server in dir/name on storage (the
// default's when its Database is empty) with a files account.
func davCaucusOn(b *testing.B, dir, name string, storage config.Storage) davTarget {
	cdir := filepath.Join(dir, name)
	srv := startDevB(b, cdir, storage)
	b.Cleanup(func() { srv.Shutdown(context.WithoutCancel(b.Context())) })
	secret := newFilesAccount(b, srv, "bench@localhost")
	_, port, _ := net.SplitHostPort(srv.addrs["https"])
	return davTarget{name: name, url: "https://localhost:" + port + "/dav/Home/", user: "bench@localhost", pass: secret,
		ca: filepath.Join(cdir, "dev-cert.pem"), cpu: processCPU, inProcess: true, contents: srv.files.ContentCacheStats, commits: srv.files.CommitStats}
}

// davCaucusPG starts caucus on PostgreSQL (durable, with a production
// server's settings: benchPGSettings) and S3 (versitygw), like pgS3Storage, as target
// caucus-pg. Its CPU time is this process's, PostgreSQL's (every process
// of the cluster, those that ended included: [pgtest.Server.Usage]) and
// the gateway's: the work that SQLite and the blob directory do inside
// this process, and PostgreSQL and S3 outside it.
func davCaucusPG(b *testing.B, dir string) davTarget {
	pg := pgtest.Start(b, pgtest.Options{Durable: true, Settings: benchPGSettings(b)})
	dsn := pg.CreateDatabase(b, "party")
	s3srv := s3test.Start(b)
	endpoint := s3srv.Endpoint
	var count func() counts
	if os.Getenv("CAUCUS_BENCH_COUNT") != "" { // through counting proxies
		pgc, s3c := newPGCounter(b, pg.Addr), newS3Counter(b, s3srv.Endpoint)
		host, port, _ := net.SplitHostPort(pgc.Addr())
		dsn = fmt.Sprintf("host=%s port=%s user=%s dbname=party sslmode=disable", host, port, pg.User)
		endpoint = s3c.addr
		count = func() counts { return counts{pg: pgc.Trips(), s3: s3c.Requests(), tally: pgc.Tally()} }
	}
	secretFile := filepath.Join(b.TempDir(), "s3-secret")
	if err := os.WriteFile(secretFile, []byte(s3srv.SecretKey), 0o600); err != nil {
		b.Fatal(err)
	}
	tg := davCaucusOn(b, dir, "caucus-pg", config.Storage{Database: "postgres", Postgres: config.Postgres{DSN: dsn},
		Blobs: "s3", S3: config.S3{Endpoint: endpoint, Bucket: s3srv.Bucket(b), Prefix: "caucus/",
			AccessKey: s3srv.AccessKey, SecretFile: secretFile, InsecureHTTP: true}})
	tg.counts = count
	// The connection that asks for the checkpoint after each PUT run,
	// opened now so that its start is not counted.
	conn, err := pgx.Connect(b.Context(), pg.DSN("party"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(context.WithoutCancel(b.Context())) })
	tg.checkpoint = func() error {
		_, err := conn.Exec(b.Context(), "CHECKPOINT")
		return err
	}
	tg.walLSN = func() int64 {
		var n int64
		err := conn.QueryRow(b.Context(), "SELECT pg_current_wal_insert_lsn() - '0/0'").Scan(&n)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	tg.countPG(b, pg)
	gwPIDs := childrenNamed(os.Getpid(), "versitygw")
	if len(gwPIDs) == 0 {
		b.Logf("caucus-pg: CPU of versitygw not found: PostgreSQL's and this process's only")
	}
	tg.gwCPU = func() time.Duration {
		var sum time.Duration
		for _, id := range gwPIDs {
			sum += treeCPU(id)
		}
		return sum
	}
	tg.cpu = func() time.Duration { return processCPU() + tg.pgCPU() + tg.gwCPU() }
	return tg
}

// countPG has tg report the usage and CPU of pg's processes (pgUsage,
// pgCPU): its PostgreSQL's.
func (tg *davTarget) countPG(b *testing.B, pg *pgtest.Server) {
	tg.pgUsage = func() pgtest.Usage {
		u, err := pg.Usage()
		if err != nil {
			b.Fatal(err)
		}
		return u
	}
	tg.pgCPU = func() time.Duration { return tg.pgUsage().CPU() }
}

// benchPGSettings returns the settings of caucus-pg's cluster beyond
// pgtest's own: a production server's ([pgtest.Production]: huge pages
// when the host has them reserved). CAUCUS_BENCH_PG_SETTINGS, a
// comma-separated list of name=value, replaces them ("none" for none),
// to measure one setting's effect.
func benchPGSettings(b *testing.B) []string {
	settings := pgtest.Production()
	switch v := os.Getenv("CAUCUS_BENCH_PG_SETTINGS"); v {
	case "":
	case "none":
		settings = nil
	default:
		settings = strings.Split(v, ",")
	}
	b.Logf("caucus-pg: PostgreSQL with pgtest's settings and %q", settings)
	return settings
}

// childrenNamed returns the pids of the processes whose parent is pid
// and whose command (/proc/PID/comm) is name.
func childrenNamed(pid int, name string) []int {
	procs, _ := os.ReadDir("/proc")
	var out []int
	for _, p := range procs {
		id, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", id))
		if err != nil || strings.TrimSpace(string(comm)) != name {
			continue
		}
		if st, err := testtool.ReadProcStat(id); err == nil && st.Field(4) == int64(pid) {
			out = append(out, id)
		}
	}
	return out
}

// davRclone runs rclone serve webdav over dir/rclone-root, with the
// certificate ca (and its key beside it) so that all pay for TLS.
func davRclone(b *testing.B, dir, ca string) davTarget {
	rclone := testtool.Need(b, "rclone")
	rdir := filepath.Join(dir, "rclone-root")
	os.MkdirAll(rdir, 0o700)
	raddr := freeAddr(b)
	cmd := exec.Command(rclone, "serve", "webdav", rdir, "--addr", raddr, "--user", "bench", "--pass", "bench-pass",
		"--cert", ca, "--key", keyOf(ca))
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitListening(b, raddr)
	_, rport, _ := net.SplitHostPort(raddr)
	return davTarget{name: "rclone-serve", url: "https://localhost:" + rport + "/", user: "bench", pass: "bench-pass", ca: ca}
}

// davApache runs Apache httpd in dir/apache with the certificate ca.
// No authentication is configured: Apache ignores the credentials.
func davApache(b *testing.B, dir, ca string) davTarget {
	apache := testtool.Need(b, "apache2")
	aport, pid := startApache(b, apache, filepath.Join(dir, "apache"), ca, keyOf(ca))
	return davTarget{name: "apache", url: "https://localhost:" + aport + "/", user: "bench", pass: "bench-pass", ca: ca,
		cpu: func() time.Duration { return treeCPU(pid) }}
}

// davFloor serves PUT and GET with net/http over TLS, as caucus does
// (HTTP/2 and HTTP/1.1, the same certificate), from memory and with no
// sign-in, store, audit or disk: what Go's HTTP and TLS stack alone costs
// a request, the floor under caucus's figures. A PUT's body is read and
// dropped, a GET answers as many bytes as the PUT of its path brought. It
// runs in this process, so its CPU is counted as caucus's is.
func davFloor(b *testing.B, ca string) davTarget {
	return floorServer(b, ca, "go-floor", func(body io.Reader) (int64, error) {
		return io.Copy(io.Discard, body)
	})
}

// floorServer is the floors' server (davFloor, davDurableFloor), named
// name: a PUT's body goes to put, which returns its length and answers
// 201 once put has returned nil; a GET answers as many bytes as the PUT of
// its path brought, from memory; anything else (MKCOL) answers 201.
func floorServer(b *testing.B, ca, name string, put func(body io.Reader) (int64, error)) davTarget {
	cert, err := tls.LoadX509KeyPair(ca, keyOf(ca))
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	sizes := map[string]int64{}
	content := make([]byte, 1<<20)
	srv := &http.Server{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.Method {
			case http.MethodPut:
				n, err := put(r.Body)
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				mu.Lock()
				sizes[r.URL.Path] = n
				mu.Unlock()
				w.WriteHeader(http.StatusCreated)
			case http.MethodGet:
				mu.Lock()
				n, ok := sizes[r.URL.Path]
				mu.Unlock()
				if !ok || n > int64(len(content)) {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
				w.Write(content[:n])
			default: // MKCOL
				w.WriteHeader(http.StatusCreated)
			}
		})}
	go srv.ServeTLS(ln, "", "")
	b.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return davTarget{name: name, url: "https://localhost:" + port + "/", user: "bench", pass: "bench-pass", ca: ca, cpu: processCPU, inProcess: true}
}

// keyOf names the dev server's private key beside its certificate.
func keyOf(ca string) string { return filepath.Join(filepath.Dir(ca), "dev-key.pem") }

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
LoadModule http2_module {{mod}}/mod_http2.so
Protocols h2 http/1.1
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
func startApache(b *testing.B, apache, dir, cert, key string) (port string, pid int) {
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
	return port, cmd.Process.Pid
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
	runCurlCPU(b, curl, tg, args...)
}

// runCurlCPU is runCurl, returning the CPU time (user and system) curl
// used: the client's share of a two-core host, which a server that sends
// more TLS records or frames than it needs to makes larger.
func runCurlCPU(b *testing.B, curl string, tg davTarget, args ...string) time.Duration {
	b.Helper()
	args = append(append(strings.Fields(os.Getenv("CAUCUS_BENCH_CURL")), "-sSf", "--cacert", tg.ca, "-u", tg.user+":"+tg.pass), args...)
	cmd := exec.Command(curl, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatal(err, string(out))
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
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

// startDevB is startDev for benchmarks, on storage unless its Database is
// empty.
func startDevB(b *testing.B, dir string, storage config.Storage) *Server {
	b.Helper()
	cfg := config.Dev(dir)
	if storage.Database != "" {
		cfg.Storage = storage
	}
	if mb, err := strconv.ParseInt(os.Getenv("CAUCUS_BENCH_QUOTA_MB"), 10, 64); err == nil && mb > 0 {
		cfg.Files.DefaultQuotaMB = mb // every upload then checks the space's room
	}
	cfg.Listen = FreeListen(cfg.Listen)
	srv, err := start(b.Context(), cfg, Deps{Dev: true, Log: slog.New(slog.DiscardHandler), Out: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	return srv
}

// davDurableFloor is davFloor with the least a server that answers a
// PUT only once its content is durable must add: each body written once,
// appended to one log file in dir, and made durable by an fdatasync(2)
// that began after its write, shared by every PUT waiting at the time (a
// group sync, as a database's group commit or internal/blob's fsGroup)
// before the 201. No file, name or directory entry per upload, no index,
// no hash, no sign-in: what durability alone costs on this host, below
// any real store's figure. A GET answers from memory, as davFloor's does.
func davDurableFloor(b *testing.B, dir, ca string) davTarget {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	log, err := os.OpenFile(filepath.Join(dir, "log"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { log.Close() })
	g := &syncGroup{f: log}
	g.cond = sync.NewCond(&g.mu)
	// Bodies are read into buffers used again, as a store would: fresh
	// memory for each would cost this host a page fault per 4 KiB.
	bufs := sync.Pool{New: func() any { buf := make([]byte, 1<<20+1); return &buf }}
	return floorServer(b, ca, "go-durable", func(body io.Reader) (int64, error) {
		bp := bufs.Get().(*[]byte)
		defer bufs.Put(bp)
		n, err := io.ReadFull(body, *bp)
		if err != io.ErrUnexpectedEOF && err != io.EOF {
			return 0, fmt.Errorf("body missing or over 1 MiB: %v", err)
		}
		return int64(n), g.append((*bp)[:n])
	})
}

// syncGroup appends to f and makes each append durable with an
// fdatasync(2) begun after it was written, one sync serving every append
// waiting when it begins.
type syncGroup struct {
	f    *os.File
	mu   sync.Mutex
	cond *sync.Cond
	end  int64 // where the next append goes
	// started and done count the syncs begun and ended; err is the
	// first failed one's error, kept.
	started, done uint64
	err           error
}

// append writes p at the end of f and returns once a sync that began
// after the write has ended.
func (g *syncGroup) append(p []byte) error {
	g.mu.Lock()
	off := g.end
	g.end += int64(len(p))
	g.mu.Unlock()
	if _, err := g.f.WriteAt(p, off); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	want := g.started + 1 // a sync begun after the write; one running now may not cover it
	for g.done < want {
		if g.started == g.done { // none running: begin one
			g.started++
			n := g.started
			g.mu.Unlock()
			err := syscall.Fdatasync(int(g.f.Fd()))
			g.mu.Lock()
			// A failed sync fails every append it covered, and every
			// later one: a sync after it may succeed without the pages
			// the failure lost (Linux reports a writeback error once).
			g.done = n
			if err != nil {
				g.err = err
			}
			g.cond.Broadcast()
			continue
		}
		g.cond.Wait()
	}
	return g.err
}

// davPGFloor is davDurableFloor with PostgreSQL in place of the log: each
// body is inserted as one row of one table (an id and the bytes) of a
// cluster of its own, set up as caucus-pg's (durable, benchPGSettings),
// and answered 201 once the transaction holding it has committed; the
// PUTs waiting while a transaction runs go together in the next (a group
// commit, as caucus's: pipelined INSERTs in one implicit transaction, on
// one connection). No name, hash, folder, quota, sign-in or cache: the
// least a server that keeps small contents in PostgreSQL must do, and so
// the ceiling over caucus-pg's figures on this host. Values kept out of
// line are compressed with lz4, as caucus's sessions ask. It reports its
// groups as caucus does (jobs/grp, busy: the share of the run in which a
// transaction ran). Its CPU is this process's and PostgreSQL's (all of
// the cluster's processes).
func davPGFloor(b *testing.B, ca string) davTarget {
	pg := pgtest.Start(b, pgtest.Options{Durable: true, Settings: benchPGSettings(b)})
	pg.CreateDatabase(b, "floor")
	cfg, err := pgx.ParseConfig(pg.DSN("floor"))
	if err != nil {
		b.Fatal(err)
	}
	cfg.RuntimeParams["default_toast_compression"] = "lz4"
	conn, err := pgx.ConnectConfig(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(context.WithoutCancel(b.Context())) })
	if _, err := conn.Exec(b.Context(), `CREATE TABLE contents (id bigserial PRIMARY KEY, data bytea NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	g := &pgGroup{conn: conn, ctx: b.Context(), jobs: make(chan pgInsert, 64)}
	go g.write()
	b.Cleanup(func() { close(g.jobs) })
	bufs := sync.Pool{New: func() any { buf := make([]byte, 1<<20+1); return &buf }}
	tg := floorServer(b, ca, "go-pg", func(body io.Reader) (int64, error) {
		bp := bufs.Get().(*[]byte)
		defer bufs.Put(bp)
		n, err := io.ReadFull(body, *bp)
		if err != io.ErrUnexpectedEOF && err != io.EOF {
			return 0, fmt.Errorf("body missing or over 1 MiB: %v", err)
		}
		return int64(n), g.insert((*bp)[:n])
	})
	tg.countPG(b, pg)
	tg.gwCPU = func() time.Duration { return 0 }
	tg.commits = g.stats
	tg.cpu = func() time.Duration { return processCPU() + tg.pgCPU() }
	return tg
}

// pgGroup inserts contents into PostgreSQL in groups: its writer takes
// every insert waiting when it begins a transaction, one transaction at a
// time.
type pgGroup struct {
	conn *pgx.Conn
	ctx  context.Context
	jobs chan pgInsert

	mu     sync.Mutex
	groups db.GroupStats // Commits, Jobs, and the transactions' time as Turns.CommitTime and Times.Run
}

// pgInsert is one content waiting for its group, and where its result goes.
type pgInsert struct {
	data []byte
	done chan error
}

// insert returns once data is in a committed transaction.
func (g *pgGroup) insert(data []byte) error {
	done := make(chan error, 1)
	g.jobs <- pgInsert{data, done}
	return <-done
}

// write runs the groups until jobs is closed.
func (g *pgGroup) write() {
	for first := range g.jobs {
		group := []pgInsert{first}
	more:
		for {
			select {
			case in, ok := <-g.jobs:
				if !ok {
					break more
				}
				group = append(group, in)
			default:
				break more
			}
		}
		batch := &pgx.Batch{}
		for _, in := range group {
			batch.Queue(`INSERT INTO contents (data) VALUES ($1)`, in.data)
		}
		start := time.Now()
		err := g.conn.SendBatch(g.ctx, batch).Close() // one implicit transaction
		d := time.Since(start)
		g.mu.Lock()
		g.groups.Commits++
		g.groups.Jobs += int64(len(group))
		g.groups.Turns.CommitTime += d
		g.groups.Times.Run += d
		g.mu.Unlock()
		for _, in := range group {
			in.done <- err
		}
	}
}

// stats returns the groups so far.
func (g *pgGroup) stats() db.GroupStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.groups
}

// BenchmarkDAVManyFiles puts and gets many files of one size with curl,
// CAUCUS_BENCH_PARALLEL (default 8) requests in flight, over HTTP/2 (one
// connection, multiplexed) and over HTTP/1.1 (a connection per request in
// flight), against caucus and Apache's mod_dav, alternating the two, and
// copies the same files with cp -r followed by sync:
//
//	CAUCUS_BENCH_ROUNDS=3 go test ./cmd/caucus/server -run '^$' -bench BenchmarkDAVManyFiles -benchtime 1x
//
// CAUCUS_BENCH_ROUNDS runs each set that many times, every round going
// through cp, caucus and Apache in turn (sub-benchmarks of later rounds
// are named …#01, …#02); -count instead repeats each sub-benchmark before
// the next, so that a change in the host's load falls on one server.
// The sets are 2000 files of 1 MiB, 2000 of 64 KiB and 10,000 of 10 KiB
// (CAUCUS_BENCH_MANY sets another count for all three), in folders of 100.
// Every PUT run stores new content in a new folder (the first bytes of
// each source file carry the run's number), so that caucus's store never
// finds the content already there. Every timed run starts with nothing
// dirty in the page cache (settle; dirty-kB says what there was), and
// nothing is removed until the set ends. Each result also reports the host's
// one-minute load average (load1), which other work on it disturbs, and
// the CPU time curl used per file (curl-µs/file): on a two-core host the
// client's work and the server's share the cores.
// CAUCUS_BENCH_PROFILE, a directory, keeps a CPU profile of each caucus
// run there (the server runs in this process). CAUCUS_BENCH_FLOOR=1 adds
// two servers in this process: net/http alone serving from memory
// (davFloor, go-floor), and the same making each upload durable in the
// cheapest way there is, one append to a log with a shared fdatasync
// (davDurableFloor, go-durable).
// CAUCUS_BENCH_QUOTA_MB gives every caucus account that default quota
// (none by default), so that each upload checks its space's room.
// CAUCUS_BENCH_PG=1 adds caucus on PostgreSQL (durable) and S3 (a private
// cluster and versitygw), beside caucus on SQLite and its blob directory;
// with CAUCUS_BENCH_COUNT=1 as well, it reports that target's round trips
// to PostgreSQL and requests to S3 per file (dav_count_test.go). Its
// cluster runs as a production server does ([pgtest.Production]: give the
// host huge pages first, e.g. sysctl -w vm.nr_hugepages=3300 on 24 GiB,
// and 0 after); CAUCUS_BENCH_PG_SETTINGS (name=value,… or "none")
// replaces those settings. After each of its PUT runs PostgreSQL makes a
// checkpoint, and the run is reported again with it counted (ckpt-…):
// the writes its commits put off.
func BenchmarkDAVManyFiles(b *testing.B) {
	curl := testtool.Need(b, "curl")
	testtool.Need(b, "apache2")
	sets := []struct {
		name    string
		n, size int
	}{{"1MiB", 2000, 1 << 20}, {"64KiB", 2000, 64 << 10}, {"10KiB", 10000, 10 << 10}}
	rounds := 1
	if v, err := strconv.Atoi(os.Getenv("CAUCUS_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	for _, set := range sets {
		if v, err := strconv.Atoi(os.Getenv("CAUCUS_BENCH_MANY")); err == nil && v > 0 {
			set.n = v
		}
		b.Run(set.name, func(b *testing.B) {
			m := newManyFiles(b, set.n, set.size)
			c := davCaucus(b, m.dir)
			targets := []davTarget{c, davApache(b, m.dir, c.ca)}
			if os.Getenv("CAUCUS_BENCH_FLOOR") != "" {
				targets = append(targets, davFloor(b, c.ca), davDurableFloor(b, filepath.Join(m.dir, "durable"), c.ca))
			}
			if os.Getenv("CAUCUS_BENCH_PG") != "" { // caucus on PostgreSQL (durable) and S3
				targets = append(targets, davCaucusPG(b, m.dir))
				if os.Getenv("CAUCUS_BENCH_FLOOR") != "" {
					targets = append(targets, davPGFloor(b, c.ca))
				}
			}
			for range rounds {
				m.round(b, curl, targets)
			}
		})
	}
}

// round runs the set once through cp and once through each target, in
// each protocol, PUT then GET.
func (m *manyFiles) round(b *testing.B, curl string, targets []davTarget) {
	b.Run("cp", func(b *testing.B) {
		for b.Loop() {
			m.peer(b)
		}
	})
	for _, proto := range []string{"h2", "http1.1"} {
		for _, tg := range targets {
			b.Run(proto+"/"+tg.name+"/put", func(b *testing.B) {
				for b.Loop() {
					m.put(b, curl, tg, proto)
				}
			})
		}
		for _, tg := range targets {
			b.Run(proto+"/"+tg.name+"/get", func(b *testing.B) {
				for b.Loop() {
					m.get(b, curl, tg, proto)
				}
			})
		}
	}
}

// peerRuns is how many times a round copies the set with cp -r + sync
// (CAUCUS_BENCH_PEER_RUNS changes it); the median counts.
const peerRuns = 3

// peer copies the set with cp -r, then makes it durable with sync,
// peerRuns times, each from the same state: the sources stamped anew and
// nothing dirty (stamp), a new directory on the same disk. It reports the
// median run's files/s and load, and the medians of its parts in ms:
// cp-ms, sync-ms, and cp-cpu-ms, the CPU time cp used (user and
// system; cp-sys-ms the system's part): cp's wall time minus its CPU
// time is what it waited, for a core (the host's load) or behind others'
// disk writes. It was cp, not sync, that swung between sets (session 10:
// 2,622 and 13,601 files/s): for 10,000 files of 10 KiB, sync took
// 0.12-0.67 s at load 5-26, cp 0.45-4.1 s at load 5-8 with 0.34-0.48 s
// of CPU, and 9.0-11.5 s at load 20-26 with 1.34-1.39 s of CPU (ext4
// makes a file in cp's system time, passing over inodes others freed in
// the last minute: find_inode_bit, recently_deleted). So a set's figure
// is only as good as its cp-ms is close to its cp-cpu-ms and its
// cp-cpu-ms to a quiet set's.
//
// sync2-ms is a second sync(2), not in files/s: on ext4 without a
// journal (this project's host), sync(2) flushes the disk's cache
// (ext4_sync_fs) before it writes the block device's buffers, the inode
// tables and directories among them (sync_bdevs, fs/sync.c), so the
// copy's names and inodes are durable only after the next flush, which
// the second sync makes: cp -r + sync alone promises less than caucus's
// 201.
//
// Every copy is kept until the set ends, as the servers' uploads are:
// removing one at once would free thousands of inodes just before the
// next run, and ext4 without a journal passes over inodes freed in the
// last 60 s when it makes a file (find_inode_bit, recently_deleted).
// The page cache is not dropped (drop_caches): what swung was cp's
// waiting, not its CPU time, and dropping the cache would make every
// other process on the host, and the next server's run, read again.
func (m *manyFiles) peer(b *testing.B) {
	runs := peerRuns
	if v, err := strconv.Atoi(os.Getenv("CAUCUS_BENCH_PEER_RUNS")); err == nil && v > 0 {
		runs = v
	}
	type result struct{ total, cp, sync, sync2, cpu, sys time.Duration }
	var rs []result
	for range runs {
		m.stamp(b)
		dst := filepath.Join(m.dir, fmt.Sprintf("cp%d", m.runs))
		var r result
		start := time.Now()
		cp := exec.Command("cp", "-r", m.src, dst)
		if out, err := cp.CombinedOutput(); err != nil {
			b.Fatal(err, string(out))
		}
		r.cp = time.Since(start)
		if ru, ok := cp.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			r.sys = time.Duration(ru.Stime.Nano())
		}
		for _, d := range []*time.Duration{&r.sync, &r.sync2} {
			t := time.Now()
			if out, err := exec.Command("sync").CombinedOutput(); err != nil {
				b.Fatal(err, string(out))
			}
			*d = time.Since(t)
		}
		r.total = r.cp + r.sync
		rs = append(rs, r)
	}
	median := func(f func(result) time.Duration) time.Duration {
		ds := make([]time.Duration, len(rs))
		for i, r := range rs {
			ds[i] = f(r)
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	m.report(b, median(func(r result) time.Duration { return r.total }), -1)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
	b.ReportMetric(ms(median(func(r result) time.Duration { return r.cp })), "cp-ms")
	b.ReportMetric(ms(median(func(r result) time.Duration { return r.cpu })), "cp-cpu-ms")
	b.ReportMetric(ms(median(func(r result) time.Duration { return r.sys })), "cp-sys-ms")
	b.ReportMetric(ms(median(func(r result) time.Duration { return r.sync })), "sync-ms")
	b.ReportMetric(ms(median(func(r result) time.Duration { return r.sync2 })), "sync2-ms")
}

// manyFiles is one set of source files for BenchmarkDAVManyFiles.
type manyFiles struct {
	dir, src string
	n, size  int
	runs     int            // PUT runs so far, also the stamp of the sources
	last     map[string]int // the folder number of each target's last PUT
	parallel string
}

// filesPerDir is the number of files in each folder of a set.
const filesPerDir = 100

// newManyFiles writes n files of size random bytes under a new temporary
// directory and syncs them.
func newManyFiles(b *testing.B, n, size int) *manyFiles {
	m := &manyFiles{dir: b.TempDir(), n: n, size: size, last: map[string]int{},
		parallel: cmp.Or(os.Getenv("CAUCUS_BENCH_PARALLEL"), "8")}
	m.src = filepath.Join(m.dir, "src")
	buf := make([]byte, size)
	for i := range n {
		p := filepath.Join(m.src, m.name(i))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			b.Fatal(err)
		}
		rand.Read(buf)
		if err := os.WriteFile(p, buf, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	exec.Command("sync").Run()
	return m
}

func (m *manyFiles) name(i int) string {
	return fmt.Sprintf("d%03d/f%05d", i/filesPerDir, i)
}

// stamp writes the next run number into the first 8 bytes of every source
// file, so that each run stores content never seen before, and settles.
func (m *manyFiles) stamp(b *testing.B) {
	m.runs++
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(m.runs))
	for i := range m.n {
		f, err := os.OpenFile(filepath.Join(m.src, m.name(i)), os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		_, err = f.WriteAt(buf[:], 0)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	settle(b)
}

// settle makes everything written so far durable before a timed run, so
// that no run pays for what an earlier one left behind: Apache writes
// without syncing, and the cp peer's own sync would otherwise write it,
// as would a server's fsyncs compete with its writeback. sync(2) twice:
// on ext4 without a journal, sync_filesystem flushes the disk's cache
// (ext4_sync_fs) before it writes the inode tables' buffers
// (sync_blockdev), so the second call's flush is what makes the first
// call's last writes durable; a second call with nothing dirty costs
// one cache flush. It also reports, as dirty-kB, what the page cache
// still held dirty before the first call.
func settle(b *testing.B) {
	b.Helper()
	b.ReportMetric(float64(testtool.Meminfo("Dirty")+testtool.Meminfo("Writeback")), "dirty-kB")
	for range 2 {
		if out, err := exec.Command("sync").CombinedOutput(); err != nil {
			b.Fatal(err, string(out))
		}
	}
}

// report reports files/s, MB/s and the load average for a run of d, and
// with cpu >= 0 the CPU time the server spent on it (for caucus, this
// process, the benchmark's own work aside; for Apache, its processes),
// per file in µs: a figure that other work on the host disturbs less
// than the rates.
func (m *manyFiles) report(b *testing.B, d, cpu time.Duration) {
	b.ReportMetric(float64(m.n)/d.Seconds(), "files/s")
	b.ReportMetric(float64(m.n)*float64(m.size)/1e6/d.Seconds(), "MB/s")
	if cpu >= 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(m.n), "cpu-µs/file")
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) > 0 {
			if l, err := strconv.ParseFloat(f[0], 64); err == nil {
				b.ReportMetric(l, "load1")
			}
		}
	}
}

// processCPU returns the CPU time, user and system, this process has used
// so far (getrusage(2)); -1 if it cannot tell.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processFaults returns the minor page faults this process has taken so
// far (getrusage(2)'s ru_minflt); -1 if it cannot tell. On the project's
// virtual machine the first touch of a page costs about 18 µs, so a
// server that keeps taking fresh memory (a copy into a new 64 KiB buffer
// is 16 faults) pays for it in CPU time.
func processFaults() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Minflt
}

// reportFaults reports, for a server running in this process (caucus,
// its part of caucus-pg, the floors: tg.inProcess), the minor page
// faults per file since f0 (faults/file).
func (m *manyFiles) reportFaults(b *testing.B, tg davTarget, f0 int64) {
	if !tg.inProcess || f0 < 0 {
		return
	}
	if f := processFaults(); f >= 0 {
		b.ReportMetric(float64(f-f0)/float64(m.n), "faults/file")
	}
}

// serverCPU returns what to pass to report for tg: its server's CPU time
// since cpu0, or -1 if it cannot tell.
func serverCPU(tg davTarget, cpu0 time.Duration) time.Duration {
	if tg.cpu == nil || cpu0 < 0 {
		return -1
	}
	if cpu := tg.cpu(); cpu >= 0 {
		return cpu - cpu0
	}
	return -1
}

// startCPU returns tg's server's CPU time so far, -1 if it cannot tell.
func startCPU(tg davTarget) time.Duration {
	if tg.cpu == nil {
		return -1
	}
	return tg.cpu()
}

// treeCPU returns the CPU time, in nanoseconds as the scheduler counts
// it (the first field of /proc/PID/task/TID/schedstat), of every thread
// of process pid and of its children (Apache's workers); -1 if it cannot
// tell. Threads that have ended are no longer counted: Apache's workers
// live as long as the server here (MaxConnectionsPerChild 0).
func treeCPU(pid int) time.Duration {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return -1
	}
	var sum time.Duration
	for _, p := range procs {
		id, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if id != pid {
			if st, err := testtool.ReadProcStat(id); err != nil || st.Field(4) != int64(pid) {
				continue
			}
		}
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", id))
		for _, t := range tasks {
			data, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			if f := strings.Fields(string(data)); len(f) > 0 {
				if ns, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					sum += time.Duration(ns)
				}
			}
		}
	}
	return sum
}

// profileCaucus starts a CPU profile of this process, the caucus server,
// for one run of a server in this process (tg.inProcess: caucus, the floors)
// when CAUCUS_BENCH_PROFILE names a directory: the profile goes there,
// named after the sub-benchmark. It returns what stops it.
func profileCaucus(b *testing.B, tg davTarget) (stop func()) {
	dir := os.Getenv("CAUCUS_BENCH_PROFILE")
	if dir == "" || !tg.inProcess {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, strings.NewReplacer("/", "_", "#", "_").Replace(b.Name())+".prof"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.Fatal(err)
	}
	// Where the server's goroutines wait (the group commit's turn and
	// answer, locks, the body's reads), beside the CPU profile, sampled
	// per 10 µs blocked.
	runtime.SetBlockProfileRate(10_000)
	runtime.SetMutexProfileFraction(10)
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		runtime.SetBlockProfileRate(0)
		runtime.SetMutexProfileFraction(0)
		for _, kind := range []string{"block", "mutex"} {
			w, err := os.Create(strings.TrimSuffix(f.Name(), ".prof") + "." + kind + ".prof")
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.Lookup(kind).WriteTo(w, 0); err != nil {
				b.Error(err)
			}
			w.Close()
		}
	}
}

// curlProto is curl's option for proto.
func curlProto(proto string) string {
	if proto == "h2" {
		return "--http2"
	}
	return "--http1.1"
}

// put uploads the set into a new folder of tg: the folders first,
// untimed, then the files, m.parallel at a time.
func (m *manyFiles) put(b *testing.B, curl string, tg davTarget, proto string) {
	m.stamp(b)
	top := fmt.Sprintf("%srun%d/", tg.url, m.runs)
	var mk, put strings.Builder
	fmt.Fprintf(&mk, "request = MKCOL\nurl = %q\noutput = /dev/null\n", top)
	for d := range (m.n + filesPerDir - 1) / filesPerDir {
		fmt.Fprintf(&mk, "url = %q\noutput = /dev/null\n", fmt.Sprintf("%sd%03d/", top, d))
	}
	for i := range m.n {
		// One curl operation pairs each url with its upload-file and output.
		fmt.Fprintf(&put, "upload-file = %q\nurl = %q\noutput = /dev/null\n", filepath.Join(m.src, m.name(i)), top+m.name(i))
	}
	mkf, putf := filepath.Join(m.dir, "mkcol.curl"), filepath.Join(m.dir, "put.curl")
	os.WriteFile(mkf, []byte(mk.String()), 0o600)
	os.WriteFile(putf, []byte(put.String()), 0o600)
	runCurl(b, curl, tg, curlProto(proto), "-K", mkf)
	settle(b) // Apache's folders too
	stop := profileCaucus(b, tg)
	c0 := tg.count()
	// PostgreSQL's usage and WAL position are read before the run's clock
	// and CPU start: reading them (a scan of /proc, a query) is this
	// process's work, which would count as caucus-pg's.
	u0, w0 := tg.usage(), tg.wal()
	start, cpu0 := time.Now(), startCPU(tg)
	parts0, cc0, g0, f0 := m.cpuParts(tg), tg.contentStats(), tg.commitStats(), processFaults()
	client := runCurlCPU(b, curl, tg, curlProto(proto), "--parallel", "--parallel-max", m.parallel, "-K", putf)
	stop()
	wall := time.Since(start)
	m.report(b, wall, serverCPU(tg, cpu0))
	m.reportFaults(b, tg, f0)
	m.reportParts(b, tg, parts0)
	m.reportUsage(b, tg, u0, "")
	if tg.walLSN != nil {
		b.ReportMetric(float64(tg.wal()-w0)/1e3/float64(m.n), "pg-wal-kB/file")
	}
	reportCommits(b, tg, g0, wall)
	b.ReportMetric(float64(client.Microseconds())/float64(m.n), "curl-µs/file")
	m.reportCounts(b, tg, c0)
	m.reportContents(b, tg, cc0)
	m.last[tg.name] = m.runs
	m.reportCheckpoint(b, tg, wall, cpu0, u0)
}

// reportCheckpoint asks caucus-pg's PostgreSQL for a checkpoint after a
// PUT run of wall and reports the run again with it counted, as if the
// run had lasted until the checkpoint's end: ckpt-ms, the checkpoint's
// own time, and the run's ckpt-files/s, ckpt-cpu-µs/file and
// ckpt-pg-cpu-µs/file (and the parts by role). PostgreSQL's commits
// leave writes for later (the dirty shared buffers, written to the data
// files and synced by a checkpoint); the larger its shared buffers and
// the longer between checkpoints, the more of them fall outside the
// run's window, so that settings are compared on these figures as well.
// What the next checkpoint brings into the WAL (a full-page image at the
// first change of each page after it) is the next run's, as it would be
// in a party's steady state of checkpoints every few minutes.
func (m *manyFiles) reportCheckpoint(b *testing.B, tg davTarget, wall, cpu0 time.Duration, u0 pgtest.Usage) {
	if tg.checkpoint == nil {
		return
	}
	start := time.Now()
	if err := tg.checkpoint(); err != nil {
		b.Fatal(err)
	}
	ck := time.Since(start)
	b.ReportMetric(float64(ck.Microseconds())/1e3, "ckpt-ms")
	b.ReportMetric(float64(m.n)/(wall+ck).Seconds(), "ckpt-files/s")
	if cpu := serverCPU(tg, cpu0); cpu >= 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(m.n), "ckpt-cpu-µs/file")
	}
	m.reportUsage(b, tg, u0, "ckpt-")
}

// wal returns caucus-pg's PostgreSQL's WAL insert position (zero for
// other targets).
func (tg davTarget) wal() int64 {
	if tg.walLSN == nil {
		return 0
	}
	return tg.walLSN()
}

// usage returns what caucus-pg's PostgreSQL used so far (zero for other
// targets).
func (tg davTarget) usage() pgtest.Usage {
	if tg.pgUsage == nil {
		return pgtest.Usage{}
	}
	return tg.pgUsage()
}

// reportUsage reports, for caucus-pg, what PostgreSQL used since before,
// per file: all its processes' CPU time (prefix+pg-cpu-µs/file, the
// ended ones included), that of the processes that write in the
// background (pg-bg-cpu-µs/file: checkpointer, background writer, WAL
// writer) and the minor page faults of all (pg-faults/file).
func (m *manyFiles) reportUsage(b *testing.B, tg davTarget, before pgtest.Usage, prefix string) {
	if tg.pgUsage == nil {
		return
	}
	d, n := tg.pgUsage().Sub(before), float64(m.n)
	if prefix != "" {
		b.ReportMetric(float64(d.CPU().Microseconds())/n, prefix+"pg-cpu-µs/file")
	}
	b.ReportMetric(float64(d.Background().Microseconds())/n, prefix+"pg-bg-cpu-µs/file")
	b.ReportMetric(float64(d.Faults)/n, prefix+"pg-faults/file")
}

// cpuParts returns the CPU time so far of caucus-pg's PostgreSQL and
// object store (zero for other targets).
func (m *manyFiles) cpuParts(tg davTarget) [2]time.Duration {
	if tg.pgCPU == nil {
		return [2]time.Duration{}
	}
	return [2]time.Duration{tg.pgCPU(), tg.gwCPU()}
}

// reportParts reports, for caucus-pg, PostgreSQL's and the object
// store's CPU time per file since before (of cpu-µs/file, the rest is
// caucus's).
func (m *manyFiles) reportParts(b *testing.B, tg davTarget, before [2]time.Duration) {
	if tg.pgCPU == nil {
		return
	}
	now := m.cpuParts(tg)
	b.ReportMetric(float64((now[0]-before[0]).Microseconds())/float64(m.n), "pg-cpu-µs/file")
	b.ReportMetric(float64((now[1]-before[1]).Microseconds())/float64(m.n), "s3-cpu-µs/file")
}

// get downloads the files of tg's last PUT, m.parallel at a time.
func (m *manyFiles) get(b *testing.B, curl string, tg davTarget, proto string) {
	run, ok := m.last[tg.name]
	if !ok {
		b.Skip("no PUT run before (the -bench pattern must include put)")
	}
	var get strings.Builder
	for i := range m.n {
		fmt.Fprintf(&get, "url = %q\noutput = /dev/null\n", fmt.Sprintf("%srun%d/%s", tg.url, run, m.name(i)))
	}
	getf := filepath.Join(m.dir, "get.curl")
	os.WriteFile(getf, []byte(get.String()), 0o600)
	settle(b)
	stop := profileCaucus(b, tg)
	c0 := tg.count()
	start, cpu0 := time.Now(), startCPU(tg)
	parts0, cc0, f0 := m.cpuParts(tg), tg.contentStats(), processFaults()
	client := runCurlCPU(b, curl, tg, curlProto(proto), "--parallel", "--parallel-max", m.parallel, "-K", getf)
	stop()
	m.report(b, time.Since(start), serverCPU(tg, cpu0))
	m.reportFaults(b, tg, f0)
	m.reportParts(b, tg, parts0)
	b.ReportMetric(float64(client.Microseconds())/float64(m.n), "curl-µs/file")
	m.reportCounts(b, tg, c0)
	m.reportContents(b, tg, cc0)
}

// commitStats returns what tg's group commit did so far (zero for a
// server that has none).
func (tg davTarget) commitStats() db.GroupStats {
	if tg.commits == nil {
		return db.GroupStats{}
	}
	return tg.commits()
}

// reportCommits reports, for caucus, what its files store's group commit
// did in a run of wall since before: the share of the run's time in
// which the commit turn was held (busy, 1: the single writer never
// idled), jobs per group, and an upload's time in it in µs: queued for
// a group (wait-µs/job), and the group's BEGIN (begin-µs/grp), jobs
// (run-µs/grp) and COMMIT, the log written and synced (commit-µs/grp).
func reportCommits(b *testing.B, tg davTarget, before db.GroupStats, wall time.Duration) {
	if tg.commits == nil {
		return
	}
	now := tg.commits()
	commits, jobs := float64(now.Commits-before.Commits), float64(now.Jobs-before.Jobs)
	if commits == 0 || jobs == 0 {
		return
	}
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) }
	b.ReportMetric((now.Turns.CommitTime-before.Turns.CommitTime).Seconds()/wall.Seconds(), "busy")
	b.ReportMetric(jobs/commits, "jobs/grp")
	b.ReportMetric(us(now.Times.Wait-before.Times.Wait)/jobs, "wait-µs/job")
	b.ReportMetric(us(now.Times.Begin-before.Times.Begin)/commits, "begin-µs/grp")
	b.ReportMetric(us(now.Times.Run-before.Times.Run)/commits, "run-µs/grp")
	b.ReportMetric(us(now.Times.Commit-before.Times.Commit)/commits, "commit-µs/grp")
}

// contentStats returns what tg's cache of small contents did so far
// (zero for a server that has none).
func (tg davTarget) contentStats() files.ContentCacheStats {
	if tg.contents == nil {
		return files.ContentCacheStats{}
	}
	return tg.contents()
}

// reportContents reports, for caucus, the reads its cache of small
// contents answered from memory (cc-hit/file) and from the node's disk
// (cc-disk/file), and those it sent to the database (cc-miss/file)
// since before, and the MiB it holds in memory at the end (cc-MiB).
func (m *manyFiles) reportContents(b *testing.B, tg davTarget, before files.ContentCacheStats) {
	if tg.contents == nil {
		return
	}
	now := tg.contents()
	b.ReportMetric(float64(now.Hits-before.Hits)/float64(m.n), "cc-hit/file")
	b.ReportMetric(float64(now.DiskHits-before.DiskHits)/float64(m.n), "cc-disk/file")
	b.ReportMetric(float64(now.Misses-before.Misses)/float64(m.n), "cc-miss/file")
	b.ReportMetric(float64(now.Bytes)/(1<<20), "cc-MiB")
}
