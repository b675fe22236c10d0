// Package backup makes encrypted, incremental, online backups of a caucus
// data directory, checks them, and restores them on a fresh machine.
//
// A backup holds a consistent snapshot of the SQLite database, every blob
// of the blob stores it is given ([Config.Blobs]: message bodies, the
// queue, files), read through [blob.Store] whatever the store keeps them
// in, and every other file of the data directory: the keys
// in DataDir/keys and DataDir/dkim, certificates, and what later components
// add. Each file is encrypted
// on its own with age (https://age-encryption.org/v1) to an X25519
// recipient whose identity the admin keeps away from the server: a stolen
// backup, or a stolen server, does not open the backups.
//
// # Consistency while the server runs
//
// [Service.Backup] runs beside the live server, in its process (the daily
// schedule) or in another (`caucus backup`, which opens the database file
// itself: SQLite in WAL mode lets a second process read while the server
// writes, so no control socket is needed). It first takes a blob hold
// ([db.DB.HoldBlobs]), which every blob garbage collector honours, then
// snapshots the database with VACUUM INTO (one read transaction, so the
// snapshot is a single point in time), then copies the blobs and releases
// the hold. A blob is durable before any row refers to it, so every blob
// the snapshot refers to exists when the copy starts, and the hold keeps
// it there. Blobs written after the snapshot are copied too; they are
// harmless extras. A blob whose content does not match its name stops the
// backup with [ErrChanged]; one that the walk listed and that is gone when
// it is read was deleted meanwhile, so the snapshot does not refer to it.
//
// In a manifest a blob of store <name> is blobs/<name>/<ref>, whatever the
// store's layout, and [Restore] puts it back through a [blob.Dir] in
// DataDir/blobs/<name>, after the other files: so a store directory's own
// files beside its blobs (a [blob.Dir]'s layout file) come back first and
// the blobs return in the same layout. A directory under DataDir/blobs
// that no configured store covers is copied file by file like the rest of
// the data directory, as backups made before [Config.Blobs] existed hold
// every blob; those restore file by file as before.
//
// # A database in PostgreSQL
//
// A server whose database is PostgreSQL ([db.Postgres], several nodes)
// has its database backed up by PostgreSQL's own tools: pg_dump, which
// [Config.Dump] runs under the blob hold where the SQLite snapshot is
// taken (so the backup holds every blob the dump refers to, and the dump
// is encrypted like the rest, as [PGDumpFile]), or else the operator's
// dumps or base backups, and the backup holds the blobs and the data
// directory's files, the keys among them, without the database. Such a
// backup says so in its manifest ([Manifest.Database]); [Verify] and
// [Restore] check and restore what it holds, and pg_restore restores the
// dump.
//
// # Layout of the destination
//
//	DEST/objects/ab/<name>.age       one encrypted file each, named by an HMAC
//	DEST/snapshots/<id>.manifest.age  the encrypted [Manifest] of backup <id>
//	DEST/snapshots/<id>.objects      the object names backup <id> uses, for pruning
//	DEST/tmp/                        files being written
//
// Objects are content-addressed: the name is HMAC-SHA256 of the
// plaintext's SHA-256 under a key kept in DataDir/keys/backup-names.key
// (so the names do not reveal which known documents a backup holds), and an
// object already present is not written again: backups after the first
// copy only new blobs. Every file is written under DEST/tmp, fsynced,
// renamed into place and its directory fsynced; the manifest is written
// last, so a backup without one is incomplete and is never listed.
package backup

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/fsutil"
)

var (
	// ErrNoBackup reports a destination without a complete backup.
	ErrNoBackup = errors.New("backup: no complete backup")
	// ErrCorrupt reports an object whose content does not match the
	// manifest, or a database snapshot that fails its integrity check.
	ErrCorrupt = errors.New("backup: corrupt")
	// ErrChanged reports a blob whose content no longer matches its name
	// while it was copied.
	ErrChanged = errors.New("backup: file changed while copied")
	// ErrBusy reports that another backup or prune is using the
	// destination.
	ErrBusy = errors.New("backup: destination in use by another backup")
	// ErrNotEmpty reports a restore target that is not empty.
	ErrNotEmpty = errors.New("backup: restore target is not empty")
)

