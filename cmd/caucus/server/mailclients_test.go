package server

// Real IMAP clients from Debian against the --dev server: Python's imaplib
// (what scripts and many small tools use) and isync's mbsync (a picky
// two-way synchroniser that relies on UIDPLUS, UIDVALIDITY, flags and
// EXPUNGE behaving exactly as the RFCs say).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/pquerna/otp/totp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/mail/store"
)

// mailAccount is a member with a mail app password.
type mailAccount struct {
	id       int64
	login    string
	password string // the account's own password: IMAP must refuse it
	secret   string // the mail app password
}

// startMailDev starts a --dev server that is shut down when the test ends.
func startMailDev(t *testing.T) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	srv, _ := startDev(t, dir)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv, dir
}

// newMailAccount enrols login and makes a mail app password.
func newMailAccount(t *testing.T, srv *Server, login string) mailAccount {
	t.Helper()
	a := mailAccount{login: login, password: "Motion-Quorum-7731-Seconded"}
	a.id, a.secret = enrolWithAppPassword(t, srv, login, a.password, auth.ScopeMail)
	if err := srv.mail.EnsureAccount(t.Context(), a.id); err != nil {
		t.Fatal(err)
	}
	return a
}

// enrolWithAppPassword invites login on srv, enrols it with password and
// TOTP as the web pages would, and makes an app password of scope. It
// returns the account's id and the app password.
func enrolWithAppPassword(t testing.TB, srv *Server, login, password string, scope auth.Scope) (int64, string) {
	t.Helper()
	ctx := t.Context()
	tok, err := srv.auth.CreateInvite(ctx, "", auth.NewAccount{Login: login, DisplayName: "Vol", Role: auth.RoleMember}, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	sessTok, err := srv.auth.AcceptInvite(ctx, tok, password, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := srv.auth.Session(ctx, sessTok)
	if err != nil {
		t.Fatal(err)
	}
	key, err := srv.auth.BeginTOTP(ctx, sess)
	if err != nil {
		t.Fatal(err)
	}
	if sess, err = srv.auth.Session(ctx, sessTok); err != nil { // carries the pending secret
		t.Fatal(err)
	}
	code, err := totp.GenerateCodeCustom(key.Secret(), time.Now(), totp.ValidateOpts{Period: uint(key.Period()), Digits: key.Digits(), Algorithm: key.Algorithm()})
	if err != nil {
		t.Fatal(err)
	}
	full, err := srv.auth.FinishTOTP(ctx, sess, code, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := srv.auth.Session(ctx, full)
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := srv.auth.CreateAppPassword(ctx, fs, "client", scope, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	return fs.Account.ID, secret
}

func splitPort(t *testing.T, addr string) (host, port string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// imaplibScript drives the server with Python's imaplib. Arguments: host,
// IMAPS port, IMAP (STARTTLS) port, CA file, login, app password, account
// password. It prints "ok" and exits 0, or prints what failed and exits 1.
const imaplibScript = `
import datetime, imaplib, re, ssl, sys, time, traceback

host, imaps_port, imap_port, cafile, user, app_pw, acct_pw = sys.argv[1:8]

def check(cond, what):
    if not cond:
        raise AssertionError(what)

def ok(res, what):
    typ, data = res
    check(typ == 'OK', '%s: %s %r' % (what, typ, data))
    return data

def uid_of(fetch_line):
    m = re.search(rb'UID (\d+)', fetch_line)
    check(m, 'no UID in %r' % fetch_line)
    return m.group(1).decode()

CRLF = '\r\n'
plain = CRLF.join([
    'From: Chair <chair@example.org>',
    'To: Vol <%s>' % user,
    'Subject: Quarterly report from the treasurer',
    'Date: Sat, 14 Mar 2026 15:09:26 +0200',
    'Message-ID: <quarterly@example.org>',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'The quorum was reached; minutes attached.',
    '--b1',
    'Content-Type: application/pdf; name="minutes.pdf"',
    'Content-Disposition: attachment; filename="minutes.pdf"',
    'Content-Transfer-Encoding: base64',
    '',
    'JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSPj4Kc3RyZWFtCg==',
    '--b1--',
    '',
]).encode()

def main():
    ctx = ssl.create_default_context(cafile=cafile)

    # STARTTLS on the plain port: no login before TLS, then the app password works.
    M = imaplib.IMAP4(host, int(imap_port), timeout=30)
    check('STARTTLS' in M.capabilities, 'no STARTTLS in %r' % (M.capabilities,))
    check('LOGINDISABLED' in M.capabilities, 'login allowed before STARTTLS: %r' % (M.capabilities,))
    ok(M.starttls(ssl_context=ctx), 'STARTTLS')
    check('LOGINDISABLED' not in M.capabilities, 'still LOGINDISABLED after STARTTLS')
    ok(M.login(user, app_pw), 'LOGIN after STARTTLS')
    ok(M.select('INBOX', readonly=True), 'EXAMINE')
    check(M.logout()[0] == 'BYE', 'LOGOUT after STARTTLS')

    M = imaplib.IMAP4_SSL(host, int(imaps_port), ssl_context=ctx, timeout=30)
    try:
        M.login(user, acct_pw)
        raise AssertionError('login with the account password succeeded')
    except imaplib.IMAP4.error as e:
        check('AUTHENTICATIONFAILED' in str(e), 'account password refused without AUTHENTICATIONFAILED: %s' % e)
    ok(M.login(user, app_pw), 'LOGIN with app password')

    caps = ok(M.capability(), 'CAPABILITY')[0].decode().split()
    for c in ['IMAP4rev1', 'IDLE', 'MOVE', 'UIDPLUS', 'SPECIAL-USE']:
        check(c in caps, 'CAPABILITY lacks %s: %r' % (c, caps))

    special = {}
    for line in ok(M.list(), 'LIST'):
        m = re.match(rb'\(([^)]*)\) "/" "?([^"]*)"?$', line)
        check(m, 'unparsable LIST line %r' % line)
        for attr in m.group(1).split():
            special[attr.decode()] = m.group(2).decode()
    for attr, name in [('\\Sent', 'Sent'), ('\\Drafts', 'Drafts'), ('\\Trash', 'Trash'), ('\\Junk', 'Junk'), ('\\Archive', 'Archive')]:
        check(special.get(attr) == name, 'LIST: %s is on %r, want %s' % (attr, special.get(attr), name))

    n = int(ok(M.select('INBOX'), 'SELECT INBOX')[0])
    check(n == 2, 'INBOX has %d messages, want the 2 delivered' % n)

    date = datetime.datetime(2026, 3, 14, 15, 9, 26, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    res = ok(M.append('INBOX', '(\\Seen $Minutes)', imaplib.Time2Internaldate(date), plain), 'APPEND')
    m = re.search(rb'APPENDUID (\d+) (\d+)', res[0])
    check(m, 'APPEND without APPENDUID: %r' % res)
    uid = m.group(2).decode()

    ok(M.noop(), 'NOOP')
    data = ok(M.uid('FETCH', uid, '(FLAGS INTERNALDATE ENVELOPE BODYSTRUCTURE BODY.PEEK[])'), 'UID FETCH')
    check(isinstance(data[0], tuple), 'FETCH gave no literal: %r' % data)
    head, body = data[0]
    check(body == plain, 'FETCH BODY[] differs from what was appended:\n%r\n%r' % (body, plain))
    check(uid_of(head) == uid, 'FETCH UID %s, want %s' % (uid_of(head), uid))
    m = re.search(rb'FLAGS \(([^)]*)\)', head)
    # \Recent: the message arrived while this IMAP4rev1 session had the mailbox selected (RFC 3501 2.3.2).
    check(m and set(m.group(1).split()) == {b'\\Seen', b'$Minutes', b'\\Recent'}, 'FLAGS after APPEND: %r' % head)
    m = re.search(rb'(INTERNALDATE "[^"]*")', head)
    check(m, 'no INTERNALDATE in %r' % head)
    got = time.mktime(imaplib.Internaldate2tuple(m.group(1)))
    check(got == date.timestamp(), 'INTERNALDATE %r, want %s' % (m.group(1), date))
    check(b'"Quarterly report from the treasurer"' in head, 'ENVELOPE lacks the subject: %r' % head)
    check(b'<quarterly@example.org>' in head, 'ENVELOPE lacks the Message-ID: %r' % head)
    for want in [b'"TEXT" "PLAIN"', b'"APPLICATION" "PDF"', b'"MIXED"', b'"ATTACHMENT"']:
        check(want in head.upper(), 'BODYSTRUCTURE lacks %r: %r' % (want, head))

    check(ok(M.search(None, 'SUBJECT', '"Quarterly report"'), 'SEARCH SUBJECT')[0] == b'3', 'SEARCH SUBJECT')
    check(ok(M.uid('SEARCH', 'BODY', 'quorum'), 'UID SEARCH BODY')[0] == uid.encode(), 'UID SEARCH BODY')
    check(ok(M.search(None, 'UNSEEN'), 'SEARCH UNSEEN')[0] == b'1 2', 'SEARCH UNSEEN')
    check(ok(M.search(None, 'KEYWORD', '$Minutes'), 'SEARCH KEYWORD')[0] == b'3', 'SEARCH KEYWORD')
    check(ok(M.search(None, 'FROM', 'secretary', 'UNSEEN'), 'SEARCH FROM UNSEEN')[0] == b'2', 'SEARCH FROM UNSEEN')

    res = ok(M.store('1', '+FLAGS', '(\\Flagged)'), 'STORE +FLAGS')
    check(res[0] and b'\\Flagged' in res[0], 'STORE did not answer the new flags: %r' % res)
    check(ok(M.search(None, 'FLAGGED'), 'SEARCH FLAGGED')[0] == b'1', 'SEARCH FLAGGED after STORE')

    res = ok(M.copy('1', 'Archive'), 'COPY')
    check(re.search(rb'COPYUID \d+ 1 1', res[0]), 'COPY without COPYUID: %r' % res)
    st = ok(M.status('Archive', '(MESSAGES)'), 'STATUS Archive')[0]
    check(b'MESSAGES 1' in st, 'Archive after COPY: %r' % st)

    uid2 = uid_of(ok(M.fetch('2', '(UID)'), 'FETCH UID')[0])
    res = ok(M.uid('MOVE', uid2, 'Trash'), 'UID MOVE')
    moved = M.response('EXPUNGE')[1]  # and forget them, so that EXPUNGE below reports its own
    check(moved == [b'2'], 'UID MOVE expunged %r from INBOX, want [2]' % moved)
    cu = M.response('COPYUID')[1]
    check(cu and re.fullmatch(rb'\d+ %s 1' % uid2.encode(), cu[-1]), 'UID MOVE without COPYUID: %r' % (cu,))
    st = ok(M.status('Trash', '(MESSAGES)'), 'STATUS Trash')[0]
    check(b'MESSAGES 1' in st, 'Trash after MOVE: %r' % st)
    check(ok(M.search(None, 'ALL'), 'SEARCH ALL')[0] == b'1 2', 'INBOX after MOVE: want 2 messages')

    ok(M.store('2', '+FLAGS.SILENT', '(\\Deleted)'), 'STORE \\Deleted')
    expunged = ok(M.expunge(), 'EXPUNGE')
    check(expunged == [b'2'], 'EXPUNGE reported %r, want [2]' % expunged)
    check(ok(M.search(None, 'ALL'), 'SEARCH ALL')[0] == b'1', 'INBOX after EXPUNGE: want 1 message')
    check(ok(M.uid('SEARCH', 'UID', uid), 'UID SEARCH')[0] == b'', 'expunged message still found')

    ok(M.close(), 'CLOSE')
    check(M.logout()[0] == 'BYE', 'LOGOUT')

try:
    main()
except Exception:
    traceback.print_exc(file=sys.stdout)
    sys.exit(1)
print('ok')
`

// TestIMAPPythonImaplib runs Python's imaplib through a session a script
// would: STARTTLS and implicit TLS, login (the account password refused),
// capabilities, special-use mailboxes, APPEND, FETCH, SEARCH, STORE, COPY,
// UID MOVE, EXPUNGE and LOGOUT.
func TestIMAPPythonImaplib(t *testing.T) {
	t.Parallel()
	python := testtool.Need(t, "python3")
	srv, dir := startMailDev(t)
	a := newMailAccount(t, srv, "vol@localhost")
	for _, m := range []string{
		"From: Chair <chair@example.org>\r\nTo: vol@localhost\r\nSubject: Welcome to the caucus\r\nMessage-ID: <welcome@example.org>\r\n\r\nHello.\r\n",
		"From: Secretary <secretary@example.org>\r\nTo: vol@localhost\r\nSubject: Agenda\r\nMessage-ID: <agenda@example.org>\r\n\r\n1. Minutes\r\n",
	} {
		if _, err := srv.mail.Deliver(t.Context(), []int64{a.id}, strings.NewReader(m)); err != nil {
			t.Fatal(err)
		}
	}
	script := filepath.Join(t.TempDir(), "imaplib_check.py")
	if err := os.WriteFile(script, []byte(imaplibScript), 0o600); err != nil {
		t.Fatal(err)
	}
	host, imapsPort := splitPort(t, srv.addrs["imaps"])
	_, imapPort := splitPort(t, srv.addrs["imap"])
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, script, host, imapsPort, imapPort, filepath.Join(dir, "dev-cert.pem"), a.login, a.secret, a.password)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("imaplib script: %v\n%s", err, out)
	}
}

// testMessages makes n varied messages with CRLF line ends, as SMTP delivers
// them: different senders, subjects and sizes (a few hundred bytes to
// ~100 KB), every 25th a multipart/mixed with a base64 attachment.
func testMessages(n int) [][]byte {
	rng := rand.New(rand.NewPCG(7, 1001))
	words := strings.Fields("motion quorum caucus minutes agenda treasurer ballot amendment budget volunteer canvass leaflet branch meeting chair secretary vote second adjourn report")
	text := func(lines int) string {
		var b strings.Builder
		for range lines {
			for w := range 6 + rng.IntN(8) {
				if w > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(words[rng.IntN(len(words))])
			}
			b.WriteString("\r\n")
		}
		return b.String()
	}
	msgs := make([][]byte, n)
	for i := range n {
		var b bytes.Buffer
		fmt.Fprintf(&b, "From: Member %d <member%d@example.org>\r\n", i%37, i%37)
		fmt.Fprintf(&b, "To: Vol <vol@localhost>\r\n")
		fmt.Fprintf(&b, "Subject: Caucus note %04d: %s %s\r\n", i, words[i%len(words)], words[(i*7)%len(words)])
		fmt.Fprintf(&b, "Date: %s\r\n", time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Hour).Format(time.RFC1123Z))
		fmt.Fprintf(&b, "Message-ID: <note-%04d@example.org>\r\nMIME-Version: 1.0\r\n", i)
		lines := 1 + rng.IntN(60)
		if i%97 == 0 {
			lines = 1500 // ~100 KB
		}
		if i%25 != 0 {
			b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
			b.WriteString(text(lines))
			msgs[i] = b.Bytes()
			continue
		}
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"part-%04d\"\r\n\r\nThis is a MIME message.\r\n", i)
		fmt.Fprintf(&b, "--part-%04d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s", i, text(lines))
		att := make([]byte, 1000+rng.IntN(30000))
		for j := range att {
			att[j] = byte(rng.Uint32())
		}
		enc := base64.StdEncoding.EncodeToString(att)
		fmt.Fprintf(&b, "--part-%04d\r\nContent-Type: application/octet-stream; name=\"ledger-%d.bin\"\r\n", i, i)
		fmt.Fprintf(&b, "Content-Disposition: attachment; filename=\"ledger-%d.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", i)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		fmt.Fprintf(&b, "%s\r\n--part-%04d--\r\n", enc, i)
		msgs[i] = b.Bytes()
	}
	return msgs
}

var tuidHeader = regexp.MustCompile(`(?m)^X-TUID: [^\n]*\n`)

// normalMessage is a message as a Maildir keeps it: LF line ends, and
// without the X-TUID header mbsync adds to the messages it copies (to find
// them again after an interrupted sync). Only the header section is
// searched for it.
func normalMessage(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	head, body, found := bytes.Cut(b, []byte("\n\n"))
	if !found {
		return b
	}
	head = tuidHeader.ReplaceAll(append(head, '\n'), nil)
	return append(append(head, '\n'), body...)
}

func messageHash(b []byte) [32]byte { return sha256.Sum256(normalMessage(b)) }

// maildirFolders lists the Maildir folders under root (directories with a
// cur/ subdirectory), by name relative to root.
func maildirFolders(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "cur" {
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			out = append(out, filepath.ToSlash(rel))
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// maildirFiles lists the message files of a Maildir folder, as "new/name"
// or "cur/name", sorted.
func maildirFiles(t *testing.T, folder string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(folder, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if !e.IsDir() {
				out = append(out, sub+"/"+e.Name())
			}
		}
	}
	slices.Sort(out)
	return out
}

// findMaildirMessage returns the file in folder whose contents contain s.
func findMaildirMessage(t *testing.T, folder, s string) string {
	t.Helper()
	for _, f := range maildirFiles(t, folder) {
		b, err := os.ReadFile(filepath.Join(folder, f))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			return f
		}
	}
	t.Fatalf("no message with %q in %s", s, folder)
	return ""
}

// serverSnapshot describes every mailbox of the account on the server: its
// UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and each message's UID and flags.
func serverSnapshot(t *testing.T, srv *Server, accountID int64) string {
	t.Helper()
	ctx := t.Context()
	mbs, err := srv.mail.Mailboxes(ctx, accountID)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mb := range mbs {
		fmt.Fprintf(&b, "mailbox %s validity=%d next=%d modseq=%d messages=%d\n", mb.Name, mb.UIDValidity, mb.UIDNext, mb.HighestModSeq, mb.Messages)
		uids, err := srv.mail.UIDs(ctx, mb.ID)
		if err != nil {
			t.Fatal(err)
		}
		flags, err := srv.mail.Flags(ctx, mb.ID, uids)
		if err != nil {
			t.Fatal(err)
		}
		for i, u := range uids {
			fmt.Fprintf(&b, "  %d %v\n", u, flags[i])
		}
	}
	return b.String()
}

func maildirSnapshot(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	for _, f := range maildirFolders(t, root) {
		fmt.Fprintf(&b, "folder %s\n", f)
		for _, m := range maildirFiles(t, filepath.Join(root, f)) {
			fmt.Fprintf(&b, "  %s\n", m)
		}
	}
	return b.String()
}

// firstDiff returns the first differing lines of two snapshots.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d: before %q, after %q", i+1, x, y)
		}
	}
	return ""
}

