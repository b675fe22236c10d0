package mailimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/caucus-org/caucus/mail/store"
)

// mboxWant is what importing fx's mbox as a plain mbox file gives.
func mboxWant(t *testing.T, fx *takeoutFixture) []stored {
	t.Helper()
	e := newEnv(t)
	e.start()
	var data []byte
	for _, en := range fx.entries {
		if strings.HasSuffix(en.name, ".mbox") {
			data = en.data
		}
	}
	p := filepath.Join(t.TempDir(), "All mail Including Spam and Trash.mbox")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	id, err := e.im.Start(context.Background(), Request{AccountID: 1, Actor: "admin", Source: SourceSpec{Kind: KindMbox, Paths: []string{p}}})
	if err != nil {
		t.Fatal(err)
	}
	if rep := e.waitEnd(id); rep.Job.State != StateDone || rep.Copied == 0 {
		t.Fatalf("the plain mbox import: %s, %d copied", rep.Job.State, rep.Copied)
	}
	return e.contents(1)
}

// checkDrive compares the files a job gave the file store with fx's.
func checkDrive(t *testing.T, fx *takeoutFixture, files *fakeFiles) {
	t.Helper()
	files.mu.Lock()
	defer files.mu.Unlock()
	if len(files.files) != len(fx.files) {
		t.Errorf("%d Drive files imported, want %d: %v", len(files.files), len(fx.files), files.files)
	}
	for p, want := range fx.files {
		if got, ok := files.files[p]; !ok || got != want {
			t.Errorf("Drive file %q: %q (%v), want %q", p, got, ok, want)
		}
		if !files.mtimes[p].Equal(fx.mtimes[p]) {
			t.Errorf("Drive file %q: mtime %v, want %v", p, files.mtimes[p], fx.mtimes[p])
		}
		if files.created[p] != 1 {
			t.Errorf("Drive file %q written %d times, want once", p, files.created[p])
		}
	}
}

// TestTakeoutArchives: a Takeout as a ZIP and as a gzipped tar: its mail
// lands as the same mbox imported alone does (labels to folders), its
// Drive tree in the member's files under "Google Drive" with the
// archive's modification times, its calendar and contacts are kept and
// handed to the calendar and contacts stores once they exist, and the
// photos are reported as not imported.
func TestTakeoutArchives(t *testing.T) {
	t.Parallel()
	fx := newTakeoutFixture(60)
	want := mboxWant(t, fx)
	for _, format := range []string{"zip", "tgz", "tbz", "tar"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "takeout-20261130T100000Z-001."+format)
			switch format {
			case "zip":
				writeZip(t, path, fx.entries)
			case "tgz":
				writeTgz(t, path, fx.entries)
			default:
				writeTar(t, path, format == "tbz", fx.entries)
			}
			files := newFakeFiles()
			e := openEnv(t, dir, withTakeout(dir, files))
			e.start()
			rep := e.waitEnd(e.startTakeout(path))
			if rep.Job.State != StateDone {
				t.Fatalf("state %s: %s", rep.Job.State, rep.Job.Message)
			}
			compare(t, e.contents(1), want)
			checkDrive(t, fx, files)
			if p, _, _ := e.im.Progress(context.Background(), rep.Job.ID); p.Files != int64(len(fx.files)) || p.Kept != 2 {
				t.Errorf("progress: %d files, %d kept", p.Files, p.Kept)
			}
			if rep.Files != int64(len(fx.files)) || rep.Calendars != 1 || rep.Contacts != 1 || rep.CalendarsWaiting != 1 || rep.ContactsWaiting != 1 {
				t.Errorf("report: %d files, %d/%d calendars kept/waiting, %d/%d contacts", rep.Files, rep.Calendars, rep.CalendarsWaiting, rep.Contacts, rep.ContactsWaiting)
			}
			if got := entryProblemList(rep); len(got) != 0 {
				t.Errorf("entries that failed: %q", got)
			}
			if fmt.Sprint(rep.Skipped) != "[{Google Photos 1} {archive_browser.html 1}]" {
				t.Errorf("entries left out: %v", rep.Skipped)
			}
			var text strings.Builder
			rep.WriteText(&text)
			for _, s := range []string{"Google Drive: 5 files", "Calendars: 1 kept, 1 waiting for calendars", "Google Photos: 1\n"} {
				if !strings.Contains(text.String(), s) {
					t.Errorf("the report does not say %q:\n%s", s, text.String())
				}
			}

			// The calendar and contacts stores arrive (after a merge, a
			// restart): what was kept is handed over, once.
			e.stopRun()
			cals, cards := &fakeKept{}, &fakeKept{}
			e.im.SetSinks(Sinks{Files: files, Calendars: cals, Contacts: cards})
			if n, err := e.im.DeliverKept(context.Background()); err != nil || n != 2 {
				t.Fatalf("delivered %d kept files (%v), want 2", n, err)
			}
			if cals.got["Calendar/anna@party.example.ics"] != string(fx.ics) || cards.got["Contacts/All Contacts/All Contacts.vcf"] != string(fx.vcf) {
				t.Errorf("handed over: calendars %q, contacts %q", cals.got, cards.got)
			}
			if n, _ := e.im.DeliverKept(context.Background()); n != 0 {
				t.Errorf("delivered %d again", n)
			}
			if rep, _ := e.im.Report(context.Background(), rep.Job.ID); rep.CalendarsWaiting != 0 || rep.ContactsWaiting != 0 {
				t.Errorf("still waiting after delivery: %d, %d", rep.CalendarsWaiting, rep.ContactsWaiting)
			}
		})
	}
}

