package upload

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestFileName: a browser's file name becomes one safe path element.
func TestFileName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"All mail Including Spam and Trash.mbox": "All mail Including Spam and Trash.mbox",
		"../../etc/passwd":                       "passwd",
		`C:\Users\anna\takeout.zip`:              "takeout.zip",
		"":                                       "upload",
		"..":                                     "upload",
		"a/":                                     "a",
		"bad\x00name\n.mbox":                     ".mbox",
		"posta è qui.mbox":                       "posta è qui.mbox",
	} {
		if got := fileName(in); got != want {
			t.Errorf("fileName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := fileName(strings.Repeat("è", 150)); len(got) > 200 || !utf8.ValidString(got) {
		t.Errorf("long name: %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
}

// FuzzFileName: whatever the browser sends as a name, the file stays in
// its upload's directory.
func FuzzFileName(f *testing.F) {
	for _, s := range []string{"a.mbox", "../x", `..\..\x`, "/", "\x00", strings.Repeat("é", 120)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := fileName(name)
		if got == "" || got == "." || got == ".." || strings.ContainsAny(got, "/\\") || len(got) > 200 {
			t.Fatalf("fileName(%q) = %q", name, got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("fileName(%q) = %q has a control character", name, got)
			}
		}
		if utf8.ValidString(name) && !utf8.ValidString(got) {
			t.Fatalf("fileName(%q) = %q is not UTF-8", name, got)
		}
	})
}

// FuzzPieces: whatever pieces arrive, at whatever offsets, cut wherever,
// the upload's file holds exactly the first Received bytes of the data,
// and Received never passes the size.
func FuzzPieces(f *testing.F) {
	f.Add([]byte{10, 0, 5, 3, 200, 7}, uint16(300))
	f.Add([]byte{255, 255, 255}, uint16(100))
	f.Fuzz(func(t *testing.T, plan []byte, size uint16) {
		if size == 0 || len(plan) > 64 {
			return
		}
		s2, _ := newSpool(t)
		data := bytes.Repeat([]byte("0123456789"), int(size)/10+1)[:size]
		u, err := s2.Create(t.Context(), 1, "f.mbox", "mbox", int64(size), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(plan); i += 2 {
			off := u.Received
			if plan[i]%5 == 0 {
				off += int64(plan[i]) // a wrong offset now and then
			}
			end := min(int(off)+int(plan[i+1])*3, len(data)+5)
			if int(off) > len(data) || end < int(off) {
				continue
			}
			piece := append(append([]byte{}, data[off:min(end, len(data))]...), bytes.Repeat([]byte("X"), max(end-len(data), 0))...)
			got, _ := s2.Write(t.Context(), 1, u.ID, off, &cutReader{r: bytes.NewReader(piece), n: int(plan[i+1])*2 + 1})
			if got.ID != "" {
				u = got
			}
			if u.Received > u.Size {
				t.Fatalf("received %d of %d", u.Received, u.Size)
			}
		}
		file, err := os.ReadFile(s2.Path(u))
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(file)) < u.Received || !bytes.Equal(file[:u.Received], data[:u.Received]) {
			t.Fatalf("file differs from the data's first %d bytes", u.Received)
		}
	})
}
