package queue

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/dns"
)

func TestDeliverSTARTTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.enqueue("alice@example-party.org", "bob@example.org", "carol@EXAMPLE.org")
	if items := e.list(); len(items) != 1 || items[0].ID != id || items[0].Domain != "example.org" || len(items[0].Rcpts) != 2 {
		t.Fatalf("List before delivery: %+v", items)
	}
	if n := e.blobFiles(); n != 1 {
		t.Errorf("%d blob files, want 1", n)
	}
	e.run()

	got := e.mx.received()
	if len(got) != 1 {
		t.Fatalf("MX received %d messages, want 1", len(got))
	}
	m := got[0]
	if !m.tls {
		t.Error("delivered without TLS")
	}
	if m.from != "alice@example-party.org" || !slices.Equal(m.rcpts, []string{"bob@example.org", "carol@EXAMPLE.org"}) {
		t.Errorf("envelope %q → %q", m.from, m.rcpts)
	}
	if m.data != testBody {
		t.Errorf("data differs:\n%q\nwant\n%q", m.data, testBody)
	}
	if items := e.list(); len(items) != 0 {
		t.Errorf("queue not empty after delivery: %+v", items)
	}
	if n := e.blobFiles(); n != 0 {
		t.Errorf("%d blob files after delivery, want 0", n)
	}
	if len(e.local.get("alice@example-party.org")) != 0 {
		t.Error("sender got a notification for a delivered message")
	}
}

func TestOneBlobPerMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{dns: func(m *dns.Mock) {
		m.MX["example.net"] = []*net.MX{{Host: "mx.example.org", Pref: 5}}
	}})
	id := e.enqueue("alice@example-party.org", "bob@example.org", "dan@example.net", "bob@example.org")
	items := e.list()
	if len(items) != 2 || items[0].ID != id || items[1].ID != id {
		t.Fatalf("List: %+v", items)
	}
	if n := e.blobFiles(); n != 1 {
		t.Errorf("%d blob files for a message to two domains, want 1", n)
	}
	// The same content again is a message of its own, with its own blob.
	e.enqueue("alice@example-party.org", "bob@example.org")
	if n := e.blobFiles(); n != 2 {
		t.Errorf("%d blob files for two messages, want 2", n)
	}
	e.run()
	if got := e.mx.received(); len(got) != 3 {
		t.Fatalf("MX received %d messages, want 3", len(got))
	}
	if n := e.blobFiles(); n != 0 {
		t.Errorf("%d blob files after delivery, want 0", n)
	}
}

func TestPerRecipientResults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.enqueue("alice@example-party.org", "ok@example.org", "busy@example.org", "bad@example.org")
	e.run()

	got := e.mx.received()
	if len(got) != 1 || !slices.Equal(got[0].rcpts, []string{"ok@example.org"}) {
		t.Fatalf("first attempt delivered %+v, want to ok@ only", got)
	}
	items := e.list()
	if len(items) != 1 || items[0].ID != id || !slices.Equal(items[0].Rcpts, []string{"busy@example.org"}) {
		t.Fatalf("queue after first attempt: %+v, want busy@ only", items)
	}
	it := items[0]
	if it.Attempts != 1 || !it.NextAttempt.Equal(e.clock.Now().Add(5*time.Minute)) || !strings.Contains(it.LastError, "450 4.2.1") {
		t.Errorf("item after first attempt: %+v", it)
	}

	// The 550 is bounced at once, to the local sender.
	dsns := e.local.get("alice@example-party.org")
	if len(dsns) != 1 {
		t.Fatalf("sender got %d notifications, want 1", len(dsns))
	}
	d := parseDSN(t, dsns[0])
	if len(d.perRcpt) != 1 {
		t.Fatalf("bounce lists %d recipients, want 1 (bad@)", len(d.perRcpt))
	}
	f := d.rcptFields(t, "bad@example.org")
	if f.Get("Action") != "failed" || f.Get("Status") != "5.1.1" ||
		!strings.HasPrefix(f.Get("Diagnostic-Code"), "smtp; 550 5.1.1 no such user here") ||
		f.Get("Remote-MTA") != "dns; mx.example.org" {
		t.Errorf("recipient fields: %v", f)
	}
	if d.perMessage.Get("Reporting-MTA") != "dns; mail.example-party.org" || d.perMessage.Get("Arrival-Date") == "" {
		t.Errorf("per-message fields: %v", d.perMessage)
	}
	if !strings.Contains(d.headers, "Subject: Leaflets for Saturday") || strings.Contains(d.headers, "the dots must survive") {
		t.Errorf("headers part: %q", d.headers)
	}
	if d.header.Get("To") != "<alice@example-party.org>" || !strings.Contains(d.header.Get("From"), "postmaster@example-party.org") ||
		d.header.Get("Auto-Submitted") != "auto-replied" {
		t.Errorf("DSN header: %v", d.header)
	}
	if !strings.Contains(d.human, "bad@example.org") || strings.Contains(d.human, "busy@example.org") {
		t.Errorf("human part: %q", d.human)
	}

	// Only busy@ is tried again, and gets through.
	e.mx.busyOK.Store(true)
	e.run() // not due yet
	if n := len(e.mx.received()); n != 1 {
		t.Fatalf("an attempt before it was due: %d messages", n)
	}
	e.advanceToNext()
	e.run()
	got = e.mx.received()
	if len(got) != 2 || !slices.Equal(got[1].rcpts, []string{"busy@example.org"}) {
		t.Fatalf("second attempt delivered %+v, want to busy@ only", got)
	}
	if items := e.list(); len(items) != 0 {
		t.Errorf("queue not empty: %+v", items)
	}
	if n := len(e.local.get("alice@example-party.org")); n != 1 {
		t.Errorf("sender got %d notifications, want still 1", n)
	}
	if n := e.blobFiles(); n != 0 {
		t.Errorf("%d blob files left", n)
	}
}

func TestTemporaryFailureThenRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.mx.tempFail.Store(true)
	id := e.enqueue("alice@example-party.org", "bob@example.org")
	start := e.clock.Now()

	// Growing delays while it keeps failing.
	wantDelays := []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute}
	for i, want := range wantDelays {
		e.run()
		items := e.list()
		if len(items) != 1 || items[0].Attempts != i+1 {
			t.Fatalf("after attempt %d: %+v", i+1, items)
		}
		if got := items[0].NextAttempt.Sub(e.clock.Now()); got != want {
			t.Errorf("delay after attempt %d: %v, want %v", i+1, got, want)
		}
		if !strings.Contains(items[0].LastError, "451 4.3.0") {
			t.Errorf("LastError %q", items[0].LastError)
		}
		e.advanceToNext()
	}
	if len(e.mx.received()) != 0 {
		t.Fatal("delivered while failing")
	}

	// Retry makes it due now, whatever the clock says.
	e.clock.Set(start.Add(40 * time.Minute))
	e.run() // the 4th attempt was due at 35 min: it fails, next at 40+40
	e.mx.tempFail.Store(false)
	e.run()
	if len(e.mx.received()) != 0 {
		t.Fatal("delivered before it was due")
	}
	if err := e.q.Retry(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if items := e.list(); !items[0].NextAttempt.Equal(e.clock.Now()) {
		t.Errorf("NextAttempt after Retry %v, want now %v", items[0].NextAttempt, e.clock.Now())
	}
	e.run()
	if got := e.mx.received(); len(got) != 1 {
		t.Fatalf("after Retry: %d messages, want 1", len(got))
	}
	if items := e.list(); len(items) != 0 {
		t.Errorf("queue not empty: %+v", items)
	}
	if n := len(e.local.get("alice@example-party.org")); n != 0 {
		t.Errorf("sender got %d notifications, want 0 (no delay notice before 4 h)", n)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	want := []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute,
		time.Hour, 2 * time.Hour, 4 * time.Hour, 4 * time.Hour, 4 * time.Hour}
	for i, w := range want {
		if got := backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
}

func TestGiveUpAfterMaxAge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{cfg: func(c *Config) {
		c.MaxAge = 3 * time.Hour
		c.DelayNotice = 24 * time.Hour
	}})
	e.mx.tempFail.Store(true)
	e.enqueue("alice@example-party.org", "bob@example.org", "bad@example.org")
	start := e.clock.Now()
	attempts := 0
	for len(e.list()) > 0 {
		if attempts > 20 {
			t.Fatal("still queued after 20 attempts")
		}
		e.run()
		attempts++
		if items := e.list(); len(items) > 0 {
			if items[0].NextAttempt.After(start.Add(3 * time.Hour)) {
				t.Errorf("next attempt %v after MaxAge", items[0].NextAttempt.Sub(start))
			}
			e.advanceToNext()
		}
	}
	// 0, 5, 15, 35, 75 min, 2h15 and 3h (MaxAge: the last, then bounce).
	if attempts != 7 {
		t.Errorf("%d attempts, want 7", attempts)
	}
	if !e.clock.Now().Equal(start.Add(3 * time.Hour)) {
		t.Errorf("gave up at %v, want 3h", e.clock.Now().Sub(start))
	}
	dsns := e.local.get("alice@example-party.org")
	if len(dsns) != 1 {
		t.Fatalf("%d notifications, want 1 bounce", len(dsns))
	}
	d := parseDSN(t, dsns[0])
	for _, r := range []string{"bob@example.org", "bad@example.org"} {
		f := d.rcptFields(t, r)
		if f.Get("Action") != "failed" || f.Get("Status") != "4.3.0" || !strings.Contains(f.Get("Diagnostic-Code"), "451 4.3.0") {
			t.Errorf("%s: %v", r, f)
		}
	}
	if n := e.blobFiles(); n != 0 {
		t.Errorf("%d blob files left", n)
	}
}

