package mailimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
)

// realFiles is the file store as a FileSink, as caucus serve wires it.
type realFiles struct{ s *files.Store }

func (f realFiles) ImportFile(ctx context.Context, acct int64, path string, mtime time.Time, size int64, r io.Reader) (bool, error) {
	created, err := f.s.ImportFile(ctx, acct, path, mtime, size, r)
	if errors.Is(err, files.ErrQuota) {
		err = fmt.Errorf("%w: %w", ErrFilesQuota, err)
	}
	return created, err
}

// crashAfterCommit lets the file store commit the nth file, then holds
// the job until caucus stops: the file is there, its entry is not
// recorded, as after a crash between the two.
type crashAfterCommit struct {
	FileSink
	mu      sync.Mutex
	n, at   int
	reached chan struct{}
}

func (c *crashAfterCommit) ImportFile(ctx context.Context, acct int64, path string, mtime time.Time, size int64, r io.Reader) (bool, error) {
	created, err := c.FileSink.ImportFile(ctx, acct, path, mtime, size, r)
	c.mu.Lock()
	c.n++
	n := c.n
	c.mu.Unlock()
	if n == c.at {
		close(c.reached)
		<-ctx.Done()
		return false, ctx.Err()
	}
	return created, err
}

// TestTakeoutResumeFiles: with the real file store, caucus stops after
// the store committed a Drive file and before the job recorded it; the
// resumed job gives the file again and the store keeps one file with one
// version, as for every other file of the tree.
func TestTakeoutResumeFiles(t *testing.T) {
	t.Parallel()
	fx := newTakeoutFixture(3)
	dir := t.TempDir()
	path := filepath.Join(dir, "takeout.zip")
	writeZip(t, path, fx.entries)
	fe := filestest.New(t, files.Options{})
	anna := fe.Member(t, "anna@example.org")
	var id int64
	for run := range 2 {
		reached := make(chan struct{})
		var sink FileSink = realFiles{fe.Store}
		if run == 0 {
			sink = &crashAfterCommit{FileSink: sink, at: 2, reached: reached}
		}
		e := openEnv(t, dir, withTakeout(dir, nil), func(o *Options) { o.Sinks.Files = sink })
		e.start()
		if run == 0 {
			var err error
			id, err = e.im.Start(context.Background(), Request{AccountID: anna.ID, Actor: "admin", Source: SourceSpec{Kind: KindTakeout, Paths: []string{path}}})
			if err != nil {
				t.Fatal(err)
			}
			<-reached
			e.stopRun()
			e.db.Close()
			continue
		}
		if rep := e.waitEnd(id); rep.Job.State != StateDone || rep.Files != int64(len(fx.files)) {
			t.Fatalf("report: %s %q, %d files", rep.Job.State, rep.Job.Message, rep.Files)
		}
	}
	ctx := context.Background()
	for p, want := range fx.files {
		n, err := fe.Store.Stat(ctx, anna, "/Home/"+p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if n.Versions != 1 || !n.ModTime.Equal(fx.mtimes[p]) || n.Size != int64(len(want)) {
			t.Errorf("%s: %d versions, modified %v, %d bytes; want 1, %v, %d", p, n.Versions, n.ModTime, n.Size, fx.mtimes[p], len(want))
		}
	}
	var count func(p string) int
	count = func(p string) int {
		list, err := fe.Store.List(ctx, anna, p)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range list {
			if c.Dir {
				n += count(c.Path)
			} else {
				n++
			}
		}
		return n
	}
	if n := count("/Home/Google Drive"); n != len(fx.files) {
		t.Errorf("%d files under Google Drive, want %d", n, len(fx.files))
	}
}
