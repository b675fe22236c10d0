package smtpserver

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/caucus-org/caucus/auth"
)

// blockingQueue holds every Enqueue until its context ends, and reports
// that it returned.
type blockingQueue struct {
	entered  chan struct{}
	returned chan error
}

func (q *blockingQueue) Enqueue(ctx context.Context, _ string, _ []string, _ io.Reader) (int64, error) {
	q.entered <- struct{}{}
	<-ctx.Done()
	q.returned <- ctx.Err()
	return 0, ctx.Err()
}

// TestShutdownCancelsSubmission reproduces the drift of issue 14 item 2:
// submission sessions ran on context.Background(), so a session blocked in
// a call that takes its context (here the outbound queue) went on after
// Shutdown had given up waiting for it.
func TestShutdownCancelsSubmission(t *testing.T) {
	t.Parallel()
	q := &blockingQueue{entered: make(chan struct{}, 1), returned: make(chan error, 1)}
	e := newEnv(t, Config{}, func(_ *testEnv, d *envDeps) { d.Sub.Queue = q })
	anna := e.member(t, "anna@example-party.org")
	c := e.dial(t, e.sub, true)
	if err := c.Auth(sasl.NewPlainClient("", anna.Account.Login, anna.secret)); err != nil {
		t.Fatal(err)
	}
	go c.SendMail("anna@example-party.org", []string{"bob@elsewhere.example"},
		strings.NewReader(msg("anna@example-party.org", "bob@elsewhere.example", "blocked")))
	<-q.entered
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	e.srv.Shutdown(ctx)
	select {
	case err := <-q.returned:
		if err == nil {
			t.Error("the session's context ended without an error")
		}
	case <-time.After(30 * time.Second): // a bound on a hang, not a timing
		t.Fatal("a submission session blocked in the queue was not cancelled by Shutdown")
	}
}

// syncBuffer is a log sink written by several sessions at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogLinesCarryConnID reproduces the drift of issue 14 item 2: SMTP
// log lines carried no connection id (STYLE.md: each connection's lines
// carry one). An MX session's lines and a submission session's lines,
// before and after sign-in, all carry conn=.
func TestLogLinesCarryConnID(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	e := newEnvLog(t, Config{}, slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	anna := e.member(t, "anna@example-party.org")

	c, err := gosmtp.Dial(e.mx)
	if err != nil {
		t.Fatal(err)
	}
	c.Hello("bad\x01name") // refused: a log line of the MX session
	c.Close()

	s := e.dial(t, e.sub, true)
	if err := s.Auth(sasl.NewPlainClient("", anna.Account.Login, anna.secret)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.auth.Auth.Revoke(t.Context(), "admin@example-party.org", anna.Account.ID, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"smtp: invalid HELO/EHLO argument", "smtp: access revoked"} {
		var line string
		for range 500 { // the revocation is logged by a goroutine
			for l := range strings.Lines(logs.String()) {
				if strings.Contains(l, want) {
					line = l
				}
			}
			if line != "" {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if line == "" {
			t.Fatalf("no log line %q in:\n%s", want, logs.String())
		}
		if !strings.Contains(line, " conn=") {
			t.Errorf("log line without a connection id: %s", line)
		}
	}
}

// TestSubmissionAccountConnLimit: submission limits the connections signed
// in to one account as IMAP does (default 20; issue 14 item 2: only IMAP
// did). The 21st sign-in is answered 454 4.7.0; once a connection ends,
// its slot is free again.
func TestSubmissionAccountConnLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{MaxConnsPerAddr: 50})
	anna := e.member(t, "anna@example-party.org")
	signIn := func() error {
		c := e.dial(t, e.sub, true)
		return c.Auth(sasl.NewPlainClient("", anna.Account.Login, anna.secret))
	}
	first := e.dial(t, e.sub, true)
	if err := first.Auth(sasl.NewPlainClient("", anna.Account.Login, anna.secret)); err != nil {
		t.Fatal(err)
	}
	for i := range 19 {
		if err := signIn(); err != nil {
			t.Fatalf("sign-in %d within the limit: %v", i+2, err)
		}
	}
	if err := signIn(); code(err) != 454 {
		t.Fatalf("21st sign-in: %v, want 454", err)
	}
	if err := first.Quit(); err != nil {
		t.Fatal(err)
	}
	var err error
	for range 500 { // the server sees the QUIT a moment later
		if err = signIn(); code(err) != 454 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("sign-in after a connection ended: %v", err)
	}
}
