package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/caucus-org/caucus/internal/blob"
)

// Copies. What [Cache.AddCopy] takes (package s3's copies of the small
// contents a files store keeps in its database, s3.Store.KeepCopy) is
// not a file of its own, as an object's copy is, but a record appended
// to a segment file in dir/copies: on the project's test host, making a
// file (its inode and directory entry, then the rename into place) cost
// 150-330 µs of CPU, and appending 64 KiB to a file already open 18-24
// µs; a copy is kept each time a node whose memory is full stores a
// small file. A record is a header (see putHeader) and the copy's bytes.
// Nothing is synced: as for the objects' copies, the user checks what it
// reads, and a record a crash cut short or lost is found by that check
// and dropped ([Cache.RemoveCopy]); a header cut short ends the
// segment's records when the cache is opened again.
//
// Copies go oldest first, a segment at a time: at most a quarter of the
// cache's size is in segments, counted in the cache's size (the objects'
// copies used least recently make room for them). Reading a copy does not
// keep it longer: it is the second chance of a content that fell out of
// the files store's memory, read at most once or twice there.

// copiesDir is where the segments are, in the cache's directory: a name
// of other than two characters, which the objects' restore leaves alone.
const copiesDir = "copies"

// segPrefix starts a segment's file name; its number (hexadecimal, 16
// digits) follows, in the order segments were made.
const segPrefix = "seg-"

// maxSegment is the largest a segment grows: the disk a segment dropped
// gives back at once.
const maxSegment = 16 << 20

// headerLen is a record's header: "ccp1", the copy's length (uint32, big
// endian), a CRC-32C of the length and the key, and the key (its Ref's 32
// bytes).
const headerLen = 4 + 4 + 4 + 32

// recordMagic starts every record.
const recordMagic = "ccp1"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segment is one file of records.
type segment struct {
	id   uint64
	f    *os.File
	size int64 // bytes given to records, those being written included
	keys []key // the records indexed, to forget when the segment goes
	// sealed segments take no more records: those a previous run left.
	sealed  bool
	dropped bool
}

// span is where a copy's bytes are.
type span struct {
	seg *segment
	off int64 // after the record's header
	n   int64
}

// putHeader writes the header of a record of n bytes for k into h.
func putHeader(h []byte, k key, n int64) {
	copy(h, recordMagic)
	binary.BigEndian.PutUint32(h[4:], uint32(n))
	copy(h[12:], k[:])
	binary.BigEndian.PutUint32(h[8:], headerCRC(h))
}

// headerCRC is the CRC-32C of a header's length and key.
func headerCRC(h []byte) uint32 {
	crc := crc32.Update(0, castagnoli, h[4:8])
	return crc32.Update(crc, castagnoli, h[12:headerLen])
}

// parseHeader reads a record's header: its key and the length of its
// copy; false if h is not a header.
func parseHeader(h []byte) (key, int64, bool) {
	var k key
	if len(h) < headerLen || string(h[:4]) != recordMagic || binary.BigEndian.Uint32(h[8:]) != headerCRC(h) {
		return k, 0, false
	}
	copy(k[:], h[12:headerLen])
	return k, int64(binary.BigEndian.Uint32(h[4:])), true
}

// AddCopy keeps a copy of size bytes for ref, made by fill into the
// slice it is given (exactly size bytes), in the background: fill runs
// only if the cache has no copy for ref and not more than [maxPending]
// bytes wait already, and nothing is kept if it fails. A copy larger
// than a segment may hold is not kept. Copies are apart from the objects'
// ([Cache.Open] does not find them): [Cache.OpenCopy] reads them.
func (c *Cache) AddCopy(ref blob.Ref, size int64, fill func(p []byte) error) {
	k, ok := keyOf(ref)
	if !ok || size < 0 || headerLen+size > c.segMax {
		return
	}
	c.mu.Lock()
	if _, ok := c.copies[k]; ok || c.copyLoads[k] != nil || c.pending+size > maxPending {
		c.mu.Unlock()
		return
	}
	l := &load{} // for its removed mark: nothing waits for a copy's write
	c.copyLoads[k] = l
	c.pending += size
	c.mu.Unlock()
	c.writes.Add(1)
	go func() {
		defer c.writes.Done()
		c.appendCopy(k, l, size, fill) // a cache: a copy not kept is fetched where it is kept
		c.mu.Lock()
		delete(c.copyLoads, k)
		c.pending -= size
		c.mu.Unlock()
	}()
}

