package imapserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file is the raw-protocol harness of the conformance tests: lines
// are sent as a client writes them and the answers compared as text, the
// way mox's imapserver tests do, so that what the go-imap client would
// hide (an untagged FLAGS, a missing RECENT) is seen.

// rawConn is one implicit-TLS connection spoken to line by line.
type rawConn struct {
	t   *testing.T
	c   *tls.Conn
	r   *bufio.Reader
	tag int
}

// raw dials the server, reads the greeting, and signs m in unless m is nil.
func (e *testEnv) raw(t *testing.T, m *member) *rawConn {
	t.Helper()
	c, err := tls.Dial("tcp", e.imaps, &tls.Config{RootCAs: e.roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawConn{t: t, c: c, r: bufio.NewReader(c)}
	if g := rc.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	if m != nil {
		rc.ok(fmt.Sprintf("LOGIN %q %q", m.Account.Login, m.secret))
	}
	return rc
}

// line reads one response line, with any literals it carries inline,
// without the final CRLF.
func (rc *rawConn) line() string {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	for {
		l, err := rc.r.ReadString('\n')
		if err != nil {
			rc.t.Fatalf("read: %v (so far %q)", err, b.String()+l)
		}
		l = strings.TrimSuffix(l, "\r\n")
		b.WriteString(l)
		n, ok := literalSize(l)
		if !ok {
			return b.String()
		}
		lit := make([]byte, n)
		if _, err := io.ReadFull(rc.r, lit); err != nil {
			rc.t.Fatalf("read literal: %v", err)
		}
		b.Write(lit)
	}
}

// literalSize returns n if l ends with a literal announcement {n}.
func literalSize(l string) (int, bool) {
	if !strings.HasSuffix(l, "}") {
		return 0, false
	}
	i := strings.LastIndexByte(l, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(l[i+1 : len(l)-1])
	return n, err == nil
}

// send writes one line, CRLF added.
func (rc *rawConn) send(line string) {
	rc.t.Helper()
	rc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(rc.c, line+"\r\n"); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

// cmd sends a tagged command and returns the untagged (and continuation)
// lines up to the tagged answer, and that answer without its tag.
func (rc *rawConn) cmd(command string) (untagged []string, result string) {
	rc.t.Helper()
	rc.tag++
	tag := fmt.Sprintf("t%d", rc.tag)
	rc.send(tag + " " + command)
	return rc.until(tag)
}

// until reads up to the tagged answer to tag.
func (rc *rawConn) until(tag string) (untagged []string, result string) {
	rc.t.Helper()
	for {
		l := rc.line()
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return untagged, rest
		}
		untagged = append(untagged, l)
	}
}

// ok runs command and fails the test unless it answers OK.
func (rc *rawConn) ok(command string) []string {
	rc.t.Helper()
	u, res := rc.cmd(command)
	if !strings.HasPrefix(res, "OK") {
		rc.t.Fatalf("%s: %s (untagged %q)", command, res, u)
	}
	return u
}

// pattern compiles an expected line: literal text, where "#" stands for a
// number and "…" for any text.
func pattern(p string) *regexp.Regexp {
	q := regexp.QuoteMeta(p)
	q = strings.ReplaceAll(q, "#", `\d+`)
	q = strings.ReplaceAll(q, "…", `.*`)
	return regexp.MustCompile(`(?is)^` + q + `$`)
}

// exchange is one command and what its answer must be.
type exchange struct {
	cmd    string   // without tag
	result string   // pattern of the tagged answer without tag, e.g. "OK…" or "NO [CANNOT]…"
	want   []string // patterns each matched by some untagged line
	not    []string // patterns no untagged line may match
}

// check runs ex on rc and reports every difference.
func (rc *rawConn) check(ex exchange) {
	rc.t.Helper()
	u, res := rc.cmd(ex.cmd)
	if !pattern(ex.result).MatchString(res) {
		rc.t.Errorf("%s: answer %q, want %q (untagged %q)", ex.cmd, res, ex.result, u)
	}
	for _, w := range ex.want {
		p := pattern(w)
		if !anyMatch(p, u) {
			rc.t.Errorf("%s: no untagged %q in %q", ex.cmd, w, u)
		}
	}
	for _, n := range ex.not {
		p := pattern(n)
		if anyMatch(p, u) {
			rc.t.Errorf("%s: untagged %q unexpected in %q", ex.cmd, n, u)
		}
	}
}

func anyMatch(p *regexp.Regexp, lines []string) bool {
	for _, l := range lines {
		if p.MatchString(l) {
			return true
		}
	}
	return false
}

// quietLog is a slog.Handler that passes records on to t's output and
// remembers every WARN and ERROR record, and any record that mentions a
// panic or a goroutine stack.
type quietLog struct {
	next  slog.Handler
	mu    *sync.Mutex
	noisy *[]string
}

func newQuietLog(t testing.TB) *quietLog {
	return &quietLog{next: slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}), mu: new(sync.Mutex), noisy: new([]string)}
}

func (q *quietLog) Enabled(context.Context, slog.Level) bool { return true }

func (q *quietLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &quietLog{next: q.next.WithAttrs(as), mu: q.mu, noisy: q.noisy}
}

func (q *quietLog) WithGroup(g string) slog.Handler {
	return &quietLog{next: q.next.WithGroup(g), mu: q.mu, noisy: q.noisy}
}

func (q *quietLog) Handle(ctx context.Context, r slog.Record) error {
	text := r.Message
	r.Attrs(func(a slog.Attr) bool {
		text += " " + a.String()
		return true
	})
	if r.Level >= slog.LevelWarn || strings.Contains(strings.ToLower(text), "panic") || strings.Contains(text, "goroutine ") {
		q.mu.Lock()
		*q.noisy = append(*q.noisy, r.Level.String()+" "+text)
		q.mu.Unlock()
	}
	return q.next.Handle(ctx, r)
}

// lines returns the remembered records.
func (q *quietLog) lines() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), *q.noisy...)
}

// newQuietEnv is newEnv whose test fails at its end if the server logged
// a warning, an error or a stack trace.
func newQuietEnv(t *testing.T) *testEnv {
	t.Helper()
	q := newQuietLog(t)
	e := newEnvLog(t, Config{}, q)
	t.Cleanup(func() {
		if l := q.lines(); len(l) > 0 {
			t.Errorf("server logged %d warning/error line(s):\n%s", len(l), strings.Join(l, "\n"))
		}
	})
	return e
}
