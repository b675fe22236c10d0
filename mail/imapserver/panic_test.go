package imapserver

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/caucus-org/caucus/internal/metrics"
)

// panicSession panics in SELECT; the rest of Session is never called.
type panicSession struct{ imapserver.Session }

func (panicSession) Login(string, string) error { return nil }
func (panicSession) Close() error               { return nil }
func (panicSession) Poll(*imapserver.UpdateWriter, bool) error {
	return nil
}
func (panicSession) Select(string, *imap.SelectOptions) (*imap.SelectData, error) {
	var m map[string]int
	m["boom"]++ // a nil map write, as a bug would
	return nil, nil
}

// logRecords keeps every log record's text with its attributes.
type logRecords struct {
	mu   sync.Mutex
	recs []string
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecords) WithGroup(string) slog.Handler            { return l }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	l.mu.Lock()
	l.recs = append(l.recs, b.String())
	l.mu.Unlock()
	return nil
}

func (l *logRecords) matching(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		if strings.Contains(r, s) {
			out = append(out, r)
		}
	}
	return out
}

// TestPanicAnswered: a command whose handler panics is answered NO
// [SERVERBUG], the connection ends cleanly, each panic is counted, and a
// client repeating it cannot make the log grow by a stack trace per
// command (issue 13 #1, second half).
func TestPanicAnswered(t *testing.T) {
	t.Parallel()
	logs := &logRecords{}
	reg := metrics.NewRegistry()
	rep := newPanicReporter(slog.New(logs), metrics.NewSet(reg))
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return panicSession{}, nil, nil
		},
		InsecureAuth: true,
		Logger:       slogPrintf{slog.New(logs)},
		PanicHandler: rep.handle,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	const n = 20
	for i := range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "a LOGIN x y\r\nb SELECT INBOX\r\n")
		var out bytes.Buffer
		sc := bufio.NewScanner(c)
		for sc.Scan() { // to the end of the connection
			out.WriteString(sc.Text() + "\n")
		}
		c.Close()
		if !strings.Contains(out.String(), "b NO [SERVERBUG]") || !strings.Contains(out.String(), "* BYE") {
			t.Fatalf("connection %d: %q, want b NO [SERVERBUG] and BYE", i, out.String())
		}
	}
	var scrape bytes.Buffer
	reg.Write(context.Background(), &scrape)
	fams, err := metrics.Parse(scrape.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var counted float64
	for _, f := range fams {
		if v, ok := f.Value("caucus_panics_recovered_total", "protocol", "imap"); ok {
			counted = v
		}
	}
	if counted != n {
		t.Errorf("caucus_panics_recovered_total{protocol=imap} = %v, want %d", counted, n)
	}
	if got := logs.matching("goroutine "); len(got) > 1 {
		t.Errorf("%d log records with a stack trace for %d panics, want at most 1", len(got), n)
	}
	if got := logs.matching("panic"); len(got) == 0 || len(got) > 2 {
		t.Errorf("%d log records mention the panic for %d panics, want 1 or 2", len(got), n)
	}
}
