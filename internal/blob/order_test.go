package blob

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// A sync is recorded when it has returned (what came before it is
// durable); a naming when it starts ("naming": from then on the name may
// reach the disk) and when it has succeeded ("name").

func (o *orderOps) sync(f *os.File) error {
	ino := inode(f)
	err := o.osOps.sync(f)
	o.add(step{op: "sync", ino: ino})
	return err
}

func (o *orderOps) syncData(f *os.File) error {
	err := o.osOps.syncData(f)
	o.add(step{op: "syncData", ino: inode(f)})
	return err
}

func (o *orderOps) link(f *os.File, final string) error {
	o.add(step{op: "naming", ino: inode(f)})
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
	ino := fi.Sys().(*syscall.Stat_t).Ino
	o.add(step{op: "naming", ino: ino})
	if err := o.osOps.rename(old, new); err != nil {
		return err
	}
	o.add(step{op: "name", ino: ino})
	return nil
}

func (o *orderOps) syncDir(dir string) (int64, error) {
	size, err := o.osOps.syncDir(dir)
	o.add(step{op: "syncDir", dir: dir})
	return size, err
}

// syncFS and flush are the file system's, on no file in particular. A
// syncfs is recorded when it begins: it makes durable (with the flush
// after it) only what was written before.

func (o *orderOps) syncFS(f *os.File) error {
	o.add(step{op: "syncfs"})
	return o.osOps.syncFS(f)
}

func (o *orderOps) flush(f *os.File) error {
	err := o.osOps.flush(f)
	o.add(step{op: "flush"})
	return err
}

// index returns the position of the first step of steps that matches
// match from position from on, or -1.
func index(steps []step, from int, match func(step) bool) int {
	if i := slices.IndexFunc(steps[from:], match); i >= 0 {
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
//     without a journal it does not) and its directory synced, in
//     either order (see commitStaged);
//   - content found stored (maybe linked by a concurrent Put that has
//     not synced its inode yet): its directory synced, then that file;
//   - a small blob without a name where Puts share syncs (fsGroup):
//     syncfs then a flush before it is named, and again after.
//
// TestDurableOrderRules checks that the checker refuses the unsafe
// orders.
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
				s.groupMin = 1 // a lone Put joins the group too
				o := &orderOps{}
				s.ops = o
				var contents [][]byte
				for i, n := range []int{10, firstChunk, 3 * chunkSize} { // known at once, and streamed
					contents = append(contents, bytes.Repeat([]byte{byte(i + 1)}, n))
				}
				// put stores contents and returns where each one's steps
				// begin: a Put's own, a batch's all from one.
				put := func(contents [][]byte) (from []int) {
					t.Helper()
					if !batch {
						for _, c := range contents {
							from = append(from, len(o.steps))
							if _, _, err := s.Put(t.Context(), bytes.NewReader(c), 0); err != nil {
								t.Fatal(err)
							}
						}
						return from
					}
					b := s.NewBatch()
					for _, c := range contents {
						from = append(from, len(o.steps))
						if _, _, err := b.Put(t.Context(), bytes.NewReader(c), 0); err != nil {
							t.Fatal(err)
						}
					}
					if err := b.Commit(t.Context()); err != nil {
						t.Fatal(err)
					}
					return from
				}
				from := put(contents)
				for i, c := range contents {
					checkOrder(t, s, o, c, from[i], anon, !batch, false)
				}
				from = put(contents[:2])
				for i, c := range contents[:2] {
					checkOrder(t, s, o, c, from[i], false, !batch, true)
				}
				if t.Failed() {
					t.Logf("steps: %v", o.steps)
				}
			})
		}
	}
}

// checkOrder checks the steps recorded by o from position from on that
// made content c durable (see orderProblems), stored by a Put (put) or
// a Batch, found stored already or not; a Put of a small blob shares
// syncs where s has a group (groupOrderProblems).
func checkOrder(t *testing.T, s *Dir, o *orderOps, c []byte, from int, anon, put, stored bool) {
	t.Helper()
	p := s.Path(sum(c))
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	ino := fi.Sys().(*syscall.Stat_t).Ino
	problems := orderProblems(o.steps, from, ino, filepath.Dir(p), anon, stored)
	if put && s.group != nil && s.anon && len(c) <= firstChunk {
		problems = groupOrderProblems(o.steps, from, ino, stored)
	}
	for _, problem := range problems {
		t.Errorf("%d bytes: %s", len(c), problem)
	}
}