// mbsyncVersion returns the major and minor version of isync's mbsync.
func mbsyncVersion(t *testing.T, bin string) (major, minor int) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("mbsync --version: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(\d+)\.(\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("mbsync --version: %q", out)
	}
	major, _ = strconv.Atoi(string(m[1]))
	minor, _ = strconv.Atoi(string(m[2]))
	return major, minor
}

// mbsyncConfig writes an .mbsyncrc for a two-way sync of every mailbox of
// the account into a Maildir under root.
func mbsyncConfig(t *testing.T, bin, dir, imapsAddr string, a mailAccount, root string) string {
	t.Helper()
	major, minor := mbsyncVersion(t, bin)
	tlsType := "SSLType" // isync 1.4
	if major > 1 || minor >= 5 {
		tlsType = "TLSType"
	}
	far, near := "Far", "Near"
	if major == 1 && minor < 4 {
		far, near = "Master", "Slave"
	}
	// The dev certificate names 127.0.0.1 too, but isync 1.4 checks only
	// DNS names; localhost resolves to 127.0.0.1 (or mbsync tries the next
	// address after ::1).
	_, port := splitPort(t, imapsAddr)
	rc := fmt.Sprintf(`IMAPAccount caucus
Host %s
Port %s
User %s
Pass "%s"
%s IMAPS
CertificateFile %s

IMAPStore caucus-far
Account caucus

MaildirStore caucus-near
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel caucus
%s :caucus-far:
%s :caucus-near:
Patterns *
Create Both
Expunge Both
SyncState *
Sync All
`, "localhost", port, a.login, a.secret, tlsType, filepath.Join(dir, "dev-cert.pem"), root, root, far, near)
	path := filepath.Join(t.TempDir(), "mbsyncrc")
	if err := os.WriteFile(path, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runMbsync runs one full sync of every channel, verbosely, and returns
// its output.
func runMbsync(t *testing.T, bin, rc string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-V", "-c", rc, "-a")
	cmd.Env = append(os.Environ(), "HOME="+filepath.Dir(rc)) // never the user's ~/.mbsync
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mbsync: %v\n%s", err, out)
	}
	t.Logf("mbsync took %v", time.Since(start).Round(time.Millisecond))
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(strings.ToLower(line), "warning") {
			t.Errorf("mbsync: %s", line)
		}
	}
	return string(out)
}