// TestTakeoutSplit: a Takeout in two archives (takeout-…-001.zip and
// -002.tgz) is one job; the result is the same as one archive.
func TestTakeoutSplit(t *testing.T) {
	t.Parallel()
	fx := newTakeoutFixture(30)
	want := mboxWant(t, fx)
	dir := t.TempDir()
	half := len(fx.entries) / 2
	p1, p2 := filepath.Join(dir, "takeout-001.zip"), filepath.Join(dir, "takeout-002.tgz")
	writeZip(t, p1, fx.entries[:half])
	writeTgz(t, p2, fx.entries[half:])
	files := newFakeFiles()
	e := openEnv(t, dir, withTakeout(dir, files))
	e.start()
	for _, bad := range [][]string{{p1, filepath.Join(dir, "takeout-003.zip")}, {dir}} {
		if _, err := e.im.Start(context.Background(), Request{AccountID: 1, Actor: "admin", Source: SourceSpec{Kind: KindTakeout, Paths: bad}}); !errors.Is(err, ErrBadSource) {
			t.Errorf("a job of %v: %v, want ErrBadSource", bad, err)
		}
	}
	rep := e.waitEnd(e.startTakeout(p1, p2))
	if rep.Job.State != StateDone {
		t.Fatalf("state %s: %s", rep.Job.State, rep.Job.Message)
	}
	compare(t, e.contents(1), want)
	checkDrive(t, fx, files)
	if rep.Calendars != 1 || rep.Contacts != 1 {
		t.Errorf("kept %d calendars, %d contacts", rep.Calendars, rep.Contacts)
	}
}

// TestTakeoutFilesQuota: Drive files that would take the member over
// their file quota stop the job before, with a clear message.
func TestTakeoutFilesQuota(t *testing.T) {
	t.Parallel()
	fx := newTakeoutFixture(3)
	dir := t.TempDir()
	path := filepath.Join(dir, "takeout.zip")
	writeZip(t, path, fx.entries)
	files := newFakeFiles()
	files.quota = 100
	e := openEnv(t, dir, withTakeout(dir, files))
	e.start()
	rep := e.waitEnd(e.startTakeout(path))
	if rep.Job.State != StateFailed || !strings.Contains(rep.Job.Message, "file storage is full") {
		t.Fatalf("state %s: %q", rep.Job.State, rep.Job.Message)
	}
	if files.used > files.quota {
		t.Errorf("%d bytes stored over a quota of %d", files.used, files.quota)
	}
}

// gatedStore lets the batches of the first after messages through, then
// holds the rest until their context ends: a job stopped in the middle
// of its mail.
type gatedStore struct {
	Store
	mu      sync.Mutex
	n       int
	after   int
	reached chan struct{}
	passing sync.WaitGroup // batches let through, until written
}