// orderProblems lists what is wrong with steps, from position from on,
// that made the blob with inode ino in directory dir durable:
//
//   - a file without a name (anon): its data synced before its naming
//     began, then, after it was named, its inode synced and its
//     directory synced, in either order;
//   - a named file: synced before its naming began, then its directory
//     synced after it was named;
//   - content found stored (stored): not named again, its directory
//     synced, then the file (see commitStaged: the file's sync may be
//     what tells the Put that linked it that its directory is written).
func orderProblems(steps []step, from int, ino uint64, dir string, anon, stored bool) []string {
	on := func(ops ...string) func(step) bool {
		return func(st step) bool { return st.ino == ino && slices.Contains(ops, st.op) }
	}
	dirSynced := func(from int) int {
		return index(steps, from, func(st step) bool { return st.op == "syncDir" && st.dir == dir })
	}
	naming, named := index(steps, from, on("naming")), index(steps, from, on("name"))
	var problems []string
	if stored {
		if named >= 0 {
			problems = append(problems, "found stored: named again")
		}
		dir := dirSynced(from)
		if dir < 0 {
			return append(problems, "found stored: directory not synced")
		}
		if index(steps, dir, on("sync")) < 0 {
			problems = append(problems, "found stored: file not synced after its directory")
		}
		return problems
	}
	data := index(steps, from, on("syncData", "sync"))
	if !anon {
		data = index(steps, from, on("sync"))
	}
	if named < 0 {
		return append(problems, "never named")
	}
	if data < 0 || data > naming {
		problems = append(problems, fmt.Sprintf("data synced at step %d, naming began at %d; want it synced before", data, naming))
	}
	if anon && index(steps, named, on("sync")) < 0 {
		problems = append(problems, fmt.Sprintf("inode not synced after it was named (step %d)", named))
	}
	if dirSynced(named) < 0 {
		problems = append(problems, fmt.Sprintf("directory %s not synced after it was named (step %d)", dir, named))
	}
	return problems
}

// groupOrderProblems lists what is wrong with steps, from position from
// on, that made the blob with inode ino durable through fsGroup, where
// from is before the blob was written: a syncfs that began after from,
// then a flush, returned before its naming began (its data and inode
// durable, see fsGroup.cycle), and a syncfs that began after it was
// named, then a flush (its name durable), returned before its Put did,
// where the caller recorded that ("returned"); content found stored
// (stored) is not named again, and a syncfs then a flush follow.
func groupOrderProblems(steps []step, from int, ino uint64, stored bool) []string {
	on := func(op string) func(step) bool {
		return func(st step) bool { return st.op == op && (st.ino == ino || op == "syncfs" || op == "flush") }
	}
	// durable returns where a syncfs followed by a flush ends, from
	// position from on, or -1.
	durable := func(from int) int {
		if i := index(steps, from, on("syncfs")); i >= 0 {
			return index(steps, i, on("flush"))
		}
		return -1
	}
	naming, named := index(steps, from, on("naming")), index(steps, from, on("name"))
	if stored {
		var problems []string
		if named >= 0 {
			problems = append(problems, "found stored: named again")
		}
		if durable(from) < 0 {
			problems = append(problems, "found stored: no syncfs then flush")
		}
		return problems
	}
	if named < 0 {
		return []string{"never named"}
	}
	var problems []string
	if d := durable(from); d < 0 || d > naming {
		problems = append(problems, fmt.Sprintf("no syncfs then flush before its naming began (step %d)", naming))
	}
	d := durable(named)
	if d < 0 {
		problems = append(problems, fmt.Sprintf("no syncfs then flush after it was named (step %d)", named))
	}
	if r := index(steps, from, on("returned")); r >= 0 && d > r {
		problems = append(problems, fmt.Sprintf("Put returned (step %d) before a syncfs then flush after it was named (step %d)", r, named))
	}
	return problems
}

