package server

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/notice"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/backup"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/blob/cache"
	"github.com/caucus-org/caucus/internal/blob/s3"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/storagemove"
	"github.com/caucus-org/caucus/internal/upload"
	"github.com/caucus-org/caucus/mail/autoreply"
	"github.com/caucus-org/caucus/mail/calendar"
	"github.com/caucus-org/caucus/mail/contacts"
	"github.com/caucus-org/caucus/mail/lists"
	"github.com/caucus-org/caucus/mail/mailimport"
	"github.com/caucus-org/caucus/mail/offboard"
	"github.com/caucus-org/caucus/mail/phish"
	"github.com/caucus-org/caucus/mail/queue"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/store"
)

// components are the packages that own tables, in migration order.
func components() []db.Component {
	return []db.Component{audit.Component(), auth.Component(), store.Component(), store.WebmailComponent(), mailimport.Component(), route.Component(), queue.Component(),
		autoreply.Component(), offboard.Component(), admin.Component(), files.Component(), backup.Component(), phish.Component(), notice.Component(),
		calendar.Component(), contacts.Component(), upload.Component(), lists.Component()}
}

// Components are the packages that own tables, in migration order: what
// `caucus storage migrate` migrates a target database with, as the
// server does at start.
func Components() []db.Component { return components() }

// openStorage is the first phase: the data directory, the database with
// every package's migrations (saved first when a migration is due), the
// mail blob directory and the keys.
func (s *Server) openStorage(ctx context.Context) (err error) {
	if err := mkdirData(s.cfg.DataDir); err != nil {
		return err
	}
	if s.db, err = OpenDatabase(ctx, s.cfg, s.log); err != nil {
		return err
	}
	if err := storagemove.CheckFinished(ctx, s.db); err != nil {
		return err
	}
	comps := components()
	if s.db.Engine() == db.SQLite {
		// PostgreSQL is saved by its operator's own backups (see the
		// README's "Running several nodes").
		if p, err := backup.BeforeMigrate(ctx, s.db, s.cfg.DataDir, s.deps.Now(), comps...); err != nil {
			return err
		} else if p != "" {
			s.log.Info("database saved before the schema migration", "path", p)
		}
	}
	if err = s.db.Migrate(ctx, comps...); err != nil {
		return err
	}
	if s.blobCache, err = openS3Cache(s.cfg); err != nil {
		return err
	}
	// Mail has a blob directory of its own: its garbage collector may
	// delete any body no message refers to.
	if s.blobs, err = s.blobDir("mail"); err != nil {
		return err
	}
	s.keys, err = auth.LoadKeys(filepath.Join(s.cfg.DataDir, "keys", "auth.key"))
	return err
}

// OpenDatabase opens the database cfg's [storage] names: the SQLite file
// in the data directory, or the PostgreSQL database of
// [storage.postgres] with the password read from its file.
func OpenDatabase(ctx context.Context, cfg config.Config, log *slog.Logger) (*db.DB, error) {
	if cfg.Storage.Database != "postgres" {
		return db.Open(ctx, filepath.Join(cfg.DataDir, "caucus.db"), log)
	}
	password, err := cfg.Storage.Postgres.Password()
	if err != nil {
		return nil, err
	}
	return db.OpenPostgres(ctx, cfg.Storage.Postgres.DSN, password, log)
}

// PGDump returns the [backup.Config.Dump] of cfg's PostgreSQL database
// ([backup.PGDump]), signed in as the server is. It returns an error
// wrapping exec.ErrNotFound when pg_dump is not installed.
func PGDump(cfg config.Config) (func(ctx context.Context, path string) error, error) {
	password, err := cfg.Storage.Postgres.Password()
	if err != nil {
		return nil, err
	}
	return backup.PGDump(cfg.Storage.Postgres.DSN, password)
}

// blobOwners are the owners of blob stores, one store each: the names
// [Server.blobDir] is called with, and the stores [AttachBlobs] opens.
func blobOwners() []string { return []string{"mail", "queue", "files", "imports", "lists"} }

// blobDir opens the blob store of one owner ("mail", "queue", "files",
// "imports", "lists"): each has its own, so that one's garbage collector
// never sees another's bodies. See [openBlobStore].
func (s *Server) blobDir(owner string) (blob.Store, error) {
	st, err := openBlobStore(s.cfg, owner, false, s.blobCache)
	if err != nil {
		return nil, err
	}
	if s.blobStores == nil {
		s.blobStores = map[string]blob.Store{}
	}
	s.blobStores[owner] = st
	return st, nil
}

// AttachBlobs opens the blob stores the server of cfg opens
// ([blobOwners]), for a process that works beside it: the `caucus backup`
// command, which must back up every blob wherever [storage] keeps it.
// With blobs = "dir" it opens the owners' directories that exist, through
// [blob.AttachDir], which leaves the server's writes in progress alone;
// with "s3", every owner's prefix in the bucket, with the server's
// encryption key, which must exist (AttachBlobs never makes one).
func AttachBlobs(cfg config.Config) (map[string]blob.Store, error) {
	stores := map[string]blob.Store{}
	for _, owner := range blobOwners() {
		if cfg.Storage.Blobs != "s3" {
			_, err := os.Stat(filepath.Join(cfg.DataDir, "blobs", owner))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			} else if err != nil {
				return nil, err
			}
		}
		st, err := openBlobStore(cfg, owner, true, nil)
		if err != nil {
			return nil, err
		}
		stores[owner] = st
	}
	return stores, nil
}

