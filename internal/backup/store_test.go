package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/caucus-org/caucus/internal/backup"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/testtool"
)

// memStore is a [blob.Store] in memory: no directory a backup could copy
// by path.
type memStore struct {
	mu    sync.Mutex
	blobs map[blob.Ref][]byte
	// ghosts are listed by Walk and gone when opened: deleted meanwhile.
	ghosts []blob.Ref
}

func newMemStore() *memStore { return &memStore{blobs: map[blob.Ref][]byte{}} }

func (m *memStore) Put(ctx context.Context, r io.Reader, limit int64) (blob.Ref, int64, error) {
	if limit > 0 {
		r = io.LimitReader(r, limit+1)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", 0, err
	}
	if limit > 0 && int64(len(b)) > limit {
		return "", 0, blob.ErrTooLarge
	}
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	sum := sha256.Sum256(b)
	ref := blob.Ref(hex.EncodeToString(sum[:]))
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs[ref] = b
	return ref, int64(len(b)), nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func (m *memStore) Open(ref blob.Ref) (io.ReadSeekCloser, error) {
	if _, err := blob.ParseRef(string(ref)); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[ref]
	if !ok {
		return nil, fmt.Errorf("%w: %s", blob.ErrNotFound, ref)
	}
	return nopCloser{bytes.NewReader(b)}, nil
}

func (m *memStore) Has(ref blob.Ref) (bool, error) {
	if _, err := blob.ParseRef(string(ref)); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.blobs[ref]
	return ok, nil
}

func (m *memStore) Delete(ref blob.Ref) error {
	if _, err := blob.ParseRef(string(ref)); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.blobs, ref)
	return nil
}

func (m *memStore) Walk(fn func(ref blob.Ref, info fs.FileInfo) error) error {
	m.mu.Lock()
	infos := map[blob.Ref]fs.FileInfo{}
	for ref, b := range m.blobs {
		infos[ref] = memInfo{name: string(ref), size: int64(len(b))}
	}
	for _, ref := range m.ghosts {
		infos[ref] = memInfo{name: string(ref), size: 1}
	}
	m.mu.Unlock()
	for ref, info := range infos {
		if err := fn(ref, info); err != nil {
			return err
		}
	}
	return nil
}