func TestDelayNotice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{cfg: func(c *Config) {
		c.DelayNotice = 30 * time.Minute
	}})
	e.mx.tempFail.Store(true)
	e.enqueue("alice@example-party.org", "bob@example.org")
	// Attempts at 0, 5, 15, 35 (notice), 75, 135 min.
	for i := 0; i < 6; i++ {
		e.run()
		items := e.list()
		n := len(e.local.get("alice@example-party.org"))
		notified := i >= 3
		if want := map[bool]int{false: 0, true: 1}[notified]; n != want {
			t.Fatalf("after attempt %d: %d notifications, want %d", i+1, n, want)
		}
		if items[0].DelayNotified != notified {
			t.Errorf("after attempt %d: DelayNotified %v", i+1, items[0].DelayNotified)
		}
		e.advanceToNext()
	}
	d := parseDSN(t, e.local.get("alice@example-party.org")[0])
	f := d.rcptFields(t, "bob@example.org")
	if f.Get("Action") != "delayed" || f.Get("Status") != "4.3.0" || f.Get("Will-Retry-Until") == "" {
		t.Errorf("delay notice fields: %v", f)
	}
	if !strings.Contains(d.header.Get("Subject"), "Delayed") || !strings.Contains(d.human, "keep trying") {
		t.Errorf("delay notice: %v %q", d.header, d.human)
	}
	// Delivered at last: nothing more for the sender.
	e.mx.tempFail.Store(false)
	e.run()
	if len(e.mx.received()) != 1 || len(e.local.get("alice@example-party.org")) != 1 {
		t.Errorf("after delivery: %d received, %d notifications", len(e.mx.received()), len(e.local.get("alice@example-party.org")))
	}
}

func TestNullMX(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{dns: func(m *dns.Mock) {
		m.MX["nomail.example"] = []*net.MX{{Host: ".", Pref: 0}}
		m.IP["nomail.example"] = ips("127.0.0.1") // must not be used
	}})
	e.enqueue("alice@example-party.org", "bob@nomail.example")
	e.run()
	if e.mx.conns.Load() != 0 {
		t.Error("connected despite the null MX")
	}
	if items := e.list(); len(items) != 0 {
		t.Errorf("still queued: %+v", items)
	}
	dsns := e.local.get("alice@example-party.org")
	if len(dsns) != 1 {
		t.Fatalf("%d notifications, want 1", len(dsns))
	}
	f := parseDSN(t, dsns[0]).rcptFields(t, "bob@nomail.example")
	if f.Get("Action") != "failed" || f.Get("Status") != "5.1.10" || !strings.Contains(f.Get("Diagnostic-Code"), "null MX") {
		t.Errorf("fields: %v", f)
	}
}

