package blob

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
)

// step is one durable step a Put took: op on the file with inode ino (a
// file's sync, a link or a rename) or on the directory dir.
type step struct {
	op  string
	ino uint64
	dir string
}

// orderOps are the system's fileOps, recording the order of the steps.
type orderOps struct {
	osOps
	mu    sync.Mutex
	steps []step
}

func (o *orderOps) add(st step) {
	o.mu.Lock()
	o.steps = append(o.steps, st)
	o.mu.Unlock()
}

func inode(f *os.File) uint64 {
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func (o *orderOps) sync(f *os.File) error {
	o.add(step{op: "sync", ino: inode(f)})
	return o.osOps.sync(f)
}

func (o *orderOps) syncData(f *os.File) error {
	o.add(step{op: "syncData", ino: inode(f)})
	return o.osOps.syncData(f)
}

func (o *orderOps) link(f *os.File, final string) error {
	err := o.osOps.link(f, final)
	if err == nil {
		o.add(step{op: "name", ino: inode(f)})
	}
	return err
}

func (o *orderOps) rename(old, new string) error {
	fi, err := os.Lstat(old)
	if err != nil {
		return err
	}
	if err := o.osOps.rename(old, new); err != nil {
		return err
	}
	o.add(step{op: "name", ino: fi.Sys().(*syscall.Stat_t).Ino})
	return nil
}

func (o *orderOps) syncDir(dir string) error {
	o.add(step{op: "syncDir", dir: dir})
	return o.osOps.syncDir(dir)
}

// index returns the position of the first step that matches want from
// position from on, or -1.
func (o *orderOps) index(from int, match func(step) bool) int {
	if i := slices.IndexFunc(o.steps[from:], match); i >= 0 {
		return from + i
	}
	return -1
}

// TestDurableOrder pins the order of the steps that make a blob durable,
// for both kinds of temporary file, for a Put, a Batch and a Put that
// finds its content stored already (each blob's steps, in order):
//
//   - a named file (dir/tmp): its data and inode synced, renamed into
//     place, then its directory synced;
//   - a file without a name (O_TMPFILE): its data synced, linked into
//     place, then its inode synced (linkat(2) raised its link count from
//     0; the directory's fsync need not write that inode: on ext4
//     without a journal it does not), then its directory synced;
//   - content found stored (maybe linked by a concurrent Put that has
//     not synced its inode yet): that file synced, then its directory.
func TestDurableOrder(t *testing.T) {
	t.Parallel()
	for _, anon := range []bool{false, true} {
		for _, batch := range []bool{false, true} {
			t.Run(fmt.Sprintf("anon=%v/batch=%v", anon, batch), func(t *testing.T) {
				t.Parallel()
				s := open(t)
				if anon && !s.anon {
					t.Skip("no files without a name here")
				}
				s.anon = anon
				o := &orderOps{}
				s.ops = o
				var contents [][]byte
				for i, n := range []int{10, firstChunk, 3 * chunkSize} { // known at once, and streamed
					contents = append(contents, bytes.Repeat([]byte{byte(i + 1)}, n))
				}
				put := func(contents [][]byte) {
					t.Helper()
					if !batch {
						for _, c := range contents {
							if _, _, err := s.Put(t.Context(), bytes.NewReader(c), 0); err != nil {
								t.Fatal(err)
							}
						}
						return
					}
					b := s.NewBatch()
					for _, c := range contents {
						if _, _, err := b.Put(t.Context(), bytes.NewReader(c), 0); err != nil {
							t.Fatal(err)
						}
					}
					if err := b.Commit(t.Context()); err != nil {
						t.Fatal(err)
					}
				}
				put(contents)
				for _, c := range contents {
					checkOrder(t, s, o, c, 0, anon)
				}
				again := len(o.steps)
				put(contents[:2])
				for _, c := range contents[:2] {
					checkOrder(t, s, o, c, again, false)
				}
				if t.Failed() {
					t.Logf("steps: %v", o.steps)
				}
			})
		}
	}
}

// checkOrder checks the steps from position from on that made content c
// durable: for a file without a name (anon), its data synced, then
// linked, then synced, then its directory synced; else synced, then
// named (but for content found stored), then its directory synced.
func checkOrder(t *testing.T, s *Dir, o *orderOps, c []byte, from int, anon bool) {
	t.Helper()
	p := s.Path(sum(c))
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	ino := fi.Sys().(*syscall.Stat_t).Ino
	on := func(ops ...string) func(step) bool {
		return func(st step) bool { return st.ino == ino && slices.Contains(ops, st.op) }
	}
	named := o.index(from, on("name"))
	if from > 0 && named >= 0 {
		t.Errorf("%d bytes found stored: named again", len(c))
	}
	var synced int
	switch {
	case from > 0: // found stored
		synced = o.index(from, on("sync"))
	case anon:
		data := o.index(from, on("syncData", "sync"))
		if data < 0 || named < 0 || data > named {
			t.Errorf("%d bytes without a name: data synced at step %d, linked at %d; want it synced before", len(c), data, named)
		}
		synced = o.index(max(named, 0), on("sync"))
		if synced < 0 {
			t.Errorf("%d bytes without a name: inode not synced after linkat (step %d)", len(c), named)
			return
		}
	default:
		synced = o.index(from, on("sync"))
		if synced < 0 || named < 0 || synced > named {
			t.Errorf("%d bytes named: synced at step %d, renamed at %d; want it synced before", len(c), synced, named)
		}
		synced = named
	}
	if synced < 0 {
		t.Errorf("%d bytes: file not synced from step %d", len(c), from)
		return
	}
	dir := o.index(synced, func(st step) bool { return st.op == "syncDir" && st.dir == filepath.Dir(p) })
	if dir < 0 {
		t.Errorf("%d bytes: directory %s not synced after the file's steps (from step %d)", len(c), filepath.Dir(p), synced)
	}
}
