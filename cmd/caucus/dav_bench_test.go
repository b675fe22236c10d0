package main

// Benchmarks of WebDAV throughput against the --dev server, compared on
// the same disk and under the same client with cp and with rclone serve
// webdav (a Go WebDAV server over the OS file system):
//
//	go test ./cmd/caucus -run '^$' -bench BenchmarkDAV -benchtime 1x
//
// CAUCUS_BENCH_MB sets the large file's size (default 1024).

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/testtool"
)

type davTarget struct {
	url, user, pass string
	args            []string // extra curl arguments (CA)
	rcloneArgs      []string
}

// benchTargets starts caucus and rclone serve webdav and returns both.
func benchTargets(b *testing.B, dir string) map[string]davTarget {
	rclone := testtool.Need(b, "rclone")
	cdir := filepath.Join(dir, "caucus")
	srv := startDevB(b, cdir)
	b.Cleanup(func() { srv.shutdown(b.Context()) })
	secret := newFilesAccount(b, srv, "bench@localhost")
	_, port, _ := net.SplitHostPort(srv.addrs["https"])
	ca := filepath.Join(cdir, "dev-cert.pem")

	// rclone serve webdav over a plain directory, with the same TLS
	// certificate so that both pay for TLS.
	rdir := filepath.Join(dir, "rclone-root")
	os.MkdirAll(rdir, 0o700)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	raddr := l.Addr().String()
	l.Close()
	cmd := exec.Command(rclone, "serve", "webdav", rdir, "--addr", raddr, "--user", "bench", "--pass", "bench-pass",
		"--cert", ca, "--key", filepath.Join(cdir, "dev-key.pem"))
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 100 {
		if c, err := net.Dial("tcp", raddr); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, rport, _ := net.SplitHostPort(raddr)
	return map[string]davTarget{
		"caucus":       {url: "https://localhost:" + port + "/dav/Home/", user: "bench@localhost", pass: secret, args: []string{"--cacert", ca}},
		"rclone-serve": {url: "https://localhost:" + rport + "/", user: "bench", pass: "bench-pass", args: []string{"--cacert", ca}},
	}
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
	for name, tg := range benchTargets(b, dir) {
		b.Run(name+"/put", func(b *testing.B) {
			for b.Loop() {
				start := time.Now()
				args := append([]string{"-sSf", "-u", tg.user + ":" + tg.pass, "-T", src, tg.url + "big.bin"}, tg.args...)
				if out, err := exec.Command(curl, args...).CombinedOutput(); err != nil {
					b.Fatal(err, string(out))
				}
				b.ReportMetric(size/1e6/time.Since(start).Seconds(), "MB/s")
			}
		})
		b.Run(name+"/get", func(b *testing.B) {
			for b.Loop() {
				start := time.Now()
				args := append([]string{"-sSf", "-u", tg.user + ":" + tg.pass, "-o", "/dev/null", tg.url + "big.bin"}, tg.args...)
				if out, err := exec.Command(curl, args...).CombinedOutput(); err != nil {
					b.Fatal(err, string(out))
				}
				b.ReportMetric(size/1e6/time.Since(start).Seconds(), "MB/s")
			}
		})
	}
}

func BenchmarkDAVSmallFiles(b *testing.B) {
	rclone := testtool.Need(b, "rclone")
	dir := b.TempDir()
	src := filepath.Join(dir, "small")
	const n = 10000
	for i := range n {
		p := filepath.Join(src, fmt.Sprintf("d%02d", i%100), fmt.Sprintf("f%05d", i))
		os.MkdirAll(filepath.Dir(p), 0o700)
		buf := make([]byte, 10<<10)
		rand.Read(buf)
		os.WriteFile(p, buf, 0o600)
	}
	b.Run("cp", func(b *testing.B) {
		for b.Loop() {
			dst := filepath.Join(dir, "cp")
			start := time.Now()
			if out, err := exec.Command("cp", "-r", src, dst).CombinedOutput(); err != nil {
				b.Fatal(err, string(out))
			}
			exec.Command("sync").Run()
			b.ReportMetric(n/time.Since(start).Seconds(), "files/s")
			os.RemoveAll(dst)
		}
	})
	for name, tg := range benchTargets(b, dir) {
		conf := filepath.Join(dir, name+".conf")
		obs, _ := exec.Command(rclone, "obscure", tg.pass).Output()
		os.WriteFile(conf, fmt.Appendf(nil, "[t]\ntype = webdav\nurl = %s\nvendor = other\nuser = %s\npass = %s\n", tg.url, tg.user, obs), 0o600)
		run := func(b *testing.B, from, to string) {
			start := time.Now()
			cmd := exec.Command(rclone, "copy", "--ca-cert", tg.args[1], "--transfers", "8", "--checkers", "8", from, to)
			cmd.Env = append(os.Environ(), "RCLONE_CONFIG="+conf)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatal(err, string(out))
			}
			b.ReportMetric(n/time.Since(start).Seconds(), "files/s")
		}
		b.Run(name+"/put", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				run(b, src, fmt.Sprintf("t:small%d", i))
			}
		})
		b.Run(name+"/get", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				run(b, "t:small0", filepath.Join(dir, fmt.Sprintf("%s-back%d", name, i)))
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
