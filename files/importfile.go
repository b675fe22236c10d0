package files

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/caucus-org/caucus/internal/blob"
)

// ImportAuthor is the author of the versions [Store.ImportFile] makes.
const ImportAuthor = "import"

// ImportFile stores the content read from r as the file at path in an
// account's home (names separated by "/", e.g. "Google Drive/Plans/a.odt"),
// making the folders on the way, with modification time mtime (zero: now).
// It is how a move from another provider (mail/mailimport's Google
// Takeout archives) brings files in, and keeps the rules of an upload
// ([Store.Put]): names are checked and stored in NFC, the quota is
// checked against size (the announced length, or -1) before anything is
// read and while streaming, the file appears only when complete and
// durable, and a file already there gets a new version.
//
// It may be called again for the same file after a restart: when the
// file at path already holds this content, nothing changes and created
// is false, so that a resumed import never makes a second copy nor a
// second version.
func (s *Store) ImportFile(ctx context.Context, accountID int64, path string, mtime time.Time, size int64, r io.Reader) (created bool, err error) {
	names, err := splitPath(path)
	if err != nil {
		return false, err
	}
	if len(names) == 0 {
		return false, fmt.Errorf("%w: empty path", ErrInvalidName)
	}
	if len(names) > MaxDepth {
		return false, ErrTooDeep
	}
	parent, err := s.ensureRoot(ctx, SpaceHome, accountID)
	if err != nil {
		return false, err
	}
	for _, d := range names[:len(names)-1] {
		if parent, err = s.importDir(ctx, accountID, parent, d); err != nil {
			return false, err
		}
	}
	room, err := s.room(ctx, s.db, SpaceHome, accountID)
	if err != nil {
		return false, err
	}
	if room >= 0 && (size > room || room == 0) {
		return false, quotaError(room)
	}
	limit := room
	if s.opts.MaxFileSize > 0 && (limit < 0 || s.opts.MaxFileSize < limit) {
		if size > s.opts.MaxFileSize {
			return false, fmt.Errorf("%w: larger than the largest file allowed (%d bytes)", ErrQuota, s.opts.MaxFileSize)
		}
		limit = s.opts.MaxFileSize
	}
	ref, data, n, done, err := s.storeContent(ctx, r, limit)
	defer done() // after the commit, which writes data
	if errors.Is(err, blob.ErrTooLarge) {
		return false, quotaError(limit)
	}
	if err != nil {
		return false, fmt.Errorf("files: storing content: %w", err)
	}
	if size >= 0 && n != size {
		return false, fmt.Errorf("files: file of %d bytes ended after %d: %w", size, n, io.ErrUnexpectedEOF)
	}
	if mtime.IsZero() {
		mtime = s.now()
	}
	created, err = s.commitImport(ctx, accountID, parent, names[len(names)-1], ref, data, n, ms(mtime))
	if err != nil || !created {
		s.dropBlobs(context.WithoutCancel(ctx), []string{string(ref)})
	}
	return created, err
}

// importDir returns folder name in parent, making it if need be.
func (s *Store) importDir(ctx context.Context, accountID, parent int64, name string) (int64, error) {
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		cid, dir, err := s.childID(ctx, tx, parent, name)
		switch {
		case err != nil:
			return err
		case cid != 0 && !dir:
			return fmt.Errorf("%w: a file is called %q where a folder should be", ErrExists, name)
		case cid != 0:
			id = cid
			return nil
		}
		now := ms(s.now())
		if err := tx.QueryRowContext(ctx, `INSERT INTO files_nodes (space_kind, space_id, parent_id, name, is_dir, created_at, modified_at) VALUES (?, ?, ?, ?, 1, ?, ?) RETURNING id`,
			SpaceHome, accountID, parent, name, now, now).Scan(&id); err != nil {
			return err
		}
		return touch(ctx, tx, parent, now)
	})
	return id, err
}

// commitImport commits content ref (data, if kept inline) as file name in
// folder parent, unless the file there holds it already.
func (s *Store) commitImport(ctx context.Context, accountID, parent int64, name string, ref blob.Ref, data []byte, n, mtime int64) (bool, error) {
	created := false
	var drop []string
	var changed []int64
	s.gcMu.RLock()
	err := s.group.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		cid, dir, err := s.childID(ctx, tx, parent, name)
		if err != nil {
			return err
		}
		if dir {
			return ErrIsDir
		}
		if cid != 0 {
			cur, err := s.getRow(ctx, tx, cid)
			if err != nil {
				return err
			}
			if cur.blob == string(ref) {
				return nil // imported before a restart
			}
		}
		if room, err := s.room(ctx, tx, SpaceHome, accountID); err != nil {
			return err
		} else if room >= 0 && n > room {
			return quotaError(room)
		}
		if err := s.commitContent(ctx, tx, ref, data); err != nil {
			return err
		}
		now := ms(s.now())
		if cid == 0 {
			if err := tx.QueryRowContext(ctx, `INSERT INTO files_nodes (space_kind, space_id, parent_id, name, is_dir, created_at, modified_at) VALUES (?, ?, ?, ?, 0, ?, ?) RETURNING id`,
				SpaceHome, accountID, parent, name, now, mtime).Scan(&cid); err != nil {
				return err
			}
			if err := touch(ctx, tx, parent, now); err != nil {
				return err
			}
		} else if _, err := tx.ExecContext(ctx, `UPDATE files_nodes SET seq = seq + 1, modified_at = ? WHERE id = ?`, mtime, cid); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO files_versions (node_id, blob, size, created_at, author) VALUES (?, ?, ?, ?, ?)`,
			cid, string(ref), n, now, ImportAuthor); err != nil {
			return err
		}
		created = true
		changed = []int64{cid, parent}
		drop, err = s.prune(ctx, tx, cid)
		return err
	})
	s.gcMu.RUnlock()
	s.paths.drop(changed...) // the file and its folder have new ETags
	if err != nil {
		return false, err
	}
	s.dropBlobs(ctx, drop)
	return created, nil
}
