package blob

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"unsafe"
)

// allocated reports whether all of f's content has its blocks on disk,
// allocated and written out, none delayed (FS_IOC_FIEMAP, without
// FIEMAP_FLAG_SYNC: ext4 reports the blocks delayed allocation has not
// given yet as FIEMAP_EXTENT_DELALLOC, and allocates them only when it
// writes them).
func allocated(f *os.File) (bool, error) {
	const (
		fsIocFiemap    = 0xc020660b
		extentDelalloc = 0x4
		extents        = 16
	)
	// struct fiemap (32 bytes), then extents of struct fiemap_extent
	// (56 bytes: logical, physical, length, 2 reserved, flags at 40).
	buf := make([]byte, 32+extents*56)
	binary.NativeEndian.PutUint64(buf[8:], ^uint64(0)) // fm_length: all
	binary.NativeEndian.PutUint32(buf[24:], extents)   // fm_extent_count
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocFiemap, uintptr(unsafe.Pointer(&buf[0]))); e != 0 {
		return false, e
	}
	n := binary.NativeEndian.Uint32(buf[20:]) // fm_mapped_extents
	if n == 0 {
		return false, nil
	}
	for i := range n {
		if binary.NativeEndian.Uint32(buf[32+i*56+40:])&extentDelalloc != 0 {
			return false, nil
		}
	}
	return true, nil
}

// allocOps are orderOps that check, when a file is linked, that its
// content's blocks are written (allocated).
type allocOps struct {
	orderOps
	mu      sync.Mutex
	delayed []string
}

func (o *allocOps) link(f *os.File, final string) error {
	if ok, err := allocated(f); err != nil || !ok {
		o.mu.Lock()
		o.delayed = append(o.delayed, fmt.Sprintf("%s (err %v)", final, err))
		o.mu.Unlock()
	}
	return o.orderOps.link(f, final)
}

// TestGroupWritesBeforeLink checks what fsGroup's proof rests on (see
// fsGroup.cycle): a cycle's syncfs writes out the content of files
// without a name, giving them their blocks, so that each blob's blocks
// are written when it is linked; and that the check sees delayed blocks
// (a file just written, not synced).
func TestGroupWritesBeforeLink(t *testing.T) {
	t.Parallel()
	s := open(t)
	if s.group == nil {
		t.Skip("not ext4 without a journal here: Puts sync on their own")
	}
	probe, err := openAnon(s.tmpDir())
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	if _, err := probe.Write(bytes.Repeat([]byte("d"), 10<<10)); err != nil {
		t.Fatal(err)
	}
	if ok, err := allocated(probe); err != nil || ok {
		t.Fatalf("a file just written: allocated %v (err %v); the check cannot tell", ok, err)
	}
	o := &allocOps{}
	s.ops = o
	s.groupMin = 1
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			c := binary.BigEndian.AppendUint64(bytes.Repeat([]byte("w"), 10<<10), uint64(i))
			if _, _, err := s.Put(t.Context(), bytes.NewReader(c), 0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(o.delayed) > 0 {
		t.Errorf("linked with blocks not written: %v", o.delayed)
	}
	if s.group.cyclesRun() == 0 {
		t.Error("the Puts did not go through the group")
	}
}
