package server

// Real clients through a whole session each, on one connection, against
// the --dev server: mutt with "mailboxes" set (it checks every listed
// mailbox with STATUS … RECENT, which used to crash the connection), a
// Python imaplib session of every IMAP command, and an mbsync run over
// several mailboxes. Each must need exactly one connection (a crash makes
// a client reconnect), and caucus must log no warning, no error and no
// stack trace meanwhile (issue 13).

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/metrics"
	"github.com/caucus-org/caucus/internal/testtool"
)

// logWatch is a slog.Handler that writes to the test's output and, once
// armed, remembers every WARN or ERROR record and any record that carries
// a stack trace.
type logWatch struct {
	next  slog.Handler
	state *logWatchState
}

type logWatchState struct {
	mu    sync.Mutex
	armed bool
	noisy []string
}

func (l logWatch) Enabled(ctx context.Context, lv slog.Level) bool { return true }

func (l logWatch) WithAttrs(as []slog.Attr) slog.Handler {
	return logWatch{next: l.next.WithAttrs(as), state: l.state}
}

func (l logWatch) WithGroup(g string) slog.Handler {
	return logWatch{next: l.next.WithGroup(g), state: l.state}
}

func (l logWatch) Handle(ctx context.Context, r slog.Record) error {
	text := r.Message
	r.Attrs(func(a slog.Attr) bool {
		text += " " + a.String()
		return true
	})
	stack := strings.Contains(text, "goroutine ") || strings.Contains(strings.ToLower(text), "panic")
	l.state.mu.Lock()
	if l.state.armed && (r.Level >= slog.LevelWarn || stack) {
		l.state.noisy = append(l.state.noisy, r.Level.String()+" "+text)
	}
	l.state.mu.Unlock()
	if r.Level < slog.LevelInfo {
		return nil // the debug lines of a whole client session drown the test's output
	}
	return l.next.Handle(ctx, r)
}

// arm starts remembering; lines returns what was remembered.
func (s *logWatchState) arm() {
	s.mu.Lock()
	s.armed = true
	s.mu.Unlock()
}

func (s *logWatchState) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.noisy...)
}

// startMailDevWatched is startMailDev with the server's log watched.
func startMailDevWatched(t *testing.T) (*Server, string, *logWatchState) {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Dev(dir)
	cfg.Listen = FreeListen(cfg.Listen)
	st := &logWatchState{}
	log := slog.New(logWatch{next: slog.NewTextHandler(t.Output(), nil), state: st})
	srv, err := start(t.Context(), cfg, Deps{Dev: true, Log: log, Out: io.Discard, NoNotices: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv, dir, st
}

// imapConnections returns how many IMAPS connections the server accepted
// and how many IMAP sign-ins succeeded, from its metrics.
func imapConnections(t *testing.T, srv *Server) (conns, signIns float64) {
	t.Helper()
	res, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + srv.addrs["metrics"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, metrics.MaxParse))
	if err != nil {
		t.Fatal(err)
	}
	fams, err := metrics.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		switch f.Name {
		case "caucus_connections_total":
			conns, _ = f.Value(f.Name, "protocol", "imaps")
		case "caucus_signins_total":
			signIns, _ = f.Value(f.Name, "method", "imap")
		}
	}
	return conns, signIns
}

// checkOneSession fails the test unless exactly one IMAPS connection and
// one sign-in happened since (conns0, signIns0), and the log stayed quiet.
func checkOneSession(t *testing.T, srv *Server, st *logWatchState, client string, conns0, signIns0 float64) {
	t.Helper()
	conns, signIns := imapConnections(t, srv)
	if conns-conns0 != 1 || signIns-signIns0 != 1 {
		t.Errorf("%s: %v connections and %v sign-ins, want one of each (a reconnect means the server dropped it)", client, conns-conns0, signIns-signIns0)
	}
	if l := st.lines(); len(l) > 0 {
		t.Errorf("%s: caucus logged %d warning/error line(s):\n%s", client, len(l), strings.Join(l, "\n"))
	}
}

