package server

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/mail/mailimport"
)

// The member a Takeout is imported for: the dev server's first admin.
const takeoutLogin = crashRcpt

// writeTakeoutZip writes a Google Takeout as a ZIP: an mbox of messages
// with X-Gmail-Labels, a Drive tree of files with Unicode names (in NFD,
// as a Mac sends them) and their modification times, a calendar and an
// address book.
func writeTakeoutZip(t *testing.T, path string, messages, driveFiles int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	add := func(name string, mtime time.Time, data []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: mtime})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	base := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	folders := []string{"Kampagne 2027/Pla\u0308ne", "Presse/Communique\u0301s", "日本語", "Finanzen/Stra\u00dfe", "Q&A"}
	for i := range driveFiles {
		name := fmt.Sprintf("Takeout/Drive/%s/Dokument %d — E\u0301te\u0301.docx", folders[i%len(folders)], i)
		add(name, base.Add(time.Duration(i)*time.Minute), bytes.Repeat(fmt.Appendf(nil, "file %d, a line of its text.\n", i), 50+i%40))
	}
	var mb bytes.Buffer
	labels := []string{"Inbox,Campaign 2027", "Sent", "Campaign 2027,Starred", "Inbox,Unread,Presse/Anfragen", "Archived"}
	for i := range messages {
		fmt.Fprintf(&mb, "From 17%017d@xxx Mon Nov 30 10:%02d:00 +0000 2026\n", i, i%60)
		fmt.Fprintf(&mb, "X-GM-THRID: 17%017d\nX-Gmail-Labels: %s\n", i, labels[i%len(labels)])
		fmt.Fprintf(&mb, "From: Sender %d <s%d@elsewhere.example>\nTo: %s\nSubject: message %d\nMessage-ID: <takeout-%d@elsewhere.example>\n", i, i, takeoutLogin, i, i)
		fmt.Fprintf(&mb, "Date: Mon, 30 Nov 2026 10:%02d:00 +0000\n\n", i%60)
		for j := range 30 + i%20 {
			fmt.Fprintf(&mb, "Line %d of message %d: the committee meets on Thursday.\n", j, i)
		}
		mb.WriteString(">From the archive, quoted.\n\n")
	}
	add("Takeout/Mail/All mail Including Spam and Trash.mbox", base, mb.Bytes())
	add("Takeout/Calendar/"+takeoutLogin+".ics", base, []byte("BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nVERSION:2.0\r\nMETHOD:PUBLISH\r\nBEGIN:VEVENT\r\nUID:e1@google.com\r\nDTSTAMP:20261201T000000Z\r\nDTSTART:20270301T180000Z\r\nDTEND:20270301T190000Z\r\nSUMMARY:Debate\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"))
	add("Takeout/Contacts/All Contacts/All Contacts.vcf", base, []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Press Office\r\nEND:VCARD\r\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// takeoutResult is what a member has after an import: every message
// (folder, blob, flags, date) and every file below "Google Drive" (path,
// content hash, modification time), sorted.
type takeoutResult struct {
	messages []string
	files    []string
	kept     int
}

// readTakeoutResult starts caucus in process on dir (the job is done)
// and reads what the member has.
func readTakeoutResult(t *testing.T, dir string) takeoutResult {
	t.Helper()
	ctx := t.Context()
	cfg := config.Dev(dir)
	cfg.Listen = FreeListen(cfg.Listen)
	srv, err := start(ctx, cfg, Deps{Dev: true, Log: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})), Out: io.Discard})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	acct, err := srv.auth.AccountByLogin(ctx, takeoutLogin)
	if err != nil {
		t.Fatal(err)
	}
	var res takeoutResult
	mbs, err := srv.mail.Mailboxes(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range mbs {
		uids, err := srv.mail.UIDs(ctx, mb.ID)
		if err != nil || len(uids) == 0 {
			continue
		}
		msgs, err := srv.mail.Messages(ctx, mb.ID, uids)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			res.messages = append(res.messages, fmt.Sprintf("%s %s %v %d", mb.Name, m.Blob, m.Flags, m.InternalDate.Unix()))
		}
	}
	actor := files.Actor{ID: acct.ID, Login: takeoutLogin}
	var walk func(p string)
	walk = func(p string) {
		nodes, err := srv.files.List(ctx, actor, p)
		if err != nil {
			t.Fatalf("list %s: %v", p, err)
		}
		for _, n := range nodes {
			if n.Dir {
				walk(n.Path)
				continue
			}
			r, _, err := srv.files.Open(ctx, actor, n.ID)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			io.Copy(h, r)
			r.Close()
			res.files = append(res.files, fmt.Sprintf("%s %s %s v%d", n.Path, hex.EncodeToString(h.Sum(nil))[:16], n.ModTime.UTC().Format(time.RFC3339), n.Versions))
		}
	}
	walk("/Home/Google Drive")
	srv.db.QueryRowContext(ctx, `SELECT count(*) FROM mailimport_kept WHERE account_id = ?`, acct.ID).Scan(&res.kept)
	slices.Sort(res.messages)
	slices.Sort(res.files)
	return res
}

