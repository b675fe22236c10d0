package mailimport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// archiveMbox is an mbox file inside an archive, a source of one folder.
// An archive's entry cannot be read at an offset (a gzipped tar has no
// index, a deflated ZIP entry none either), and reading it twice, once
// to list and once to fetch, costs a second decompression (half the
// speed: BenchmarkTakeoutRead). So it is read once: what the listing
// reads is kept in a window until the batch it belongs to has been
// fetched, and Fetch takes the messages from there. A batch ends at
// mboxBatch messages or mboxBatchBytes, so that the window holds at most
// that and one message.
type archiveMbox struct {
	r      io.Reader // the entry's content, read once
	e      *entry
	cfg    MboxConfig
	prefix string // makes the items' ids unique in the job

	win window
}

// window keeps the bytes of an entry read by the listing and not yet
// fetched.
type window struct {
	buf  []byte
	base int64 // the entry's offset of buf[0]
}

// Write appends what the listing read.
func (w *window) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// drop forgets the bytes before offset upto.
func (w *window) drop(upto int64) {
	n := int(min(max(upto-w.base, 0), int64(len(w.buf))))
	w.buf = w.buf[:copy(w.buf, w.buf[n:])]
	w.base += int64(n)
}

// section returns the bytes from off to end, if the window has them.
func (w *window) section(off, end int64) ([]byte, bool) {
	if off < w.base || end > w.base+int64(len(w.buf)) || off > end {
		return nil, false
	}
	return w.buf[off-w.base : end-w.base], true
}

// folder is the entry as a folder: its file name without ".mbox".
func (s *archiveMbox) folder() Folder {
	name := strings.TrimSuffix(path.Base(s.e.name), path.Ext(s.e.name))
	return Folder{Name: name, Raw: s.e.raw, Messages: -1, Size: s.e.size, Labels: true}
}

// Folders returns the one folder.
func (s *archiveMbox) Folders(context.Context) ([]Folder, error) { return []Folder{s.folder()}, nil }

// List reads the entry, keeping what it read in the window until each
// batch has been dealt with. It can be called once.
func (s *archiveMbox) List(ctx context.Context, f Folder, fn func([]Item) error) error {
	if s.r == nil {
		return fmt.Errorf("mailimport: %s listed twice", s.e.raw)
	}
	rd := s.r
	s.r, s.win = nil, window{}
	return listMbox(ctx, io.TeeReader(rd, &s.win), func(batch []Item) error {
		for i := range batch {
			batch[i].ID = s.prefix + batch[i].ID
		}
		err := fn(batch)
		s.win.drop(batch[len(batch)-1].end)
		return err
	})
}

// Fetch reads the items' messages from the window.
func (s *archiveMbox) Fetch(ctx context.Context, f Folder, items []Item, fn func(Item, Body) error) error {
	// One buffer for every message: a message is read whole into its
	// spool before the next.
	br := bufio.NewReaderSize(nil, 64<<10)
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		if it.Err != nil {
			if err := fn(it, nil); err != nil {
				return err
			}
			continue
		}
		raw, ok := s.win.section(it.off, it.end)
		if !ok {
			return fmt.Errorf("mailimport: message at %d of %s fetched outside its batch", it.off, s.e.raw)
		}
		var body *spool
		var err error
		if len(raw) <= memSpool {
			// In one pass from the window (most messages).
			body, err = spoolBytes(appendMboxBody(nil, raw, !s.cfg.MboxO), s.cfg.MaxSize, s.cfg.TmpDir)
		} else {
			br.Reset(bytes.NewReader(raw))
			m := &mboxMessage{lines: mboxLines{r: br}, rd: !s.cfg.MboxO}
			body, err = newSpool(m, it.Size, s.cfg.MaxSize, s.cfg.TmpDir)
		}
		if errors.Is(err, errTooLarge) {
			// Reported, with no body: a nil *spool would be a Body
			// that is not nil.
			it.Err = err
			if err := fn(it, nil); err != nil {
				return err
			}
			continue
		} else if err != nil {
			return err
		}
		if err := fn(it, body); err != nil {
			return err
		}
	}
	return nil
}

// Close releases the window.
func (s *archiveMbox) Close() error {
	s.win = window{}
	return nil
}
