package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/caucus-org/caucus/admin/ctl"
	"github.com/caucus-org/caucus/cmd/caucus/server"
	"github.com/caucus-org/caucus/internal/backup"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/blob/s3"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/storagemove"
)

const storageUsage = `Usage: caucus storage migrate --to NEW.toml [--config OLD.toml] [--verify]

Moves the party's storage from the [storage] of the configuration (the
source) to the [storage] of NEW.toml (the target): the database between
SQLite and PostgreSQL, the blobs between the data directory and S3, or
both. Stop caucus first: the command refuses while the server answers on
its control socket, or while other sessions use a PostgreSQL source.

It brings the source to this binary's schema, makes the target's, copies
every table and every blob, and verifies both (rows counted and hashed
per table, every blob read back and its hash checked). Until it has
verified, a target database is marked so that a server refuses it; run
the command again after a failure. With --verify it only compares.
`

// storageCmd runs `caucus storage migrate`.
func storageCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "migrate" {
		fmt.Fprint(stderr, storageUsage)
		return errors.New("storage takes the command migrate")
	}
	fs := flag.NewFlagSet("storage migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, storageUsage)
		fs.PrintDefaults()
	}
	source := configFlags(fs)
	to := fs.String("to", "", "the configuration whose [storage] is the target")
	verifyOnly := fs.Bool("verify", false, "only compare the source and the target")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *to == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("give the target configuration with --to")
	}
	src, err := source()
	if err != nil {
		return err
	}
	dst, err := config.Load(*to)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	m := &migration{src: src, dst: dst, out: stdout}
	defer m.close()
	start := time.Now()
	if *verifyOnly {
		err = m.verify(ctx)
	} else {
		err = m.run(ctx)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "done in %v\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// migration is one run of the command.
type migration struct {
	src, dst config.Config
	out      io.Writer

	srcDB, dstDB       *db.DB
	srcBlobs, dstBlobs map[string]blob.Store
}

// movesDatabase reports whether the source and target name different
// databases.
func (m *migration) movesDatabase() bool {
	a, b := m.src.Storage, m.dst.Storage
	if a.Database == "postgres" || b.Database == "postgres" {
		return a.Database != b.Database || a.Postgres.DSN != b.Postgres.DSN
	}
	return filepath.Clean(m.src.DataDir) != filepath.Clean(m.dst.DataDir)
}

// movesBlobs reports whether the source and target keep blobs apart.
func (m *migration) movesBlobs() bool {
	a, b := m.src.Storage, m.dst.Storage
	if a.Blobs == "s3" || b.Blobs == "s3" {
		return a.Blobs != b.Blobs || a.S3.Endpoint != b.S3.Endpoint || a.S3.Bucket != b.S3.Bucket || a.S3.Prefix != b.S3.Prefix
	}
	return filepath.Clean(m.src.DataDir) != filepath.Clean(m.dst.DataDir)
}

// close closes what m opened.
func (m *migration) close() {
	for _, d := range []*db.DB{m.srcDB, m.dstDB} {
		if d != nil {
			d.Close()
		}
	}
}

// run moves the storage and verifies it.
func (m *migration) run(ctx context.Context) error {
	if !m.movesDatabase() && !m.movesBlobs() {
		return errors.New("the target's [storage] is the source's: nothing to move")
	}
	if err := m.open(ctx); err != nil {
		return err
	}
	if m.dstDB != nil {
		fmt.Fprintf(m.out, "database: %s -> %s\n", m.srcDB.Engine(), m.dstDB.Engine())
		if err := storagemove.Begin(ctx, m.dstDB, time.Now()); err != nil {
			return fmt.Errorf("target database: %w", err)
		}
		if err := m.dstDB.Migrate(ctx, server.Components()...); err != nil {
			return fmt.Errorf("target database: %w", err)
		}
		if err := storagemove.CopyDatabase(ctx, m.srcDB, m.dstDB, m.out); err != nil {
			return err
		}
	}
	if m.movesBlobs() {
		fmt.Fprintf(m.out, "blobs: %s -> %s\n", m.src.Storage.Blobs, m.dst.Storage.Blobs)
		if err := storagemove.CopyBlobs(ctx, m.srcBlobs, m.dstBlobs, m.out); err != nil {
			return err
		}
	}
	if err := m.check(ctx); err != nil {
		return err
	}
	if m.dstDB != nil {
		return storagemove.Finish(ctx, m.dstDB)
	}
	return nil
}

// verify compares the source and the target without copying.
func (m *migration) verify(ctx context.Context) error {
	if err := m.open(ctx); err != nil {
		return err
	}
	return m.check(ctx)
}

// check verifies what moves.
func (m *migration) check(ctx context.Context) error {
	fmt.Fprintln(m.out, "verifying:")
	if m.dstDB != nil {
		if err := storagemove.VerifyDatabase(ctx, m.srcDB, m.dstDB, m.out); err != nil {
			return err
		}
	}
	if m.movesBlobs() {
		if err := storagemove.VerifyBlobs(ctx, m.srcBlobs, m.dstBlobs, m.out); err != nil {
			return err
		}
	}
	d := m.dstDB
	if d == nil {
		d = m.srcDB
	}
	return storagemove.VerifyRefs(ctx, d, blobColumns(), m.srcBlobs, m.dstBlobs, m.out)
}

// open refuses a running source, opens the source database at this
// binary's schema and, for what moves, the target's database and blob
// stores.
func (m *migration) open(ctx context.Context) (err error) {
	if c, err := ctl.Dial(ctx, m.src.DataDir); err == nil {
		c.Close()
		return fmt.Errorf("caucus is running on %s (its control socket answers): stop it first", m.src.DataDir)
	}
	if m.srcDB, err = openDatabase(ctx, m.src, true); err != nil {
		return fmt.Errorf("source database: %w", err)
	}
	if err := inUse(ctx, m.srcDB); err != nil {
		return err
	}
	comps := server.Components()
	if m.srcDB.Engine() == db.SQLite {
		if p, err := backup.BeforeMigrate(ctx, m.srcDB, m.src.DataDir, time.Now(), comps...); err != nil {
			return err
		} else if p != "" {
			fmt.Fprintf(m.out, "source database saved before its schema migration: %s\n", p)
		}
	}
	if err := m.srcDB.Migrate(ctx, comps...); err != nil {
		return fmt.Errorf("source database: %w", err)
	}
	if m.movesDatabase() {
		if m.dstDB, err = server.OpenDatabase(ctx, m.dst, nil); err != nil {
			return fmt.Errorf("target database: %w", err)
		}
	}
	if m.srcBlobs, err = server.AttachBlobs(m.src); err != nil {
		return fmt.Errorf("source blobs: %w", err)
	}
	m.dstBlobs = m.srcBlobs
	if m.movesBlobs() {
		if m.dstBlobs, err = targetBlobs(m.dst); err != nil {
			return fmt.Errorf("target blobs: %w", err)
		}
	}
	return nil
}

// blobColumns returns the columns that hold blob references, with the store
// each refers to; trash tables (queue_trash, list_trash) are left out,
// as their blobs may be gone already.
func blobColumns() []storagemove.BlobColumn {
	return []storagemove.BlobColumn{
		{Table: "blobs", Column: "ref", Owner: "mail"},
		{Table: "files_versions", Column: "blob", Owner: "files", Inline: "files_inline"},
		{Table: "queue_messages", Column: "blob_ref", Owner: "queue"},
		{Table: "list_posts", Column: "blob_ref", Owner: "lists"},
		{Table: "mailimport_kept", Column: "blob_ref", Owner: "imports"},
		{Table: "mailimport_items", Column: "blob_ref", Owner: "mail"},
		{Table: "mailimport_placed", Column: "blob_ref", Owner: "mail"},
	}
}

// inUse refuses a PostgreSQL source that other sessions use: a node of
// the party still running.
func inUse(ctx context.Context, d *db.DB) error {
	if d.Engine() != db.Postgres {
		return nil
	}
	var n int
	err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`).Scan(&n)
	if err != nil {
		return fmt.Errorf("source database: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("the source database is in use by %d other sessions: stop every caucus node first", n)
	}
	return nil
}

// targetBlobs opens the target's blob stores, one per owner the server
// has: directories made if missing, or the bucket's prefixes with the
// target's encryption key (made at DataDir/keys/blob.key, as the server
// makes it on first start, when no key_file is configured).
func targetBlobs(cfg config.Config) (map[string]blob.Store, error) {
	if cfg.Storage.Blobs == "s3" {
		if cfg.Storage.S3.KeyFile == "" {
			if _, err := s3.LoadKey(filepath.Join(cfg.DataDir, "keys", "blob.key"), true); err != nil {
				return nil, err
			}
		}
		return server.AttachBlobs(cfg)
	}
	stores := map[string]blob.Store{}
	for _, owner := range []string{"mail", "queue", "files", "imports", "lists"} {
		st, err := blob.OpenDir(filepath.Join(cfg.DataDir, "blobs", owner))
		if err != nil {
			return nil, err
		}
		stores[owner] = st
	}
	return stores, nil
}