func TestImplicitMX(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{
		certFor: []string{"nomx.example"},
		dns: func(m *dns.Mock) {
			m.IP["nomx.example"] = ips("127.0.0.1")
		}})
	e.enqueue("alice@example-party.org", "bob@nomx.example", "carol@nowhere.example")
	e.run()
	if got := e.mx.received(); len(got) != 1 || got[0].rcpts[0] != "bob@nomx.example" || !got[0].tls {
		t.Fatalf("received %+v", got)
	}
	// A domain with neither MX nor address: bounced at once.
	dsns := e.local.get("alice@example-party.org")
	if len(dsns) != 1 {
		t.Fatalf("%d notifications, want 1", len(dsns))
	}
	f := parseDSN(t, dsns[0]).rcptFields(t, "carol@nowhere.example")
	if f.Get("Status") != "5.1.2" {
		t.Errorf("fields: %v", f)
	}
	if items := e.list(); len(items) != 0 {
		t.Errorf("still queued: %+v", items)
	}
}

func TestMXPreference(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{dns: func(m *dns.Mock) {
		// The preferred MX is down (nothing listens on 127.0.0.2 at the
		// port); the second takes it.
		m.MX["example.org"] = []*net.MX{{Host: "backup.example.org", Pref: 20}, {Host: "down.example.org", Pref: 10}}
		m.IP["down.example.org"] = ips("127.0.0.2")
		m.IP["backup.example.org"] = ips("127.0.0.1")
	}})
	e.enqueue("alice@example-party.org", "bob@example.org")
	e.run()
	if got := e.mx.received(); len(got) != 1 {
		t.Fatalf("received %d, want 1", len(got))
	}
}

func TestDNSFailureIsTemporary(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{dns: func(m *dns.Mock) {
		m.Fail = map[string]error{"broken.example": errors.New("SERVFAIL")}
	}})
	e.enqueue("alice@example-party.org", "bob@broken.example")
	e.run()
	items := e.list()
	if len(items) != 1 || items[0].Attempts != 1 || !strings.Contains(items[0].LastError, "SERVFAIL") {
		t.Fatalf("items %+v", items)
	}
	if n := len(e.local.get("alice@example-party.org")); n != 0 {
		t.Errorf("%d notifications, want 0", n)
	}
}

func TestRemoteSenderBounceQueued(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	// A forwarded message: the sender is remote, so the bounce goes out
	// through the queue, with the null reverse-path.
	e.enqueue("carol@other.example", "bad@example.org")
	e.run()
	items := e.list()
	if len(items) != 1 || items[0].From != "" || items[0].Domain != "other.example" || !slices.Equal(items[0].Rcpts, []string{"carol@other.example"}) {
		t.Fatalf("queue after the bounce: %+v", items)
	}
	e.run()
	got := e.mx.received()
	if len(got) != 1 || got[0].from != "" || !slices.Equal(got[0].rcpts, []string{"carol@other.example"}) {
		t.Fatalf("received %+v", got)
	}
	f := parseDSN(t, got[0].data).rcptFields(t, "bad@example.org")
	if f.Get("Status") != "5.1.1" {
		t.Errorf("fields %v", f)
	}
	if len(e.list()) != 0 || e.blobFiles() != 0 {
		t.Error("queue or blobs not empty")
	}
}

func TestNoBounceOfBounce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{cfg: func(c *Config) { c.MaxAge = time.Hour }})
	// A notification (null reverse-path) to a recipient that refuses it,
	// and one that never gets through.
	e.enqueue("", "bad@example.org")
	e.run()
	if items := e.list(); len(items) != 0 {
		t.Fatalf("queue after a failed notification: %+v", items)
	}
	e.mx.tempFail.Store(true)
	e.enqueue("", "bob@example.org")
	for range 10 {
		e.run()
		if len(e.list()) == 0 {
			break
		}
		e.advanceToNext()
	}
	if items := e.list(); len(items) != 0 {
		t.Fatalf("still queued after MaxAge: %+v", items)
	}
	if n := len(e.mx.received()); n != 0 {
		t.Errorf("%d messages sent, want none", n)
	}
	if e.blobFiles() != 0 {
		t.Error("blobs left")
	}
}

