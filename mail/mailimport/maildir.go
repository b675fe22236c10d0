package mailimport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// Maildir (https://cr.yp.to/proto/maildir.html): one file per message in
// cur/ or new/ (tmp/ holds deliveries in progress and is not read), the
// flags after ":2," in the file name (D draft, F flagged, P passed, R
// replied, S seen, T trashed), keywords as lower-case letters that
// Dovecot's dovecot-keywords file names. Maildir++ keeps subfolders as
// directories ".A.B" (folder A/B) beside cur/new/tmp, names in modified
// UTF-7.

// MaildirConfig describes a Maildir to import.
type MaildirConfig struct {
	Path    string // the Maildir (its INBOX), with cur/ new/ tmp/
	MaxSize int64  // default 64 MiB
	TmpDir  string
}

// maildirSource reads a Maildir++ tree.
type maildirSource struct{ cfg MaildirConfig }

// OpenMaildir returns a source reading the Maildir at cfg.Path.
func OpenMaildir(cfg MaildirConfig) (Source, error) {
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 64 << 20
	}
	if fi, err := os.Stat(filepath.Join(cfg.Path, "cur")); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a Maildir (no cur/)", ErrBadSource, cfg.Path)
	}
	return &maildirSource{cfg: cfg}, nil
}

// Close does nothing.
func (s *maildirSource) Close() error { return nil }

// Folders returns INBOX and the Maildir++ subfolders.
func (s *maildirSource) Folders(ctx context.Context) ([]Folder, error) {
	out := []Folder{{Name: "INBOX", Raw: s.cfg.Path, Messages: -1, Size: -1}}
	ents, err := os.ReadDir(s.cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("mailimport: %w", err)
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), ".") || e.Name() == "." || e.Name() == ".." {
			continue
		}
		name, err := maildirFolderName(e.Name())
		if err != nil {
			continue
		}
		out = append(out, Folder{Name: name, Raw: filepath.Join(s.cfg.Path, e.Name()), Attr: attrByName(name), Messages: -1, Size: -1})
	}
	return out, nil
}

// maildirFolderName turns a Maildir++ directory name (".A.B", modified
// UTF-7) into a folder name ("A/B").
func maildirFolderName(dir string) (string, error) {
	name, err := decodeMUTF7(strings.TrimPrefix(dir, "."))
	if err != nil {
		return "", err
	}
	if name == "" {
		return "", errBadName
	}
	return sourcePath(name, "."), nil
}

// attrByName guesses the special use of a folder by its usual names.
func attrByName(name string) string {
	switch strings.ToLower(name) {
	case "sent", "sent items", "sent messages":
		return AttrSent
	case "drafts":
		return AttrDrafts
	case "trash", "deleted items", "deleted messages":
		return AttrTrash
	case "junk", "spam":
		return AttrJunk
	case "archive", "archives":
		return AttrArchive
	}
	return ""
}

// List lists the messages in cur/ and new/, in name order.
func (s *maildirSource) List(ctx context.Context, f Folder, fn func([]Item) error) error {
	kws := readKeywords(filepath.Join(f.Raw, "dovecot-keywords"))
	var items []Item
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(f.Raw, sub))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("mailimport: %w", err)
		}
		for _, e := range ents {
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			unique, flags := parseMaildirName(e.Name(), kws)
			if sub == "new" {
				flags = nil // not yet seen by any client
			}
			items = append(items, Item{ID: unique, Flags: flags, Date: info.ModTime(), Size: info.Size(), path: filepath.Join(sub, e.Name())})
		}
	}
	slices.SortFunc(items, func(a, b Item) int { return strings.Compare(a.ID, b.ID) })
	items = slices.CompactFunc(items, func(a, b Item) bool { return a.ID == b.ID }) // moved from new/ to cur/ while we read
	for start := 0; start < len(items); start += mboxBatch {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(items[start:min(start+mboxBatch, len(items))]); err != nil {
			return err
		}
	}
	return nil
}

// parseMaildirName splits a Maildir file name into its unique part and
// its flags (the "2," info, RFC-less but universal; ":" or, on systems
// that cannot have it in names, "!"). kws names keyword letters a–z.
func parseMaildirName(name string, kws [26]string) (unique string, flags []imap.Flag) {
	i := strings.LastIndexAny(name, ":!")
	if i < 0 || !strings.HasPrefix(name[i+1:], "2,") {
		return name, nil
	}
	unique = name[:i]
	seen := map[byte]bool{}
	for _, c := range []byte(name[i+3:]) {
		if seen[c] {
			continue
		}
		seen[c] = true
		switch {
		case c == 'D':
			flags = append(flags, imap.FlagDraft)
		case c == 'F':
			flags = append(flags, imap.FlagFlagged)
		case c == 'P':
			flags = append(flags, imap.FlagForwarded)
		case c == 'R':
			flags = append(flags, imap.FlagAnswered)
		case c == 'S':
			flags = append(flags, imap.FlagSeen)
		case c == 'T':
			flags = append(flags, imap.FlagDeleted)
		case c >= 'a' && c <= 'z' && kws[c-'a'] != "":
			flags = append(flags, imap.Flag(kws[c-'a']))
		}
	}
	return unique, flags
}

// readKeywords reads Dovecot's dovecot-keywords ("N name" per line,
// N from 0 to 25 for letters a–z); missing or unreadable: no keywords.
func readKeywords(path string) [26]string {
	var kws [26]string
	data, err := os.ReadFile(path)
	if err != nil || len(data) > 64<<10 {
		return kws
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		num, name, ok := strings.Cut(strings.TrimSpace(line), " ")
		n, err := strconv.Atoi(num)
		if ok && err == nil && n >= 0 && n < 26 {
			kws[n] = name
		}
	}
	return kws
}

// Fetch reads the items' files, with CRLF line ends.
func (s *maildirSource) Fetch(ctx context.Context, f Folder, items []Item, fn func(Item, Body) error) error {
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		file, err := os.Open(filepath.Join(f.Raw, it.path))
		if errors.Is(err, os.ErrNotExist) {
			continue // moved or deleted since listed
		}
		if err != nil {
			return fmt.Errorf("mailimport: %w", err)
		}
		body, err := newSpool(&crlfReader{r: bufio.NewReaderSize(file, 64<<10)}, it.Size, s.cfg.MaxSize, s.cfg.TmpDir)
		file.Close()
		if err != nil && !errors.Is(err, errTooLarge) {
			return err
		}
		it.Err = err
		var b Body
		if body != nil {
			b = body
		}
		if err := fn(it, b); err != nil {
			return err
		}
	}
	return nil
}

// crlfReader ends each line with CRLF.
type crlfReader struct {
	r       *bufio.Reader
	pending []byte
	buf     []byte
}

// Read implements io.Reader.
func (c *crlfReader) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		line, err := c.r.ReadSlice('\n')
		if len(line) == 0 && err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			return 0, err
		}
		if bytes.HasSuffix(line, []byte("\n")) && !bytes.HasSuffix(line, []byte("\r\n")) {
			c.buf = append(append(c.buf[:0], line[:len(line)-1]...), '\r', '\n')
			line = c.buf
		}
		c.pending = line
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) && err != io.EOF {
			return 0, err
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}