// ImportBatch lets batches through until after messages have been given,
// then holds every batch until the job is stopped. It says the gate is
// reached only once the batches let through (by other workers, at the
// same time) are written, so that the job has copied some mail by then.
func (g *gatedStore) ImportBatch(ctx context.Context, acct int64, msgs []store.ImportMessage) ([]store.Imported, error) {
	g.mu.Lock()
	pass := g.n < g.after
	g.n += len(msgs)
	var reached chan struct{}
	if pass {
		g.passing.Add(1)
	} else {
		reached, g.reached = g.reached, nil
	}
	g.mu.Unlock()
	if pass {
		defer g.passing.Done()
		return g.Store.ImportBatch(ctx, acct, msgs)
	}
	if reached != nil {
		g.passing.Wait()
		close(reached)
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestTakeoutRestart stops caucus in the middle of a Takeout job twice,
// once among the Drive files and once in the mail, and starts a new
// importer on the same database each time: the result equals an
// uninterrupted import, message for message and file for file, with no
// file written twice and each calendar kept once.
func TestTakeoutRestart(t *testing.T) {
	t.Parallel()
	fx := newTakeoutFixture(90)
	want := mboxWant(t, fx)
	dir := t.TempDir()
	path := filepath.Join(dir, "takeout.tgz")
	writeTgz(t, path, fx.entries)
	files := newFakeFiles()
	var id int64
	for run, stop := range []string{"files", "mail", ""} {
		reached := make(chan struct{})
		files.gate = nil
		if stop == "files" {
			files.gate = func(ctx context.Context, n int) error {
				if n < 3 {
					return nil
				}
				if n == 3 {
					close(reached)
				}
				<-ctx.Done()
				return ctx.Err()
			}
		}
		e := openEnv(t, dir, withTakeout(dir, files), func(o *Options) {
			if stop == "mail" {
				o.Store = &gatedStore{Store: o.Store, after: 25, reached: reached}
			}
		})
		e.start()
		if run == 0 {
			id = e.startTakeout(path)
		}
		if stop == "" {
			rep := e.waitEnd(id)
			if rep.Job.State != StateDone || rep.Copied != 90 || rep.Duplicates != 0 || rep.Calendars != 1 || rep.Contacts != 1 {
				t.Fatalf("report: %s %q, %d copied, %d duplicates, %d calendars, %d contacts", rep.Job.State, rep.Job.Message, rep.Copied, rep.Duplicates, rep.Calendars, rep.Contacts)
			}
			compare(t, e.contents(1), want)
			checkDrive(t, fx, files)
			var kept int
			e.db.QueryRow(`SELECT count(*) FROM mailimport_kept`).Scan(&kept)
			if kept != 2 {
				t.Errorf("%d kept files, want 2", kept)
			}
			return
		}
		<-reached
		if p, _, _ := e.im.Progress(context.Background(), id); stop == "files" {
			fi, _ := os.Stat(path)
			if p.State != StateRunning || p.ArchiveBytes != fi.Size() || p.ArchiveRead <= 0 || p.ArchiveRead > p.ArchiveBytes {
				t.Errorf("progress among the Drive files: %s, %d of %d archive bytes read (the archive has %d)", p.State, p.ArchiveRead, p.ArchiveBytes, fi.Size())
			}
		}
		e.stopRun()
		p, _, err := e.im.Progress(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if p.State != StateQueued || stop == "files" && (p.Files != 2 || p.Copied != 0) || stop == "mail" && (p.Copied == 0 || p.Copied >= 90) {
			t.Fatalf("after run %d: state %s, %d files, %d messages; want queued, stopped among the %s", run, p.State, p.Files, p.Copied, stop)
		}
		e.db.Close()
	}
}

// refusingKept is a store that refuses every file for good.
type refusingKept struct{ calls atomic.Int32 }

func (k *refusingKept) Import(context.Context, int64, string, io.Reader) error {
	k.calls.Add(1)
	return fmt.Errorf("%w: no UID in an event", ErrRefused)
}

// TestTakeoutCalendarRefused: a calendar the calendar store refuses for
// good is reported as not imported, with the store's reason, and is not
// handed over again at the next start (it was reported as waiting, and
// tried again, forever).
func TestTakeoutCalendarRefused(t *testing.T) {
	t.Parallel()
	fx := newTakeoutFixture(3)
	dir := t.TempDir()
	path := filepath.Join(dir, "takeout-001.zip")
	writeZip(t, path, fx.entries)
	files := newFakeFiles()
	cals, cards := &refusingKept{}, &fakeKept{}
	e := openEnv(t, dir, withTakeout(dir, files), func(o *Options) { o.Sinks.Calendars, o.Sinks.Contacts = cals, cards })
	e.start()
	rep := e.waitEnd(e.startTakeout(path))
	if rep.Job.State != StateDone {
		t.Fatalf("state %s: %s", rep.Job.State, rep.Job.Message)
	}
	if rep.CalendarsWaiting != 0 || rep.Calendars != 0 || rep.Contacts != 1 {
		t.Errorf("report: %d calendars imported, %d waiting; %d contacts", rep.Calendars, rep.CalendarsWaiting, rep.Contacts)
	}
	if got := entryProblemList(rep); len(got) != 1 || !strings.Contains(got[0], "no UID in an event") {
		t.Errorf("entries that failed: %q", got)
	}
	e.stopRun()
	if n, err := e.im.DeliverKept(context.Background()); err != nil || n != 0 {
		t.Errorf("DeliverKept after the refusal: %d, %v", n, err)
	}
	if n := cals.calls.Load(); n != 1 {
		t.Errorf("the calendar store was asked %d times, want once", n)
	}
}