// appendCopy makes the record of k and appends it to the segment that
// takes records, indexing it once written, unless [Cache.RemoveCopy]
// was called for k meanwhile (l.removed) or its segment went.
func (c *Cache) appendCopy(k key, l *load, size int64, fill func(p []byte) error) error {
	rec := make([]byte, headerLen+size)
	if err := fill(rec[headerLen:]); err != nil {
		return err
	}
	putHeader(rec, k, size)
	c.mu.Lock()
	seg, off, err := c.reserveLocked(int64(len(rec)))
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if _, err := seg.f.WriteAt(rec, off); err != nil {
		return fmt.Errorf("blob/cache: %w", err) // its room stays taken until the segment goes
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.removed || seg.dropped {
		return errRemoved
	}
	c.indexLocked(k, span{seg: seg, off: off + headerLen, n: size})
	return nil
}

// reserveLocked gives n bytes of the segment that takes records, making
// a new one when there is none or it is full, and making room: the
// oldest segments go while the copies would take more than their share,
// then the objects' copies used least recently while the cache would be
// over its size. c.mu is held.
func (c *Cache) reserveLocked(n int64) (*segment, int64, error) {
	var cur *segment
	if len(c.segs) > 0 {
		cur = c.segs[len(c.segs)-1]
	}
	if cur == nil || cur.sealed || cur.size+n > c.segMax {
		seg, err := c.newSegmentLocked()
		if err != nil {
			return nil, 0, err
		}
		cur = seg
	}
	for c.copiesUsed+n > c.copiesMax && c.segs[0] != cur {
		c.dropSegmentLocked(c.segs[0])
	}
	off := cur.size
	cur.size += n
	c.copiesUsed += n
	c.used += n
	c.trimLocked(nil)
	return cur, off, nil
}

// newSegmentLocked makes the next segment (and the copies' directory,
// if it was removed by hand); c.mu is held.
func (c *Cache) newSegmentLocked() (*segment, error) {
	id := c.nextSeg
	f, err := os.OpenFile(c.segPath(id), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(c.segPath(id)), 0o700); err == nil {
			f, err = os.OpenFile(c.segPath(id), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("blob/cache: %w", err)
	}
	c.nextSeg++
	seg := &segment{id: id, f: f}
	c.segs = append(c.segs, seg)
	return seg, nil
}

// segPath is the file of segment id.
func (c *Cache) segPath(id uint64) string {
	return filepath.Join(c.dir, copiesDir, fmt.Sprintf("%s%016x", segPrefix, id))
}

// dropSegmentLocked forgets seg's records and deletes its file; c.mu is
// held. A reader of one of them fails from then on with [os.ErrClosed]
// (os.File puts the descriptor's close off until reads under way end, so
// no read ever reaches another file), as a copy that fails its check
// does.
func (c *Cache) dropSegmentLocked(seg *segment) {
	seg.dropped = true
	for _, k := range seg.keys {
		if sp, ok := c.copies[k]; ok && sp.seg == seg {
			delete(c.copies, k)
		}
	}
	c.copiesUsed -= seg.size
	c.used -= seg.size
	seg.f.Close()
	os.Remove(c.segPath(seg.id))
	c.segs = slices.DeleteFunc(c.segs, func(s *segment) bool { return s == seg })
}

// indexLocked indexes the copy of k at sp; c.mu is held.
func (c *Cache) indexLocked(k key, sp span) {
	c.copies[k] = sp
	sp.seg.keys = append(sp.seg.keys, k)
}

// trimLocked drops the objects' copies used least recently, but keep,
// while the cache is over its size; c.mu is held.
func (c *Cache) trimLocked(keep *entry) {
	for c.used > c.max && c.head.prev != &c.head && c.head.prev != keep {
		c.dropLocked(c.head.prev, true)
	}
}

// OpenCopy returns a reader of the copy of ref that [Cache.AddCopy]
// kept, and its length; false if there is none. The caller must check
// what it reads, and [Cache.RemoveCopy] a copy that fails the check.
func (c *Cache) OpenCopy(ref blob.Ref) (*io.SectionReader, bool) {
	k, ok := keyOf(ref)
	if !ok {
		return nil, false
	}
	c.mu.Lock()
	sp, ok := c.copies[k]
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	return io.NewSectionReader(sp.seg.f, sp.off, sp.n), true
}

// RemoveCopy forgets the copy of ref, if any (one that failed its check),
// and one being written now; its room is given back when its segment
// goes.
func (c *Cache) RemoveCopy(ref blob.Ref) {
	k, ok := keyOf(ref)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.copies, k)
	if l := c.copyLoads[k]; l != nil {
		l.removed = true
	}
}

// Copies returns the bytes the copies' segments take, and how many copies
// they hold.
func (c *Cache) Copies() (bytes int64, copies int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.copiesUsed, len(c.copies)
}

// restoreCopies indexes the records of the segments a previous run left,
// oldest first, each up to its first record cut short or damaged (where
// it is cut), and removes anything else in the copies' directory. The
// newest restored segment takes records again, after its last; the
// others are sealed.
func (c *Cache) restoreCopies() error {
	dir := filepath.Join(c.dir, copiesDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("blob/cache: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("blob/cache: %w", err)
	}
	var ids []uint64
	for _, e := range ents {
		id, ok := parseSegName(e.Name())
		if !ok || !e.Type().IsRegular() {
			os.RemoveAll(filepath.Join(dir, e.Name()))
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		c.nextSeg = id + 1
		seg, recs, err := c.restoreSegment(id)
		if err != nil {
			os.Remove(c.segPath(id))
			continue
		}
		for _, r := range recs {
			c.indexLocked(r.k, span{seg: seg, off: r.off, n: r.n})
		}
		c.segs = append(c.segs, seg)
		c.copiesUsed += seg.size
		c.used += seg.size
	}
	for c.copiesUsed > c.copiesMax && len(c.segs) > 0 {
		c.dropSegmentLocked(c.segs[0])
	}
	for i, seg := range c.segs {
		seg.sealed = i < len(c.segs)-1 || seg.size >= c.segMax
	}
	c.trimLocked(nil)
	return nil
}

// record is a record found in a segment: its key, and where its copy is.
type record struct {
	k      key
	off, n int64
}

// restoreSegment opens segment id, cut after its last whole record, and
// returns it with its records; it fails if the segment has none.
func (c *Cache) restoreSegment(id uint64) (*segment, []record, error) {
	f, err := os.OpenFile(c.segPath(id), os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	var recs []record
	end, err := scanSegment(f, func(k key, off, n int64) { recs = append(recs, record{k, off, n}) })
	if err == nil && end == 0 {
		err = errors.New("blob/cache: a segment with no record")
	}
	if err == nil {
		err = f.Truncate(end)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return &segment{id: id, f: f, size: end}, recs, nil
}

// parseSegName returns the number of a segment's file name, as segPath
// writes it (the last number, which would leave none for the next, is not
// one).
func parseSegName(name string) (uint64, bool) {
	hex, ok := strings.CutPrefix(name, segPrefix)
	if !ok || len(hex) != 16 {
		return 0, false
	}
	id, err := strconv.ParseUint(hex, 16, 64)
	return id, err == nil && id != math.MaxUint64 && fmt.Sprintf("%016x", id) == hex
}

// scanSegment calls found for each record of r from its start, with the
// offset and length of its copy, and returns where the records end: at
// the end of r, or at the first header that is not one or whose copy r
// cuts short. It fails only if r does.
func scanSegment(r io.ReaderAt, found func(k key, off, n int64)) (int64, error) {
	var h [headerLen]byte
	var off int64
	for {
		m, err := r.ReadAt(h[:], off)
		if m < headerLen {
			if err == io.EOF {
				return off, nil
			}
			return 0, err
		}
		k, n, ok := parseHeader(h[:])
		if !ok {
			return off, nil
		}
		// The copy's last byte is there: ReadAt of one byte at its end.
		if n > 0 {
			var b [1]byte
			if _, err := r.ReadAt(b[:], off+headerLen+n-1); err == io.EOF {
				return off, nil
			} else if err != nil {
				return 0, err
			}
		}
		found(k, off+headerLen, n)
		off += headerLen + n
	}
}