// deliverTo stores a small message in mailbox of the account.
func deliverTo(t *testing.T, srv *Server, a mailAccount, mailbox, subject string) {
	t.Helper()
	msg := fmt.Sprintf("From: Chair <chair@example.org>\r\nTo: %s\r\nSubject: %s\r\nDate: Mon, 01 Jun 2026 10:00:00 +0000\r\nMessage-ID: <%s@example.org>\r\n\r\nBody of %s.\r\n",
		a.login, subject, strings.ReplaceAll(subject, " ", "."), subject)
	if _, _, err := srv.mail.Append(t.Context(), a.id, mailbox, strings.NewReader(msg), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
}

// setupMailboxes gives the account the mailboxes Campaign, Press and
// Press/Clips, subscribed, and a few messages in each.
func setupMailboxes(t *testing.T, srv *Server, a mailAccount) {
	t.Helper()
	for _, mb := range []string{"Campaign", "Press", "Press/Clips"} {
		if err := srv.mail.CreateMailbox(t.Context(), a.id, mb); err != nil {
			t.Fatal(err)
		}
		if err := srv.mail.SetSubscribed(t.Context(), a.id, mb, true); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		deliverTo(t, srv, a, "INBOX", fmt.Sprintf("Welcome note %d", i))
		deliverTo(t, srv, a, "Campaign", fmt.Sprintf("Poster draft %d", i))
	}
	deliverTo(t, srv, a, "Press/Clips", "Clipping one")
}

// tmux drives one program in a detached tmux session on a private socket.
type tmux struct {
	t    *testing.T
	bin  string
	sock string
	env  []string
}

func (x *tmux) run(args ...string) string {
	x.t.Helper()
	ctx, cancel := context.WithTimeout(x.t.Context(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, x.bin, append([]string{"-S", x.sock}, args...)...)
	cmd.Env = x.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		x.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// screen returns what the program shows.
func (x *tmux) screen() string { return x.run("capture-pane", "-p", "-t", "s") }

// keys types keys (tmux key names, e.g. "Enter").
func (x *tmux) keys(keys ...string) { x.run(append([]string{"send-keys", "-t", "s"}, keys...)...) }

// waitScreen waits up to 15 s for the screen to contain s.
func (x *tmux) waitScreen(s string) {
	x.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		scr := x.screen()
		if strings.Contains(scr, s) {
			return
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("after 15 s the screen does not show %q:\n%s", s, scr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// muttrc configures mutt for the account, with every mailbox listed in
// "mailboxes" and checked every second with STATUS (mail_check_stats).
func muttrc(dir, imapsAddr, certFile string, a mailAccount) string {
	_, port, _ := strings.Cut(imapsAddr, ":")
	folder := fmt.Sprintf("imaps://%s@localhost:%s/", strings.ReplaceAll(a.login, "@", "%40"), port)
	return fmt.Sprintf(`set folder="%s"
set imap_user="%s"
set imap_pass="%s"
set spoolfile="+INBOX"
set record=""
set postponed="+Drafts"
mailboxes +INBOX +Campaign +Press +Press/Clips
set certificate_file="%s"
set ssl_ca_certificates_file="%s"
set ssl_force_tls=yes
set mail_check=1
set timeout=1
set mail_check_stats=yes
set mail_check_stats_interval=1
set imap_check_subscribed=yes
set imap_keepalive=60
set header_cache=""
set message_cachedir=""
set quit=yes
set delete=yes
set move=no
set confirmappend=no
set confirmcreate=no
set wait_key=no
set beep=no
set sleep_time=0
set sidebar_visible=yes
set sidebar_width=22
set sort=subject
set resolve=no
`, folder, a.login, a.secret, filepath.Join(dir, "mutt-certs"), certFile)
}

// TestIMAPMuttSession runs mutt with several mailboxes under tmux: it
// opens INBOX, checks the other mailboxes every second (STATUS … RECENT),
// reads, flags, saves and deletes messages, changes folders, notices new
// mail, syncs and quits — on one connection, with nothing logged.
func TestIMAPMuttSession(t *testing.T) {
	if testing.Short() {
		t.Skip("drives mutt in tmux; go test without -short runs it")
	}
	t.Parallel()
	mutt := testtool.Need(t, "mutt")
	tm := testtool.Need(t, "tmux")
	srv, dir, st := startMailDevWatched(t)
	a := newMailAccount(t, srv, "vol@localhost")
	setupMailboxes(t, srv, a)
	home := t.TempDir()
	rc := filepath.Join(home, ".muttrc")
	if err := os.WriteFile(rc, []byte(muttrc(home, srv.addrs["imaps"], filepath.Join(dir, "dev-cert.pem"), a)), 0o600); err != nil {
		t.Fatal(err)
	}
	x := &tmux{t: t, bin: tm, sock: filepath.Join(home, "tmux.sock"),
		env: []string{"HOME=" + home, "TERM=xterm", "LANG=C.UTF-8", "PATH=" + os.Getenv("PATH"), "TMUX_TMPDIR=" + home}}
	conns0, signIns0 := imapConnections(t, srv)
	st.arm()
	x.run("new-session", "-d", "-s", "s", "-x", "160", "-y", "40", mutt+" -n -F "+rc)
	t.Cleanup(func() {
		cmd := exec.Command(tm, "-S", x.sock, "kill-server")
		cmd.Env = x.env
		cmd.Run()
	})
	x.waitScreen("Welcome note 2")
	time.Sleep(3 * time.Second) // several mail checks of every mailbox

	// Read the first message, flag it, go back.
	x.keys("Enter")
	x.waitScreen("Body of Welcome note")
	x.keys("i")
	x.keys("F")
	// Save the second to Campaign (COPY, then \Deleted), sync (EXPUNGE).
	x.keys("j", "s")
	x.waitScreen("Save to mailbox")
	x.keys("C-u", "=Campaign", "Enter")
	x.waitScreen("Del:1") // saved, so marked deleted
	x.keys("$")
	// New mail in a mailbox that is only checked, not open.
	deliverTo(t, srv, a, "Press", "Fresh press release")
	time.Sleep(3 * time.Second)
	// Change folder to Campaign, then to Press/Clips.
	x.keys("c")
	x.waitScreen("Open mailbox")
	x.keys("C-u", "=Campaign", "Enter")
	x.waitScreen("Poster draft 2")
	x.keys("c")
	x.waitScreen("Open mailbox")
	x.keys("C-u", "=Press/Clips", "Enter")
	x.waitScreen("Clipping one")
	time.Sleep(2 * time.Second)
	x.keys("q")
	deadline := time.Now().Add(15 * time.Second)
	for {
		cmd := exec.Command(tm, "-S", x.sock, "has-session", "-t", "s")
		cmd.Env = x.env
		if cmd.Run() != nil {
			break // mutt quit, the session ended
		}
		if time.Now().After(deadline) {
			t.Fatalf("mutt did not quit:\n%s", x.screen())
		}
		time.Sleep(200 * time.Millisecond)
	}

	// What mutt did reached the server.
	inbox, err := srv.mail.Mailbox(t.Context(), a.id, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	campaign, err := srv.mail.Mailbox(t.Context(), a.id, "Campaign")
	if err != nil {
		t.Fatal(err)
	}
	if inbox.Messages != 2 || campaign.Messages != 4 {
		t.Errorf("after mutt: INBOX has %d messages, Campaign %d; want 2 and 4", inbox.Messages, campaign.Messages)
	}
	flagged, err := srv.mail.Search(t.Context(), inbox.ID, &imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged, imap.FlagSeen}})
	if err != nil || len(flagged) != 1 {
		t.Errorf("after mutt: %v messages read and flagged in INBOX (%v), want 1", flagged, err)
	}
	checkOneSession(t, srv, st, "mutt", conns0, signIns0)
}

// imaplibSessionScript runs every IMAP command through one imaplib
// connection. Arguments: host, IMAPS port, CA file, login, app password.
// It prints "ok" and exits 0, or prints what failed and exits 1.
const imaplibSessionScript = `
import imaplib, re, ssl, sys

host, port, cafile, user, pw = sys.argv[1:6]

def ok(res, what):
    typ, data = res
    if typ != 'OK':
        raise AssertionError('%s: %s %r' % (what, typ, data))
    return data

msg = ('From: Chair <chair@example.org>\r\nTo: %s\r\nSubject: Session check\r\n'
       'Date: Mon, 01 Jun 2026 10:00:00 +0000\r\nMessage-ID: <session@example.org>\r\n\r\nHello.\r\n' % user).encode()

M = imaplib.IMAP4_SSL(host, int(port), ssl_context=ssl.create_default_context(cafile=cafile), timeout=30)
ok(M.capability(), 'CAPABILITY')
ok(M.noop(), 'NOOP')
ok(M.login(user, pw), 'LOGIN')
ok(M.namespace(), 'NAMESPACE')
ok(M.list(), 'LIST')
ok(M._simple_command('LIST', '(SUBSCRIBED RECURSIVEMATCH)', '""', '%'), 'LIST (SUBSCRIBED RECURSIVEMATCH)')
ok(M._simple_command('LIST', '""', '*', 'RETURN', '(CHILDREN SUBSCRIBED STATUS (MESSAGES UNSEEN RECENT SIZE DELETED-STORAGE))'), 'LIST RETURN STATUS')
ok(M.lsub('""', '%'), 'LSUB')
for name in ('INBOX', 'Campaign', 'Press', 'Press/Clips'):
    ok(M.status(name, '(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE)'), 'STATUS ' + name)
ok(M.create('Scratch/Sub'), 'CREATE')
ok(M.rename('Scratch/Sub', 'Scratch/Renamed'), 'RENAME')
ok(M.subscribe('Scratch/Renamed'), 'SUBSCRIBE')
data = ok(M.append('Scratch/Renamed', '(\\Seen $Forwarded)', None, msg), 'APPEND')
if b'APPENDUID' not in data[0]:
    raise AssertionError('no APPENDUID: %r' % data)
ok(M.select('INBOX', readonly=True), 'EXAMINE')
ok(M.fetch('1:*', '(FLAGS BODY.PEEK[HEADER])'), 'FETCH read-only')
ok(M.close(), 'CLOSE after EXAMINE')
typ, data = M.select('INBOX')
if typ != 'OK':
    raise AssertionError('SELECT: %r' % data)
ok(M.fetch('1:*', '(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)'), 'FETCH')
ok(M.fetch('1', '(BODY[])'), 'FETCH BODY[]')
ok(M.search(None, 'OR', 'FROM', 'chair@example.org', 'RECENT', 'NOT', 'DELETED'), 'SEARCH')
ok(M.uid('SEARCH', 'NEW'), 'UID SEARCH NEW')
ok(M.store('1', '+FLAGS', '(\\Flagged Volunteer)'), 'STORE keyword')
ok(M.uid('STORE', '1:*', '-FLAGS.SILENT', '(\\Seen)'), 'UID STORE')
ok(M.copy('1', 'Campaign'), 'COPY')
ok(M.uid('MOVE', '2', 'Press'), 'UID MOVE')
ok(M.store('1', '+FLAGS.SILENT', '(\\Deleted)'), 'STORE \\Deleted')
ok(M.expunge(), 'EXPUNGE')
ok(M.check(), 'CHECK')
tag = M._new_tag()
M.send(tag + b' IDLE\r\n')
if not M.readline().startswith(b'+'):
    raise AssertionError('IDLE: no continuation')
M.send(b'DONE\r\n')
while True:
    line = M.readline()
    if line.startswith(tag):
        if b' OK' not in line:
            raise AssertionError('IDLE: %r' % line)
        break
ok(M.unselect(), 'UNSELECT')
ok(M.select('Scratch/Renamed'), 'SELECT')
ok(M.close(), 'CLOSE')
ok(M.unsubscribe('Scratch/Renamed'), 'UNSUBSCRIBE')
ok(M.delete('Scratch/Renamed'), 'DELETE')
ok(M.delete('Scratch'), 'DELETE parent')
if M.logout()[0] != 'BYE':
    raise AssertionError('LOGOUT')
print('ok')
`

// TestIMAPImaplibSession runs every IMAP command through one connection
// of Python's imaplib, with nothing logged by caucus.
func TestIMAPImaplibSession(t *testing.T) {
	t.Parallel()
	python := testtool.Need(t, "python3")
	srv, dir, st := startMailDevWatched(t)
	a := newMailAccount(t, srv, "vol@localhost")
	setupMailboxes(t, srv, a)
	script := filepath.Join(t.TempDir(), "session.py")
	if err := os.WriteFile(script, []byte(imaplibSessionScript), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port := splitPort(t, srv.addrs["imaps"])
	conns0, signIns0 := imapConnections(t, srv)
	st.arm()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, script, host, port, filepath.Join(dir, "dev-cert.pem"), a.login, a.secret).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("imaplib session: %v\n%s", err, out)
	}
	checkOneSession(t, srv, st, "imaplib", conns0, signIns0)
}

// TestIMAPMbsyncSession syncs an account with several mailboxes with
// mbsync, both ways: one connection, nothing logged.
func TestIMAPMbsyncSession(t *testing.T) {
	t.Parallel()
	bin := testtool.Need(t, "mbsync")
	srv, dir, st := startMailDevWatched(t)
	a := newMailAccount(t, srv, "vol@localhost")
	setupMailboxes(t, srv, a)
	root := filepath.Join(t.TempDir(), "Mail")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	rc := mbsyncConfig(t, bin, dir, srv.addrs["imaps"], a, root)
	conns0, signIns0 := imapConnections(t, srv)
	st.arm()
	runMbsync(t, bin, rc)
	checkOneSession(t, srv, st, "mbsync", conns0, signIns0)
	if got := len(maildirFiles(t, filepath.Join(root, "Campaign"))); got != 3 {
		t.Errorf("Campaign synced %d messages, want 3", got)
	}
}
