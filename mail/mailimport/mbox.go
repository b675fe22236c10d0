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
	"strconv"
	"strings"
	"time"
)

// mbox: messages one after the other, each starting with a "From "
// line (the envelope sender and the date it arrived, in asctime
// format); lines of a body that start with "From " are quoted as
// ">From " (mboxo), and in mboxrd any line matching ">*From " gets one
// more ">" (RFC 4155 describes the family). Google Takeout writes mboxrd
// with an X-Gmail-Labels header in each message.
//
// A "From " line only separates messages after an empty line (or at
// the start of the file) and when it has the sender-and-date form, so
// that an unquoted "From here on …" in a body (mboxo written carelessly)
// does not cut a message in two.

// MboxConfig describes mbox files to import.
type MboxConfig struct {
	// Paths are mbox files, or directories whose *.mbox files are read
	// (a Takeout archive's Mail directory).
	Paths []string
	// MboxO: the files are mboxo; only ">From " is unquoted. Default
	// mboxrd, which unquotes one ">" of ">>From " too.
	MboxO bool
	// MaxSize is the largest message; larger ones are reported. Default 64 MiB.
	MaxSize int64
	// TmpDir holds spools of large messages; "" for the default.
	TmpDir string
}

// Bounds on mbox parsing.
const (
	maxMboxHeader = 256 << 10 // header bytes scanned for labels
	mboxBatch     = 256
	// mboxBatchBytes ends a batch early: an archive's mbox keeps a
	// batch's bytes in memory until it is fetched (archiveMbox).
	mboxBatchBytes = 4 << 20
)

// mboxSource reads mbox files.
type mboxSource struct {
	cfg   MboxConfig
	files []string
}

// OpenMbox returns a source that reads the mbox files of cfg; each file
// is a folder named after it.
func OpenMbox(cfg MboxConfig) (Source, error) {
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 64 << 20
	}
	s := &mboxSource{cfg: cfg}
	for _, p := range cfg.Paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadSource, err)
		}
		if !fi.IsDir() {
			s.files = append(s.files, p)
			continue
		}
		m, err := filepath.Glob(filepath.Join(p, "*.mbox"))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadSource, err)
		}
		s.files = append(s.files, m...)
	}
	if len(s.files) == 0 {
		return nil, fmt.Errorf("%w: no mbox files", ErrBadSource)
	}
	return s, nil
}

// Close does nothing: files are opened per call.
func (s *mboxSource) Close() error { return nil }

// Folders returns one folder per file.
func (s *mboxSource) Folders(ctx context.Context) ([]Folder, error) {
	var out []Folder
	for _, p := range s.files {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("mailimport: %w", err)
		}
		name := strings.TrimSuffix(filepath.Base(p), ".mbox")
		out = append(out, Folder{Name: strings.ReplaceAll(name, "/", slashInName), Raw: p, Messages: -1, Size: fi.Size(), Labels: true})
	}
	return out, nil
}

// List scans f's file for its messages.
func (s *mboxSource) List(ctx context.Context, f Folder, fn func([]Item) error) error {
	file, err := os.Open(f.Raw)
	if err != nil {
		return fmt.Errorf("mailimport: %w", err)
	}
	defer file.Close()
	return listMbox(ctx, file, fn)
}

// listMbox scans r and calls fn with its messages in batches.
func listMbox(ctx context.Context, r io.Reader, fn func([]Item) error) error {
	var batch []Item
	var size int64 // of the batch
	err := scanMbox(r, func(it Item) error {
		batch = append(batch, it)
		if size += it.Size; len(batch) < mboxBatch && size < mboxBatchBytes {
			return nil
		}
		size = 0
		if err := ctx.Err(); err != nil {
			return err
		}
		err := fn(batch)
		batch = nil
		return err
	})
	// The messages read whole before an error reading the file (a
	// damaged archive) are copied too.
	if len(batch) > 0 && ctx.Err() == nil {
		if ferr := fn(batch); ferr != nil {
			return ferr
		}
	}
	return err
}

// mboxLines reads lines, tracking the offset; a line longer than the
// buffer comes in pieces (each piece but the last without "\n").
type mboxLines struct {
	r   *bufio.Reader
	off int64
}

// next returns the next line or piece, valid until the next call.
func (l *mboxLines) next() ([]byte, error) {
	line, err := l.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		err = nil
	}
	l.off += int64(len(line))
	if err == io.EOF && len(line) > 0 {
		err = nil
	}
	return line, err
}

