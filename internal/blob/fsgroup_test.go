package blob

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// gatedOps are orderOps whose first syncfs waits until gate is closed,
// telling entered when it does.
type gatedOps struct {
	orderOps
	once          sync.Once
	entered, gate chan struct{}
}

func (o *gatedOps) syncFS(f *os.File) error {
	o.add(step{op: "syncfs"}) // begun, as orderOps records it
	o.once.Do(func() {
		close(o.entered)
		<-o.gate
	})
	return o.osOps.syncFS(f)
}

// TestGroupSharesCycles checks that the small blobs of concurrent Puts
// share their syncs (fsGroup): while a Put's cycle is in its syncfs, 15
// more Puts queue, and all 16 are durable after three cycles, three
// syncfs and three flushes in all (one Put on its own makes two flushes),
// each blob in the order groupOrderProblems wants, its Put returning
// only after its name was made durable, and whole. A Put alone
// (Dir.groupMin 2) syncs on its own.
func TestGroupSharesCycles(t *testing.T) {
	t.Parallel()
	s := open(t)
	if s.group == nil {
		t.Skip("not ext4 without a journal here: Puts sync on their own")
	}
	o := &gatedOps{entered: make(chan struct{}), gate: make(chan struct{})}
	s.ops = o
	s.groupMin = 1
	const puts = 16
	contents := make([][]byte, puts)
	froms := make([]int, puts)
	for i := range contents {
		contents[i] = binary.BigEndian.AppendUint64(bytes.Repeat([]byte("g"), 10<<10), uint64(i))
	}
	var wg sync.WaitGroup
	put := func(i int) {
		o.mu.Lock()
		froms[i] = len(o.steps) // before its blob is written
		o.mu.Unlock()
		wg.Go(func() {
			ref, _, err := s.Put(t.Context(), bytes.NewReader(contents[i]), 0)
			if err != nil {
				t.Error(err)
				return
			}
			fi, err := os.Stat(s.Path(ref))
			if err != nil {
				t.Errorf("Put %d returned without its blob named: %v", i, err)
				return
			}
			o.add(step{op: "returned", ino: fi.Sys().(*syscall.Stat_t).Ino})
		})
	}
	put(0)
	<-o.entered
	for i := 1; i < puts; i++ {
		put(i)
	}
	for queued := 0; queued < puts-1; time.Sleep(time.Millisecond) {
		s.group.mu.Lock()
		queued = len(s.group.pending)
		s.group.mu.Unlock()
	}
	close(o.gate)
	wg.Wait()
	if n := s.group.cyclesRun(); n != 3 {
		t.Errorf("%d Puts took %d cycles, want 3", puts, n)
	}
	counts := map[string]int{}
	for _, st := range o.steps {
		counts[st.op]++
	}
	if counts["syncfs"] != 3 || counts["flush"] != 3 || counts["sync"]+counts["syncData"]+counts["syncDir"] != 0 {
		t.Errorf("%d Puts made %v, want 3 syncfs and 3 flushes alone", puts, counts)
	}
	for i, c := range contents {
		checkOrder(t, s, &o.orderOps, c, froms[i], true, true, false)
		r, err := s.Open(sum(c))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(got, c) {
			t.Errorf("blob %d: %d bytes, want %d", i, len(got), len(c))
		}
	}

	// A Put alone, with groupMin 2: a file's syncs, no syncfs.
	s.groupMin = 2
	from := len(o.steps)
	if _, _, err := s.Put(t.Context(), bytes.NewReader([]byte("alone")), 0); err != nil {
		t.Fatal(err)
	}
	for _, st := range o.steps[from:] {
		if st.op == "syncfs" || st.op == "flush" {
			t.Errorf("a Put alone joined the group: %v", o.steps[from:])
			break
		}
	}
}