// TestIMAPMbsync syncs a 1,000-message account both ways with isync's
// mbsync: everything downloads intact; messages added, flagged and deleted
// in the Maildir, and a folder made there, reach the server, while a
// delivery, a flag change and an expunge made on the server meanwhile come
// down; a third run finds nothing to do.
func TestIMAPMbsync(t *testing.T) {
	if testing.Short() {
		t.Skip("syncs 1,000 messages both ways with mbsync; go test without -short runs it")
	}
	t.Parallel()
	bin := testtool.Need(t, "mbsync")
	srv, dir := startMailDev(t)
	a := newMailAccount(t, srv, "vol@localhost")
	ctx := t.Context()

	msgs := testMessages(1000)
	want := map[[32]byte]int{}
	for _, m := range msgs {
		if _, err := srv.mail.Deliver(ctx, []int64{a.id}, bytes.NewReader(m)); err != nil {
			t.Fatal(err)
		}
		want[messageHash(m)]++
	}
	root := filepath.Join(t.TempDir(), "Mail")
	if err := os.Mkdir(root, 0o700); err != nil { // mbsync makes the folders, not the store's root
		t.Fatal(err)
	}
	rc := mbsyncConfig(t, bin, dir, srv.addrs["imaps"], a, root)

	// 1: the server's mail comes down whole.
	out := runMbsync(t, bin, rc)
	t.Logf("first sync:\n%s", out)
	inbox := filepath.Join(root, "INBOX")
	checkFirstSync(t, root, inbox, msgs, want)

	// 2: changes made offline go up, and those made on the server
	// meanwhile (by a phone, say) come down.
	bySubject := func(mailboxID int64, subject string) []store.Message {
		t.Helper()
		uids, err := srv.mail.Search(ctx, mailboxID, &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: subject}}})
		if err != nil {
			t.Fatal(err)
		}
		ms, err := srv.mail.Messages(ctx, mailboxID, uids)
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	mb, err := srv.mail.Mailbox(ctx, a.id, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	late := "From: Chair <chair@example.org>\r\nTo: vol@localhost\r\nSubject: Late motion\r\nMessage-ID: <late@example.org>\r\n\r\nOne more thing.\r\n"
	if _, err := srv.mail.Deliver(ctx, []int64{a.id}, strings.NewReader(late)); err != nil {
		t.Fatal(err)
	}
	read := bySubject(mb.ID, strings.TrimPrefix(readSubject, "Subject: "))
	gone := bySubject(mb.ID, strings.TrimPrefix(goneSubject, "Subject: "))
	if len(read) != 1 || len(gone) != 1 {
		t.Fatalf("server: %d and %d messages for the two subjects, want 1 each", len(read), len(gone))
	}
	if _, _, err := srv.mail.StoreFlags(ctx, mb.ID, []imap.UID{read[0].UID}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagSeen, imap.FlagAnswered}, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.mail.StoreFlags(ctx, mb.ID, []imap.UID{gone[0].UID}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.mail.Expunge(ctx, mb.ID, []imap.UID{gone[0].UID}); err != nil {
		t.Fatal(err)
	}
	changeMaildirOffline(t, root, inbox)

	out = runMbsync(t, bin, rc)
	t.Logf("second sync:\n%s", out)
	checkSecondSync(t, srv, a, inbox, late, bySubject)

	// 3: nothing changed, so nothing moves.
	serverBefore, localBefore := serverSnapshot(t, srv, a.id), maildirSnapshot(t, root)
	out = runMbsync(t, bin, rc)
	t.Logf("third sync:\n%s", out)
	if d := firstDiff(serverBefore, serverSnapshot(t, srv, a.id)); d != "" {
		t.Errorf("a sync with nothing to do changed the server: %s", d)
	}
	if d := firstDiff(localBefore, maildirSnapshot(t, root)); d != "" {
		t.Errorf("a sync with nothing to do changed the Maildir: %s", d)
	}
}

// The messages TestIMAPMbsync changes: on the server, one read and
// answered and one expunged; in the Maildir, one flagged and one deleted.
const (
	readSubject, goneSubject   = "Subject: Caucus note 0021:", "Subject: Caucus note 0042:"
	flagSubject, deleteSubject = "Subject: Caucus note 0007:", "Subject: Caucus note 0013:"
)

// checkFirstSync checks the Maildir after the first sync: every message
// of msgs (by hash, want) down once, with LF line ends, and every server
// mailbox a folder.
func checkFirstSync(t *testing.T, root, inbox string, msgs [][]byte, want map[[32]byte]int) {
	files := maildirFiles(t, inbox)
	if len(files) != len(msgs) {
		t.Fatalf("Maildir INBOX has %d messages after the first sync, want %d", len(files), len(msgs))
	}
	got := map[[32]byte]int{}
	tuids := 0
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(inbox, f))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("\r\n")) {
			t.Errorf("%s keeps CRLF line ends", f)
		}
		if tuidHeader.Match(b) {
			tuids++
		}
		got[messageHash(b)]++
	}
	if tuids > 0 {
		t.Logf("%d of %d downloaded messages carry an X-TUID header", tuids, len(files))
	}
	for h, n := range want {
		if got[h] != n {
			t.Fatalf("a delivered message was downloaded %d times, want %d", got[h], n)
		}
	}
	if folders := maildirFolders(t, root); !slices.Equal(folders, []string{"Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"}) {
		t.Errorf("Maildir folders %q, want every server mailbox", folders)
	}

}