// scanMbox calls fn with each message of r: its offsets, the date of
// its "From " line, its labels; Err for what cannot be a message
// (data before the first "From " line, a message cut off by the end of
// the file, one with no header).
func scanMbox(r io.Reader, fn func(Item) error) error {
	lines := &mboxLines{r: bufio.NewReaderSize(r, 64<<10)}
	var cur *Item
	var hdr headerScan
	prevEmpty, atLineStart := true, true
	var emptyAt int64 // where the last line, empty, started
	var last []byte
	emit := func(end int64) error {
		if cur == nil {
			return nil
		}
		if prevEmpty && emptyAt > cur.off && cur.Err == nil {
			end = emptyAt // the empty line separates; it is not part of the message
		}
		cur.end = end
		cur.Size = end - cur.off
		hdr.finish(cur)
		it := *cur
		cur = nil
		return fn(it)
	}
	for {
		start := lines.off
		line, err := lines.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("mailimport: reading mbox: %w", err)
		}
		if atLineStart && prevEmpty && isSeparator(line) {
			if err := emit(start); err != nil {
				return err
			}
			cur = &Item{ID: strconv.FormatInt(start, 10), off: start, Date: fromLineDate(line)}
			hdr = headerScan{}
		} else if cur == nil {
			cur = &Item{ID: strconv.FormatInt(start, 10), off: start, Err: errors.New("data before the first \"From \" line: not an mbox message")}
			hdr = headerScan{done: true}
		} else {
			hdr.line(line, atLineStart)
		}
		wasStart := atLineStart
		atLineStart = bytes.HasSuffix(line, []byte("\n"))
		prevEmpty = wasStart && atLineStart && len(bytes.TrimRight(line, "\r\n")) == 0
		if prevEmpty {
			emptyAt = start
		}
		last = append(last[:0], line[max(0, len(line)-2):]...)
	}
	if cur != nil && cur.Err == nil && !bytes.HasSuffix(last, []byte("\n")) {
		cur.Err = errors.New("the file ends in the middle of this message (truncated)")
	}
	return emit(lines.off)
}

// isSeparator reports whether line is a "From " line that starts a
// message: "From " sender, then a date with a time of day.
func isSeparator(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("From ")) {
		return false
	}
	rest := bytes.TrimSpace(line[5:])
	sp := bytes.IndexByte(rest, ' ')
	if sp <= 0 {
		return false
	}
	if !fromLineDate(line).IsZero() {
		return true
	}
	// Other date forms: a time of day and a four-digit year.
	var clock, year bool
	for _, f := range strings.Fields(string(rest[sp:])) {
		clock = clock || len(f) >= 7 && len(f) <= 8 && strings.Count(f, ":") == 2 && strings.Trim(f, "0123456789:") == ""
		year = year || len(f) == 4 && strings.Trim(f, "0123456789") == ""
	}
	return clock && year
}

// fromLineDate parses the date of a "From " line: asctime ("Mon Jan  2
// 15:04:05 2006"), optionally with a zone as Takeout writes it
// ("Mon Jan 02 15:04:05 +0000 2006"). Zero if it does not parse.
func fromLineDate(line []byte) time.Time {
	f := strings.Fields(string(bytes.TrimRight(line, "\r\n")))
	if len(f) < 7 {
		return time.Time{}
	}
	rest := strings.Join(f[2:], " ")
	for _, layout := range []string{"Mon Jan _2 15:04:05 2006", "Mon Jan _2 15:04:05 -0700 2006", "Mon Jan _2 15:04:05 MST 2006"} {
		if t, err := time.Parse(layout, rest); err == nil {
			return t
		}
	}
	return time.Time{}
}

// headerScan follows a message's header for the fields the importer
// reads: X-Gmail-Labels.
type headerScan struct {
	n      int
	done   bool
	empty  bool // no header at all
	field  []byte
	labels string
	seen   bool
}

// line takes one line of the message (after its "From " line).
func (h *headerScan) line(line []byte, atStart bool) {
	if h.done {
		return
	}
	h.n += len(line)
	if h.n > maxMboxHeader {
		h.end()
		return
	}
	if atStart && len(bytes.TrimRight(line, "\r\n")) == 0 {
		if h.n == len(line) {
			h.empty = true
		}
		h.end()
		return
	}
	if atStart && (line[0] == ' ' || line[0] == '\t') {
		h.field = append(h.field, line...)
		return
	}
	h.flush()
	h.field = append(h.field[:0], line...)
}

// flush finishes the field being read.
func (h *headerScan) flush() {
	name, val, ok := bytes.Cut(h.field, []byte(":"))
	if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("X-Gmail-Labels")) {
		h.labels += string(val)
		h.seen = true
	}
	h.field = h.field[:0]
}

