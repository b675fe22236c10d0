package mailimport

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// runTakeout imports the archives at paths into a new env and returns
// its report and the file store.
func runTakeout(t *testing.T, dir string, paths ...string) (Report, *fakeFiles, *env) {
	t.Helper()
	files := newFakeFiles()
	e := openEnv(t, dir, withTakeout(dir, files))
	e.start()
	rep := e.waitEnd(e.startTakeout(paths...))
	if rep.Job.State != StateDone {
		t.Fatalf("state %s: %s", rep.Job.State, rep.Job.Message)
	}
	return rep, files, e
}

// wantProblems checks that the report lists each of want (substrings
// of "name: reason") and nothing else.
func wantProblems(t *testing.T, rep Report, want ...string) {
	t.Helper()
	got := entryProblemList(rep)
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || strings.Contains(g, w)
		}
		if !found {
			t.Errorf("the report does not list %q; it lists:\n%s", w, strings.Join(got, "\n"))
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d entries not imported, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
}

// TestTakeoutUnsafeNames: names that could escape the tree (.., absolute,
// backslashes, a drive letter, empty elements) and a name given twice are
// refused and reported, in a ZIP and in a tar; the rest imports.
func TestTakeoutUnsafeNames(t *testing.T) {
	t.Parallel()
	entries := []tEntry{
		{name: "Takeout/Drive/good.txt", data: []byte("good")},
		{name: "../escape.txt", data: []byte("x")},
		{name: "Takeout/Drive/../../escape.txt", data: []byte("x")},
		{name: "/etc/cron.d/evil", data: []byte("x")},
		{name: "Takeout\\Drive\\win.txt", data: []byte("x")},
		{name: "C:/Windows/evil.txt", data: []byte("x")},
		{name: "Takeout/Drive//empty.txt", data: []byte("x")},
		{name: "Takeout/Drive/./dot.txt", data: []byte("x")},
		{name: "Takeout/Drive/dup.txt", data: []byte("first")},
		{name: "Takeout/Drive/dup.txt", data: []byte("second")},
		{name: "Takeout/Drive/Caf\u00e9.txt", data: []byte("NFC")},
		{name: "Takeout/Drive/Cafe\u0301.txt", data: []byte("NFD")}, // the same name to the file store
	}
	for _, format := range []string{"zip", "tgz"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "takeout."+format)
			if format == "zip" {
				writeZip(t, path, entries)
			} else {
				writeTgz(t, path, entries)
			}
			rep, files, _ := runTakeout(t, dir, path)
			if len(files.files) != 3 || files.files["Google Drive/good.txt"] != "good" || files.files["Google Drive/dup.txt"] != "first" || files.files["Google Drive/Caf\u00e9.txt"] != "NFC" {
				t.Errorf("imported %q", files.files)
			}
			wantProblems(t, rep, "../escape.txt: unsafe", "Takeout/Drive/../../escape.txt: unsafe", "/etc/cron.d/evil: unsafe name in the archive: absolute",
				`Takeout\Drive\win.txt: unsafe`, "C:/Windows/evil.txt: unsafe", "Takeout/Drive//empty.txt: unsafe", "Takeout/Drive/./dot.txt: unsafe",
				"Takeout/Drive/dup.txt: the same name appears twice", "Takeout/Drive/Cafe\u0301.txt: the same name appears twice")
		})
	}
}

