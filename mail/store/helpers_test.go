package store

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

// TestMain runs the package's tests on SQLite and again on PostgreSQL.
func TestMain(m *testing.M) { dbtest.Main(m) }

// env is a store on a fresh database and blob directory.
type env struct {
	s       *Store
	db      *db.DB
	dbh     dbtest.Database // what db was opened from
	blobs   *blob.Dir
	blobDir string

	mu      sync.Mutex
	now     time.Time
	changes []Change
}

// newEnv opens a store on a fresh database of the test pass's engine
// (dbtest) and a blob directory in t.TempDir(). opt, if given, adjusts
// the options.
func newEnv(t testing.TB, opt ...func(*Options)) *env {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	dbh := dbtest.Create(t)
	d := dbh.Open(t)
	if err := d.Migrate(t.Context(), Component()); err != nil {
		t.Fatal(err)
	}
	var err error
	e := &env{db: d, dbh: dbh, blobDir: filepath.Join(dir, "blobs"), now: time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)}
	if e.blobs, err = blob.OpenDir(e.blobDir); err != nil {
		t.Fatal(err)
	}
	o := Options{
		Now: func() time.Time {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.now
		},
	}
	for _, f := range opt {
		f(&o)
	}
	e.s = New(d, e.blobs, log, o)
	e.s.Changes().Subscribe(func(c Change) {
		e.mu.Lock()
		e.changes = append(e.changes, c)
		e.mu.Unlock()
	})
	return e
}

// crashDBEnv names the database that the child process of a crash test
// opens: the parent's SQLite file or PostgreSQL connection string. Set
// only in that child.
const crashDBEnv = "CAUCUS_STORE_CRASH_DB"

// crashChildEnv is the environment of a crash test's child process that
// works in dir (named by dirEnv) on the database d.
func crashChildEnv(dirEnv, dir string, d dbtest.Database) []string {
	loc := d.Path
	if d.Engine == db.Postgres {
		loc = d.DSN
	}
	return append(os.Environ(), dirEnv+"="+dir, crashDBEnv+"="+loc)
}

// runKilledChild runs the test named test again in a child process, which
// finds its data directory in dirEnv and its database in crashDBEnv and
// must end killed by SIGKILL (it kills itself at the moment the test
// chose), and returns both for the test to open again: the restart.
func runKilledChild(t *testing.T, test, dirEnv string) (dir string, dbh dbtest.Database) {
	t.Helper()
	dir = t.TempDir()
	dbh = dbtest.Create(t)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = crashChildEnv(dirEnv, dir, dbh)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the child was not killed: %v\n%s", err, out)
	}
	return dir, dbh
}

// crashDatabase is the database a crash test's child opens (crashDBEnv).
func crashDatabase() dbtest.Database {
	loc := os.Getenv(crashDBEnv)
	if dbtest.Engine() == db.Postgres {
		return dbtest.Database{Engine: db.Postgres, DSN: loc}
	}
	return dbtest.Database{Engine: db.SQLite, Path: loc}
}

// advance moves the clock.
func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// takeChanges returns and forgets the changes announced so far.
func (e *env) takeChanges() []Change {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.changes
	e.changes = nil
	return c
}