// end ends the header.
func (h *headerScan) end() {
	h.flush()
	h.done = true
}

// finish puts what the header said into it.
func (h *headerScan) finish(it *Item) {
	if !h.done {
		h.end()
	}
	if h.seen {
		it.Labels = parseLabelHeader(h.labels)
		if it.Labels == nil {
			it.Labels = []string{}
		}
	}
	if h.empty && it.Err == nil {
		it.Err = errors.New("the message has no header")
	}
}

// Fetch reads the items' messages from the file, unquoting "From "
// lines and ending lines with CRLF.
func (s *mboxSource) Fetch(ctx context.Context, f Folder, items []Item, fn func(Item, Body) error) error {
	file, err := os.Open(f.Raw)
	if err != nil {
		return fmt.Errorf("mailimport: %w", err)
	}
	defer file.Close()
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
		br.Reset(io.NewSectionReader(file, it.off, it.end-it.off))
		r := &mboxMessage{lines: mboxLines{r: br}, rd: !s.cfg.MboxO}
		body, err := newSpool(r, it.Size, s.cfg.MaxSize, s.cfg.TmpDir)
		if err != nil {
			if errors.Is(err, errTooLarge) || r.err != nil {
				it.Err = err
				if err := fn(it, nil); err != nil {
					return err
				}
				continue
			}
			return err
		}
		if err := fn(it, body); err != nil {
			return err
		}
	}
	return nil
}

// mboxMessage reads one message of an mbox: without its "From " line,
// unquoted, with CRLF line ends.
type mboxMessage struct {
	lines   mboxLines
	rd      bool // mboxrd
	started bool // the "From " line is behind
	midLine bool // the previous piece had no line end
	pending []byte
	buf     []byte // a line given a CRLF end
	err     error
}

// Read implements io.Reader.
func (m *mboxMessage) Read(p []byte) (int, error) {
	for len(m.pending) == 0 {
		line, err := m.lines.next()
		if err == io.EOF {
			return 0, io.EOF
		}
		if err != nil {
			m.err = err
			return 0, err
		}
		m.pending = m.convert(line)
	}
	n := copy(p, m.pending)
	m.pending = m.pending[n:]
	return n, nil
}

// convert unquotes and fixes the line end of one line (or piece).
func (m *mboxMessage) convert(line []byte) []byte {
	atStart := !m.midLine
	m.midLine = !bytes.HasSuffix(line, []byte("\n"))
	if !m.started {
		m.started = !m.midLine
		return nil
	}
	if atStart && line[0] == '>' {
		q := bytes.TrimLeft(line, ">")
		if bytes.HasPrefix(q, []byte("From ")) && (m.rd || len(line)-len(q) == 1) {
			line = line[1:]
		}
	}
	if !m.midLine && !bytes.HasSuffix(line, []byte("\r\n")) {
		m.buf = append(append(m.buf[:0], line[:len(line)-1]...), '\r', '\n')
		return m.buf
	}
	return line
}

// appendMboxBody appends to dst the message raw (its "From " line
// first, as the mbox holds it) as mboxMessage reads it: without the
// "From " line, ">From " lines unquoted (one ">" of ">>From " too if
// rd, mboxrd), every line ended with CRLF but a last one without an
// end. It reads whole lines where mboxMessage reads pieces of at most
// its buffer: for a line longer than that ending in CRLF cut between CR
// and LF, mboxMessage gives CR CR LF, this CR LF.
func appendMboxBody(dst, raw []byte, rd bool) []byte {
	nl := bytes.IndexByte(raw, '\n')
	if nl < 0 {
		return dst
	}
	raw = raw[nl+1:]
	if need := len(dst) + len(raw) + len(raw)/32; cap(dst) < need {
		dst = append(make([]byte, 0, need), dst...)
	}
	for len(raw) > 0 {
		line := raw
		if nl := bytes.IndexByte(raw, '\n'); nl >= 0 {
			line = raw[:nl+1]
		}
		raw = raw[len(line):]
		if line[0] == '>' {
			q := bytes.TrimLeft(line, ">")
			if bytes.HasPrefix(q, []byte("From ")) && (rd || len(line)-len(q) == 1) {
				line = line[1:]
			}
		}
		if body, ok := bytes.CutSuffix(line, []byte("\n")); ok && !bytes.HasSuffix(body, []byte("\r")) {
			dst = append(append(dst, body...), '\r', '\n')
		} else {
			dst = append(dst, line...)
		}
	}
	return dst
}
