package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/config"
)

// hangGuard only turns a hang into a failure; no assertion is timed.
const hangGuard = 30 * time.Second

// ordering numbers events, the clients' and the server's second shutdown
// phase, in the order they happen.
type ordering struct {
	seq    atomic.Int64
	phase2 atomic.Int64 // the number of "shutdown phase 2", once logged
}

func (o *ordering) next() int64 { return o.seq.Add(1) }

// orderLog is a slog handler that numbers the server's "shutdown phase 2"
// line in o.
type orderLog struct {
	slog.Handler
	o *ordering
}

func (h orderLog) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "shutdown phase 2") {
		h.o.phase2.Store(h.o.next())
	}
	return h.Handler.Handle(ctx, r)
}

func (h orderLog) WithAttrs(as []slog.Attr) slog.Handler {
	return orderLog{h.Handler.WithAttrs(as), h.o}
}

func (h orderLog) WithGroup(g string) slog.Handler { return orderLog{h.Handler.WithGroup(g), h.o} }

// startOrdered starts the --dev server in dir, numbering its second
// shutdown phase in o.
func startOrdered(t *testing.T, dir string, o *ordering) *Server {
	t.Helper()
	cfg := config.Dev(dir)
	cfg.Listen = FreeListen(cfg.Listen)
	log := slog.New(orderLog{slog.NewTextHandler(t.Output(), nil), o})
	srv, err := start(t.Context(), cfg, Deps{Dev: true, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// lineConn is a raw protocol client: what it reads, line by line.
type lineConn struct {
	t    *testing.T
	name string
	c    net.Conn
	r    *bufio.Reader
}

func dialLines(t *testing.T, name, addr string, tlsCfg *tls.Config) *lineConn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, tlsCfg)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(hangGuard))
	return &lineConn{t: t, name: name, c: c, r: bufio.NewReader(c)}
}

// until reads lines until one starts with prefix and returns it.
func (l *lineConn) until(prefix string) (string, error) {
	for {
		line, err := l.r.ReadString('\n')
		if err != nil {
			return line, fmt.Errorf("%s: waiting for %q: %w", l.name, prefix, err)
		}
		if strings.HasPrefix(line, prefix) {
			return line, nil
		}
	}
}

func (l *lineConn) must(prefix string) {
	l.t.Helper()
	if _, err := l.until(prefix); err != nil {
		l.t.Fatal(err)
	}
}

func (l *lineConn) send(s string) {
	l.t.Helper()
	if _, err := io.WriteString(l.c, s); err != nil {
		l.t.Fatalf("%s: %v", l.name, err)
	}
}

// imapIdle signs in as a, selects INBOX and starts IDLE (RFC 2177).
func imapIdle(t *testing.T, srv *Server, tlsCfg *tls.Config, a mailAccount, name string) *lineConn {
	l := dialLines(t, name, srv.addrs["imaps"], tlsCfg)
	l.must("* OK")
	l.send(fmt.Sprintf("a LOGIN %q %q\r\n", a.login, a.secret))
	l.must("a OK")
	l.send("b SELECT INBOX\r\n")
	l.must("b OK")
	l.send("c IDLE\r\n")
	l.must("+ ")
	return l
}

