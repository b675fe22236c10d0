package files

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// putNewCheckSQLite is putNewPG's check on SQLite, which has no
// data-modifying WITH: in one statement, whether the folder ?1 is live,
// a folder, at most ?5 deep, in the space (?3, ?4); whether the space
// has room for ?8 bytes (roomQuery's; ?7 the default quota); and whether
// no live node is named ?6 in the folder. It also returns the folder's
// path below its space's root. It replaces commitChecked's folder chain
// (which reads each folder's current version, of which a folder has
// none), room and name, each a statement of its own, inside the group
// commit. (SQLite's deletions of blobs are not recorded in files_drops:
// the look in the blob store stays, a stat(2).)
const putNewCheckSQLite = `WITH RECURSIVE up(id, parent_id, name, is_dir, deleted_at, space_kind, space_id, depth) AS (
		SELECT id, parent_id, name, is_dir, deleted_at, space_kind, space_id, 0 FROM files_nodes WHERE id = ?1
		UNION ALL
		SELECT n.id, n.parent_id, n.name, n.is_dir, n.deleted_at, n.space_kind, n.space_id, up.depth + 1
		FROM up JOIN files_nodes n ON n.id = up.parent_id WHERE up.depth < ?2),
	q AS (SELECT COALESCE((SELECT bytes FROM files_quotas WHERE space_kind = ?3 AND space_id = ?4), ?7) AS bytes)
	SELECT COALESCE(MIN(deleted_at IS NULL) AND MAX(depth = 0 AND is_dir <> 0)
			AND MAX(parent_id IS NULL AND space_kind = ?3 AND space_id = ?4) AND COUNT(*) <= ?5, 0)
		AND (SELECT CASE WHEN q.bytes <= 0 THEN 1 ELSE ?8 <= MAX(q.bytes - COALESCE((SELECT bytes FROM files_usage
			WHERE space_kind = ?3 AND space_id = ?4), 0), 0) END FROM q)
		AND NOT EXISTS (SELECT 1 FROM files_nodes WHERE parent_id = ?1 AND name = ?6 AND deleted_at IS NULL),
		COALESCE(group_concat(name, '/' ORDER BY depth DESC) FILTER (WHERE parent_id IS NOT NULL), '')
	FROM up`

// commitNewSQLite commits u as a new file on SQLite after one check
// (putNewCheckSQLite), with the writes commitChecked makes for a new
// file, and reports whether it did; if the check fails (the name is
// taken, the folder or the quota changed),
// it writes nothing and commitChecked commits u, reading what it needs.
// space and prefix are the folder's space's and its viewer's path of the
// space's root.
func (s *Store) commitNewSQLite(ctx context.Context, tx *sql.Tx, u *upload, space Space, prefix string) (bool, error) {
	var ok bool
	var path string
	err := s.cached(tx).QueryRowContext(ctx, putNewCheckSQLite, u.parentID, MaxDepth+2, u.parent.kind, u.parent.spaceID, MaxDepth,
		u.name, s.opts.DefaultQuota, u.n).Scan(&ok, &path)
	if err != nil || !ok {
		return false, err
	}
	if err := s.commitContent(ctx, tx, u.ref, u.data); err != nil {
		return false, err
	}
	now := ms(s.now())
	// The new row's id is the connection's last inserted rowid, which the
	// driver's result reads (sqlite3_last_insert_rowid) without RETURNING's
	// rows: SQLite keeps those in a table of their own until the insert
	// ends, and database/sql reads them through Rows.
	res, err := s.cached(tx).ExecContext(ctx, `INSERT INTO files_nodes (space_kind, space_id, parent_id, name, is_dir, created_at, modified_at) VALUES (?, ?, ?, ?, 0, ?, ?)`,
		u.parent.kind, u.parent.spaceID, u.parentID, u.name, now, now)
	if err != nil {
		return false, fmt.Errorf("files: new file's row: %w", err)
	}
	// Only a row this statement inserted makes the rowid its own: one
	// that inserted none (a future OR IGNORE, a trigger's RAISE(IGNORE))
	// would leave the rowid of the group's previous insert.
	if n, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("files: new file's row: %w", err)
	} else if n != 1 {
		return false, fmt.Errorf("files: new file's row not inserted (%d rows)", n)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return false, fmt.Errorf("files: new file's row id: %w", err)
	}
	if err := s.touchCached(ctx, tx, u.parentID, now); err != nil {
		return false, err
	}
	if _, err := s.cached(tx).ExecContext(ctx, `INSERT INTO files_versions (node_id, blob, size, created_at, author) VALUES (?, ?, ?, ?, ?)`,
		id, string(u.ref), u.n, now, u.author); err != nil {
		return false, err
	}
	if path != "" {
		prefix += "/" + path
	}
	folder := Node{ID: u.parentID, Name: prefix[strings.LastIndexByte(prefix, '/')+1:], Path: prefix, Dir: true, Space: space, Writable: true}
	u.id, u.since = id, s.paths.begin()
	u.node = childNode(folder, row{id: id, parent: u.parentID, kind: u.parent.kind, spaceID: u.parent.spaceID, name: u.name,
		created: now, modified: now, size: u.n, blob: string(u.ref), versions: 1})
	return true, nil
}
