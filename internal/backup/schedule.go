package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/caucus-org/caucus/internal/db"
)

// ParseTimeOfDay parses "HH:MM" (24-hour clock) and returns the offset from
// midnight.
func ParseTimeOfDay(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, fmt.Errorf("backup: time of day %q: want HH:MM", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// next returns the first time after now at the wall-clock time offset
// after midnight in now's location (03:30 stays 03:30 across a change to or
// from summer time).
func next(now time.Time, offset time.Duration) time.Time {
	h, m := int(offset/time.Hour), int(offset%time.Hour/time.Minute)
	y, mo, d := now.Date()
	t := time.Date(y, mo, d, h, m, 0, 0, now.Location())
	for i := 1; !t.After(now); i++ {
		t = time.Date(y, mo, d+i, h, m, 0, 0, now.Location())
	}
	return t
}

// missed reports whether the last scheduled time at or before now (at
// offset after midnight) passed without a backup: the newest success, last,
// is older (the zero time: there never was one).
func missed(now, last time.Time, offset time.Duration) bool {
	prev := next(now.AddDate(0, 0, -1), offset)
	return last.Before(prev)
}

// CatchUpDelay is how long after start [Service.Run] waits before making a
// backup the schedule missed (the machine was off, the server stopped):
// long enough that start-up is not slowed by it.
const CatchUpDelay = time.Minute

// Run makes a backup every day at offset from local midnight (see
// [ParseTimeOfDay]) and then prunes to cfg.Keep, until ctx ends. A backup
// the schedule missed while the server was not running is made
// [CatchUpDelay] after start. A failed backup is logged and tried again the
// next day; [Service.LastSuccess] shows the admin how old the last good one
// is.
func (s *Service) Run(ctx context.Context, offset time.Duration) {
	wait := next(s.now(), offset).Sub(s.now())
	if last, _, err := s.LastSuccess(ctx); err != nil {
		s.log.Error("backup: reading the last backup", "err", err)
	} else if missed(s.now(), last, offset) {
		s.log.Info("backup: the scheduled backup was missed; making it now", "last", last, "in", s.catchUp)
		wait = min(wait, s.catchUp)
	}
	for {
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		s.scheduled(ctx)
		wait = next(s.now(), offset).Sub(s.now())
	}
}

// scheduled makes one scheduled backup and prunes, logging what fails.
func (s *Service) scheduled(ctx context.Context) {
	if _, err := s.Backup(ctx); err != nil {
		s.log.Error("backup: scheduled backup failed", "err", err)
		return
	}
	if n, err := Prune(s.cfg.Dest, s.cfg.Keep); err != nil {
		s.log.Error("backup: pruning old backups failed", "err", err)
	} else if n > 0 {
		s.log.Info("backup: pruned objects of old backups", "objects", n)
	}
}

// BeforeMigrate snapshots the database into dataDir/backups before
// [db.DB.Migrate] applies a pending migration of comps, as
// caucus-<versions>-<time>.db (versions as [db.DB.Pending] gives them), so
// an upgrade that goes wrong can be undone by putting the old binary and
// this file back. It returns the snapshot's path, or "" when no migration is
// pending or the database is new. On PostgreSQL it returns [ErrPostgres]
// and saves nothing: its operator's backups must be current before an
// upgrade.
func BeforeMigrate(ctx context.Context, d *db.DB, dataDir string, now time.Time, comps ...db.Component) (string, error) {
	if d.Engine() != db.SQLite {
		return "", fmt.Errorf("backup: before migration: %w", ErrPostgres)
	}
	pending, versions, err := d.Pending(ctx, comps...)
	if err != nil || !pending {
		return "", err
	}
	dir := filepath.Join(dataDir, "backups")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("backup: before migration: %w", err)
	}
	p := filepath.Join(dir, fmt.Sprintf("caucus-%s-%s.db", versions, now.UTC().Format("20060102T150405Z")))
	if err := d.Snapshot(ctx, p); err != nil {
		return "", fmt.Errorf("backup: before migration: %w", err)
	}
	return p, nil
}
