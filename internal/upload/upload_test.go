package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func newSpool(t *testing.T) (*Spool, *testtool.Clock) {
	t.Helper()
	d := dbtest.Open(t)
	if err := d.Migrate(t.Context(), Component()); err != nil {
		t.Fatal(err)
	}
	clk := testtool.NewClock(time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC))
	s, err := Open(d, filepath.Join(t.TempDir(), "uploads"), clk.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, clk
}

// cutReader gives n bytes of r, then fails as a dropped connection does.
type cutReader struct {
	r io.Reader
	n int
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if len(p) > c.n {
		p = p[:c.n]
	}
	m, err := c.r.Read(p)
	c.n -= m
	return m, err
}

// TestResumeAfterInterruption: a piece cut midway counts what arrived
// (fsynced); the next piece continues from the server's offset; a piece
// at a wrong offset is refused; the result is the file, byte for byte.
func TestResumeAfterInterruption(t *testing.T) {
	t.Parallel()
	s, _ := newSpool(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	u, err := s.Create(t.Context(), 1, "mail.mbox", "mbox", int64(len(data)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	u, err = s.Write(t.Context(), 1, u.ID, 0, &cutReader{r: bytes.NewReader(data[:30000]), n: 10000})
	if err == nil || u.Received != 10000 {
		t.Fatalf("cut piece: received %d, err %v; want 10000 and an error", u.Received, err)
	}
	// After a reload the browser asks where the upload stands.
	again, err := s.Create(t.Context(), 1, "mail.mbox", "mbox", int64(len(data)), 1<<20)
	if err != nil || again.ID != u.ID || again.Received != 10000 {
		t.Fatalf("resume: %+v %v", again, err)
	}
	for _, off := range []int64{0, 9999, 10001, 30000} {
		if _, err := s.Write(t.Context(), 1, u.ID, off, bytes.NewReader(data[off:off+10])); !errors.Is(err, ErrOffset) {
			t.Errorf("piece at %d: %v, want ErrOffset", off, err)
		}
	}
	if u, err = s.Write(t.Context(), 1, u.ID, 10000, bytes.NewReader(data[10000:40000])); err != nil || u.Received != 40000 {
		t.Fatalf("second piece: %d %v", u.Received, err)
	}
	if u, err = s.Write(t.Context(), 1, u.ID, 40000, bytes.NewReader(data[40000:])); err != nil || !u.Complete() {
		t.Fatalf("last piece: %+v %v", u, err)
	}
	if _, err := s.Write(t.Context(), 1, u.ID, u.Size, strings.NewReader("x")); !errors.Is(err, ErrComplete) {
		t.Errorf("after the end: %v, want ErrComplete", err)
	}
	got, err := os.ReadFile(s.Path(u))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("file differs (%d bytes, %v)", len(got), err)
	}
}

// TestLimits: a declared size over the limit, a piece past the declared
// size, too many unfinished uploads.
func TestLimits(t *testing.T) {
	t.Parallel()
	s, _ := newSpool(t)
	for _, size := range []int64{0, -1, 1001} {
		if _, err := s.Create(t.Context(), 1, "a.mbox", "mbox", size, 1000); !errors.Is(err, ErrTooLarge) {
			t.Errorf("size %d: %v, want ErrTooLarge", size, err)
		}
	}
	u, err := s.Create(t.Context(), 1, "a.mbox", "mbox", 10, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if u, err = s.Write(t.Context(), 1, u.ID, 0, strings.NewReader("0123456789X")); !errors.Is(err, ErrTooLarge) || u.Received != 0 {
		t.Errorf("piece past the size: received %d, %v; want 0 and ErrTooLarge", u.Received, err)
	}
	if u, err = s.Write(t.Context(), 1, u.ID, 0, strings.NewReader("0123456789")); err != nil || !u.Complete() {
		t.Errorf("exact piece: %+v %v", u, err)
	}
	for i := range 2 {
		if _, err := s.Create(t.Context(), 1, "b.mbox", "mbox", int64(20+i), 1000); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Create(t.Context(), 1, "c.mbox", "mbox", 5, 1000); !errors.Is(err, ErrTooMany) {
		t.Errorf("fourth unfinished upload: %v, want ErrTooMany", err)
	}
	if _, err := s.Create(t.Context(), 2, "c.mbox", "mbox", 5, 1000); err != nil {
		t.Errorf("another account: %v", err)
	}
}

// TestOtherAccount: another account's upload id is not found, for every
// operation, and is left as it was.
func TestOtherAccount(t *testing.T) {
	t.Parallel()
	s, _ := newSpool(t)
	u, err := s.Create(t.Context(), 1, "a.mbox", "mbox", 10, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(t.Context(), 2, u.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get: %v", err)
	}
	if _, err := s.Write(t.Context(), 2, u.ID, 0, strings.NewReader("0123456789")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Write: %v", err)
	}
	if err := s.Delete(t.Context(), 2, u.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete: %v", err)
	}
	if list, _ := s.List(t.Context(), 2); len(list) != 0 {
		t.Errorf("List: %+v", list)
	}
	if got, err := s.Get(t.Context(), 1, u.ID); err != nil || got.Received != 0 {
		t.Errorf("owner's upload: %+v %v", got, err)
	}
}

// TestSweep: an upload abandoned for a day is deleted with its file; a
// recent one stays; a handed one goes when its job has ended.
func TestSweep(t *testing.T) {
	t.Parallel()
	s, clk := newSpool(t)
	ctx := t.Context()
	old, _ := s.Create(ctx, 1, "old.mbox", "mbox", 10, 1000)
	s.Write(ctx, 1, old.ID, 0, strings.NewReader("01234"))
	clk.Advance(23 * time.Hour)
	recent, _ := s.Create(ctx, 1, "recent.mbox", "mbox", 10, 1000)
	done, _ := s.Create(ctx, 1, "done.mbox", "mbox", 3, 1000)
	s.Write(ctx, 1, done.ID, 0, strings.NewReader("abc"))
	if job, err := s.Hand(ctx, done.ID, func() (int64, error) { return 42, nil }); err != nil || job != 42 {
		t.Fatal(job, err)
	}
	// One claimed by a hand-over whose job is being started (or that
	// crashed before recording it).
	claimed, _ := s.Create(ctx, 1, "claimed.mbox", "mbox", 1, 1000)
	s.Write(ctx, 1, claimed.ID, 0, strings.NewReader("x"))
	if _, err := s.db.ExecContext(ctx, `UPDATE uploads SET state = ? WHERE id = ?`, StateHanded, claimed.ID); err != nil {
		t.Fatal(err)
	}
	jobEnded := false
	ended := func(_ context.Context, job int64) (bool, error) {
		if job != 42 {
			t.Errorf("asked about job %d", job)
		}
		return jobEnded, nil
	}
	if n, err := s.Sweep(ctx, ended); n != 0 || err != nil {
		t.Errorf("sweep at 23 h: %d %v", n, err)
	}
	clk.Advance(2 * time.Hour)
	if n, err := s.Sweep(ctx, ended); n != 1 || err != nil {
		t.Errorf("sweep at 25 h: %d %v, want 1", n, err)
	}
	if _, err := s.Get(ctx, 1, claimed.ID); err != nil {
		t.Errorf("a claim being started was swept: %v", err)
	}
	if _, err := s.Get(ctx, 1, old.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("abandoned upload kept: %v", err)
	}
	if _, err := os.Stat(s.Path(old)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("abandoned file kept: %v", err)
	}
	for _, id := range []string{recent.ID, done.ID} {
		if _, err := s.Get(ctx, 1, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	jobEnded = true
	if n, err := s.Sweep(ctx, ended); n != 1 || err != nil {
		t.Errorf("sweep after the job: %d %v", n, err)
	}
	clk.Advance(Abandoned)
	if n, err := s.Sweep(ctx, ended); n != 2 || err != nil {
		t.Errorf("sweep a day later: %d %v, want the stale claim and the recent one", n, err)
	}
	if _, err := os.Stat(s.Path(done)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("handed file kept after its job: %v", err)
	}
}

// blockingReader hands out nothing until released.
type blockingReader struct{ release chan struct{} }

func (b blockingReader) Read(p []byte) (int, error) {
	<-b.release
	return 0, io.EOF
}

// TestBusy: while one piece of an upload is being written, another is
// refused (a second tab, a retry racing the first) rather than
// interleaved in the file.
func TestBusy(t *testing.T) {
	t.Parallel()
	s, _ := newSpool(t)
	u, err := s.Create(t.Context(), 1, "a.mbox", "mbox", 10, 1000)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := s.Write(context.Background(), 1, u.ID, 0, blockingReader{release})
		done <- err
	}()
	for !func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.busy[u.ID] }() {
		time.Sleep(time.Millisecond)
	}
	if _, err := s.Write(t.Context(), 1, u.ID, 0, strings.NewReader("0123456789")); !errors.Is(err, ErrBusy) {
		t.Errorf("second piece: %v, want ErrBusy", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("first piece: %v", err)
	}
	if got, err := s.Write(t.Context(), 1, u.ID, 0, strings.NewReader("0123456789")); err != nil || !got.Complete() {
		t.Errorf("after the first: %+v %v", got, err)
	}
}

// TestHandOnce: a complete upload is handed to one job, however many
// requests race for it; a failed start leaves it to be handed again.
func TestHandOnce(t *testing.T) {
	t.Parallel()
	s, _ := newSpool(t)
	u, _ := s.Create(t.Context(), 1, "a.mbox", "mbox", 3, 1000)
	if _, err := s.Hand(t.Context(), u.ID, func() (int64, error) { return 1, nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("incomplete upload handed: %v", err)
	}
	s.Write(t.Context(), 1, u.ID, 0, strings.NewReader("abc"))
	if _, err := s.Hand(t.Context(), u.ID, func() (int64, error) { return 0, errors.New("no") }); err == nil {
		t.Error("a failed start is not reported")
	}
	var starts atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			s.Hand(context.Background(), u.ID, func() (int64, error) { starts.Add(1); time.Sleep(time.Millisecond); return 7, nil })
		})
	}
	wg.Wait()
	got, _ := s.Get(t.Context(), 1, u.ID)
	if starts.Load() != 1 || got.State != StateHanded || got.JobID != 7 {
		t.Errorf("%d starts, upload %+v; want one, handed to job 7", starts.Load(), got)
	}
}

// TestDiskFull: an upload that would leave less than Reserve on the
// disk is refused before a byte is sent.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	s, _ := newSpool(t)
	s.Reserve = 100
	s.Free = func() (int64, error) { return 1000, nil }
	if _, err := s.Create(t.Context(), 1, "a.mbox", "mbox", 901, 1<<20); !errors.Is(err, ErrDiskFull) {
		t.Errorf("901 bytes on 1000 free with 100 reserved: %v, want ErrDiskFull", err)
	}
	if _, err := s.Create(t.Context(), 1, "a.mbox", "mbox", 900, 1<<20); err != nil {
		t.Errorf("900 bytes: %v", err)
	}
	if free, err := diskFree(t.TempDir()); err != nil || free == 0 {
		t.Errorf("diskFree: %d %v", free, err)
	}
}

// TestLargeSize: a Takeout archive declares more than 2^31 bytes; the
// size and offsets are 64-bit on every engine.
func TestLargeSize(t *testing.T) {
	t.Parallel()
	s, _ := newSpool(t)
	s.Free = func() (int64, error) { return -1, nil }
	const size = 5 << 30
	u, err := s.Create(t.Context(), 1, "takeout.tgz", "mbox", size, 50<<30)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(t.Context(), 1, u.ID)
	if err != nil || got.Size != size {
		t.Fatalf("Get: size %d %v, want %d", got.Size, err, int64(size))
	}
	if _, err := s.db.ExecContext(t.Context(), `UPDATE uploads SET received = ? WHERE id = ?`, int64(size-3), u.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Write(t.Context(), 1, u.ID, size-3, strings.NewReader("end")); err != nil || !got.Complete() {
		t.Errorf("last piece at %d: %+v %v", int64(size-3), got, err)
	}
}

// TestMaxOpenTwoNodes: an account's uploads started at once, through two
// nodes (two database handles, each node with its own spool directory),
// never leave it more than MaxOpen unfinished ones.
func TestMaxOpenTwoNodes(t *testing.T) {
	t.Parallel()
	d := dbtest.Create(t)
	da, dbB := d.Open(t), d.Open(t)
	if err := da.Migrate(t.Context(), Component()); err != nil {
		t.Fatal(err)
	}
	var spools []*Spool
	for _, h := range []*db.DB{da, dbB} {
		s, err := Open(h, filepath.Join(t.TempDir(), "uploads"), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Free = func() (int64, error) { return -1, nil }
		spools = append(spools, s)
	}
	var made atomic.Int32
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			_, err := spools[i%2].Create(context.Background(), 1, fmt.Sprintf("%d.mbox", i), "mbox", 10, 1000)
			switch {
			case err == nil:
				made.Add(1)
			case !errors.Is(err, ErrTooMany):
				t.Errorf("upload %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	var open int
	if err := da.QueryRowContext(t.Context(), `SELECT count(*) FROM uploads WHERE account_id = 1 AND state = ?`, StateReceiving).Scan(&open); err != nil {
		t.Fatal(err)
	}
	if made.Load() != 3 || open != 3 {
		t.Errorf("%d uploads started, %d unfinished; want MaxOpen (3)", made.Load(), open)
	}
}
