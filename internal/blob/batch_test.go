package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestBatch checks a Dir batch: its blobs are invisible (Has, Open, Walk)
// until Commit and then all stored, the same content twice in a batch
// and content stored before are kept once, a limit applies per Put, and
// Abort (or a crash: what OpenDir clears) leaves nothing.
func TestBatch(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := t.Context()
	before, _, err := s.Put(ctx, strings.NewReader("stored before"), 0)
	if err != nil {
		t.Fatal(err)
	}
	b := s.NewBatch()
	var refs []Ref
	contents := []string{"first", "second", "first", "stored before", strings.Repeat("large ", 100000)}
	for _, c := range contents {
		ref, n, err := b.Put(ctx, strings.NewReader(c), 1<<20)
		if err != nil || n != int64(len(c)) || ref != sum([]byte(c)) {
			t.Fatalf("Put(%.10q) = %s, %d, %v", c, ref, n, err)
		}
		refs = append(refs, ref)
	}
	if _, _, err := b.Put(ctx, strings.NewReader("too long"), 3); err == nil {
		t.Error("Put over the limit succeeded")
	}
	for _, ref := range refs[:2] {
		if ok, err := s.Has(ref); ok || err != nil {
			t.Errorf("Has(%s) before Commit = %v, %v; want false", ref, ok, err)
		}
	}
	if got := walk(t, s); !slices.Equal(got, []Ref{before}) {
		t.Errorf("Walk before Commit saw %v, want only %v", got, before)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for i, ref := range refs {
		f, err := s.Open(ref)
		if err != nil {
			t.Fatalf("Open(%s) after Commit: %v", ref, err)
		}
		got, _ := io.ReadAll(f)
		f.Close()
		if !bytes.Equal(got, []byte(contents[i])) {
			t.Errorf("blob %d reads %.20q", i, got)
		}
	}
	if got := len(walk(t, s)); got != 4 {
		t.Errorf("Walk after Commit saw %d blobs, want 4", got)
	}
	if leftovers := tmpFiles(t, s); len(leftovers) != 0 {
		t.Errorf("temporary files left after Commit: %v", leftovers)
	}

	aborted := s.NewBatch()
	ref, _, err := aborted.Put(ctx, strings.NewReader("never committed"), 0)
	if err != nil {
		t.Fatal(err)
	}
	aborted.Abort()
	if ok, _ := s.Has(ref); ok {
		t.Error("an aborted blob is stored")
	}
	if leftovers := tmpFiles(t, s); len(leftovers) != 0 {
		t.Errorf("temporary files left after Abort: %v", leftovers)
	}

	crashed := s.NewBatch() // the process dies before Commit
	ref, _, err = crashed.Put(ctx, strings.NewReader("in flight at the crash"), 0)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := OpenDir(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := s2.Has(ref); ok {
		t.Error("a blob of a batch never committed is stored after the restart")
	}
	if leftovers := tmpFiles(t, s2); len(leftovers) != 0 {
		t.Errorf("temporary files left after the restart: %v", leftovers)
	}
}

// TestBatchCancelled checks that Commit with an ended context stores
// nothing and leaves no temporary file.
func TestBatchCancelled(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx, cancel := context.WithCancel(t.Context())
	b := s.NewBatch()
	ref, _, err := b.Put(ctx, strings.NewReader("cancelled"), 0)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := b.Commit(ctx); err == nil {
		t.Fatal("Commit with an ended context succeeded")
	}
	if ok, _ := s.Has(ref); ok {
		t.Error("a blob of a cancelled batch is stored")
	}
	if leftovers := tmpFiles(t, s); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

// walk returns the refs Walk reports, sorted.
func walk(t *testing.T, s *Dir) []Ref {
	t.Helper()
	var refs []Ref
	if err := s.Walk(func(ref Ref, _ fs.FileInfo) error { refs = append(refs, ref); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(refs)
	return refs
}

// tmpFiles lists the files under dir/tmp.
func tmpFiles(t *testing.T, s *Dir) []string {
	t.Helper()
	var out []string
	for _, f := range files(t, s) {
		if strings.HasPrefix(f, "tmp") {
			out = append(out, f)
		}
	}
	return out
}

// BenchmarkPutParallel stores 64 KiB blobs from 8 goroutines at once, as
// concurrent uploads do, with temporary files made without a name
// (anon, see createTemp) and with named ones, in the same run; it reports
// the CPU time per Put (this process's, user and system):
//
//	go test ./internal/blob -run '^$' -bench PutParallel -count 3
//
// anon shares syncs among the concurrent Puts where the store's file
// system allows it (fsGroup: ext4 without a journal); alone syncs each
// Put on its own (the group off), as other file systems do. batched is
// anon with the concurrent Puts' file syncs taken together in rounds
// (syncQueue), which Put does not do: each round waited for the one
// before (load 18: 3.0-3.3 ms a Put batched, 1.6-1.8 ms alone).
func BenchmarkPutParallel(b *testing.B) {
	for _, v := range []struct {
		name                 string
		anon, batched, alone bool
	}{{"anon", true, false, false}, {"alone", true, false, true}, {"batched", true, true, false}, {"named", false, false, false}} {
		anon := v.anon
		b.Run(v.name, func(b *testing.B) {
			s, err := OpenDir(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			if anon && !s.anon {
				b.Skip("no files without a name here")
			}
			if v.alone {
				s.group = nil
			}
			s.anon = anon
			var seq atomic.Int64
			queue := &syncQueue{s: s, turn: make(chan struct{}, 1)}
			b.SetParallelism(4) // 8 on 2 cores
			cpu0 := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 64<<10)
				for pb.Next() {
					binary.BigEndian.PutUint64(buf, uint64(seq.Add(1)))
					put := s.Put
					if v.batched {
						put = queue.put
					}
					if _, _, err := put(context.Background(), bytes.NewReader(buf), 0); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// processCPU returns the CPU time, user and system, this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestBatchSharesSyncs checks that a batch's blobs are made durable
// together: 16 contents that go into one fan-out directory cost one
// round of syncs and one sync of that directory, and each is stored.
func TestBatchSharesSyncs(t *testing.T) {
	t.Parallel()
	s := open(t)
	var contents [][]byte
	for i := 0; len(contents) < 16; i++ {
		c := binary.BigEndian.AppendUint64(nil, uint64(i))
		if sum := sha256.Sum256(c); sum[0] == 0 {
			contents = append(contents, c)
		}
	}
	before := s.Stats()
	b := s.NewBatch()
	refs := make([]Ref, len(contents))
	for i, c := range contents {
		var err error
		if refs[i], _, err = b.Put(t.Context(), bytes.NewReader(c), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i, c := range contents {
		r, err := s.Open(refs[i])
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(got, c) {
			t.Fatalf("blob %d: %x, want %x", i, got, c)
		}
	}
	if d := s.Stats(); d.Commits-before.Commits != 1 || d.DirSyncs-before.DirSyncs != 1 {
		t.Fatalf("a batch of 16 into one directory: %d rounds of syncs, %d directory syncs; want 1 and 1",
			d.Commits-before.Commits, d.DirSyncs-before.DirSyncs)
	}
}

// syncQueue makes the blobs of concurrent Puts durable together, the
// way internal/db's Group commits concurrent writes: each Put stages its
// blob and queues it, and whichever of the waiting Puts gets the turn
// commits every one queued (commitStaged). For BenchmarkPutParallel.
type syncQueue struct {
	s       *Dir
	turn    chan struct{} // held by the Put committing
	mu      sync.Mutex
	pending []*syncJob
}

// syncJob is one staged blob waiting for its commit.
type syncJob struct {
	st   *staged
	err  error
	done chan struct{}
}

// put is Dir.Put through the queue.
func (q *syncQueue) put(ctx context.Context, r io.Reader, limit int64) (Ref, int64, error) {
	st, err := q.s.stage(ctx, r, limit)
	if err != nil {
		return "", 0, err
	}
	return st.ref, st.n, q.commit(st)
}

// commit queues st, and returns once it is durable (or failed).
func (q *syncQueue) commit(st *staged) error {
	j := &syncJob{st: st, done: make(chan struct{})}
	q.mu.Lock()
	q.pending = append(q.pending, j)
	q.mu.Unlock()
	for {
		select {
		case <-j.done:
			return j.err
		case q.turn <- struct{}{}:
			q.mu.Lock()
			jobs := q.pending
			q.pending = nil
			q.mu.Unlock()
			if len(jobs) > 0 {
				sts := make([]*staged, len(jobs))
				for i, j := range jobs {
					sts[i] = j.st
				}
				for i, err := range q.s.commitStaged(sts) {
					jobs[i].err = err
					close(jobs[i].done)
				}
			}
			<-q.turn
		}
	}
}

// TestFirstChunkWhole checks that content of exactly firstChunk bytes
// (a 64 KiB file) is known whole after the first read: its temporary
// file is made beside its final place, not in dir/tmp, and no chunks
// are streamed.
func TestFirstChunkWhole(t *testing.T) {
	t.Parallel()
	s := open(t)
	if !s.anon {
		t.Skip("no files without a name here")
	}
	for _, size := range []int{firstChunk - 1, firstChunk} {
		content := bytes.Repeat([]byte{byte(size)}, size)
		st, err := s.stage(t.Context(), bytes.NewReader(content), 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Dir(s.Path(sum(content))); st.f.Name() != want {
			t.Errorf("%d bytes: temporary file made in %s, want %s", size, st.f.Name(), want)
		}
		st.discard()
	}
}