// smtpSubmit signs in to submissions (RFC 8314) as a.
func smtpSubmit(t *testing.T, srv *Server, tlsCfg *tls.Config, a mailAccount, name string) *lineConn {
	l := dialLines(t, name, srv.addrs["submissions"], tlsCfg)
	l.must("220 ")
	l.send("EHLO client.example\r\n")
	l.must("250 ")
	l.send("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+a.login+"\x00"+a.secret)) + "\r\n")
	l.must("235 ")
	return l
}

// shutdownMessage is a message with Message-ID id: its header, then the
// rest, ending with the end of DATA.
func shutdownMessage(a mailAccount, id string) (head, rest string) {
	head = "From: " + a.login + "\r\nTo: " + a.login + "\r\nSubject: before the shutdown\r\nMessage-ID: <" + id + ">\r\n\r\n"
	return head, strings.Repeat("a line of the body, sent in full.\r\n", 200) + ".\r\n"
}

// startData begins a message: envelope, DATA, and its header.
func (l *lineConn) startData(a mailAccount, id string) (rest string) {
	l.t.Helper()
	l.send("MAIL FROM:<" + a.login + ">\r\nRCPT TO:<" + a.login + ">\r\nDATA\r\n")
	l.must("250 ")
	l.must("250 ")
	l.must("354 ")
	head, rest := shutdownMessage(a, id)
	l.send(head)
	return rest
}

// uploadsBeingWritten returns the files of dir's file blob store that
// the server (in this process) is writing, with some content: named
// temporary files under tmp/, or files without a name (O_TMPFILE, which
// the store uses where the file system has it) that it holds open, seen
// through /proc/self/fd.
func uploadsBeingWritten(dir string) []string {
	root := filepath.Join(dir, "blobs", "files")
	var out []string
	tmp, _ := filepath.Glob(filepath.Join(root, "tmp", "*", "*"))
	for _, f := range tmp {
		if fi, err := os.Stat(f); err == nil && fi.Size() > 0 {
			out = append(out, f)
		}
	}
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		p := filepath.Join("/proc/self/fd", fd.Name())
		target, err := os.Readlink(p)
		if err != nil || !strings.HasPrefix(target, root+"/") || !strings.HasSuffix(target, " (deleted)") || !strings.Contains(filepath.Base(target), "#") {
			continue
		}
		if fi, err := os.Stat(p); err == nil && fi.Size() > 0 {
			out = append(out, target)
		}
	}
	return out
}

// davUpload is a WebDAV PUT whose body is fed by the test.
type davUpload struct {
	path   string
	feed   *io.PipeWriter
	status chan int // the response status, or -1 on an error
}

// startUpload starts a PUT of path on its own connection and feeds it
// first.
func startUpload(t *testing.T, srv *Server, dir, secret, path string, first []byte) *davUpload {
	body, feed := io.Pipe()
	u := &davUpload{path: path, feed: feed, status: make(chan int, 1)}
	req, err := http.NewRequestWithContext(t.Context(), "PUT", srv.url+"/dav/Home/"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("vol@localhost", secret)
	client := devClient(t, dir) // a transport, and so a connection, of its own
	go func() {
		res, err := client.Do(req)
		if err != nil {
			t.Logf("upload %s: %v", path, err)
			u.status <- -1
			return
		}
		res.Body.Close()
		u.status <- res.StatusCode
	}()
	if _, err := feed.Write(first); err != nil {
		t.Fatal(err)
	}
	return u
}

// waitUploadsReceived waits until the server writes n uploads' bodies
// (the blob store's temporary files), so that they are in flight.
func waitUploadsReceived(t *testing.T, dir string, n int) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		got := len(uploadsBeingWritten(dir))
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server is writing %d uploads, want %d", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestShutdownUnderLoad shuts the server down with IMAP sessions in IDLE,
// SMTP sessions mid-DATA and WebDAV uploads in flight. In phase 1 every
// IMAP client reads BYE, every SMTP client 421, the listeners refuse new
// connections, and the uploads finish with 201; all of it before phase 2
// (ordering, not timing). After a restart, every message that got 250 and
// every file that got 201 is there, and no message cut mid-DATA is.
func TestShutdownUnderLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var o ordering
	srv := startOrdered(t, dir, &o)
	tlsCfg := devTLS(t, dir)
	a := newMailAccount(t, srv, "load@localhost")
	secret := newFilesAccount(t, srv, "vol@localhost") // davDo's member

	var imaps []*lineConn
	for i := range 3 {
		imaps = append(imaps, imapIdle(t, srv, tlsCfg, a, fmt.Sprintf("imap %d", i)))
	}
	acked := map[string]bool{}
	var smtps []*lineConn
	var rests []string
	for i := range 3 {
		l := smtpSubmit(t, srv, tlsCfg, a, fmt.Sprintf("smtp %d", i))
		for k := range 2 {
			id := fmt.Sprintf("acked.%d.%d@localhost", i, k)
			l.send(l.startData(a, id))
			l.must("250 ")
			acked[id] = true
		}
		rests = append(rests, l.startData(a, fmt.Sprintf("cut.%d@localhost", i)))
		smtps = append(smtps, l)
	}
	part := bytes.Repeat([]byte("campaign plan, page after page. "), 4096)
	var uploads []*davUpload
	for i := range 3 {
		uploads = append(uploads, startUpload(t, srv, dir, secret, fmt.Sprintf("plan-%d.txt", i), part))
	}
	waitUploadsReceived(t, dir, len(uploads))

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		shutdown <- srv.Shutdown(ctx)
	}()
	got := runShutdownClients(t, &o, imaps, smtps, rests, uploads, part)
	if err := <-shutdown; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	phase2 := o.phase2.Load()
	if phase2 == 0 {
		t.Fatal("the server logged no second phase")
	}
	for what, at := range got {
		if at > phase2 {
			t.Errorf("%s happened after phase 2 began (event %d, phase 2 at %d)", what, at, phase2)
		}
	}
	checkAfterShutdown(t, dir, a, secret, acked, uploads, part)
}

