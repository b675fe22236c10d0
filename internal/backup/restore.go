package backup

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"filippo.io/age"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/fsutil"
)

// ErrIdentity reports that none of the identities given decrypts the backup.
var ErrIdentity = errors.New("backup: wrong identity: it cannot decrypt this backup")

// maxManifestSize bounds the decrypted manifest read into memory.
const maxManifestSize = 1 << 30

// Snapshots returns the ids of the complete backups in dest, oldest first.
func Snapshots(dest string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(dest, "snapshots"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s is not a backup directory", ErrNoBackup, dest)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".manifest.age"); ok && e.Type().IsRegular() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids) // ids begin with the UTC time
	return ids, nil
}

// resolve returns id, or the newest complete backup if id is "".
func resolve(dest, id string) (string, error) {
	if id != "" {
		if strings.ContainsAny(id, `/\`) || id == "." || id == ".." {
			return "", fmt.Errorf("backup: bad snapshot id %q", id)
		}
		return id, nil
	}
	ids, err := Snapshots(dest)
	if err != nil {
		return "", err
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("%w in %s", ErrNoBackup, dest)
	}
	return ids[len(ids)-1], nil
}

// decrypt wraps age.Decrypt, turning "no identity matched" into ErrIdentity.
func decrypt(r io.Reader, ids []age.Identity) (io.Reader, error) {
	dr, err := age.Decrypt(r, ids...)
	var nm *age.NoIdentityMatchError
	if errors.As(err, &nm) {
		return nil, ErrIdentity
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return dr, nil
}

// ReadManifest decrypts and parses the manifest of backup id in dest (the
// newest if id is "").
func ReadManifest(dest, id string, ids []age.Identity) (string, *Manifest, error) {
	id, err := resolve(dest, id)
	if err != nil {
		return "", nil, err
	}
	f, err := os.Open(filepath.Join(dest, "snapshots", id+".manifest.age"))
	if err != nil {
		return "", nil, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	r, err := decrypt(bufio.NewReader(f), ids)
	if err != nil {
		return "", nil, fmt.Errorf("backup %s: manifest: %w", id, err)
	}
	m, err := ParseManifest(io.LimitReader(r, maxManifestSize))
	if err != nil {
		return "", nil, fmt.Errorf("backup %s: %w", id, err)
	}
	return id, m, nil
}

// copyObject decrypts f's object into w, checking its size and SHA-256.
func copyObject(dest string, f File, ids []age.Identity, w io.Writer) error {
	d := &destDir{dir: dest}
	in, err := os.Open(d.objectPath(f.Object))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Path, err)
	}
	defer in.Close()
	r, err := decrypt(bufio.NewReader(in), ids)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Path, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(r, f.Size+1))
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("backup: %s: %w", f.Path, err) // our side: writing
		}
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Path, err)
	}
	if n != f.Size || !hmac.Equal(h.Sum(nil), f.SHA256[:]) {
		return fmt.Errorf("%w: %s: content does not match the manifest", ErrCorrupt, f.Path)
	}
	return nil
}

// Verify checks backup id in dest (the newest if id is "") without
// restoring it: it decrypts the manifest and every object, checks every
// size and SHA-256, and runs PRAGMA integrity_check on the database
// snapshot, decrypted into a private temporary directory under tmpDir
// ("" means the system's) and removed afterwards; a backup whose database
// is in PostgreSQL ([Manifest.Database]) holds no snapshot to check.
func Verify(ctx context.Context, dest, id string, ids []age.Identity, tmpDir string) (Result, error) {
	id, m, err := ReadManifest(dest, id, ids)
	if err != nil {
		return Result{}, err
	}
	res := Result{ID: id, Files: len(m.Files), Size: m.Size(), Database: m.Database, Dump: hasDump(m)}
	work, err := os.MkdirTemp(tmpDir, "caucus-verify-*") // mode 0700
	if err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(work)
	err = forEach(ctx, m.Files, func(f File) error {
		if f.Path != dbFile {
			return copyObject(dest, f, ids, io.Discard)
		}
		return restoreFile(dest, f, ids, work)
	})
	if err != nil {
		return res, err
	}
	if m.Database == DatabasePostgres {
		return res, nil // not in the backup
	}
	if err := checkDB(ctx, filepath.Join(work, dbFile)); err != nil {
		return res, err
	}
	return res, nil
}

// hasDump reports whether m holds a dump of a database in PostgreSQL.
func hasDump(m *Manifest) bool {
	return m.Database == DatabasePostgres && slices.ContainsFunc(m.Files, func(f File) bool { return f.Path == PGDumpFile })
}

// checkDB opens a database file and runs PRAGMA integrity_check.
func checkDB(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%w: no database in the backup: %v", ErrCorrupt, err)
	}
	d, err := db.Open(ctx, path, nil)
	if err != nil {
		return fmt.Errorf("%w: database: %v", ErrCorrupt, err)
	}
	defer d.Close()
	var res string
	if err := d.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return fmt.Errorf("%w: database: %v", ErrCorrupt, err)
	}
	if res != "ok" {
		return fmt.Errorf("%w: database: integrity_check: %.200s", ErrCorrupt, res)
	}
	return nil
}

// restoreFile decrypts f into dir/f.Path durably, with f's mode.
func restoreFile(dest string, f File, ids []age.Identity, dir string) (err error) {
	dst := filepath.Join(dir, filepath.FromSlash(f.Path))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(dst)
		}
	}()
	bw := bufio.NewWriterSize(out, 64<<10)
	if err := copyObject(dest, f, ids, bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := out.Chmod(f.Mode); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return out.Close()
}

// openStores opens, in target, the blob store of every blob path
// (blobs/<store>/<ref>) in blobs.
func openStores(blobs []File, target string) (map[string]*blob.Dir, error) {
	stores := map[string]*blob.Dir{}
	for _, f := range blobs {
		name, _, ok := parseBlobPath(f.Path)
		if !ok || stores[name] != nil {
			continue
		}
		st, err := blob.OpenDir(filepath.Join(target, "blobs", name))
		if err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		stores[name] = st
	}
	return stores, nil
}

// restoreBlob decrypts f, the blob ref, into the store st, checking that
// the content is what the manifest and the name say.
func restoreBlob(ctx context.Context, dest string, f File, ids []age.Identity, st blob.Store, ref blob.Ref) error {
	if hex.EncodeToString(f.SHA256[:]) != string(ref) {
		return fmt.Errorf("%w: %s: the manifest's SHA-256 is not the blob's name", ErrCorrupt, f.Path)
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Put sees the end of the content only once it is checked.
		pw.CloseWithError(copyObject(dest, f, ids, pw))
	}()
	got, _, err := st.Put(ctx, pr, 0)
	pr.CloseWithError(err) // unblocks copyObject if Put stopped early
	<-done
	if err != nil {
		if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrIdentity) {
			return err
		}
		return fmt.Errorf("backup: %s: %w", f.Path, err)
	}
	if got != ref {
		st.Delete(got) // content that is no blob of the backup
		return fmt.Errorf("%w: %s: content is %s", ErrCorrupt, f.Path, got)
	}
	return nil
}

// Restore brings backup id in dest (the newest if id is "") back into the
// data directory target, which must not exist or be empty ([ErrNotEmpty]).
// Every file is checked against the manifest and fsynced, every directory
// fsynced, and the database (unless it is in PostgreSQL, see
// [Manifest.Database]) passes PRAGMA integrity_check. On error the
// partly restored target is left for inspection; remove it before trying
// again.
func Restore(ctx context.Context, dest, id string, ids []age.Identity, target string) (Result, error) {
	entries, err := os.ReadDir(target)
	if err == nil && len(entries) > 0 {
		return Result{}, fmt.Errorf("%w: %s", ErrNotEmpty, target)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Result{}, fmt.Errorf("backup: %w", err)
	}
	id, m, err := ReadManifest(dest, id, ids)
	if err != nil {
		return Result{}, err
	}
	res := Result{ID: id, Files: len(m.Files), Size: m.Size(), Database: m.Database, Dump: hasDump(m)}
	if err := os.MkdirAll(target, 0o700); err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	// The files first, a store's layout among them, then the blobs
	// through their stores.
	var files, blobs []File
	for _, f := range m.Files {
		if _, _, ok := parseBlobPath(f.Path); ok {
			blobs = append(blobs, f)
		} else {
			files = append(files, f)
		}
	}
	err = forEach(ctx, files, func(f File) error { return restoreFile(dest, f, ids, target) })
	if err != nil {
		return res, err
	}
	stores, err := openStores(blobs, target)
	if err != nil {
		return res, err
	}
	err = forEachN(ctx, blobWorkers, blobs, func(f File) error {
		name, ref, _ := parseBlobPath(f.Path)
		return restoreBlob(ctx, dest, f, ids, stores[name], ref)
	})
	if err != nil {
		return res, err
	}
	dirs := map[string]bool{target: true}
	for _, f := range m.Files {
		for d := filepath.Dir(filepath.Join(target, filepath.FromSlash(f.Path))); len(d) > len(target); d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	err = forEach(ctx, slices.Collect(maps.Keys(dirs)), func(d string) error {
		if err := fsutil.SyncDir(d); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	if m.Database == DatabasePostgres {
		return res, nil // restored with PostgreSQL's own tools
	}
	if err := checkDB(ctx, filepath.Join(target, dbFile)); err != nil {
		return res, err
	}
	return res, nil
}

// Prune removes all but the newest keep complete backups in dest, then
// every object that no remaining backup uses. It needs no identity: it
// reads the plain object lists. keep < 1 removes nothing.
func Prune(dest string, keep int) (removed int, err error) {
	if keep < 1 {
		return 0, nil
	}
	unlock, err := lockDest(dest)
	if err != nil {
		return 0, err
	}
	defer unlock()
	ids, err := Snapshots(dest)
	if err != nil {
		return 0, err
	}
	if len(ids) <= keep {
		return 0, nil
	}
	snaps := filepath.Join(dest, "snapshots")
	for _, id := range ids[:len(ids)-keep] {
		// The manifest first: without it the backup is no longer listed.
		if err := os.Remove(filepath.Join(snaps, id+".manifest.age")); err != nil {
			return removed, fmt.Errorf("backup: prune: %w", err)
		}
		os.Remove(filepath.Join(snaps, id+".objects"))
	}
	if err := fsutil.SyncDir(snaps); err != nil {
		return removed, fmt.Errorf("backup: prune: %w", err)
	}
	live := map[string]bool{}
	for _, id := range ids[len(ids)-keep:] {
		b, err := os.ReadFile(filepath.Join(snaps, id+".objects"))
		if err != nil {
			// Without its list we cannot tell what it needs: keep all.
			return removed, fmt.Errorf("backup: prune: %w", err)
		}
		for name := range strings.FieldsSeq(string(b)) {
			live[name] = true
		}
	}
	objects := filepath.Join(dest, "objects")
	err = filepath.WalkDir(objects, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name, ok := strings.CutSuffix(d.Name(), ".age")
		if d.IsDir() || !ok || !isHex64(name) || live[name] {
			return nil
		}
		if err := os.Remove(path); err != nil {
			return err
		}
		removed++
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("backup: prune: %w", err)
	}
	return removed, nil
}