func TestDurability(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.enqueue("alice@example-party.org", "bob@example.org")
	// A new process: a fresh Queue on the same database and blobs, run as
	// the server runs it.
	q2 := e.newQueue()
	items, err := q2.List(t.Context())
	if err != nil || len(items) != 1 || items[0].ID != id {
		t.Fatalf("fresh queue lists %+v, %v", items, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		q2.Run(ctx)
		close(done)
	}()
	waitFor(t, func() bool { return len(e.mx.received()) == 1 })
	// Run also wakes on Enqueue.
	if _, err := q2.Enqueue(t.Context(), "alice@example-party.org", []string{"dan@example.org"}, strings.NewReader(testBody)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(e.mx.received()) == 2 })
	waitFor(t, func() bool { items, _ := q2.List(t.Context()); return len(items) == 0 })
	cancel()
	<-done
}

// waitFor waits, up to 10 s, for cond.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestListRetryDrop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{dns: func(m *dns.Mock) {
		m.MX["example.net"] = []*net.MX{{Host: "mx.example.org", Pref: 5}}
	}})
	e.mx.tempFail.Store(true)
	id1 := e.enqueue("alice@example-party.org", "bob@example.org", "dan@example.net")
	id2 := e.enqueue("", "erin@example.org")
	items := e.list()
	if len(items) != 3 {
		t.Fatalf("%d items, want 3: %+v", len(items), items)
	}
	it := items[0]
	if it.ID != id1 || it.Domain != "example.net" || it.From != "alice@example-party.org" || it.Size != int64(len(testBody)) ||
		!it.Created.Equal(e.clock.Now()) || !it.NextAttempt.Equal(e.clock.Now()) || it.Attempts != 0 || it.LastError != "" {
		t.Errorf("item %+v", it)
	}
	if items[1].ID != id1 || items[1].Domain != "example.org" || items[2].ID != id2 || items[2].From != "" {
		t.Errorf("items %+v", items)
	}

	e.run()
	if err := e.q.Retry(t.Context(), id1); err != nil {
		t.Fatal(err)
	}
	for _, it := range e.list() {
		due := !it.NextAttempt.After(e.clock.Now())
		if due != (it.ID == id1) {
			t.Errorf("after Retry(%d): %+v", id1, it)
		}
	}
	if n := e.blobFiles(); n != 2 {
		t.Fatalf("%d blob files, want 2", n)
	}
	if err := e.q.Drop(t.Context(), id1); err != nil {
		t.Fatal(err)
	}
	if items := e.list(); len(items) != 1 || items[0].ID != id2 {
		t.Errorf("after Drop: %+v", items)
	}
	if n := e.blobFiles(); n != 1 {
		t.Errorf("%d blob files after Drop, want 1", n)
	}
	if n := len(e.local.get("alice@example-party.org")); n != 0 {
		t.Errorf("Drop notified the sender (%d)", n)
	}
	for _, err := range []error{e.q.Drop(t.Context(), id1), e.q.Retry(t.Context(), id1), e.q.Retry(t.Context(), 999)} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("on a missing message: %v, want ErrNotFound", err)
		}
	}
}

func TestDropWithoutBlobStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.enqueue("alice@example-party.org", "bob@example.org")
	// The command line tool's queue: no blob store.
	cli := New(e.cfg, e.db, nil, nil)
	if err := cli.Drop(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Enqueue(t.Context(), "a@example-party.org", []string{"b@example.org"}, strings.NewReader("x")); !errors.Is(err, ErrNoBlobs) {
		t.Errorf("Enqueue without blobs: %v", err)
	}
	if n := e.blobFiles(); n != 1 {
		t.Fatalf("%d blob files, want 1 until the server empties the trash", n)
	}
	// The server's Run empties the trash.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { e.q.Run(ctx); close(done) }()
	waitFor(t, func() bool { return e.blobFiles() == 0 })
	cancel()
	<-done
}

func TestEnqueueRefuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	tests := []struct {
		from  string
		rcpts []string
	}{
		{"alice@example-party.org", nil},
		{"alice", []string{"bob@example.org"}},
		{"alice@example-party.org", []string{"bob"}},
		{"alice@example-party.org", []string{"bob@"}},
		{"alice@example-party.org", []string{"@example.org"}},
		{"alice@example-party.org", []string{"bob@example.org\r\nRCPT TO:<x@y>"}},
		{"alice@example-party.org", []string{"<bob@example.org>"}},
		{"alice@example-party.org", []string{strings.Repeat("a", 65) + "@example.org"}},
		{"alice@example-party.org", []string{"bob@exa mple.org"}},
	}
	for _, tt := range tests {
		if _, err := e.q.Enqueue(t.Context(), tt.from, tt.rcpts, strings.NewReader(testBody)); !errors.Is(err, ErrBadAddress) {
			t.Errorf("Enqueue(%q, %q): %v, want ErrBadAddress", tt.from, tt.rcpts, err)
		}
	}
	if items := e.list(); len(items) != 0 {
		t.Errorf("queued: %+v", items)
	}
	if n := e.blobFiles(); n != 0 {
		t.Errorf("%d blob files", n)
	}
}

func TestEnqueueTooLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.q.maxSize = 1000
	r := strings.NewReader(strings.Repeat("x", 1001))
	if _, err := e.q.Enqueue(t.Context(), "alice@example-party.org", []string{"bob@example.org"}, r); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Enqueue: %v, want ErrTooLarge", err)
	}
	if len(e.list()) != 0 || e.blobFiles() != 0 {
		t.Error("something was kept")
	}
}

func TestServerSizeLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	// The test MX takes 1 MiB at most and says so in EHLO (RFC 1870).
	if _, err := e.q.Enqueue(t.Context(), "alice@example-party.org", []string{"bob@example.org"},
		strings.NewReader(testBody+strings.Repeat("x", 2<<20))); err != nil {
		t.Fatal(err)
	}
	e.run()
	dsns := e.local.get("alice@example-party.org")
	if len(dsns) != 1 {
		t.Fatalf("%d notifications, want 1", len(dsns))
	}
	if f := parseDSN(t, dsns[0]).rcptFields(t, "bob@example.org"); f.Get("Status") != "5.3.4" {
		t.Errorf("fields %v", f)
	}
}

func TestOpportunisticTLSUnverified(t *testing.T) {
	t.Parallel()
	// A certificate for another name, from a CA the queue does not know:
	// without MTA-STS, TLS is used anyway.
	e := newEnv(t, envOptions{certFor: []string{"someone-else.example"}})
	e.cfg.TLSConfig = nil
	e.q = e.newQueue()
	e.enqueue("alice@example-party.org", "bob@example.org")
	e.run()
	if got := e.mx.received(); len(got) != 1 || !got[0].tls {
		t.Fatalf("received %+v, want 1 over TLS", got)
	}
}

func TestNoSTARTTLSPlain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noTLS: true})
	e.enqueue("alice@example-party.org", "bob@example.org")
	e.run()
	if got := e.mx.received(); len(got) != 1 || got[0].tls {
		t.Fatalf("received %+v, want 1 in plain text", got)
	}
}

func TestSMTPUTF8Needed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.enqueue("alice@example-party.org", "jörg@example.org")
	e.run()
	dsns := e.local.get("alice@example-party.org")
	if len(dsns) != 1 || !strings.Contains(dsns[0], "5.6.7") || !strings.Contains(dsns[0], "message/global-delivery-status") {
		t.Fatalf("notifications %q", dsns)
	}
}

func TestDefaultDialerRefusesLoopback(t *testing.T) {
	t.Parallel()
	dial := publicDialer(time.Second)
	for _, addr := range []string{"127.0.0.1:25", "[::1]:25", "0.0.0.0:25", "[::]:25", "224.0.0.1:25", "localhost:25"} {
		if c, err := dial(t.Context(), "tcp", addr); err == nil {
			c.Close()
			t.Errorf("dialled %s", addr)
		}
	}
}

func TestReadHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"A: 1\r\nB: 2\r\n\r\nbody", "A: 1\r\nB: 2\r\n"},
		{"A: 1\nB: 2\n\nbody", "A: 1\r\nB: 2\r\n"},
		{"A: 1\r\n", "A: 1\r\n"},
		{"A: 1\r\nB: unterminated", "A: 1\r\n"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := string(readHeaders(strings.NewReader(tt.in), 1000)); got != tt.want {
			t.Errorf("readHeaders(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	long := strings.Repeat("X-Long: "+strings.Repeat("y", 100)+"\r\n", 100)
	if got := readHeaders(strings.NewReader(long), 1000); len(got) > 1000 || !strings.HasSuffix(string(got), "\r\n") {
		t.Errorf("limited header: %d bytes", len(got))
	}
}

// stallListener accepts connections and says nothing.
func stallListener(t *testing.T) (addr string, accepted chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = make(chan struct{}, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			accepted <- struct{}{}
		}
	}()
	return ln.Addr().String(), accepted
}

// stallEnv sends stall.example's mail to a server that never answers.
func stallEnv(t *testing.T) (*env, chan struct{}) {
	addr, accepted := stallListener(t)
	e := newEnv(t, envOptions{
		dns: func(m *dns.Mock) {
			m.MX["stall.example"] = []*net.MX{{Host: "mx.stall.example", Pref: 10}}
			m.IP["mx.stall.example"] = ips("127.0.0.2")
		},
		cfg: func(c *Config) {
			c.Dialer = func(ctx context.Context, network, a string) (net.Conn, error) {
				if strings.HasPrefix(a, "127.0.0.2:") {
					a = addr
				}
				return loopbackDialer(ctx, network, a)
			}
		},
	})
	return e, accepted
}

func TestDeadlines(t *testing.T) {
	t.Parallel()
	e, _ := stallEnv(t)
	e.q.timeouts.command = 200 * time.Millisecond
	e.enqueue("alice@example-party.org", "bob@stall.example")
	// Every other timer is minutes away: only the command timeout can end
	// the wait for the greeting while the guard below runs.
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.q.runOnce(t.Context())
	}()
	t.Cleanup(func() { <-done }) // t.Context ends first, then the attempt, then the store
	select {
	case <-done:
		t.Logf("attempt ended %v after it started (command timeout 200 ms)", time.Since(start))
	case <-time.After(10 * time.Second): // a hang, not a timing assertion
		t.Fatal("the attempt still waits for a greeting that never comes")
	}
	items := e.list()
	if len(items) != 1 || items[0].Attempts != 1 || !strings.Contains(items[0].LastError, "timeout") {
		t.Fatalf("items %+v, want a temporary failure with a timeout", items)
	}
}

func TestShutdownInterruptsAttempt(t *testing.T) {
	t.Parallel()
	e, accepted := stallEnv(t)
	e.enqueue("alice@example-party.org", "bob@stall.example")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { e.q.Run(ctx); close(done) }()
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("no connection")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	// Interrupted by shutdown: no attempt counted, still due.
	items := e.list()
	if len(items) != 1 || items[0].Attempts != 0 || items[0].NextAttempt.After(e.clock.Now()) {
		t.Fatalf("items %+v", items)
	}
}

func TestHold(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.enqueue("alice@example-party.org", "bob@example.org")
	var did int64
	if err := e.db.QueryRowContext(t.Context(), `SELECT id FROM queue_deliveries`).Scan(&did); err != nil {
		t.Fatal(err)
	}
	// As after a failure to record an attempt.
	e.q.hold(did)
	e.run()
	if n := len(e.mx.received()); n != 0 {
		t.Fatal("a held delivery was attempted")
	}
	e.clock.Advance(5 * time.Minute)
	e.run()
	if n := len(e.mx.received()); n != 1 {
		t.Fatalf("received %d after the hold, want 1", n)
	}
	e.q.mu.Lock()
	defer e.q.mu.Unlock()
	if len(e.q.held) != 0 {
		t.Errorf("held: %v", e.q.held)
	}
}

// TestDropHeld checks that the body of a dropped message stays while a
// backup holds blobs and goes at the next emptying of the trash after.
func TestDropHeld(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.mx.tempFail.Store(true)
	id := e.enqueue("alice@example-party.org", "bob@example.org")
	release, err := e.db.HoldBlobs(t.Context(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.q.Drop(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	e.q.emptyTrash(t.Context())
	if n := e.blobFiles(); n != 1 {
		t.Fatalf("%d blob files after Drop under a hold, want 1", n)
	}
	if err := release(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.q.emptyTrash(t.Context())
	if n := e.blobFiles(); n != 0 {
		t.Errorf("%d blob files after the hold, want 0", n)
	}
}
