// Package testtool finds the outside programs that caucus's tests drive as a
// real user would (Chromium, oathtool, swaks, litmus, rclone, mbsync …).
// A missing program skips the test with a clear message, except under CI
// (CI=true), where it fails: CI installs every program the tests need.
package testtool

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Need returns the path of the named program, looking on PATH and then in
// /usr/bin, /usr/local/bin and /usr/sbin (a CI job may run with a short
// PATH; Debian puts Postfix's tools in /usr/sbin), or skips
// the test (fails it under CI=true) when the program is not installed.
func Need(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/bin", "/usr/local/bin", "/usr/sbin"} {
		if p, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true but was not found (install it in .ci/run)", name)
	}
	t.Skipf("%s not installed; skipping (install it from Debian, or run bash .ci/run)", name)
	return ""
}

// PanicLog is a slog.Handler that remembers the last logged message
// mentioning a panic. Protocol libraries (go-imap, go-smtp) recover panics
// in their handlers and log them; fuzz targets check Seen after each input.
type PanicLog struct {
	mu  sync.Mutex
	msg string
}

// Enabled implements slog.Handler.
func (p *PanicLog) Enabled(context.Context, slog.Level) bool { return true }

// WithAttrs implements slog.Handler.
func (p *PanicLog) WithAttrs([]slog.Attr) slog.Handler { return p }

// WithGroup implements slog.Handler.
func (p *PanicLog) WithGroup(string) slog.Handler { return p }

// Handle implements slog.Handler.
func (p *PanicLog) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(strings.ToLower(r.Message), "panic") {
		p.mu.Lock()
		p.msg = r.Message
		p.mu.Unlock()
	}
	return nil
}

// Seen returns the last panic message logged, or "".
func (p *PanicLog) Seen() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.msg
}

// Clock is a settable clock for tests; pass its Now where code takes a
// clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Set puts the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}