// runShutdownClients plays the clients once Shutdown was called: each
// reads what it is told, the SMTP clients finish their message unaware
// and leave, the uploads send the rest of their file. It returns when
// each saw what it waited for, by event number.
func runShutdownClients(t *testing.T, o *ordering, imaps, smtps []*lineConn, rests []string, uploads []*davUpload, part []byte) map[string]int64 {
	var (
		mu  sync.Mutex
		got = map[string]int64{}
		wg  sync.WaitGroup
	)
	saw := func(what string) {
		mu.Lock()
		got[what] = o.next()
		mu.Unlock()
	}
	for _, l := range imaps {
		wg.Go(func() {
			if line, err := l.until("* BYE"); err != nil { // updates (EXISTS) may come first
				t.Errorf("%s in IDLE read %q, %v; want * BYE", l.name, line, err)
				return
			}
			saw(l.name + " BYE")
			if _, err := net.Dial("tcp", l.c.RemoteAddr().String()); err == nil {
				t.Errorf("the IMAPS listener accepts a connection after BYE")
			}
		})
	}
	for i, l := range smtps {
		wg.Go(func() {
			if line, err := l.until(""); err != nil || !strings.HasPrefix(line, "421 4.3.2 ") {
				t.Errorf("%s mid-DATA read %q, %v; want 421 4.3.2", l.name, line, err)
				return
			}
			saw(l.name + " 421")
			io.WriteString(l.c, rests[i]) // a client busy sending reads the 421 only afterwards
			if _, err := net.Dial("tcp", l.c.RemoteAddr().String()); err == nil {
				t.Errorf("the submissions listener accepts a connection after 421")
			}
			l.c.Close()
		})
	}
	// The uploads go on once phase 1 has begun: the first BYE or 421 says so.
	for range 10 * hangGuard / time.Second {
		if o.seq.Load() > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, u := range uploads {
		wg.Go(func() {
			u.feed.Write(part)
			u.feed.Close()
			if st := <-u.status; st != http.StatusCreated {
				t.Errorf("upload %s in flight at the shutdown: status %d, want 201", u.path, st)
				return
			}
			saw("upload " + u.path + " 201")
		})
	}
	wg.Wait()
	return got
}

// checkAfterShutdown restarts the server on dir: every message that got
// 250 is in the INBOX once, no message cut mid-DATA is, and every upload
// that got 201 reads back whole.
func checkAfterShutdown(t *testing.T, dir string, a mailAccount, secret string, acked map[string]bool, uploads []*davUpload, part []byte) {
	t.Helper()
	srv, _ := startDev(t, dir)
	defer srv.Shutdown(context.Background())
	ctx := t.Context()
	mb, err := srv.mail.Mailbox(ctx, a.id, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	uids, err := srv.mail.UIDs(ctx, mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := srv.mail.Messages(ctx, mb.ID, uids)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{}
	for _, m := range msgs {
		if m.Envelope != nil {
			stored[m.Envelope.MessageID]++
		}
	}
	for id := range acked {
		if stored[id] != 1 {
			t.Errorf("message %s got 250; %d copies after the restart, want 1", id, stored[id])
		}
	}
	for id, n := range stored {
		if strings.HasPrefix(id, "cut.") {
			t.Errorf("message %s was cut mid-DATA by the shutdown, yet %d copies are stored", id, n)
		}
	}
	for _, u := range uploads {
		b := davDo(t, srv, dir, "GET", "/dav/Home/"+u.path, secret, nil, http.StatusOK)
		if want := append(append([]byte{}, part...), part...); !bytes.Equal(b, want) {
			t.Errorf("%s after the restart: %d bytes, want %d", u.path, len(b), len(want))
		}
	}
}

// TestShutdownForcesWhatIsLeft: an SMTP client that stays after its 421
// and an upload that never ends hold phase 1 until its time is up; then
// phase 2 closes both (go-smtp's Close after Shutdown did nothing before
// patch 3), in that order: the 421 before phase 2, the closing after it.
// The unfinished file is nowhere after a restart.
func TestShutdownForcesWhatIsLeft(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var o ordering
	srv := startOrdered(t, dir, &o)
	secret := newFilesAccount(t, srv, "vol@localhost")
	c, err := net.Dial("tcp", srv.addrs["submission"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hangGuard))
	stays := &lineConn{t: t, name: "submission", c: c, r: bufio.NewReader(c)}
	stays.must("220 ")
	stays.send("EHLO client.example\r\n")
	stays.must("250 ")
	upload := startUpload(t, srv, dir, secret, "never-finished.txt", bytes.Repeat([]byte("half "), 64<<10))
	t.Cleanup(func() { upload.feed.Close() })
	go func() { // a slow upload, streaming until its connection is closed
		for {
			if _, err := upload.feed.Write(bytes.Repeat([]byte("more "), 1<<10)); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	waitUploadsReceived(t, dir, 1)

	shutdown := make(chan error, 1)
	go func() {
		// Phase 1 ends a second before this deadline: that is what the
		// test waits for, not what it checks.
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		defer cancel()
		shutdown <- srv.Shutdown(ctx)
	}()
	var told, closed, cut int64
	if line, err := stays.until(""); err != nil || !strings.HasPrefix(line, "421 4.3.2 ") {
		t.Fatalf("idle SMTP client read %q, %v; want 421 4.3.2", line, err)
	}
	told = o.next()
	// The client stays and keeps talking; the server reads it away until
	// phase 2 closes the connection, which the client's writes then meet.
	for {
		if _, err := io.WriteString(c, "NOOP\r\n"); err != nil {
			closed = o.next()
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the SMTP connection that stayed after its 421 was never closed")
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := <-upload.status; st != -1 {
		t.Errorf("the never-finished upload got status %d, want its connection closed", st)
	}
	cut = o.next()
	if err := <-shutdown; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want it to say phase 1 ran out of time", err)
	}
	phase2 := o.phase2.Load()
	if !(told < phase2 && phase2 < closed && phase2 < cut) {
		t.Errorf("events: 421 at %d, SMTP connection closed at %d, upload cut at %d; phase 2 began at %d", told, closed, cut, phase2)
	}
	srv2, _ := startDev(t, dir)
	defer srv2.Shutdown(context.Background())
	davDo(t, srv2, dir, "GET", "/dav/Home/never-finished.txt", secret, nil, http.StatusNotFound)
}

// TestShutdownUnserved: a server built but never served shuts down by
// releasing what New took (listeners, control socket, database), so that
// a second server starts on the same directory; Serve after Shutdown and
// a second Shutdown are refused.
func TestShutdownUnserved(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := config.Dev(dir)
	cfg.Listen = FreeListen(cfg.Listen)
	s, err := New(t.Context(), cfg, Deps{Dev: true, Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	https := s.addrs["https"]
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown of a server never served: %v", err)
	}
	if err := s.Serve(t.Context()); err == nil {
		t.Error("Serve after Shutdown succeeded")
	}
	if err := s.Shutdown(t.Context()); err == nil {
		t.Error("a second Shutdown succeeded")
	}
	cfg.Listen.HTTPS = https // the port New had bound is free again
	s2, err := start(t.Context(), cfg, Deps{Dev: true, Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatalf("a second server on the same directory and HTTPS port: %v", err)
	}
	if err := s2.Serve(t.Context()); err == nil {
		t.Error("a second Serve succeeded")
	}
	if err := s2.Shutdown(t.Context()); err != nil {
		t.Error(err)
	}
}
