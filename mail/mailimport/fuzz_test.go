package mailimport

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/caucus-org/caucus/mail/store"
)

// FuzzMbox reads arbitrary bytes as an mbox: the reader never fails
// on content, the messages it finds lie inside the file in order, and
// each message it hands out has CRLF line ends and no "From " line of
// the file.
func FuzzMbox(f *testing.F) {
	f.Add([]byte("From a@b Mon Jan  2 15:04:05 2006\nSubject: x\n\nbody\n>From quoted\n\nFrom b@c Mon Jan  2 15:04:05 2006\nX-Gmail-Labels: Inbox,\"a,b\"\n\nz"))
	f.Add([]byte("garbage\nFrom \n\nFrom x y 10:00:00 2020\n\n"))
	f.Add([]byte("From a@b Mon Jan  2 15:04:05 2006\n" + strings.Repeat("x", 70000) + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.mbox")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		src, err := OpenMbox(MboxConfig{Paths: []string{path}, MaxSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		folders, err := src.Folders(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var prev int64
		err = src.List(context.Background(), folders[0], func(items []Item) error {
			for _, it := range items {
				if it.off < prev || it.end < it.off || it.end > int64(len(data)) {
					t.Fatalf("item %+v out of order or outside the file (%d bytes)", it, len(data))
				}
				prev = it.end
				for _, l := range it.Labels {
					if l == "" || !utf8.ValidString(l) && utf8.ValidString(string(data)) {
						t.Fatalf("bad label %q", l)
					}
				}
			}
			return src.Fetch(context.Background(), folders[0], items, func(it Item, b Body) error {
				if b == nil {
					return nil
				}
				defer b.Close()
				got, err := io.ReadAll(b)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(bytes.ReplaceAll(got, []byte("\r\n"), nil), []byte("\n")) {
					t.Fatalf("a bare LF in %q", got)
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzMaildirName parses arbitrary Maildir file names: the unique part
// is a prefix of the name and every flag is one the store accepts.
func FuzzMaildirName(f *testing.F) {
	f.Add("1700000000.M1P1.host,S=100:2,FRSabz")
	f.Add("x!2,DT")
	f.Add(":2,")
	f.Add("a:1,S")
	var kws [26]string
	kws[0], kws[1] = "$Label1", "Wichtig"
	f.Fuzz(func(t *testing.T, name string) {
		unique, flags := parseMaildirName(name, kws)
		if !strings.HasPrefix(name, unique) {
			t.Fatalf("unique %q is not a prefix of %q", unique, name)
		}
		if got := cleanFlags(flags); len(got) != len(flags) {
			t.Fatalf("flags %v include some the store refuses", flags)
		}
	})
}

// FuzzLabels parses Takeout's X-Gmail-Labels values and X-GM-LABELS
// lists: labels are never empty, and where they go is a valid mailbox
// name.
func FuzzLabels(f *testing.F) {
	f.Add([]byte(`Inbox,Important,"Clients, Europe",Work/Projects`), []byte(`("\\Inbox" "\\Important" Work/Projects "Caf&AOk-")`))
	f.Add([]byte(`=?UTF-8?Q?Caf=C3=A9?=,Unread`), []byte(`()`))
	f.Add([]byte(`"unterminated`), []byte(`("a" {3}`+"\r\nabc"+`)`))
	f.Fuzz(func(t *testing.T, header, list []byte) {
		labels := parseLabelHeader(string(header))
		rd := wireReader{r: bufio.NewReader(bytes.NewReader(list))}
		rd.startResponse()
		if v, err := rd.value(0); err == nil {
			labels = append(labels, gmailLabels(v)...)
		}
		n := newNamer()
		for _, l := range labels {
			if l == "" {
				t.Fatal("empty label")
			}
			dests, _, _ := labelPlan([]string{l}, true)
			for _, d := range dests {
				name, _, _ := n.name("label:"+d, d)
				if _, err := storeCanonical(name); err != nil {
					t.Fatalf("label %q: destination %q: %v", l, name, err)
				}
			}
		}
	})
}

// FuzzResponse reads arbitrary bytes as IMAP responses: no panic, and
// the reader stays within its bounds.
func FuzzResponse(f *testing.F) {
	f.Add([]byte("* 1 FETCH (UID 5 FLAGS (\\Seen) X-GM-LABELS (\"\\\\Inbox\" foo) BODY[] {3}\r\nabc)\r\na1 OK done\r\n"))
	f.Add([]byte("* LIST (\\HasNoChildren) \"/\" {5}\r\nINBOX\r\n* SEARCH 1 2 3 \r\n+ go\r\n"))
	f.Add([]byte("* OK [UIDVALIDITY 3] x\r\n* BYE [OVERQUOTA] Account exceeded command or bandwidth limits.\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := wireReader{r: bufio.NewReader(bytes.NewReader(data))}
		rd.spool = func(n int64, r io.Reader) error {
			_, err := io.Copy(io.Discard, r)
			return err
		}
		for range 100 {
			if _, err := rd.readResponse(func(string, value) error { return nil }); err != nil {
				return
			}
		}
	})
}

// FuzzMUTF7 decodes arbitrary modified UTF-7: the result is valid UTF-8.
func FuzzMUTF7(f *testing.F) {
	f.Add("Caf&AOk-")
	f.Add("&-&AOkA6Q-")
	f.Add("&Jjo-!")
	f.Fuzz(func(t *testing.T, s string) {
		dec, err := decodeMUTF7(s)
		if err == nil && !utf8.ValidString(dec) {
			t.Fatalf("%q decodes to invalid UTF-8 %q", s, dec)
		}
	})
}

// storeCanonical is store.CanonicalName.
func storeCanonical(name string) (string, error) { return store.CanonicalName(name) }

// FuzzMboxBody: a message converted in one pass from memory
// (appendMboxBody, an archive's mbox) is the message mboxMessage reads
// from a file, mboxrd or mboxo, whatever the bytes.
func FuzzMboxBody(f *testing.F) {
	f.Add([]byte("From a@b Mon Jan  2 15:04:05 2006\nSubject: x\r\n\nbody\n>From quoted\n>>From twice\n>>>From\n>x\n\r\nend"), true)
	f.Add([]byte("no line end"), false)
	f.Add([]byte("From x\n\n\n>From \n"), false)
	f.Fuzz(func(t *testing.T, raw []byte, rd bool) {
		m := &mboxMessage{lines: mboxLines{r: bufio.NewReaderSize(bytes.NewReader(raw), len(raw)+16)}, rd: rd}
		want, err := io.ReadAll(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendMboxBody([]byte("kept"), raw, rd); !bytes.Equal(got, append([]byte("kept"), want...)) {
			t.Fatalf("one pass %q, mboxMessage %q", got, want)
		}
	})
}