// memInfo is a memStore blob's [fs.FileInfo].
type memInfo struct {
	name string
	size int64
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

var _ blob.Store = (*memStore)(nil)

// TestBackupThroughStore backs up the file store's blobs from a store that
// is no directory (DataDir/blobs/files is there, empty, and must not stand
// for it), restores them into a blob.Dir where every one reads back, and
// checks that a blob deleted after the walk listed it is left out and
// that a blob that is not what its name says stops the backup with
// ErrChanged.
func TestBackupThroughStore(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := testtool.NewClock(time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC))
	src := openNode(t, filepath.Join(t.TempDir(), "data"), clk)
	mem := newMemStore()
	want := map[blob.Ref][]byte{}
	for i := range 30 {
		b := []byte(rand.Text() + strings.Repeat("x", i*1000))
		ref, _, err := mem.Put(ctx, bytes.NewReader(b), 0)
		if err != nil {
			t.Fatal(err)
		}
		want[ref] = b
	}
	ghost := blob.Ref(strings.Repeat("ab", 32))
	mem.ghosts = []blob.Ref{ghost}

	id := newIdentity(t)
	dest := filepath.Join(t.TempDir(), "dest")
	stores := map[string]blob.Store{"mail": src.blobs["mail"], "files": mem}
	svc, err := backup.New(src.db, backup.Config{DataDir: src.dir, Dest: dest, Recipients: []age.Recipient{id.Recipient()}, Blobs: stores}, nil, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Backup(ctx); err != nil {
		t.Fatal(err)
	}
	ids := []age.Identity{id}
	_, m, err := backup.ReadManifest(dest, "", ids)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range m.Files {
		// (blobs/files/layout is DataDir's empty blob.Dir's, a file beside
		// the blobs, backed up as such.)
		if _, err := blob.ParseRef(path.Base(f.Path)); err == nil && strings.HasPrefix(f.Path, "blobs/files/") {
			files = append(files, f.Path)
		}
	}
	var wantFiles []string
	for ref := range want {
		wantFiles = append(wantFiles, "blobs/files/"+string(ref))
	}
	slices.Sort(files)
	slices.Sort(wantFiles)
	if !slices.Equal(files, wantFiles) {
		t.Errorf("manifest's file blobs:\n%v\nwant the store's blobs, without the one deleted meanwhile:\n%v", files, wantFiles)
	}

	target := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(ctx, dest, "", ids, target); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	dst := openNode(t, target, clk)
	for ref, b := range want {
		r, err := dst.files.Open(ref)
		if err != nil {
			t.Fatalf("restored blob %s: %v", ref, err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("restored blob %s: %d bytes, %v; want %d bytes", ref, len(got), err, len(b))
		}
	}
	if ok, err := dst.files.Has(ghost); ok || err != nil {
		t.Errorf("blob deleted meanwhile restored: %v, %v", ok, err)
	}

	// A damaged object: Restore stops with ErrCorrupt and the store in
	// the target holds no blob of that content.
	var damaged backup.File
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, "blobs/files/") && f.Size > 1000 {
			damaged = f
		}
	}
	obj := filepath.Join(dest, "objects", damaged.Object[:2], damaged.Object+".age")
	b, err := os.ReadFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-20] ^= 1
	if err := os.Chmod(obj, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(obj, b, 0o600); err != nil {
		t.Fatal(err)
	}
	target2 := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(ctx, dest, "", ids, target2); !errors.Is(err, backup.ErrCorrupt) {
		t.Errorf("Restore of a damaged blob: %v, want ErrCorrupt", err)
	}
	fb, err := blob.OpenDir(filepath.Join(target2, "blobs", "files"))
	if err != nil {
		t.Fatal(err)
	}
	err = fb.Walk(func(ref blob.Ref, _ fs.FileInfo) error {
		if _, ok := want[ref]; !ok {
			t.Errorf("Restore of a damaged blob left %s, no blob of the backup", ref)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A blob that is not what its name says (a damaged store).
	mem.mu.Lock()
	mem.blobs[blob.Ref(strings.Repeat("0", 64))] = []byte("not this")
	mem.mu.Unlock()
	clk.Advance(time.Hour)
	if _, err := svc.Backup(ctx); !errors.Is(err, backup.ErrChanged) {
		t.Errorf("Backup of a damaged blob: %v, want ErrChanged", err)
	}
}

// TestRestoreFileByFileBackup restores a backup whose blobs were copied
// file by file, as every backup was before backup.Config.Blobs: the
// manifest names them with the stores' fan-out directories, in the flat
// layout (blobs/mail/ab/<ref>) and the nested one
// (blobs/queue/ab/cd/<ref>). They come back at the same paths, with their
// layout files, and the stores read them.
func TestRestoreFileByFileBackup(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := testtool.NewClock(time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC))
	src := openNode(t, filepath.Join(t.TempDir(), "data"), clk)
	want := map[string][]byte{} // store/ref → content
	for range 5 {
		b := []byte(rand.Text())
		ref, _, err := src.files.Put(ctx, bytes.NewReader(b), 0)
		if err != nil {
			t.Fatal(err)
		}
		want["files/"+string(ref)] = b
	}
	// A store from before the layout file: blobs two directories deep.
	queue := filepath.Join(src.dir, "blobs", "queue")
	for range 5 {
		b := []byte(rand.Text())
		sum := sha256.Sum256(b)
		ref := hex.EncodeToString(sum[:])
		p := filepath.Join(queue, ref[:2], ref[2:4], ref)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o400); err != nil {
			t.Fatal(err)
		}
		want["queue/"+ref] = b
	}
	if _, err := blob.OpenDir(queue); err != nil { // writes its layout file
		t.Fatal(err)
	}

	id := newIdentity(t)
	dest := filepath.Join(t.TempDir(), "dest")
	// No Blobs: every file under blobs/ is copied by path.
	svc, err := backup.New(src.db, backup.Config{DataDir: src.dir, Dest: dest, Recipients: []age.Recipient{id.Recipient()}}, nil, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Backup(ctx); err != nil {
		t.Fatal(err)
	}
	ids := []age.Identity{id}
	_, m, err := backup.ReadManifest(dest, "", ids)
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	for _, f := range m.Files {
		paths[f.Path] = true
	}
	for k := range want {
		store, ref, _ := strings.Cut(k, "/")
		p := "blobs/files/" + ref[:2] + "/" + ref
		if store == "queue" {
			p = "blobs/queue/" + ref[:2] + "/" + ref[2:4] + "/" + ref
		}
		if !paths[p] {
			t.Fatalf("the manifest made file by file has no %s: %v", p, slices.Sorted(maps.Keys(paths)))
		}
	}

	target := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(ctx, dest, "", ids, target); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	// Every file at its path, with its content.
	for _, f := range m.Files {
		if f.Path == "caucus.db" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(target, filepath.FromSlash(f.Path)))
		if err != nil || int64(len(b)) != f.Size || sha256.Sum256(b) != f.SHA256 {
			t.Errorf("%s after restore: %d bytes, %v; want %d bytes as in the manifest", f.Path, len(b), err, f.Size)
		}
	}
	// And the stores, in their own layouts, read every blob.
	stores := map[string]*blob.Dir{}
	for _, name := range []string{"files", "queue"} {
		if stores[name], err = blob.OpenDir(filepath.Join(target, "blobs", name)); err != nil {
			t.Fatal(err)
		}
	}
	for k, b := range want {
		store, ref, _ := strings.Cut(k, "/")
		r, err := stores[store].Open(blob.Ref(ref))
		if err != nil {
			t.Fatalf("restored %s: %v", k, err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("restored %s differs: %v", k, err)
		}
	}
}