// ErrPostgres reports that the database is PostgreSQL, which caucus does
// not snapshot before a migration: its operator backs it up with
// PostgreSQL's own tools.
var ErrPostgres = errors.New("backup: the database is PostgreSQL, which caucus does not snapshot: back it up with pg_dump, or the server's base backups and WAL archive")

// dbFile is the database's name in the data directory and in a manifest.
const dbFile = "caucus.db"

// nameKeyFile holds the key that names objects, under DataDir.
const nameKeyFile = "keys/backup-names.key"

// holdTTL bounds how long a crashed backup can hold blob deletion.
const holdTTL = 12 * time.Hour

// Component is the table recording finished backups, for [Service.LastSuccess].
func Component() db.Component {
	return db.Component{Name: "backup", Migrations: []db.Migration{{Version: 1, SQL: `
CREATE TABLE backup_runs (
	id          TEXT    PRIMARY KEY, -- the snapshot id
	finished_at INTEGER NOT NULL,    -- Unix seconds
	dest        TEXT    NOT NULL,
	size        INTEGER NOT NULL,    -- bytes of the data directory saved
	written     INTEGER NOT NULL     -- bytes written to dest by this run
)`, Postgres: `
CREATE TABLE backup_runs (
	id          TEXT   PRIMARY KEY, -- the snapshot id
	finished_at BIGINT NOT NULL,    -- Unix seconds
	dest        TEXT   NOT NULL,
	size        BIGINT NOT NULL,    -- bytes of the data directory saved
	written     BIGINT NOT NULL,    -- bytes written to dest by this run
	seq         BIGINT GENERATED BY DEFAULT AS IDENTITY -- the order of recording, SQLite's rowid
)`}}}
}

// Config says what to back up and where to.
type Config struct {
	DataDir    string          // the data directory: caucus.db, blobs/, keys/
	Dest       string          // the backup directory (a mounted disk, say)
	Recipients []age.Recipient // who can decrypt; at least one
	Keep       int             // complete backups kept by Prune; 0 keeps all
	Audit      *audit.Log      // where each backup is recorded; nil: nowhere
	Actor      string          // who asked, for the audit log; "" is the system (the schedule)
	// Blobs are the blob stores backed up blob by blob, by name ("mail",
	// "queue", "files"): the store named n stands for DataDir/blobs/n,
	// whose directories are not copied file by file (its files beside
	// them, such as a blob.Dir's layout, are).
	Blobs map[string]blob.Store
	// Dump, for a database in PostgreSQL, writes a dump of it to the new
	// file path (pg_dump's custom format, say), which the backup holds as
	// [PGDumpFile]. It is called under the blob hold, before the blobs are
	// listed, as SQLite's snapshot is taken: every blob the dump refers
	// to is in the backup. Nil leaves the database out of the backup, to
	// the operator's own dumps.
	Dump func(ctx context.Context, path string) error
}

// PGDumpFile is the name, in a backup and in the data directory it is
// restored into, of the dump of a database in PostgreSQL ([Config.Dump]).
const PGDumpFile = "caucus.pgdump"

// Service makes backups of one data directory. Its database must have
// [Component]'s migration applied.
type Service struct {
	db  *db.DB
	cfg Config
	log *slog.Logger
	now func() time.Time

	catchUp time.Duration // [CatchUpDelay]; shorter in tests
}

