package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shortDir is a temporary directory with a path short enough for a Unix
// socket (t.TempDir() under a long test name may not be).
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// start serves handlers on a socket in a fresh data directory.
func start(t *testing.T, cfg Config, handlers map[string]Handler) (*Server, string) {
	t.Helper()
	dir := filepath.Join(shortDir(t), "data")
	ln, err := Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := New(cfg, handlers, nil, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})))
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, dir
}

func dial(t *testing.T, dir string) *Client {
	t.Helper()
	c, err := Dial(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// raw connects without the client, to send anything.
func raw(t *testing.T, dir string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("unix", filepath.Join(dir, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func echo(_ context.Context, c Call) (any, error) {
	var args struct{ Say string }
	if len(c.Args) > 0 {
		if err := json.Unmarshal(c.Args, &args); err != nil {
			return nil, err
		}
	}
	if args.Say == "fail" {
		return nil, errors.New("asked to fail")
	}
	return map[string]string{"actor": c.Actor, "said": args.Say}, nil
}

func TestCallAndActor(t *testing.T) {
	t.Parallel()
	_, dir := start(t, Config{}, map[string]Handler{"echo": echo})
	c := dial(t, dir)
	var got map[string]string
	if err := c.Call(t.Context(), "echo", map[string]string{"say": "hello"}, &got); err != nil {
		t.Fatal(err)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if got["said"] != "hello" || got["actor"] != "cli:"+me.Username {
		t.Errorf("result %v, want actor cli:%s", got, me.Username)
	}
	// Several requests on one connection; failures are RemoteErrors.
	var re *RemoteError
	if err := c.Call(t.Context(), "echo", map[string]string{"say": "fail"}, nil); !errors.As(err, &re) || re.Msg != "asked to fail" {
		t.Errorf("failing op: %v", err)
	}
	if err := c.Call(t.Context(), "nope", nil, nil); !errors.As(err, &re) || !strings.Contains(re.Msg, "unknown operation") {
		t.Errorf("unknown op: %v", err)
	}
	if err := c.Call(t.Context(), "echo", nil, &got); err != nil || got["said"] != "" {
		t.Errorf("no args: %v, %v", got, err)
	}
}

func TestSocketPermissions(t *testing.T) {
	t.Parallel()
	_, dir := start(t, Config{}, nil)
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, SocketName): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
		if st, ok := fi.Sys().(interface{ Uid() uint32 }); ok && int(st.Uid()) != os.Getuid() {
			t.Errorf("%s owned by %d", path, st.Uid())
		}
	}
	// A second server on the same directory is refused.
	if _, err := Listen(dir); err == nil || !strings.Contains(err.Error(), "another caucus server") {
		t.Errorf("second Listen: %v", err)
	}
}

func TestStaleSocketAndNotRunning(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(shortDir(t), "data")
	if _, err := Dial(t.Context(), dir); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Dial without a server: %v, want ErrNotRunning", err)
	}
	ln, err := Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false) // as a crashed server leaves it
	ln.Close()
	if _, err := Dial(t.Context(), dir); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Dial to a stale socket: %v, want ErrNotRunning", err)
	}
	ln, err = Listen(dir)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	ln.Close()
	if err := os.WriteFile(filepath.Join(dir, SocketName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(dir); err == nil {
		t.Error("Listen replaced a regular file")
	}
}

// TestLimits: bad and oversized requests are answered and refused, and a
// connection without a request is closed.
func TestLimits(t *testing.T) {
	t.Parallel()
	_, dir := start(t, Config{IdleTimeout: 50 * time.Millisecond}, map[string]Handler{"echo": echo})
	for _, line := range []string{
		"not json",
		`{"op":"echo","extra":1}`,
		`{"op":"Echo"}`,
		`{"op":"echo","args":[1]}`,
		`{"op":"echo"} {"op":"echo"}`,
		`{"op":"` + strings.Repeat("a", 33) + `"}`,
	} {
		c, r := raw(t, dir)
		c.Write([]byte(line + "\n"))
		resp, err := readLine(r, MaxResponse)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		var res Response
		if err := json.Unmarshal(resp, &res); err != nil || res.OK || !strings.Contains(res.Error, "bad request") {
			t.Errorf("%q answered %s", line, resp)
		}
	}
	// The oversized request on a server that waits long enough for all of
	// it: at 50 ms a loaded machine's write of 256 KiB could outlast the
	// idle limit, and the server closed before answering (a CI run on
	// PostgreSQL's pass failed so).
	_, bigDir := start(t, Config{IdleTimeout: time.Minute}, map[string]Handler{"echo": echo})
	c, r := raw(t, bigDir)
	big := `{"op":"echo","args":{"say":"` + strings.Repeat("x", MaxRequest) + `"}}` + "\n"
	go c.Write([]byte(big))
	resp, err := readLine(r, MaxResponse)
	if err != nil || !strings.Contains(string(resp), "request over") {
		t.Errorf("oversized request answered %q, %v", resp, err)
	}
	if _, err := r.ReadByte(); err == nil {
		t.Error("connection open after an oversized request")
	}
	// Idle: closed by the server.
	_, r = raw(t, dir)
	if _, err := r.ReadByte(); err == nil {
		t.Error("idle connection not closed")
	}
	// The client refuses to send an oversized request.
	cl := dial(t, dir)
	if err := cl.Call(t.Context(), "echo", map[string]string{"say": strings.Repeat("x", MaxRequest)}, nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("client with oversized request: %v", err)
	}
}

// TestMaxConns: a connection over the limit is told so and closed; the
// others keep working.
func TestMaxConns(t *testing.T) {
	t.Parallel()
	_, dir := start(t, Config{MaxConns: 2}, map[string]Handler{"echo": echo})
	a, b := dial(t, dir), dial(t, dir)
	for _, c := range []*Client{a, b} { // both are being served
		if err := c.Call(t.Context(), "echo", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	_, r := raw(t, dir)
	line, err := readLine(r, MaxResponse)
	if err != nil || !strings.Contains(string(line), "too many") {
		t.Errorf("third connection: %q, %v", line, err)
	}
	if err := a.Call(t.Context(), "echo", nil, nil); err != nil {
		t.Errorf("first connection after refusal: %v", err)
	}
}

// TestShutdownCancelsSlowOp: Shutdown waits for an operation until its
// context ends, then cancels it.
func TestShutdownCancelsSlowOp(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	cancelled := make(chan error, 1)
	slow := func(ctx context.Context, _ Call) (any, error) {
		close(started)
		<-ctx.Done()
		cancelled <- ctx.Err()
		return nil, ctx.Err()
	}
	dir := filepath.Join(shortDir(t), "data")
	ln, err := Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{}, map[string]Handler{"slow": slow}, nil, nil)
	go s.Serve(ln)
	c := dial(t, dir)
	go c.Call(context.Background(), "slow", nil, nil)
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace at all
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Errorf("operation ended with %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, SocketName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after shutdown: %v", err)
	}
}

func TestActorName(t *testing.T) {
	t.Parallel()
	if got := (peerCred{uid: 4242}).actor(); got != "cli:uid=4242" {
		t.Errorf("actor without a name: %q", got)
	}
	if got := (peerCred{uid: 0, name: "root"}).actor(); got != "cli:root" {
		t.Errorf("actor: %q", got)
	}
}

// TestOpBounds: an operation over its time limit fails, and so does a
// result over the size bound; the connection keeps working.
func TestOpBounds(t *testing.T) {
	t.Parallel()
	slow := func(ctx context.Context, _ Call) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	big := func(context.Context, Call) (any, error) { return strings.Repeat("x", 2000), nil }
	_, dir := start(t, Config{OpTimeout: 20 * time.Millisecond, MaxResult: 1000}, map[string]Handler{"slow": slow, "big": big, "echo": echo})
	c := dial(t, dir)
	var re *RemoteError
	if err := c.Call(t.Context(), "slow", nil, nil); !errors.As(err, &re) || !strings.Contains(re.Msg, "deadline exceeded") {
		t.Errorf("slow op: %v", err)
	}
	if err := c.Call(t.Context(), "big", nil, nil); !errors.As(err, &re) || !strings.Contains(re.Msg, "too large") {
		t.Errorf("big result: %v", err)
	}
	if err := c.Call(t.Context(), "echo", nil, nil); err != nil {
		t.Errorf("after the failures: %v", err)
	}
}

// BenchmarkCall is one request and its answer over the socket.
func BenchmarkCall(b *testing.B) {
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ln, err := Listen(filepath.Join(dir, "data"))
	if err != nil {
		b.Fatal(err)
	}
	s := New(Config{}, map[string]Handler{"echo": echo}, nil, nil)
	go s.Serve(ln)
	defer s.Shutdown(context.Background())
	c, err := Dial(b.Context(), filepath.Join(dir, "data"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	args := map[string]string{"say": "hello"}
	for b.Loop() {
		if err := c.Call(b.Context(), "echo", args, nil); err != nil {
			b.Fatal(err)
		}
	}
}
