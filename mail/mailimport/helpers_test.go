package mailimport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
	"github.com/caucus-org/caucus/mail/store"
)

// env is an importer on a database and blob directory of its own.
type env struct {
	t     testing.TB
	dir   string
	db    *db.DB
	store *store.Store
	audit *audit.Log
	im    *Importer
	logs  *syncBuffer
	stop  context.CancelFunc
	done  chan struct{}
}

// syncBuffer collects log output for checks.
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

var testKey = bytes.Repeat([]byte{7}, 32)

// newEnv opens an env in a new directory.
func newEnv(t testing.TB, opt ...func(*Options)) *env {
	return openEnv(t, t.TempDir(), opt...)
}

// openEnv opens an env on dir (a restart when dir was used before). The
// importer is not running; call start.
func openEnv(t testing.TB, dir string, opt ...func(*Options)) *env {
	t.Helper()
	return openEnvStore(t, dir, store.Options{}, opt...)
}

// openEnvStore is openEnv with a store made with sopts.
func openEnvStore(t testing.TB, dir string, sopts store.Options, opt ...func(*Options)) *env {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d := openDB(t, dir, log)
	if err := d.Migrate(context.Background(), store.Component(), audit.Component(), Component()); err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, db: d, logs: logs}
	e.store = store.New(d, blobs, log, sopts)
	e.audit = audit.New(d, time.Now, log)
	o := Options{DB: d, Store: e.store, Key: testKey, Audit: e.audit, Log: log, Rate: -1, Backoff: time.Second}
	for _, f := range opt {
		f(&o)
	}
	if e.im, err = New(o); err != nil {
		t.Fatal(err)
	}
	return e
}

// openDB opens the database of dir, closed when the test ends: on SQLite
// the file dir/caucus.db, on PostgreSQL a schema made for dir the first
// time (its connection string kept in dir/postgres.dsn), so that opening
// dir again is a restart on either engine.
func openDB(t testing.TB, dir string, log *slog.Logger) *db.DB {
	t.Helper()
	var (
		d   *db.DB
		err error
	)
	if dbtest.Engine() == db.Postgres {
		dsnFile := filepath.Join(dir, "postgres.dsn")
		dsn, rerr := os.ReadFile(dsnFile)
		if rerr != nil {
			dsn = []byte(dbtest.Create(t).DSN)
			if err := os.WriteFile(dsnFile, dsn, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		d, err = db.OpenPostgres(context.Background(), string(dsn), "", log)
	} else {
		d, err = db.Open(context.Background(), filepath.Join(dir, "caucus.db"), log)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// start runs the importer until the test ends or stopRun is called.
func (e *env) start() {
	ctx, cancel := context.WithCancel(context.Background())
	e.stop = cancel
	e.done = make(chan struct{})
	go func() {
		defer close(e.done)
		e.im.Run(ctx)
	}()
	go e.store.RunIndexer(ctx) // as caucus serve runs it
	e.t.Cleanup(e.stopRun)
}

// stopRun stops the importer and waits for it.
func (e *env) stopRun() {
	if e.stop != nil {
		e.stop()
		<-e.done
		e.stop = nil
	}
}

// waitEnd waits until the job is done, failed or cancelled, and returns
// its report.
func (e *env) waitEnd(id int64) Report {
	e.t.Helper()
	for {
		p, ch, err := e.im.Progress(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if p.State == StateDone || p.State == StateFailed || p.State == StateCancelled {
			rep, err := e.im.Report(context.Background(), id)
			if err != nil {
				e.t.Fatal(err)
			}
			if rep.Job.State == p.State {
				return rep
			}
		}
		select {
		case <-ch:
		case <-time.After(time.Second):
		}
	}
}

// stored is one message as caucus has it.
type stored struct {
	Folder string
	Hash   string
	Flags  string
	Date   int64
}

// contents lists every message of the account, sorted.
func (e *env) contents(acct int64) []stored {
	e.t.Helper()
	ctx := context.Background()
	mbs, err := e.store.Mailboxes(ctx, acct)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []stored
	for _, mb := range mbs {
		uids, err := e.store.UIDs(ctx, mb.ID)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(uids) == 0 {
			continue
		}
		msgs, err := e.store.Messages(ctx, mb.ID, uids)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, m := range msgs {
			out = append(out, stored{Folder: mb.Name, Hash: string(m.Blob), Flags: flagString(m.Flags), Date: m.InternalDate.Unix()})
		}
	}
	slices.SortFunc(out, func(a, b stored) int {
		return strings.Compare(a.Folder+a.Hash+a.Flags, b.Folder+b.Hash+b.Flags)
	})
	return out
}

// flagString is flags sorted, lower case, joined.
func flagString(flags []imap.Flag) string {
	var s []string
	for _, f := range flags {
		if !strings.EqualFold(string(f), `\Recent`) {
			s = append(s, strings.ToLower(string(f)))
		}
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

// hashOf is the blob reference of content.
func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// testMessage is message i, about size bytes, CRLF line ends.
func testMessage(i, size int, extra string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Sender %d <s%d@example.org>\r\nTo: member@caucus.test\r\nSubject: message %d\r\n", i, i, i)
	fmt.Fprintf(&b, "Date: Mon, 2 Mar 2026 10:%02d:00 +0100\r\nMessage-ID: <m%d@example.org>\r\n%sMIME-Version: 1.0\r\n", i%60, i, extra)
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
	line := fmt.Sprintf("Line of message %d, to fill it up to its size.", i)
	for b.Len() < size {
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// byFolder counts messages per folder.
func byFolder(ms []stored) map[string]int {
	out := map[string]int{}
	for _, m := range ms {
		out[m.Folder]++
	}
	return out
}