// changeMaildirOffline changes the Maildir as a client offline would: three
// messages written (one read), one flagged, one deleted, and a folder made
// with a message in it.
func changeMaildirOffline(t *testing.T, root, inbox string) {
	for i := range 3 {
		m := fmt.Sprintf("From: Vol <vol@localhost>\nTo: Chair <chair@example.org>\nSubject: Written offline %d\nDate: Mon, 02 Mar 2026 10:0%d:00 +0000\nMessage-ID: <offline-%d@localhost>\n\nDraft reply number %d.\n", i, i, i, i)
		name := filepath.Join("new", fmt.Sprintf("%d.P%dQ%d.localhost", time.Now().Unix(), os.Getpid(), i))
		if i == 2 { // read already: a Maildir keeps it in cur/ with its flags
			name = filepath.Join("cur", fmt.Sprintf("%d.P%dQ%d.localhost:2,S", time.Now().Unix(), os.Getpid(), i))
		}
		if err := os.WriteFile(filepath.Join(inbox, name), []byte(m), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f := findMaildirMessage(t, inbox, flagSubject)
	base, info, _ := strings.Cut(filepath.Base(f), ":2,")
	fl := []byte(info + "F")
	slices.Sort(fl)
	if err := os.Rename(filepath.Join(inbox, f), filepath.Join(inbox, "cur", base+":2,"+string(fl))); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(inbox, findMaildirMessage(t, inbox, deleteSubject))); err != nil {
		t.Fatal(err)
	}
	projects := filepath.Join(root, "Projects")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(projects, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	projectMsg := "From: Vol <vol@localhost>\nTo: Vol <vol@localhost>\nSubject: Leaflet plan\nMessage-ID: <leaflets@localhost>\n\nPrint 500.\n"
	if err := os.WriteFile(filepath.Join(projects, "new", fmt.Sprintf("%d.P%dQ9.localhost", time.Now().Unix(), os.Getpid())), []byte(projectMsg), 0o600); err != nil {
		t.Fatal(err)
	}

}

// checkSecondSync checks both sides after the second sync: the offline
// changes are on the server, the server's changes in the Maildir.
func checkSecondSync(t *testing.T, srv *Server, a mailAccount, inbox, late string, bySubject func(int64, string) []store.Message) {
	ctx := t.Context()
	mb, err := srv.mail.Mailbox(ctx, a.id, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	// 1,000 + 1 delivered + 3 written offline - 1 deleted offline - 1 expunged on the server.
	if mb.Messages != 1002 {
		t.Errorf("server INBOX has %d messages after the second sync, want 1002", mb.Messages)
	}
	if b, err := os.ReadFile(filepath.Join(inbox, findMaildirMessage(t, inbox, "Subject: Late motion\n"))); err != nil {
		t.Fatal(err)
	} else if !bytes.Equal(normalMessage(b), normalMessage([]byte(late))) {
		t.Errorf("message delivered between syncs arrived as %q", b)
	}
	if f := findMaildirMessage(t, inbox, readSubject); !strings.HasPrefix(f, "cur/") || !strings.HasSuffix(f, ":2,RS") {
		t.Errorf("message marked read and answered on the server is %s in the Maildir, want cur/…:2,RS", f)
	}
	for _, f := range maildirFiles(t, inbox) {
		if b, _ := os.ReadFile(filepath.Join(inbox, f)); bytes.Contains(b, []byte(goneSubject)) {
			t.Errorf("message expunged on the server is still in the Maildir as %s", f)
		}
	}
	if ms := bySubject(mb.ID, strings.TrimPrefix(flagSubject, "Subject: ")); len(ms) != 1 || !slices.Contains(ms[0].Flags, imap.FlagFlagged) {
		t.Errorf("message flagged in the Maildir: %+v on the server, want one with \\Flagged", ms)
	}
	if ms := bySubject(mb.ID, strings.TrimPrefix(deleteSubject, "Subject: ")); len(ms) != 0 {
		t.Errorf("message deleted in the Maildir is still on the server: %+v", ms)
	}
	for i := range 3 {
		ms := bySubject(mb.ID, fmt.Sprintf("Written offline %d", i))
		if len(ms) != 1 {
			t.Errorf("offline message %d: %d on the server, want 1", i, len(ms))
			continue
		}
		wantFlags := []imap.Flag{}
		if i == 2 {
			wantFlags = []imap.Flag{imap.FlagSeen}
		}
		if !slices.Equal(ms[0].Flags, wantFlags) {
			t.Errorf("offline message %d has flags %v on the server, want %v", i, ms[0].Flags, wantFlags)
		}
		local, err := os.ReadFile(filepath.Join(inbox, findMaildirMessage(t, inbox, fmt.Sprintf("Subject: Written offline %d\n", i))))
		if err != nil {
			t.Fatal(err)
		}
		body, err := srv.mail.OpenBody(ms[0].Blob)
		if err != nil {
			t.Fatal(err)
		}
		remote, err := io.ReadAll(body)
		body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(normalMessage(remote), normalMessage(local)) {
			t.Errorf("offline message %d on the server:\n%q\nin the Maildir:\n%q", i, remote, local)
		}
	}
	if uids, err := srv.mail.Search(ctx, mb.ID, &imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}); err != nil || len(uids) != 0 {
		t.Errorf("server INBOX after the second sync: %v marked \\Deleted (%v), want none left unexpunged", uids, err)
	}
	if pmb, err := srv.mail.Mailbox(ctx, a.id, "Projects"); err != nil {
		t.Errorf("folder made in the Maildir is not on the server: %v", err)
	} else if ms := bySubject(pmb.ID, "Leaflet plan"); len(ms) != 1 {
		t.Errorf("Projects on the server holds %d copies of the local message, want 1", len(ms))
	}
	if n := len(maildirFiles(t, inbox)); n != 1002 {
		t.Errorf("Maildir INBOX has %d messages after the second sync, want 1002", n)
	}

}