// TestDurableOrderRules feeds orderProblems the orders commitStaged may
// take, and the unsafe ones it once took or might: each unsafe one must
// be refused, each safe one accepted; and groupOrderProblems fsGroup's.
func TestDurableOrderRules(t *testing.T) {
	t.Parallel()
	const ino, dir = 7, "d/ab"
	f := func(op string) step { return step{op: op, ino: ino} }
	d := step{op: "syncDir", dir: dir}
	other := step{op: "syncDir", dir: "d/cd"}
	for _, tc := range []struct {
		name  string
		steps []step
		anon  bool
		safe  bool
	}{
		{"anon: inode then directory", []step{f("syncData"), f("naming"), f("name"), f("sync"), d}, true, true},
		{"anon: directory then inode", []step{f("syncData"), f("naming"), f("name"), d, f("sync")}, true, true},
		// Session 9's hole: the inode synced with its link count of
		// 0, then linked, then only the directory synced.
		{"anon: inode synced before the link only", []step{f("sync"), f("naming"), f("name"), d}, true, false},
		{"anon: linked before its data was synced", []step{f("naming"), f("name"), f("syncData"), f("sync"), d}, true, false},
		{"anon: data synced while linking", []step{f("naming"), f("syncData"), f("name"), f("sync"), d}, true, false},
		{"anon: directory not synced", []step{f("syncData"), f("naming"), f("name"), f("sync"), other}, true, false},
		{"anon: directory synced before the name", []step{f("syncData"), d, f("naming"), f("name"), f("sync")}, true, false},
		{"named: synced, renamed, directory", []step{f("sync"), f("naming"), f("name"), d}, false, true},
		{"named: renamed before synced", []step{f("naming"), f("name"), f("sync"), d}, false, false},
		{"named: only its data synced", []step{f("syncData"), f("naming"), f("name"), d}, false, false},
	} {
		problems := orderProblems(tc.steps, 0, ino, dir, tc.anon, false)
		if tc.safe && len(problems) > 0 {
			t.Errorf("%s: refused: %v", tc.name, problems)
		}
		if !tc.safe && len(problems) == 0 {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	// Content found stored, from position 1 on.
	for _, tc := range []struct {
		name  string
		steps []step
		safe  bool
	}{
		{"found: directory, then file synced", []step{{}, d, f("sync")}, true},
		{"found: file, then directory synced", []step{{}, f("sync"), d}, false},
		{"found: named again", []step{{}, f("naming"), f("name"), f("sync"), d}, false},
		{"found: file not synced", []step{{}, d}, false},
		{"found: directory not synced", []step{{}, f("sync")}, false},
	} {
		problems := orderProblems(tc.steps, 1, ino, dir, false, true)
		if tc.safe != (len(problems) == 0) {
			t.Errorf("%s: safe %v, problems %v", tc.name, tc.safe, problems)
		}
	}
	// Through fsGroup, from position 1 on.
	fs, fl := step{op: "syncfs"}, step{op: "flush"}
	for _, tc := range []struct {
		name   string
		steps  []step
		stored bool
		safe   bool
	}{
		{"group: syncfs, flush, link, syncfs, flush", []step{{}, fs, fl, f("naming"), f("name"), fs, fl}, false, true},
		{"group: data of an earlier cycle", []step{{}, fs, fl, fs, fl, f("naming"), f("name"), fs, fl}, false, true},
		// Session 9's finding: syncfs writes the inode tables after
		// its own flush, so a name could reach the disk before the
		// inode's blocks and size.
		{"group: one syncfs before the link", []step{{}, fs, f("naming"), f("name"), fs, fl}, false, false},
		{"group: flush before syncfs", []step{{}, fl, fs, f("naming"), f("name"), fs, fl}, false, false},
		{"group: linked before any sync", []step{{}, f("naming"), f("name"), fs, fl}, false, false},
		{"group: syncfs alone after the link", []step{{}, fs, fl, f("naming"), f("name"), fs}, false, false},
		{"group: durable only before the link", []step{{}, fs, fl, f("naming"), f("name")}, false, false},
		{"group: returned after the second flush", []step{{}, fs, fl, f("naming"), f("name"), fs, fl, f("returned")}, false, true},
		{"group: returned before the second flush", []step{{}, fs, fl, f("naming"), f("name"), fs, f("returned"), fl}, false, false},
		{"group: syncfs while linking", []step{{}, f("naming"), fs, fl, f("name"), fs, fl}, false, false},
		{"group found: syncfs, flush", []step{{}, fs, fl}, true, true},
		{"group found: syncfs alone", []step{{}, fs}, true, false},
		{"group found: named again", []step{{}, f("naming"), f("name"), fs, fl}, true, false},
	} {
		problems := groupOrderProblems(tc.steps, 1, ino, tc.stored)
		if tc.safe != (len(problems) == 0) {
			t.Errorf("%s: safe %v, problems %v", tc.name, tc.safe, problems)
		}
	}
}

// TestParentSync checks when a Put syncs the fan-out directory it links
// into, on a file system where the file's own sync writes the entry
// (ext4, syncsParent): the first time, and whenever the directory grew
// past the size it had when last synced; never otherwise. On another
// file system (parentSync off) every Put syncs it.
func TestParentSync(t *testing.T) {
	t.Parallel()
	s := open(t)
	if !s.parentSync {
		t.Skip("not ext4 with files without a name here")
	}
	s.group = nil // the Puts that sync on their own
	o := &orderOps{}
	s.ops = o
	// Contents whose references all begin with 00: one fan-out directory.
	var contents [][]byte
	for i := 0; len(contents) < 400; i++ {
		c := binary.BigEndian.AppendUint64(nil, uint64(i))
		if sum(c)[:2] == "00" {
			contents = append(contents, c)
		}
	}
	dir := filepath.Join(s.dir, "00")
	removed := false
	syncs := func(from int) int {
		n := 0
		for _, st := range o.steps[from:] {
			if st.op == "syncDir" && st.dir == dir {
				n++
			}
		}
		return n
	}
	put := func(c []byte) (dirSyncs int, grew bool) {
		t.Helper()
		var size int64 // 0: removed
		if before, err := os.Stat(dir); err == nil {
			size = before.Size()
		}
		from := len(o.steps)
		if _, _, err := s.Put(t.Context(), bytes.NewReader(c), 0); err != nil {
			t.Fatal(err)
		}
		after, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, problem := range orderProblemsSkip(o.steps, from, c, s) {
			t.Errorf("%d: %s", len(c), problem)
		}
		return syncs(from), after.Size() > size
	}
again:
	if n, _ := put(contents[0]); n == 0 {
		t.Fatalf("first Put into the directory: not synced")
	}
	grown := 0
	for _, c := range contents[1:] {
		n, grew := put(c)
		switch {
		case grew && n != 1:
			t.Errorf("a Put that grew the directory synced it %d times, want 1", n)
		case !grew && n != 0:
			t.Errorf("a Put into a directory that did not grow synced it %d times, want 0", n)
		}
		if grew {
			grown++
		}
	}
	if grown == 0 {
		t.Errorf("the directory never grew with %d entries: the test proves nothing", len(contents))
	}
	if !removed {
		// Again in a new directory of the same name, made by Put
		// after the old one was removed behind its back: smaller than
		// the old one's size known durable, which must not count.
		removed = true
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		goto again
	}
	s.parentSync = false
	from := len(o.steps)
	var c []byte
	for i := 0; ; i++ {
		c = binary.BigEndian.AppendUint64([]byte("off"), uint64(i))
		if sum(c)[:2] == "00" {
			break
		}
	}
	if _, _, err := s.Put(t.Context(), bytes.NewReader(c), 0); err != nil {
		t.Fatal(err)
	}
	if n := syncs(from); n != 1 {
		t.Errorf("parentSync off: the directory synced %d times, want 1", n)
	}
}

// orderProblemsSkip is orderProblems for content c stored in s by the
// steps from position from on, where the directory sync may be left out
// (checked by the caller): the data synced before the naming began, and
// the inode after it was named.
func orderProblemsSkip(steps []step, from int, c []byte, s *Dir) []string {
	p := s.Path(sum(c))
	fi, err := os.Stat(p)
	if err != nil {
		return []string{err.Error()}
	}
	ino := fi.Sys().(*syscall.Stat_t).Ino
	var problems []string
	for _, pr := range orderProblems(steps, from, ino, filepath.Dir(p), true, false) {
		if !strings.HasPrefix(pr, "directory ") {
			problems = append(problems, pr)
		}
	}
	return problems
}