// importProgress reads a running caucus's database (read only, beside
// it): Drive files done, messages done, and whether the job ended.
func importProgress(t *testing.T, dir string) (driveFiles, messages int, state string) {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "caucus.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.QueryRow(`SELECT count(*) FROM mailimport_entries WHERE kind = 'drive'`).Scan(&driveFiles)
	d.QueryRow(`SELECT count(*) FROM mailimport_items`).Scan(&messages)
	d.QueryRow(`SELECT state FROM mailimport_jobs ORDER BY id DESC LIMIT 1`).Scan(&state)
	return driveFiles, messages, state
}

// TestTakeoutKilled imports a Google Takeout ZIP into the real caucus
// process with `caucus admin import LOGIN --takeout FILE`, SIGKILLs it
// once among the Drive files and once in the mail, starts it again each
// time, and compares what the member has at the end with an import of
// the same archive that nothing interrupted: message for message (folder,
// body, flags, date), file for file (path in NFC, content, modification
// time, one version), and the calendar and contacts kept once.
func TestTakeoutKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs caucus as a child process and kills it twice; go test without -short runs it")
	}
	t.Parallel()
	const messages, driveFiles = 3000, 300
	archive := filepath.Join(t.TempDir(), "takeout-20261130T100000Z-001.zip")
	writeTakeoutZip(t, archive, messages, driveFiles)

	runImport := func(dir string, kills []func(drive, msgs int) bool) {
		child := startCrashChild(t, dir)
		code, out, errOut := runCLI(t, "admin", "import", takeoutLogin, "--takeout", archive, "--data", dir)
		if code != 0 || !regexp.MustCompile(`import job \d+ started`).MatchString(out) {
			t.Fatalf("caucus admin import --takeout: exit %d\n%s%s", code, out, errOut)
		}
		for i, kill := range kills {
			for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(5 * time.Millisecond) {
				drive, msgs, state := importProgress(t, dir)
				if state == "done" || state == "failed" || time.Now().After(deadline) {
					t.Fatalf("kill %d: the job is %s (%d Drive files, %d messages) before the moment to kill it", i+1, state, drive, msgs)
				}
				if kill(drive, msgs) {
					child.kill(t)
					t.Logf("kill %d: SIGKILL with %d of %d Drive files and %d of %d messages done", i+1, drive, driveFiles, msgs, messages)
					break
				}
			}
			child = startCrashChild(t, dir)
		}
		for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
			_, _, state := importProgress(t, dir)
			if state == "done" {
				break
			}
			if state == "failed" || time.Now().After(deadline) {
				t.Fatalf("the job is %s; caucus's log:\n%s", state, child.stderr.tail())
			}
		}
		_, report, _ := runCLI(t, "admin", "import-report", "--job", "1", "--data", dir)
		for _, want := range []string{"state done", fmt.Sprintf("Copied %d messages", messages), fmt.Sprintf("Google Drive: %d files", driveFiles), "Calendars: 1 kept.", "Contacts: 1 kept."} {
			if !strings.Contains(report, want) {
				t.Errorf("the report does not say %q:\n%s", want, report)
			}
		}
		child.cmd.Process.Signal(syscall.SIGTERM)
		<-child.exited
	}

	whole, killed := filepath.Join(t.TempDir(), "data"), filepath.Join(t.TempDir(), "data")
	runImport(whole, nil)
	runImport(killed, []func(drive, msgs int) bool{
		func(drive, msgs int) bool { return drive >= driveFiles/4 },
		func(drive, msgs int) bool { return msgs >= messages/4 },
	})
	want, got := readTakeoutResult(t, whole), readTakeoutResult(t, killed)
	if len(want.messages) < messages || len(want.files) != driveFiles || want.kept != 2 {
		t.Fatalf("the uninterrupted import has %d messages, %d files, %d kept", len(want.messages), len(want.files), want.kept)
	}
	if !strings.Contains(strings.Join(want.files, "\n"), "/Home/Google Drive/Kampagne 2027/Pläne/Dokument 0 — Été.docx") {
		t.Errorf("the Drive tree is not in NFC under Google Drive:\n%s", strings.Join(want.files[:5], "\n"))
	}
	for name, pair := range map[string][2][]string{"messages": {want.messages, got.messages}, "files": {want.files, got.files}} {
		w, g := pair[0], pair[1]
		if !slices.Equal(w, g) {
			t.Errorf("%s after two kills: %d, uninterrupted %d", name, len(g), len(w))
			for _, s := range g {
				if !slices.Contains(w, s) {
					t.Errorf("  only after the kills: %s", s)
					break
				}
			}
			for _, s := range w {
				if !slices.Contains(g, s) {
					t.Errorf("  missing after the kills: %s", s)
					break
				}
			}
		}
	}
	if got.kept != want.kept {
		t.Errorf("%d calendar and contacts files kept after the kills, %d without", got.kept, want.kept)
	}
}

