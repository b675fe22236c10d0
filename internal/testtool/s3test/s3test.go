// Package s3test starts a real S3 server for tests and benchmarks: the
// Versity S3 Gateway (github.com/versity/versitygw) at [Version], in its
// POSIX mode, keeping its buckets in a temporary directory, listening on
// 127.0.0.1 at a random port, stopped when the test ends. Not a mock: the
// same program a party could put in front of its own disks.
//
// The gateway is a Go program built from the Go module proxy by
// build-versitygw.sh beside this file, into [Dir] (or put on PATH);
// without it the tests skip, and under CI=true they fail
// (as [github.com/caucus-org/caucus/internal/testtool.Need] does).
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/caucus-org/caucus/internal/devcert"
)

// Version is the versitygw release the tests run, as build-versitygw.sh
// builds it.
const Version = "v1.8.0"

// Dir is the directory build-versitygw.sh installs the gateway in:
// $CAUCUS_TOOLS/versitygw-<Version>, where CAUCUS_TOOLS defaults to
// ~/.cache/caucus-tools.
func Dir() string {
	tools := os.Getenv("CAUCUS_TOOLS")
	if tools == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		tools = filepath.Join(cache, "caucus-tools")
	}
	return filepath.Join(tools, "versitygw-"+Version)
}

// Server is a running gateway.
type Server struct {
	// Endpoint is its host:port: plain HTTP, or HTTPS when CAFile is set.
	Endpoint string
	// CAFile, for a gateway started by [StartTLS], is the PEM certificate
	// that its own certificate (for 127.0.0.1) is, and is signed by.
	CAFile string
	// RootCAs holds CAFile's certificate.
	RootCAs *x509.CertPool
	// AccessKey and SecretKey are its root user's.
	AccessKey, SecretKey string
	// Root is the directory that holds its buckets, one directory each,
	// one file per object: what the store's operator sees.
	Root string

	client *minio.Client
	stop   func() // stops the gateway; safe to call twice
}

// Stop stops the gateway before the test ends, to see what its clients do
// when the store is gone.
func (s *Server) Stop() { s.stop() }

// Installed reports whether the gateway is installed, in [Dir] or on PATH.
func Installed() bool {
	if _, err := os.Stat(filepath.Join(Dir(), "versitygw")); err == nil {
		return true
	}
	_, err := exec.LookPath("versitygw")
	return err == nil
}

// Need skips t (fails it under CI=true) unless the gateway is installed.
func Need(t testing.TB) {
	t.Helper()
	if Installed() {
		return
	}
	const build = "sh internal/testtool/s3test/build-versitygw.sh"
	if os.Getenv("CI") == "true" {
		t.Fatalf("versitygw %s is required under CI=true but was not found (.ci/run must run %s)", Version, build)
	}
	t.Skipf("versitygw %s not installed; skipping (build it with %s)", Version, build)
}

// binary returns the gateway's path, or skips (fails under CI=true).
func binary(t testing.TB) string {
	t.Helper()
	Need(t)
	p := filepath.Join(Dir(), "versitygw")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	p, err := exec.LookPath("versitygw")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Start starts a gateway speaking plain HTTP and stops it when the test
// ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, false)
}

// StartTLS starts a gateway speaking HTTPS, with a certificate made for
// the test, and stops it when the test ends.
func StartTLS(t testing.TB) *Server {
	t.Helper()
	return start(t, true)
}

func start(t testing.TB, useTLS bool) *Server {
	t.Helper()
	bin := binary(t)
	s := &Server{AccessKey: "caucus-test", SecretKey: randomHex(16), Root: t.TempDir()}
	var keyFile string
	if useTLS {
		dir := t.TempDir()
		s.CAFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		cert, err := devcert.Ensure(s.CAFile, keyFile, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		s.RootCAs = devcert.Pool(cert)
	}
	var err error
	// The port is chosen free and then given to the gateway, so another
	// process may take it between: try again a few times.
	for range 3 {
		if err = s.start(t, bin, keyFile); err == nil {
			return s
		}
	}
	t.Fatalf("starting versitygw: %v", err)
	return nil
}

// start runs the gateway on a free port (with TLS if keyFile is set) and
// waits until it answers.
func (s *Server) start(t testing.TB, bin, keyFile string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.Endpoint = ln.Addr().String()
	ln.Close()
	var out syncBuffer
	args := []string{"--port", s.Endpoint, "--keep-alive", "--quiet"}
	if keyFile != "" {
		args = append(args, "--cert", s.CAFile, "--key", keyFile)
	}
	cmd := exec.Command(bin, append(args, "posix", s.Root)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	// The credentials go in the environment, not on the command line
	// that every user of the machine can read.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		})
	}
	s.stop = stop
	opts := &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		BucketLookup: minio.BucketLookupPath,
	}
	if keyFile != "" {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: s.RootCAs}
		opts.Secure, opts.Transport = true, tr
	}
	s.client, err = minio.New(s.Endpoint, opts)
	if err != nil {
		stop()
		return err
	}
	deadline := time.Now().Add(60 * time.Second) // a loaded machine starts slowly
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = s.client.ListBuckets(ctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case werr := <-exited:
			return fmt.Errorf("versitygw exited (%v): %s", werr, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("versitygw does not answer on %s: %v; its output: %s", s.Endpoint, err, out.String())
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() && out.Len() > 0 {
			t.Logf("versitygw's output:\n%s", out.String())
		}
	})
	return nil
}

// Bucket makes a new, empty bucket and returns its name.
func (s *Server) Bucket(t testing.TB) string {
	t.Helper()
	name := "caucus-" + randomHex(6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.client.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("making bucket %s: %v", name, err)
	}
	return name
}

// Client returns a client of the gateway, signed in as its root user: to
// look at or tamper with objects as the store's operator could.
func (s *Server) Client() *minio.Client { return s.client }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// syncBuffer is a bytes.Buffer the gateway's output goes to while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 1<<20 { // enough to tell what went wrong
		return len(p), nil
	}
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.b.String())
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Len()
}