// New returns a service backing up cfg.DataDir, whose database d is. A nil
// log discards; a nil now means time.Now.
func New(d *db.DB, cfg Config, log *slog.Logger, now func() time.Time) (*Service, error) {
	if len(cfg.Recipients) == 0 {
		return nil, errors.New("backup: no recipient")
	}
	if cfg.DataDir == "" || cfg.Dest == "" {
		return nil, errors.New("backup: data directory and destination are required")
	}
	data, err1 := filepath.Abs(cfg.DataDir)
	dest, err2 := filepath.Abs(cfg.Dest)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if rel, err := filepath.Rel(data, dest); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("backup: destination %s is inside the data directory %s", cfg.Dest, cfg.DataDir)
	}
	for name := range cfg.Blobs {
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) || !validPath("blobs/"+name) {
			return nil, fmt.Errorf("backup: bad blob store name %q", name)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Service{db: d, cfg: cfg, log: log, now: now, catchUp: CatchUpDelay}, nil
}

// Result describes one backup.
type Result struct {
	ID      string // snapshot id, e.g. 20261124T180000Z-1a2b
	Files   int    // files in the backup
	Size    int64  // bytes of plaintext the backup holds
	Written int64  // bytes this run wrote to the destination (new objects)
	New     int    // objects this run wrote
	// Database is the manifest's: [DatabasePostgres] when the database
	// is in PostgreSQL, whose dump the backup holds only if Dump says so.
	Database string
	Dump     bool // the backup holds [PGDumpFile]
}

