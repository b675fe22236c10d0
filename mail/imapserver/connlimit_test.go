package imapserver

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// stillOpen reports whether the server has neither answered nor closed c.
// A short poll, not a timing assertion: a closed socket answers at once.
func stillOpen(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestRefusalDoesNotStallAccept reproduces issue 12 item 3 on IMAPS:
// connections over the per-address limit that never start their TLS
// handshake held up the accept loop for 5 s each. Another client's greeting
// must arrive while the silent connections are still held open.
func TestRefusalDoesNotStallAccept(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{MaxConnsPerAddr: 1})
	cfg := &tls.Config{RootCAs: e.roots, ServerName: "localhost"}
	first, err := tls.Dial("tcp", e.imaps, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	readLine(t, first)
	var silent []net.Conn
	for range 6 {
		c, err := net.Dial("tcp", e.imaps)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	// Another client: 127.0.0.2 is loopback too, but another address.
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: time.Minute}
	other, err := tls.DialWithDialer(d, "tcp", e.imaps, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetReadDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 256)
	n, _ := other.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "* OK") {
		t.Fatalf("other client: %q, want the greeting", buf[:n])
	}
	for i, c := range silent {
		if !stillOpen(c) {
			t.Errorf("silent connection %d was refused before the other client was greeted: the accept loop waited for it", i+1)
		}
	}
}

// lines counts log records by level.
type lines struct {
	mu     sync.Mutex
	counts map[slog.Level]int
	msgs   []string
}

func (h *lines) Enabled(context.Context, slog.Level) bool { return true }
func (h *lines) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *lines) WithGroup(string) slog.Handler            { return h }
func (h *lines) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[r.Level]++
	h.msgs = append(h.msgs, r.Level.String()+" "+r.Message)
	return nil
}

// TestRefusalsLogQuietly is issue 12 item 15: each refused connection wrote
// a WARN line, log noise anyone could make on demand. Refusals are counted
// (a metric) and summed up in at most one line per interval, not at WARN.
func TestRefusalsLogQuietly(t *testing.T) {
	t.Parallel()
	h := &lines{counts: map[slog.Level]int{}}
	e := newEnvLog(t, Config{MaxConnsPerAddr: 1}, h)
	first, err := net.Dial("tcp", e.imap)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	readLine(t, first)
	var over []net.Conn
	for range 8 {
		c, err := net.Dial("tcp", e.imap)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		over = append(over, c)
	}
	for i, c := range over {
		c.SetReadDeadline(time.Now().Add(time.Minute))
		buf := make([]byte, 256)
		n, _ := c.Read(buf)
		if !strings.Contains(string(buf[:n]), "BYE") {
			t.Fatalf("connection %d over the limit: %q, want BYE", i+2, buf[:n])
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := h.counts[slog.LevelWarn] + h.counts[slog.LevelError]; n > 0 {
		t.Errorf("%d WARN or ERROR lines for 8 refused connections, want none: %q", n, h.msgs)
	}
	refusals := 0
	for _, m := range h.msgs {
		if strings.Contains(strings.ToLower(m), "limit") || strings.Contains(strings.ToLower(m), "too many") {
			refusals++
		}
	}
	if refusals > 1 {
		t.Errorf("%d log lines for 8 refused connections, want at most 1 per interval: %q", refusals, h.msgs)
	}
}
