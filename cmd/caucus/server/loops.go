package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"filippo.io/age"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/backup"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/mail/store"
)

// runner is a housekeeping loop: it runs until ctx ends.
type runner interface{ Run(ctx context.Context) }

// loopFunc makes a function a [runner].
type loopFunc func(context.Context)

// Run calls f.
func (f loopFunc) Run(ctx context.Context) { f(ctx) }

// buildLoops is the last phase: the housekeeping loops that Serve starts
// and the second phase of Shutdown ends. Those marked single run on one
// node at a time when several share a PostgreSQL database (see
// [Server.single]); the others run on every node: each node's queue
// runner claims messages in the database, so each is delivered once.
func (s *Server) buildLoops(ctx context.Context) error {
	s.loops = append(s.loops,
		s.auth,  // expired sessions, app password last-use
		s.audit, // writes the counts of aggregated failures
		s.single("mail-gc", mailGC{store: s.mail, every: time.Hour, log: s.log.With("component", "store")}),
		loopFunc(s.mail.RunIndexer),
		s.queue,
		s.autoreply,
		s.single("lists", s.lists), // sends approved posts
		s.single("offboard", s.offboard),
		s.single("imports", s.imports), // resumes the import jobs a restart stopped
		s.single("expiry", loopFunc(func(ctx context.Context) { s.ops.RunExpiry(ctx, time.Hour) })),
		s.single("files", s.files),
		loopFunc(s.importSweep), // abandoned and finished uploads
	)
	for i, r := range s.blobSweepers() { // the S3 stores' crashed uploads
		s.loops = append(s.loops, s.single(fmt.Sprintf("blob-sweep-%d", i), r))
	}
	if err := s.buildNotices(ctx); err != nil {
		return err
	}
	if s.backup != nil {
		at := s.backupAt
		s.loops = append(s.loops, s.single("backup", loopFunc(func(ctx context.Context) { s.backup.Run(ctx, at) })))
	}
	return nil
}

// single makes r run on one node at a time among those sharing a
// PostgreSQL database (a lease, [db.DB.RunAsLeader]); on SQLite it is r.
func (s *Server) single(name string, r runner) runner {
	return loopFunc(func(ctx context.Context) { s.db.RunAsLeader(ctx, name, s.node, r.Run) })
}

// mailGC deletes message bodies no message refers to any more, every
// period, until ctx ends.
type mailGC struct {
	store *store.Store
	every time.Duration
	log   *slog.Logger
}

// Run collects the garbage every g.every until ctx ends.
func (g mailGC) Run(ctx context.Context) {
	t := time.NewTicker(g.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := g.store.CollectGarbage(ctx); err != nil {
				g.log.Warn("mail garbage collection", "err", err)
			} else if n > 0 {
				g.log.Info("mail garbage collection", "deleted_blobs", n)
			}
		}
	}
}

// dbHealth is the health check of GET /healthz: the database answers.
type dbHealth struct{ db *db.DB }

// Check runs a query that touches the schema.
func (h dbHealth) Check(ctx context.Context) error {
	var n int
	return h.db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n)
}

// newBackup builds the backup service that [backup] configures, or nil
// if there is none: the daily backup's and incident mode's immediate one.
func newBackup(d *db.DB, cfg config.Config, blobs map[string]blob.Store, al *audit.Log, log *slog.Logger, now func() time.Time) (*backup.Service, time.Duration, error) {
	b := cfg.Backup
	if b.Dest == "" {
		return nil, 0, nil
	}
	rcpt, err := age.ParseX25519Recipient(b.Recipient)
	if err != nil {
		return nil, 0, fmt.Errorf("backup.recipient: %w", err)
	}
	at, err := backup.ParseTimeOfDay(b.Time)
	if err != nil {
		return nil, 0, err
	}
	var dump func(ctx context.Context, path string) error
	if d.Engine() == db.Postgres {
		// The daily backup holds the database's dump, made while no blob
		// can be deleted; without pg_dump it holds the blobs and keys.
		if dump, err = PGDump(cfg); err != nil {
			log.Warn("backup: pg_dump not found (Debian package postgresql-client): the daily backup will not hold the PostgreSQL database", "err", err)
			dump = nil
		}
	}
	svc, err := backup.New(d, backup.Config{DataDir: cfg.DataDir, Dest: b.Dest, Recipients: []age.Recipient{rcpt},
		Keep: b.Keep, Audit: al, Blobs: blobs, Dump: dump}, log, now)
	if err != nil {
		return nil, 0, err
	}
	return svc, at, nil
}