// Backup makes one complete backup and records it for [Service.LastSuccess].
// It is safe to run while the server runs; see the package comment.
func (s *Service) Backup(ctx context.Context) (res Result, err error) {
	start := s.now()
	dest, unlock, err := openDest(s.cfg.Dest)
	if err != nil {
		return res, err
	}
	defer unlock()
	key, err := nameKey(s.cfg.DataDir)
	if err != nil {
		return res, err
	}
	var rnd [2]byte
	rand.Read(rnd[:])
	res.ID = start.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(rnd[:])

	release, err := s.db.HoldBlobs(ctx, holdTTL)
	if err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	defer func() {
		// Release even when ctx is cancelled: the hold must not outlive us.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rerr := release(rctx); rerr != nil && err == nil {
			err = fmt.Errorf("backup: %w", rerr)
		}
	}()

	type entry struct {
		src     source
		file    File
		written int64
		gone    bool
	}
	var entries []*entry
	if s.db.Engine() == db.Postgres {
		// PostgreSQL's own tools back the database up: Dump, or the
		// operator's.
		res.Database = DatabasePostgres
	}
	if s.db.Engine() != db.Postgres || s.cfg.Dump != nil {
		// The plaintext snapshot stays beside the database, as private as it.
		work, err := os.MkdirTemp(s.cfg.DataDir, ".backup-*")
		if err != nil {
			return res, fmt.Errorf("backup: %w", err)
		}
		defer os.RemoveAll(work)
		src, err := s.snapshot(ctx, work)
		if err != nil {
			return res, fmt.Errorf("backup: %w", err)
		}
		entries = append(entries, &entry{src: src})
		res.Dump = src.rel == PGDumpFile
	}
	add := func(src source) error {
		entries = append(entries, &entry{src: src})
		return nil
	}
	if err := walk(s.cfg.DataDir, s.cfg.Blobs, add); err != nil {
		return res, err
	}
	if err := walkBlobs(s.cfg.Blobs, add); err != nil {
		return res, err
	}
	err = forEach(ctx, entries, func(e *entry) error {
		var err error
		e.file, e.written, err = dest.store(ctx, key, s.cfg.Recipients, e.src)
		if e.src.rel != dbFile && e.src.rel != PGDumpFile && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, blob.ErrNotFound)) {
			// Deleted since the walk listed it. Every blob deleter
			// honours the hold, so the snapshot does not refer to it (a
			// queue body whose message was delivered before the
			// snapshot); other files are replaced by rename, never
			// removed (a temporary file of such a write).
			s.log.Debug("backup: file deleted while backing up", "path", e.src.rel)
			e.gone = true
			return nil
		}
		return err
	})
	if err != nil {
		return res, err
	}
	m := &Manifest{Created: start.UTC().Truncate(time.Second), Database: res.Database}
	for _, e := range entries {
		if e.gone {
			continue
		}
		m.Files = append(m.Files, e.file)
		if e.written > 0 {
			res.New++
			res.Written += e.written
		}
	}
	n, err := dest.commit(res.ID, m, s.cfg.Recipients)
	if err != nil {
		return res, err
	}
	res.Written += n
	res.Files, res.Size = len(m.Files), m.Size()

	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO backup_runs (id, finished_at, dest, size, written) VALUES (?, ?, ?, ?, ?)`,
			res.ID, s.now().Unix(), s.cfg.Dest, res.Size, res.Written)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("backup: recording: %w", err)
	}
	if s.cfg.Audit != nil {
		err := s.cfg.Audit.Record(ctx, audit.Event{Actor: s.cfg.Actor, Kind: "backup.create",
			Detail: fmt.Sprintf("backup %s to %s: %d files, %d bytes", res.ID, s.cfg.Dest, res.Files, res.Size)})
		if err != nil {
			return res, fmt.Errorf("backup: %w", err)
		}
	}
	s.log.Info("backup: complete", "id", res.ID, "files", res.Files, "bytes", res.Size,
		"new_objects", res.New, "written", res.Written, "took", s.now().Sub(start).Round(time.Millisecond))
	return res, nil
}

// recorded is the column of backup_runs that orders runs as they were
// recorded: SQLite's rowid, PostgreSQL's identity seq (it has no rowid).
func recorded(e db.Engine) string {
	if e == db.Postgres {
		return "seq"
	}
	return "rowid"
}

// LastSuccess returns when the newest recorded backup finished and how many
// bytes it holds; the zero time if there is none.
func (s *Service) LastSuccess(ctx context.Context) (time.Time, int64, error) {
	return LastSuccess(ctx, s.db)
}

// LastSuccess is [Service.LastSuccess] for callers (the dashboard) that
// have only the database.
func LastSuccess(ctx context.Context, d *db.DB) (time.Time, int64, error) {
	var at, size int64
	err := d.QueryRowContext(ctx, `SELECT finished_at, size FROM backup_runs ORDER BY finished_at DESC, `+recorded(d.Engine())+` DESC LIMIT 1`).Scan(&at, &size)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, 0, nil
	}
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("backup: last success: %w", err)
	}
	return time.Unix(at, 0), size, nil
}

// snapshot writes the database's copy into the directory work: SQLite's
// snapshot, or Dump's of PostgreSQL, private to caucus's user.
func (s *Service) snapshot(ctx context.Context, work string) (source, error) {
	if s.db.Engine() != db.Postgres {
		snap := filepath.Join(work, dbFile)
		return source{rel: dbFile, path: snap}, s.db.Snapshot(ctx, snap)
	}
	dump := filepath.Join(work, PGDumpFile)
	if err := s.cfg.Dump(ctx, dump); err != nil {
		return source{}, fmt.Errorf("dumping the PostgreSQL database: %w", err)
	}
	if err := os.Chmod(dump, 0o600); err != nil {
		return source{}, err
	}
	return source{rel: PGDumpFile, path: dump}, nil
}

// source is one file to back up: a file of the data directory (path) or
// a blob of a store (store, ref, info).
type source struct {
	rel   string    // its path in the manifest
	path  string    // the file's name, or "" for a blob
	known *[32]byte // its SHA-256 if its name says it: a blob's ref
	store blob.Store
	ref   blob.Ref
	info  fs.FileInfo // the blob's, from Walk
}

// blobPath is a blob's path in a manifest.
func blobPath(store string, ref blob.Ref) string { return "blobs/" + store + "/" + string(ref) }

// parseBlobPath reports whether p names a blob of a store in a manifest,
// blobs/<store>/<ref>, and returns the store's name and the ref. The paths
// of backups made file by file have the store's fan-out directories
// between the two, blobs/<store>/ab/<ref>, and are not blob paths.
func parseBlobPath(p string) (store string, ref blob.Ref, ok bool) {
	rest, ok := strings.CutPrefix(p, "blobs/")
	if !ok {
		return "", "", false
	}
	store, name, ok := strings.Cut(rest, "/")
	if !ok || store == "" || store == "." || store == ".." || strings.ContainsAny(store, `\`) || strings.Contains(name, "/") {
		return "", "", false
	}
	r, err := blob.ParseRef(name)
	if err != nil {
		return "", "", false
	}
	return store, r, true
}

// walkBlobs calls add for every blob of every store, through its Walk.
func walkBlobs(stores map[string]blob.Store, add func(source) error) error {
	for _, name := range slices.Sorted(maps.Keys(stores)) {
		st := stores[name]
		err := st.Walk(func(ref blob.Ref, info fs.FileInfo) error {
			var h [32]byte
			if _, err := hex.Decode(h[:], []byte(ref)); err != nil {
				return fmt.Errorf("%w: %q", blob.ErrBadRef, ref)
			}
			return add(source{rel: blobPath(name, ref), known: &h, store: st, ref: ref, info: info})
		})
		if err != nil {
			return fmt.Errorf("backup: blobs %s: %w", name, err)
		}
	}
	return nil
}

// walk calls add for every regular file of dataDir that a restore needs:
// everything but the live database files (the snapshot stands for them),
// the snapshots taken before migrations (backups/), the work directories
// of backups (.backup-*), the directories in the directory blobs/<name>
// of each store (its blobs, backed up through [walkBlobs], and its writes
// in progress) and each other blob directory's tmp directory. Under
// blobs/ it passes the SHA-256 that a well-formed blob's name is. So the
// keys (keys/, dkim/), the certificates and whatever a later component
// keeps in the data directory are backed up too.
func walk(dataDir string, stores map[string]blob.Store, add func(source) error) error {
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path != dataDir {
				return nil // removed since its directory was read
			}
			return err
		}
		if path == dataDir {
			return nil
		}
		rel, err := filepath.Rel(dataDir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		top := !strings.Contains(rel, "/")
		parts := strings.SplitN(rel, "/", 4)
		// rel is blobs/<name>/<x> and the store <name> is given.
		inStore := len(parts) == 3 && parts[0] == "blobs" && stores[parts[1]] != nil
		if d.IsDir() {
			switch {
			case top && (rel == "backups" || strings.HasPrefix(rel, ".backup-")),
				inStore,
				len(parts) == 3 && parts[0] == "blobs" && d.Name() == "tmp":
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || top && (strings.HasPrefix(rel, dbFile) || rel == PGDumpFile) {
			return nil // caucus.db, caucus.db-wal, caucus.db-shm, caucus.db-index (rebuilt from caucus.db); a restored dump
		}
		if inStore && isHex64(d.Name()) {
			return nil // would collide with a blob's path; no store keeps one there
		}
		if !validPath(rel) {
			return fmt.Errorf("cannot back up %q: a path a manifest cannot hold", rel)
		}
		var known *[32]byte
		if name := d.Name(); strings.HasPrefix(rel, "blobs/") && isHex64(name) {
			var h [32]byte
			hex.Decode(h[:], []byte(name))
			known = &h
		}
		return add(source{rel: rel, path: path, known: known})
	})
	if err != nil {
		return fmt.Errorf("backup: reading %s: %w", dataDir, err)
	}
	return nil
}

// workers is how many files a backup, verify or restore handles at once:
// enough to keep a disk's queue full while others wait for fsync.
const workers = 8

// blobWorkers is how many blobs a restore puts back at once: each Put
// waits for two fsyncs (the file's and its directory's), so more of them
// in flight keep the disk busy. BenchmarkBackup10k (20,000 blobs, 2
// cores, load average 11-35) restored through the stores in 22-27 s with
// 8 workers, 13-22 s with 32, beside 10-23 s file by file in the same runs.
const blobWorkers = 32

// forEach calls fn for every item, workers at a time, and returns the first
// error; after one, it starts no more calls.
func forEach[T any](ctx context.Context, items []T, fn func(T) error) error {
	return forEachN(ctx, workers, items, fn)
}

// forEachN is [forEach] with n workers.
func forEachN[T any](ctx context.Context, n int, items []T, fn func(T) error) error {
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		mu    sync.Mutex
		first error
	)
	failed := func() bool { mu.Lock(); defer mu.Unlock(); return first != nil }
	for range min(n, len(items)) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(items)) || failed() {
					return
				}
				err := ctx.Err()
				if err == nil {
					err = fn(items[i])
				} else {
					err = fmt.Errorf("backup: %w", err)
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// nameKey reads, or creates, the key that names objects.
func nameKey(dataDir string) ([]byte, error) {
	p := filepath.Join(dataDir, filepath.FromSlash(nameKeyFile))
	k, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		k = make([]byte, 32)
		rand.Read(k)
		if err := fsutil.WriteFile(p, k, 0o600); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if len(k) != 32 {
		return nil, fmt.Errorf("backup: %s: want 32 bytes, have %d", p, len(k))
	}
	return k, nil
}

// objectName names the object holding content with SHA-256 sum.
func objectName(key []byte, sum [32]byte) string {
	h := hmac.New(sha256.New, key)
	h.Write(sum[:])
	return hex.EncodeToString(h.Sum(nil))
}

// destDir is an open backup destination.
type destDir struct{ dir string }

// openDest creates the destination's directories, takes its lock and
// clears its tmp directory of what an interrupted backup left.
func openDest(dir string) (_ *destDir, unlock func(), err error) {
	d := &destDir{dir: dir}
	for _, sub := range []string{"objects", "snapshots", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, nil, fmt.Errorf("backup: destination: %w", err)
		}
	}
	if unlock, err = lockDest(dir); err != nil {
		return nil, nil, err
	}
	entries, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if err != nil {
		unlock()
		return nil, nil, fmt.Errorf("backup: destination: %w", err)
	}
	for _, e := range entries {
		os.Remove(filepath.Join(dir, "tmp", e.Name()))
	}
	return d, unlock, nil
}

// lockDest takes the destination's lock (flock on DEST/lock), so that a
// prune never removes an object a concurrent backup counts on.
func lockDest(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrBusy, dir, err)
	}
	// LOCK_UN before the close: closing drops this descriptor only, and
	// a child that another goroutine forked meanwhile (os/exec) shares
	// the open file description, and with it the lock, until it execs.
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func (d *destDir) objectPath(name string) string {
	return filepath.Join(d.dir, "objects", name[:2], name+".age")
}

// store makes sure the content of src is in an object and returns its
// manifest entry and how many bytes it wrote (0 when the object was
// there). src.known is the content's SHA-256 if the caller knows it (a
// blob's name), which saves reading a file already backed up.
func (d *destDir) store(ctx context.Context, key []byte, rcpts []age.Recipient, src source) (File, int64, error) {
	rel := src.rel
	f := File{Path: rel}
	fi := src.info
	if src.store == nil {
		var err error
		if fi, err = os.Stat(src.path); err != nil {
			return f, 0, fmt.Errorf("backup: %w", err)
		}
	}
	f.Mode, f.Size = fi.Mode().Perm(), fi.Size()
	if src.store != nil {
		f.Mode = 0o400 // as a [blob.Dir] keeps them, whatever the store says
	}
	if src.known != nil {
		f.SHA256 = *src.known
	} else {
		var err error
		if f.SHA256, err = hashFile(src.path); err != nil {
			return f, 0, err
		}
	}
	f.Object = objectName(key, f.SHA256)
	dst := d.objectPath(f.Object)
	if _, err := os.Stat(dst); err == nil {
		return f, 0, nil
	}
	if err := ctx.Err(); err != nil {
		return f, 0, fmt.Errorf("backup: %w", err)
	}
	in, err := src.open(fi)
	if err != nil {
		return f, 0, err
	}
	defer in.Close()
	h := sha256.New()
	n, err := d.writeFile(dst, func(w io.Writer) error {
		aw, err := age.Encrypt(w, rcpts...)
		if err != nil {
			return err
		}
		size, err := io.Copy(aw, io.TeeReader(in, h))
		if err != nil {
			return err
		}
		if size != f.Size || !hmac.Equal(h.Sum(nil), f.SHA256[:]) {
			return fmt.Errorf("%w: %s", ErrChanged, rel)
		}
		return aw.Close()
	})
	if err != nil {
		return f, 0, err
	}
	return f, n, nil
}

// open opens the content of src, which fi describes.
func (src source) open(fi fs.FileInfo) (io.ReadCloser, error) {
	if src.store != nil {
		r, err := src.store.Open(src.ref)
		if err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		return r, nil
	}
	in, err := os.Open(src.path)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	// The content read must be the one just looked at (the name's hash is
	// checked by the caller; the size here).
	if fi2, err := in.Stat(); err != nil || !os.SameFile(fi, fi2) {
		in.Close()
		return nil, fmt.Errorf("%w: %s", ErrChanged, src.rel)
	}
	return in, nil
}

// writeFile writes dst durably through a file in tmp: fn writes the
// content, then the file is fsynced, renamed to dst and the directories
// fsynced. It returns the bytes written.
func (d *destDir) writeFile(dst string, fn func(io.Writer) error) (int64, error) {
	dirs := []string{filepath.Dir(dst)}
	if _, err := os.Stat(dirs[0]); errors.Is(err, fs.ErrNotExist) {
		// A new fan-out directory: its name must be made durable too.
		if err := os.MkdirAll(dirs[0], 0o700); err != nil {
			return 0, fmt.Errorf("backup: %w", err)
		}
		dirs = append(dirs, filepath.Dir(dirs[0]))
	}
	t, err := os.CreateTemp(filepath.Join(d.dir, "tmp"), "w-*")
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			t.Close()
			os.Remove(t.Name())
		}
	}()
	cw := &countWriter{w: t}
	if err := fn(cw); err != nil {
		return 0, fmt.Errorf("backup: writing %s: %w", dst, err)
	}
	if err := t.Chmod(0o400); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	if err := t.Sync(); err != nil {
		return 0, fmt.Errorf("backup: sync: %w", err)
	}
	if err := t.Close(); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(t.Name(), dst); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	ok = true
	for _, dir := range dirs {
		if err := fsutil.SyncDir(dir); err != nil {
			return 0, fmt.Errorf("backup: %w", err)
		}
	}
	return cw.n, nil
}

// commit writes the object list and then the manifest of backup id, which
// makes it complete.
func (d *destDir) commit(id string, m *Manifest, rcpts []age.Recipient) (int64, error) {
	var names []string
	for _, f := range m.Files {
		names = append(names, f.Object)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	base := filepath.Join(d.dir, "snapshots", id)
	n1, err := d.writeFile(base+".objects", func(w io.Writer) error {
		_, err := io.WriteString(w, strings.Join(names, "\n")+"\n")
		return err
	})
	if err != nil {
		return 0, err
	}
	n2, err := d.writeFile(base+".manifest.age", func(w io.Writer) error {
		aw, err := age.Encrypt(w, rcpts...)
		if err != nil {
			return err
		}
		if _, err := m.WriteTo(aw); err != nil {
			return err
		}
		return aw.Close()
	})
	return n1 + n2, err
}

func hashFile(name string) (sum [32]byte, err error) {
	f, err := os.Open(name)
	if err != nil {
		return sum, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, fmt.Errorf("backup: reading %s: %w", name, err)
	}
	h.Sum(sum[:0])
	return sum, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