// openBlobStore opens the blob store of owner as cfg's [storage] section
// says: with blobs = "dir" the directory DataDir/blobs/<owner>; with
// "s3", the keys below <prefix><owner>/ in the bucket. The server opens
// its own stores; beside, another process opens them while it runs
// ([AttachBlobs]). An S3 store reads through c when it is not nil.
func openBlobStore(cfg config.Config, owner string, beside bool, c *cache.Cache) (blob.Store, error) {
	if cfg.Storage.Blobs == "s3" {
		return openS3(cfg, owner, !beside, c)
	}
	dir := filepath.Join(cfg.DataDir, "blobs", owner)
	if beside {
		return blob.AttachDir(dir)
	}
	return blob.OpenDir(dir)
}

// openS3 opens the S3 store of one owner. The secret access key is read
// from its file and the encryption key from its own (made, when makeKey
// is set, on first start when it is the default DataDir/keys/blob.key; a
// configured one must exist, as every node must share it). Neither is
// logged. It reads through objects when not nil.
func openS3(cfg config.Config, owner string, makeKey bool, objects *cache.Cache) (*s3.Store, error) {
	c := cfg.Storage.S3
	secret, err := os.ReadFile(c.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("storage.s3.secret_file: %w", err)
	}
	keyFile, create := c.KeyFile, false
	if keyFile == "" {
		keyFile, create = filepath.Join(cfg.DataDir, "keys", "blob.key"), makeKey
	}
	key, err := s3.LoadKey(keyFile, create)
	if err != nil {
		return nil, fmt.Errorf("storage.s3.key_file: %w", err)
	}
	var roots *x509.CertPool
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("storage.s3.ca_file: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("storage.s3.ca_file: %s holds no PEM certificate", c.CAFile)
		}
	}
	spill := filepath.Join(cfg.DataDir, "spill")
	if err := os.MkdirAll(spill, 0o700); err != nil {
		return nil, fmt.Errorf("blob spill directory: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := s3.New(ctx, s3.Config{
		Endpoint:  c.Endpoint,
		Insecure:  c.InsecureHTTP,
		Region:    c.Region,
		Bucket:    c.Bucket,
		Prefix:    c.Prefix + owner + "/",
		AccessKey: c.AccessKey,
		SecretKey: strings.TrimSpace(string(secret)),
		Key:       key,
		SpillDir:  spill,
		RootCAs:   roots,
		Cache:     objects,
	})
	if err != nil {
		return nil, fmt.Errorf("storage.s3: %w", err)
	}
	return st, nil
}

// openS3Cache opens the node's cache of S3 objects (nil without S3 or
// with cache_mb -1), shared by every owner's store (a Ref's content is
// the same in each), in DataDir/s3cache, of storage.s3.cache_mb MiB
// ([cache.DefaultSize] when 0). Only the server uses it: a process beside it (AttachBlobs) reads
// the store directly, as two processes may not share one cache.
func openS3Cache(cfg config.Config) (*cache.Cache, error) {
	if cfg.Storage.Blobs != "s3" || cfg.Storage.S3.CacheMB == -1 {
		return nil, nil
	}
	c, err := cache.New(filepath.Join(cfg.DataDir, "s3cache"), int64(cfg.Storage.S3.CacheMB)<<20)
	if err != nil {
		return nil, fmt.Errorf("storage.s3.cache_mb: %w", err)
	}
	return c, nil
}

// blobSweepers are the housekeeping loops of the S3 stores: each removes,
// every hour, what uploads that crashed left there ([s3.Store.Sweep]).
func (s *Server) blobSweepers() []runner {
	var loops []runner
	for owner, st := range s.blobStores {
		if st, ok := st.(*s3.Store); ok {
			log := s.log.With("component", "blobs", "owner", owner)
			loops = append(loops, loopFunc(func(ctx context.Context) { sweepS3(ctx, st, time.Hour, log) }))
		}
	}
	return loops
}

// sweepS3 sweeps st at start and then every period until ctx ends.
func sweepS3(ctx context.Context, st *s3.Store, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := st.Sweep(ctx, 0); err != nil && ctx.Err() == nil {
			log.Warn("sweeping the object store", "err", err)
		} else if n > 0 {
			log.Info("swept the object store", "removed", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// storageHealth is the check of GET /healthz: the database answers, and
// so does the mail blob store. Its page names each engine and whether it
// answered, and nothing more (the errors go to the log).
type storageHealth struct {
	db    *db.DB
	blobs blob.Store
	kind  string // "dir" or "s3"
	log   *slog.Logger
}

// healthTimeout bounds each engine's check.
const healthTimeout = 5 * time.Second

// ServeHTTP answers 200 when every engine answered, else 503.
func (h storageHealth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	dbErr := dbHealth{h.db}.Check(ctx)
	// A blob no store holds: the question goes all the way to the store.
	_, blobErr := h.blobs.Has(blob.Ref(strings.Repeat("0", 64)))
	status, word := http.StatusOK, "ok"
	for _, e := range []struct {
		name string
		err  error
	}{{"database", dbErr}, {"blobs", blobErr}} {
		if e.err != nil {
			h.log.Warn("health check failed", "engine", e.name, "err", e.err)
			status, word = http.StatusServiceUnavailable, "unavailable"
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "%s\ndatabase: %s %s\nblobs: %s %s\n", word, h.db.Engine(), state(dbErr), h.kind, state(blobErr))
}

// state is "ok" or "unavailable".
func state(err error) string {
	if err != nil {
		return "unavailable"
	}
	return "ok"
}

// health returns the handler of GET /healthz.
func (s *Server) health(log *slog.Logger) http.Handler {
	return storageHealth{db: s.db, blobs: s.blobs, kind: s.cfg.Storage.Blobs, log: log}
}
