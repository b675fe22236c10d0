package mailimport

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/testtool"
)

// tEntry is one entry of a test archive.
type tEntry struct {
	name  string
	data  []byte
	mtime time.Time
	store bool // ZIP: stored, not deflated
}

// writeZip writes entries as a ZIP at path.
func writeZip(t testing.TB, path string, entries []tEntry) {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: e.mtime}
		if e.store {
			h.Method = zip.Store
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeTgz writes entries as a gzipped tar at path; names ending in "/"
// are folders.
func writeTgz(t testing.TB, path string, entries []tEntry) {
	t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: e.mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	gz.Close()
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeTar writes entries as a plain tar at path, bzip2ed by the bzip2
// command if bz (Go has no bzip2 writer).
func writeTar(t *testing.T, path string, bz bool, entries []tEntry) {
	t.Helper()
	writeTgz(t, path+".gz", entries)
	b, err := os.ReadFile(path + ".gz")
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if bz {
		cmd := exec.Command(testtool.Need(t, "bzip2"), "-c")
		cmd.Stdin = bytes.NewReader(plain)
		if plain, err = cmd.Output(); err != nil {
			t.Fatalf("bzip2: %v", err)
		}
	}
	if err := os.WriteFile(path, plain, 0o600); err != nil {
		t.Fatal(err)
	}
}

// takeoutFixture is a Takeout as Google makes one: mail with labels, a
// Drive tree with Unicode names (NFD, as a Mac would send them), a
// calendar, contacts, and photos that caucus does not import.
type takeoutFixture struct {
	entries  []tEntry
	files    map[string]string // Drive path in the member's files -> content
	mtimes   map[string]time.Time
	ics, vcf []byte
	messages int
}

func newTakeoutFixture(messages int) *takeoutFixture {
	fx := &takeoutFixture{files: map[string]string{}, mtimes: map[string]time.Time{}, messages: messages}
	var mb mboxWriter
	for i := range messages {
		labels := "Inbox,Campaign 2027"
		switch i % 3 {
		case 1:
			labels = "Sent,Press"
		case 2:
			labels = "Campaign 2027,Starred"
		}
		mb.add(testMessage(i, 600+i%5*400, ""), labels)
	}
	dirMtime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	drive := []struct{ path, content string }{
		{"Drive/Plans/Budget 2027.xlsx", "PK fake spreadsheet exported by Takeout"},
		{"Drive/Plans/Re\u0301sume\u0301 of the campaign.docx", "PK fake document"},
		{"Drive/Kampagne/Straße/Überblick.pptx", strings.Repeat("slides ", 3000)},
		{"Drive/日本語/メモ.txt", "こんにちは"},
		{"Drive/Q&A: what? why.txt", "Drive allows : and ?"},
	}
	fx.entries = append(fx.entries, tEntry{name: "Takeout/archive_browser.html", data: []byte("<html>index</html>")})
	for i, d := range drive {
		mt := dirMtime.Add(time.Duration(i) * time.Hour)
		fx.entries = append(fx.entries, tEntry{name: "Takeout/" + d.path, data: []byte(d.content), mtime: mt})
		fx.files[drivePath(d.path)] = d.content
		fx.mtimes[drivePath(d.path)] = mt
	}
	fx.ics = []byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nBEGIN:VEVENT\r\nUID:debate-1@google.com\r\nDTSTART:20270301T180000Z\r\nSUMMARY:Debate\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
	fx.vcf = []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Press Office\r\nEMAIL:press@elsewhere.example\r\nEND:VCARD\r\n")
	fx.entries = append(fx.entries,
		tEntry{name: "Takeout/Mail/All mail Including Spam and Trash.mbox", data: mb.b.Bytes()},
		tEntry{name: "Takeout/Calendar/anna@party.example.ics", data: fx.ics},
		tEntry{name: "Takeout/Contacts/All Contacts/All Contacts.vcf", data: fx.vcf},
		tEntry{name: "Takeout/Google Photos/IMG_0001.jpg", data: []byte("\xff\xd8 not really a photo")},
	)
	return fx
}

// fakeFiles is a file store: what FileSink promises (a file given again
// with the same content changes nothing).
type fakeFiles struct {
	mu      sync.Mutex
	files   map[string]string
	mtimes  map[string]time.Time
	created map[string]int // how many times each path was created or changed
	quota   int64          // 0: none
	used    int64
	gate    func(ctx context.Context, n int) error // before the nth file (from 1)
	n       int
}

func newFakeFiles() *fakeFiles {
	return &fakeFiles{files: map[string]string{}, mtimes: map[string]time.Time{}, created: map[string]int{}}
}

func (f *fakeFiles) ImportFile(ctx context.Context, acct int64, path string, mtime time.Time, size int64, r io.Reader) (bool, error) {
	f.mu.Lock()
	f.n++
	n, gate := f.n, f.gate
	f.mu.Unlock()
	if gate != nil {
		if err := gate(ctx, n); err != nil {
			return false, err
		}
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return false, err
	}
	if size >= 0 && int64(len(b)) != size {
		return false, fmt.Errorf("size %d announced, %d read", size, len(b))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if cur, ok := f.files[path]; ok && cur == string(b) {
		return false, nil
	}
	if f.quota > 0 && f.used+int64(len(b)) > f.quota {
		return false, fmt.Errorf("%w: %d bytes left", ErrFilesQuota, f.quota-f.used)
	}
	f.used += int64(len(b))
	f.files[path], f.mtimes[path] = string(b), mtime
	f.created[path]++
	return true, nil
}

// fakeKept is a calendar or contacts store.
type fakeKept struct {
	mu  sync.Mutex
	got map[string]string // name -> content
}

func (k *fakeKept) Import(ctx context.Context, acct int64, name string, data io.Reader) error {
	b, err := io.ReadAll(data)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.got == nil {
		k.got = map[string]string{}
	}
	k.got[name] = string(b)
	return nil
}

// withTakeout gives an env a blob directory for kept files and the sinks.
func withTakeout(dir string, files *fakeFiles) func(*Options) {
	return func(o *Options) {
		kept, err := blob.OpenDir(filepath.Join(dir, "kept"))
		if err != nil {
			panic(err)
		}
		o.Kept = kept
		o.Sinks.Files = files
	}
}

// startTakeout starts a Takeout job of paths for account 1.
func (e *env) startTakeout(paths ...string) int64 {
	e.t.Helper()
	id, err := e.im.Start(context.Background(), Request{AccountID: 1, Actor: "admin", Subject: "anna", Source: SourceSpec{Kind: KindTakeout, Paths: paths}})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// entryProblems lists a report's entry problems as "name: reason".
func entryProblemList(rep Report) []string {
	var out []string
	for _, p := range rep.EntryProblems {
		out = append(out, p.Name+": "+p.Reason)
	}
	slices.Sort(out)
	return out
}
