package mailimport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// archiveMbox is an mbox file inside an archive, a source of one folder.
// An archive's entry cannot be read at an offset, so it is read twice,
// forward only: once to list its messages, and once, a little behind, to
// fetch those to copy.
type archiveMbox struct {
	a      archive
	e      *entry
	cfg    MboxConfig
	prefix string // makes the items' ids unique in the job

	cur io.ReadCloser // the fetching reader
	off int64         // its offset in the entry
}

// folder is the entry as a folder: its file name without ".mbox".
func (s *archiveMbox) folder() Folder {
	name := strings.TrimSuffix(path.Base(s.e.name), path.Ext(s.e.name))
	return Folder{Name: name, Raw: s.e.raw, Messages: -1, Size: s.e.size, Labels: true}
}

// Folders returns the one folder.
func (s *archiveMbox) Folders(context.Context) ([]Folder, error) { return []Folder{s.folder()}, nil }

// List scans the entry for its messages.
func (s *archiveMbox) List(ctx context.Context, f Folder, fn func([]Item) error) error {
	rc, err := s.a.open(ctx, s.e)
	if err != nil {
		return err
	}
	defer rc.Close()
	return listMbox(ctx, rc, func(batch []Item) error {
		for i := range batch {
			batch[i].ID = s.prefix + batch[i].ID
		}
		return fn(batch)
	})
}

// Fetch reads the items' messages, moving the fetching reader forward
// (opening it again if an item lies behind it).
func (s *archiveMbox) Fetch(ctx context.Context, f Folder, items []Item, fn func(Item, Body) error) error {
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
		body, err := s.message(ctx, it)
		if errors.Is(err, errTooLarge) || errors.Is(err, errArchive) {
			it.Err, body = err, nil
		} else if err != nil {
			return err
		}
		if err := fn(it, body); err != nil {
			return err
		}
	}
	return nil
}

// message reads one message into a spool.
func (s *archiveMbox) message(ctx context.Context, it Item) (Body, error) {
	if s.cur == nil || s.off > it.off {
		s.Close()
		rc, err := s.a.open(ctx, s.e)
		if err != nil {
			return nil, err
		}
		s.cur, s.off = rc, 0
	}
	if _, err := io.CopyN(io.Discard, s.cur, it.off-s.off); err != nil {
		s.Close()
		return nil, fmt.Errorf("%w: %w", errArchive, err)
	}
	s.off = it.off
	lr := &io.LimitedReader{R: s.cur, N: it.end - it.off}
	m := &mboxMessage{lines: mboxLines{r: bufio.NewReaderSize(lr, 64<<10)}, rd: !s.cfg.MboxO}
	body, err := newSpool(m, it.Size, s.cfg.MaxSize, s.cfg.TmpDir)
	if m.err != nil {
		s.Close()
		return nil, m.err
	}
	if _, derr := io.Copy(io.Discard, lr); derr != nil {
		if body != nil {
			body.Close()
		}
		s.Close()
		return nil, derr
	}
	s.off = it.end
	if err != nil {
		return nil, err
	}
	return body, nil
}

// Close closes the fetching reader.
func (s *archiveMbox) Close() error {
	if s.cur != nil {
		s.cur.Close()
		s.cur = nil
	}
	return nil
}