// TestTakeoutBombs: an entry that expands more than maxRatio times, ZIP
// entries that share their compressed data (the overlapping "better zip
// bomb"), and a gzip stream that expands too much are refused before
// they fill anything; a plain entry beside them imports.
func TestTakeoutBombs(t *testing.T) {
	t.Parallel()
	zeros := make([]byte, 8<<20) // deflates to ~8 KiB: a ratio near 1000
	var text []byte
	for i := range 20000 {
		text = fmt.Appendf(text, "Minutes of board meeting %d, item %d: the treasurer reported %d members and %d euros.\n", i/40, i%40, 1000+i*7%977, i*7919%100003)
	}

	dir := t.TempDir()
	ratio := filepath.Join(dir, "ratio.zip")
	writeZip(t, ratio, []tEntry{{name: "Takeout/Drive/zeros.bin", data: zeros}, {name: "Takeout/Drive/minutes.txt", data: text}})
	rep, files, _ := runTakeout(t, dir, ratio)
	wantProblems(t, rep, "zeros.bin: the archive expands far more")
	if len(files.files) != 1 || files.files["Google Drive/minutes.txt"] != string(text) {
		t.Errorf("imported %d files", len(files.files))
	}

	// Two central directory entries pointing at the same local data.
	dir2 := t.TempDir()
	overlap := filepath.Join(dir2, "overlap.zip")
	writeZip(t, overlap, []tEntry{{name: "Takeout/Drive/a.txt", data: text}, {name: "Takeout/Drive/b.txt", data: text}, {name: "Takeout/Drive/c.txt", data: []byte("c")}})
	b, _ := os.ReadFile(overlap)
	cd := bytes.Index(b, []byte("PK\x01\x02"))
	second := cd + 1 + bytes.Index(b[cd+1:], []byte("PK\x01\x02"))
	copy(b[second+42:second+46], b[cd+42:cd+46]) // b's local header offset := a's
	if err := os.WriteFile(overlap, b, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, files, _ = runTakeout(t, dir2, overlap)
	wantProblems(t, rep, "a.txt: the archive expands", "b.txt: the archive expands")
	if len(files.files) != 1 || files.files["Google Drive/c.txt"] != "c" {
		t.Errorf("imported %q", files.files)
	}

	// A gzip stream of zeros: the entry and the rest of the archive.
	dir3 := t.TempDir()
	gz := filepath.Join(dir3, "bomb.tgz")
	writeTgz(t, gz, []tEntry{{name: "Takeout/Drive/first.txt", data: []byte("first")}, {name: "Takeout/Drive/zeros.bin", data: zeros}, {name: "Takeout/Drive/after.txt", data: []byte("after")}})
	rep, files, _ = runTakeout(t, dir3, gz)
	wantProblems(t, rep, "zeros.bin: the archive cannot be read: Takeout/Drive/zeros.bin: the archive expands", "bomb.tgz: the archive cannot be read")
	if len(files.files) != 1 || files.files["Google Drive/first.txt"] != "first" {
		t.Errorf("imported %q", files.files)
	}
}

// TestTakeoutDamaged: a truncated ZIP (no central directory), a ZIP
// entry that fails its checksum, a gzipped tar cut in the middle of a
// file, and an mbox whose end is damaged: the report says what could not
// be read, nothing half-read is visible, and what could be read imports.
func TestTakeoutDamaged(t *testing.T) {
	t.Parallel()
	fx := newTakeoutFixture(20)
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<14) // 256 KiB
	var mbox []byte
	for _, e := range fx.entries {
		if strings.HasSuffix(e.name, ".mbox") {
			mbox = e.data
		}
	}

	// A ZIP cut short: its central directory is gone.
	cut := filepath.Join(dir, "cut.zip")
	writeZip(t, cut, fx.entries)
	b, _ := os.ReadFile(cut)
	os.WriteFile(cut, b[:len(b)*2/3], 0o600)

	// Stored entries with one byte changed: a Drive file, the mbox's end.
	crc := filepath.Join(dir, "crc.zip")
	writeZip(t, crc, []tEntry{{name: "Takeout/Drive/ok.txt", data: []byte("ok")}, {name: "Takeout/Drive/bad.bin", data: big, store: true},
		{name: "Takeout/Mail/Bad.mbox", data: mbox, store: true}})
	b, _ = os.ReadFile(crc)
	b[bytes.Index(b, big)+1000] ^= 1
	mb := bytes.Index(b, mbox)
	b[mb+len(mbox)-3] ^= 1
	os.WriteFile(crc, b, 0o600)

	// A gzipped tar cut inside a large file.
	tgz := filepath.Join(dir, "cut.tgz")
	rnd := make([]byte, 1<<20)
	for i := range rnd {
		rnd[i] = byte(i*7919 + i>>8*31) // compresses poorly
	}
	writeTgz(t, tgz, []tEntry{{name: "Takeout/Drive/before.txt", data: []byte("before")}, {name: "Takeout/Drive/big.bin", data: rnd},
		{name: "Takeout/Drive/after.txt", data: []byte("after")}})
	b, _ = os.ReadFile(tgz)
	os.WriteFile(tgz, b[:len(b)/2], 0o600)

	rep, files, e := runTakeout(t, dir, cut, crc, tgz)
	wantProblems(t, rep, "cut.zip: the archive cannot be read", "Takeout/Drive/bad.bin: the archive cannot be read: Takeout/Drive/bad.bin: zip: checksum error",
		"Takeout/Mail/Bad.mbox: could not be read to its end", "Takeout/Drive/big.bin: the archive cannot be read", "cut.tgz: the archive cannot be read")
	if len(files.files) != 2 || files.files["Google Drive/ok.txt"] != "ok" || files.files["Google Drive/before.txt"] != "before" {
		t.Errorf("imported %q", files.files)
	}
	// The mbox's messages before the damage are whole; the last one,
	// which the damage ends, is not there.
	if got := len(e.contents(1)); rep.Copied != 19 || got == 0 {
		t.Errorf("%d messages copied (%d stored) from the damaged mbox, want 19 of 20", rep.Copied, got)
	}
}