// TestTakeoutFilesQuota: in the running server, a Takeout whose Drive
// does not fit the member's file quota stops before exceeding it and
// says why (the file store's refusal reaches the importer as such, not
// as one failed file after another).
func TestTakeoutFilesQuota(t *testing.T) {
	t.Parallel()
	srv, _ := startMailDev(t)
	ctx := t.Context()
	anna := newMailAccount(t, srv, "anna@"+srv.cfg.MailDomains[0])
	archive := filepath.Join(t.TempDir(), "takeout.zip")
	writeTakeoutZip(t, archive, 5, 40)
	if err := srv.files.SetQuota(ctx, "admin@localhost", anna.id, 20<<10); err != nil {
		t.Fatal(err)
	}
	id, err := srv.imports.Start(ctx, mailimport.Request{AccountID: anna.id, Actor: "admin@localhost", Subject: anna.login,
		Source: mailimport.SourceSpec{Kind: mailimport.KindTakeout, Paths: []string{archive}}})
	if err != nil {
		t.Fatal(err)
	}
	var p mailimport.Progress
	for deadline := time.Now().Add(time.Minute); ; {
		var ch <-chan struct{}
		if p, ch, err = srv.imports.Progress(ctx, id); err != nil {
			t.Fatal(err)
		}
		if p.State == mailimport.StateFailed || p.State == mailimport.StateDone || time.Now().After(deadline) {
			break
		}
		select {
		case <-ch:
		case <-time.After(time.Second):
		}
	}
	if p.State != mailimport.StateFailed || !strings.Contains(p.Message, "file storage is full") {
		t.Fatalf("the job: %s, %q", p.State, p.Message)
	}
	if used, _, _ := srv.files.Usage(ctx, anna.id); used > 20<<10 || used == 0 {
		t.Errorf("%d bytes of files stored with a quota of %d", used, 20<<10)
	}
}