// blobFiles counts the blobs in the blob directory.
func (e *env) blobFiles(t testing.TB) int {
	t.Helper()
	n := 0
	if err := e.blobs.Walk(func(blob.Ref, fs.FileInfo) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// count runs a count query.
func (e *env) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// account ensures account id and returns it.
func (e *env) account(t testing.TB, id int64) int64 {
	t.Helper()
	if err := e.s.EnsureAccount(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	return id
}

// mailbox returns the account's mailbox name.
func (e *env) mailbox(t testing.TB, acct int64, name string) Mailbox {
	t.Helper()
	mb, err := e.s.Mailbox(t.Context(), acct, name)
	if err != nil {
		t.Fatalf("Mailbox(%q): %v", name, err)
	}
	return mb
}

// append appends raw to the account's mailbox and returns the UID.
func (e *env) append(t testing.TB, acct int64, mailbox, raw string, flags ...imap.Flag) imap.UID {
	t.Helper()
	_, uid, err := e.s.Append(t.Context(), acct, mailbox, strings.NewReader(raw), flags, time.Time{})
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return uid
}

// checkCounters recounts every mailbox's messages and compares them with
// the counters kept in its row.
func (e *env) checkCounters(t testing.TB) {
	t.Helper()
	rows, err := e.db.QueryContext(t.Context(), `SELECT mb.name, mb.messages, mb.unseen, mb.size,
		(SELECT count(*) FROM messages m WHERE m.mailbox_id = mb.id),
		(SELECT count(*) FROM messages m WHERE m.mailbox_id = mb.id AND m.flags & 1 = 0),
		(SELECT coalesce(sum(size), 0) FROM messages m WHERE m.mailbox_id = mb.id),
		mb.uid_next > coalesce((SELECT max(uid) FROM messages m WHERE m.mailbox_id = mb.id), 0),
		mb.highest_modseq >= coalesce((SELECT max(modseq) FROM messages m WHERE m.mailbox_id = mb.id), 0)
		FROM mailboxes mb`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var n, unseen, size, n2, unseen2, size2 int64
		var uidOK, modseqOK bool
		if err := rows.Scan(&name, &n, &unseen, &size, &n2, &unseen2, &size2, &uidOK, &modseqOK); err != nil {
			t.Fatal(err)
		}
		if n != n2 || unseen != unseen2 || size != size2 {
			t.Errorf("mailbox %q counters: messages %d unseen %d size %d; recounted %d %d %d", name, n, unseen, size, n2, unseen2, size2)
		}
		if !uidOK || !modseqOK {
			t.Errorf("mailbox %q: uid_next or highest_modseq behind its messages", name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// crlf turns a message written with LF into one with CRLF line ends.
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// simple is a small message with the given subject and body.
func simple(subject, body string) string {
	return crlf("From: Anna <anna@example.org>\nTo: bob@example.org\nSubject: " + subject +
		"\nDate: Mon, 02 Mar 2026 10:00:00 +0100\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.org>\n\n" + body + "\n")
}

// The test messages: realistic RFC 5322 messages with MIME.
var (
	// msgPlain: plain text, UTF-8, a body line that starts with "From ".
	msgPlain = crlf(`From: Anna Schmidt <anna@example.org>
To: Bob Jones <bob@example.org>
Subject: Meeting agenda for Thursday
Date: Mon, 02 Mar 2026 10:00:00 +0100
Message-ID: <agenda-1@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hello Bob,

please find the agenda below: budget, canvassing, posters.
From the office: nothing new.
>From the archive: old minutes.
Anna
`)

	// msgAlt: a UTF-8 encoded-word subject, multipart/alternative with a
	// quoted-printable text part (soft line break) and a base64 HTML part.
	msgAlt = crlf(`From: =?UTF-8?Q?Clara_M=C3=BCller?= <clara@example.net>
To: team@example.org
Cc: Dave <dave@example.org>
Subject: =?UTF-8?B?w5xiZXJyYXNjaHVuZyBmw7xyIENsYXJh?=
Date: Tue, 10 Mar 2026 18:30:00 -0500
Message-ID: <surprise@example.net>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt-boundary"

--alt-boundary
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Liebe Gr=C3=BC=C3=9Fe aus K=C3=B6ln, der Wahl=
kampf beginnt.
--alt-boundary
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

PGh0bWw+PGhlYWQ+PHN0eWxlPi54e2NvbG9yOnJlZH08L3N0eWxlPjwvaGVhZD48Ym9keT48cD5U
aWNrZXRzICZhbXA7IDxiPkVpbmxhZHVuZzwvYj48L3A+PHNjcmlwdD52YXIgc2VjcmV0anM9MTwv
c2NyaXB0PjwvYm9keT48L2h0bWw+
--alt-boundary--
`)

	// msgMixed: multipart/mixed with text, a PDF attachment and a forwarded
	// message/rfc822 that is itself multipart/alternative; a Bcc and a
	// custom header field.
	msgMixed = crlf(`From: Bob Jones <bob@example.org>
To: anna@example.org
Bcc: treasurer@example.org
Subject: Flyer draft
X-Campaign: Spring 2026
Date: Thu, 05 Feb 2026 09:00:00 +0000
Message-ID: <flyer@example.org>
In-Reply-To: <agenda-1@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

This is a multi-part message in MIME format.
--outer
Content-Type: text/plain; charset=us-ascii

See the attached flyer and the forwarded note.
--outer
Content-Type: application/pdf; name="flyer.pdf"
Content-Disposition: attachment; filename="flyer.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJWZha2UgcGRmIGZvciB0ZXN0cwo=
--outer
Content-Type: message/rfc822
Content-Disposition: inline

From: Eve <eve@example.com>
To: anna@example.org
Subject: Forwarded: venue booking
Date: Wed, 04 Feb 2026 17:00:00 +0100
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain

The venue is booked for the rally.
--inner
Content-Type: text/html

<p>The venue is booked for the <i>rally</i>.</p>
--inner--
--outer--
`)

	// msgLatin1: ISO-8859-1 in an encoded word and a quoted-printable body.
	msgLatin1 = crlf(`From: dave@example.org
To: anna@example.org
Subject: =?ISO-8859-1?Q?R=E9union?=
Date: Sat, 31 Jan 2026 08:15:00 +0100
MIME-Version: 1.0
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Rendez-vous au caf=E9 =E0 midi.
`)

	// msgNoDate: no Date header, a tiny body.
	msgNoDate = crlf(`From: Grace <grace@example.org>
To: anna@example.org
Subject: ok

Ja.
`)
)

// fixtures are the test messages in order.
var fixtures = []string{msgPlain, msgAlt, msgMixed, msgLatin1, msgNoDate}

// ctxWithTimeout is a context for goroutines in tests.
func ctxWithTimeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