// TestZipOffsetsPatched guards the overlap test's patching: the offset
// field is where APPNOTE 4.3.12 puts it.
func TestZipOffsetsPatched(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "x.zip")
	writeZip(t, p, []tEntry{{name: "a", data: []byte("a")}, {name: "b", data: []byte("b")}})
	b, _ := os.ReadFile(p)
	cd := bytes.Index(b, []byte("PK\x01\x02"))
	second := cd + 1 + bytes.Index(b[cd+1:], []byte("PK\x01\x02"))
	if off := binary.LittleEndian.Uint32(b[second+42:]); off == 0 || !bytes.Equal(b[off:off+4], []byte("PK\x03\x04")) {
		t.Fatalf("second entry's local header offset %d does not point at a local header", off)
	}
}

// TestTakeoutLimits: each bound on an archive holds at its edge: the
// number of entries, a name's length, a kept calendar's size; and a tar's
// links and devices are refused (a symbolic link could point anywhere).
func TestTakeoutLimits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	three := []tEntry{{name: "a", data: []byte("a")}, {name: "b", data: []byte("b")}, {name: "c", data: []byte("c")}}
	for _, format := range []string{"zip", "tgz"} {
		p := filepath.Join(dir, "three."+format)
		if format == "zip" {
			writeZip(t, p, three)
		} else {
			writeTgz(t, p, three)
		}
		for limit, wantErr := range map[int]bool{3: false, 2: true} {
			a, err := openArchiveMax(p, limit)
			if err == nil {
				err = a.walk(context.Background(), func(*entry, io.Reader) error { return nil })
				a.Close()
			}
			if gotErr := errors.Is(err, errArchive) && strings.Contains(fmt.Sprint(err), "more than 2 entries"); gotErr != wantErr {
				t.Errorf("%s of 3 entries, at most %d: %v", format, limit, err)
			}
		}
	}

	long := strings.Repeat("n/", maxEntryName/2)
	for raw, ok := range map[string]bool{long[:maxEntryName-1] + "x": true, long + "x": false} {
		if _, _, err := checkName(raw); (err == nil) != ok {
			t.Errorf("a name of %d bytes: %v", len(raw), err)
		}
	}

	// A tar with a symbolic link, a hard link and a device.
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for _, h := range []*tar.Header{
		{Name: "Takeout/Drive/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"},
		{Name: "Takeout/Drive/hard", Typeflag: tar.TypeLink, Linkname: "Takeout/Drive/x"},
		{Name: "Takeout/Drive/dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	gz.Close()
	links := filepath.Join(dir, "links.tgz")
	os.WriteFile(links, b.Bytes(), 0o600)

	// A calendar of maxKept bytes is kept, one more is refused.
	ics := func(n int) []byte {
		return append([]byte("BEGIN:VCALENDAR\r\n"), make([]byte, n-len("BEGIN:VCALENDAR\r\n"))...)
	}
	cals := filepath.Join(dir, "calendars.zip")
	writeZip(t, cals, []tEntry{{name: "Takeout/Calendar/edge.ics", data: ics(maxKept), store: true}, {name: "Takeout/Calendar/over.ics", data: ics(maxKept + 1), store: true}})

	rep, _, _ := runTakeout(t, dir, links, cals)
	wantProblems(t, rep, "Takeout/Drive/link: unsafe name in the archive: not a regular file", "Takeout/Drive/hard: unsafe name in the archive: not a regular file",
		"Takeout/Drive/dev: unsafe name in the archive: not a regular file", "Takeout/Calendar/over.ics: larger than 64 MiB")
	if rep.Calendars != 1 {
		t.Errorf("%d calendars kept, want the one of exactly %d bytes", rep.Calendars, maxKept)
	}
}

// paxRecord is one pax extended header record ("%d %s=%s\n", its length
// counting itself).
func paxRecord(k, v string) string {
	s := " " + k + "=" + v + "\n"
	for n := len(s); ; {
		l := len(strconv.Itoa(n)) + len(s)
		if l == n {
			return strconv.Itoa(n) + s
		}
		n = l
	}
}

// sparseTar is a tar of a few KiB holding a pax sparse file (GNU sparse
// format 1.0) that reads as size bytes of zeros; Go's tar writer cannot
// write one, so its extended header is made by hand.
func sparseTar(t *testing.T, size int64) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "Takeout/Drive/first.txt", Typeflag: tar.TypeReg, Size: 5, Format: tar.FormatUSTAR})
	tw.Write([]byte("first"))
	tw.Flush() // the padding of first.txt
	at := b.Len()
	recs := paxRecord("GNU.sparse.major", "1") + paxRecord("GNU.sparse.minor", "0") +
		paxRecord("GNU.sparse.name", "Takeout/Drive/sparse.bin") + paxRecord("GNU.sparse.realsize", strconv.FormatInt(size, 10))
	tw.WriteHeader(&tar.Header{Name: "PaxHeaders/sparse", Typeflag: tar.TypeReg, Size: int64(len(recs)), Format: tar.FormatUSTAR})
	tw.Write([]byte(recs))
	sparseMap := make([]byte, 512)
	copy(sparseMap, "1\n0\n0\n") // one region of data, empty: the rest is a hole
	tw.WriteHeader(&tar.Header{Name: "sparse", Typeflag: tar.TypeReg, Size: 512, Format: tar.FormatUSTAR})
	tw.Write(sparseMap)
	tw.WriteHeader(&tar.Header{Name: "Takeout/Drive/after.txt", Typeflag: tar.TypeReg, Size: 5, Format: tar.FormatUSTAR})
	tw.Write([]byte("after"))
	tw.Close()
	raw := b.Bytes()
	hdr := raw[at : at+512]
	hdr[156] = tar.TypeXHeader
	copy(hdr[148:156], "        ")
	sum := 0
	for _, c := range hdr {
		sum += int(c)
	}
	copy(hdr[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return raw
}

// TestTakeoutSparseBomb: a tar's sparse file reads as far more bytes than
// the archive holds (a 4 KiB tar, a 64 MiB file of zeros), without any
// compression to bound it: refused, plain or gzipped, and the other
// files import.
func TestTakeoutSparseBomb(t *testing.T) {
	t.Parallel()
	raw := sparseTar(t, 64<<20)
	dir := t.TempDir()
	plain, gzipped := filepath.Join(dir, "sparse.tar"), filepath.Join(dir, "sparse.tgz")
	os.WriteFile(plain, raw, 0o600)
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(raw)
	zw.Close()
	os.WriteFile(gzipped, b.Bytes(), 0o600)
	for _, p := range []string{plain, gzipped} {
		rep, files, _ := runTakeout(t, t.TempDir(), p)
		wantProblems(t, rep, "Takeout/Drive/sparse.bin: unsafe name in the archive: a sparse file")
		if len(files.files) != 2 || files.files["Google Drive/first.txt"] != "first" || files.files["Google Drive/after.txt"] != "after" {
			t.Errorf("%s: imported %d files: %v", filepath.Base(p), len(files.files), slices.Collect(maps.Keys(files.files)))
		}
	}
}

// TestTarOutGuard: whatever makes a tar's entries give out more than the
// archive holds (a sparse form not recognised, a reader's bug), the
// reading stops past maxRatio times the bytes read plus ratioFloor.
func TestTarOutGuard(t *testing.T) {
	t.Parallel()
	a := &tarArchive{file: &counter{n: 4096}}
	n, err := io.Copy(io.Discard, &outGuard{r: io.LimitReader(zeroReader{}, 1<<30), a: a})
	if !errors.Is(err, errBomb) || n > 4096*maxRatio+ratioFloor+32<<10 {
		t.Fatalf("read %d bytes of zeros from a 4 KiB archive: %v", n, err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestTakeoutTooLarge: messages of a Takeout's mbox larger than the
// store accepts, one read through a spool file and one from memory, are
// reported and the others imported (the worker closed the missing body
// of such a message, a nil *spool in a Body, and panicked).
func TestTakeoutTooLarge(t *testing.T) {
	t.Parallel()
	var mb mboxWriter
	mb.add(testMessage(0, 2000, ""), "Inbox")
	mb.add(testMessage(1, 3<<20, ""), "Inbox") // over memSpool: spooled to a file
	mb.add(testMessage(2, 2000, ""), "Inbox")
	mb.add(testMessage(3, 600<<10, ""), "Inbox") // under memSpool
	mb.add(testMessage(4, 2000, ""), "Inbox")
	dir := t.TempDir()
	path := filepath.Join(dir, "takeout.zip")
	// Stored: deflated, its repeated lines would expand like a bomb.
	writeZip(t, path, []tEntry{{name: "Takeout/Mail/All mail Including Spam and Trash.mbox", data: mb.b.Bytes(), store: true}})
	e := openEnv(t, dir, withTakeout(dir, newFakeFiles()), func(o *Options) { o.MaxMessageSize = 512 << 10 })
	e.start()
	rep := e.waitEnd(e.startTakeout(path))
	if rep.Job.State != StateDone || rep.Copied != 3 || rep.Failed != 2 {
		t.Fatalf("job %s (%s): %d copied, %d failed; want done, 3 and 2", rep.Job.State, rep.Job.Message, rep.Copied, rep.Failed)
	}
	for _, p := range rep.Problems {
		if !strings.Contains(p.Reason, "larger than the store accepts") {
			t.Errorf("problem %+v", p)
		}
	}
}
