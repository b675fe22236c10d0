package files

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
)

// quota returns a space's quota in bytes; 0 means unlimited.
func (s *Store) quota(ctx context.Context, q querier, kind SpaceKind, id int64) (int64, error) {
	var b int64
	err := s.cached(q).QueryRowContext(ctx, `SELECT bytes FROM files_quotas WHERE space_kind = ? AND space_id = ?`, kind, id).Scan(&b)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return s.opts.DefaultQuota, nil
	case err != nil:
		return 0, err
	case b < 0:
		return 0, nil
	}
	return b, nil
}

// used returns the bytes a space holds: what a quota measures.
//
// A space's usage is the size of each distinct content its files hold
// (current versions, older versions and the trash alike), counted once
// however many of its files, versions or trashed items share it: what the
// space makes the server keep on disk. So a copy inside the space, a
// trashed file whose content is still live, and a restored version cost
// nothing more. Contents are counted per space, never across spaces: a
// space pays in full for what it holds even when another space holds the
// same content, so that usage does not depend on others' files (nor tells
// a member whether someone else holds a file). An upload is checked
// against its full size before it is read, its content being unknown
// until then. The triggers of migration 6 keep it in files_usage (see
// schema6), so that reading it is one row however many files the space
// holds.
func used(ctx context.Context, q querier, kind SpaceKind, id int64) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, `SELECT COALESCE((SELECT bytes FROM files_usage WHERE space_kind = ? AND space_id = ?), 0)`, kind, id).Scan(&n)
	return n, err
}

// roomQuery reads a space's quota (its own or, with no row, the default
// passed as the third argument; negative or 0: unlimited) and, when it is
// limited, what the space uses (see used), in one statement: room runs in
// every upload's transaction, where each round trip to PostgreSQL counts.
const roomQuery = `WITH q AS (SELECT COALESCE((SELECT bytes FROM files_quotas WHERE space_kind = ? AND space_id = ?), ?) AS bytes)
	SELECT q.bytes, CASE WHEN q.bytes > 0 THEN COALESCE((SELECT bytes FROM files_usage WHERE space_kind = ? AND space_id = ?), 0) ELSE 0 END FROM q`

// room returns how many more bytes a space takes, or -1 for unlimited.
func (s *Store) room(ctx context.Context, q querier, kind SpaceKind, id int64) (int64, error) {
	var quota, u int64
	if err := s.cached(q).QueryRowContext(ctx, roomQuery, kind, id, s.opts.DefaultQuota, kind, id).Scan(&quota, &u); err != nil {
		return 0, err
	}
	if quota <= 0 {
		return -1, nil
	}
	return max(quota-u, 0), nil
}

func quotaError(room int64) error {
	return fmt.Errorf("%w: %d bytes left; delete files or empty the trash, or ask an admin for more space", ErrQuota, room)
}

// Usage returns the bytes an account's home uses (each content it holds
// once, older versions and trash included; see used) and its quota (0:
// unlimited).
func (s *Store) Usage(ctx context.Context, accountID int64) (usedBytes, quota int64, err error) {
	if usedBytes, err = used(ctx, s.db, SpaceHome, accountID); err != nil {
		return 0, 0, err
	}
	quota, err = s.quota(ctx, s.db, SpaceHome, accountID)
	return usedBytes, quota, err
}

func (s *Store) groupID(ctx context.Context, group string) (int64, error) {
	gs, err := s.auth.Groups(ctx)
	if err != nil {
		return 0, err
	}
	for _, g := range gs {
		if g.Name == group {
			return g.ID, nil
		}
	}
	return 0, fmt.Errorf("%w: group %q", ErrNotFound, group)
}

// GroupUsage is Usage for a group's folder.
func (s *Store) GroupUsage(ctx context.Context, group string) (usedBytes, quota int64, err error) {
	id, err := s.groupID(ctx, group)
	if err != nil {
		return 0, 0, err
	}
	if usedBytes, err = used(ctx, s.db, SpaceGroup, id); err != nil {
		return 0, 0, err
	}
	quota, err = s.quota(ctx, s.db, SpaceGroup, id)
	return usedBytes, quota, err
}

// SetQuota sets an account's quota in bytes (0: the default; -1: unlimited).
func (s *Store) SetQuota(ctx context.Context, actor string, accountID, bytes int64) error {
	acct, err := s.auth.Account(ctx, accountID)
	if err != nil {
		return fmt.Errorf("files: quota: %w", err)
	}
	if err := s.setQuota(ctx, SpaceHome, accountID, bytes); err != nil {
		return err
	}
	s.record(ctx, Actor{Login: actor}, "files.quota", acct.Login, fmt.Sprintf("bytes=%d", bytes))
	return nil
}

// SetGroupQuota sets a group's quota in bytes (0: the default; -1: unlimited).
func (s *Store) SetGroupQuota(ctx context.Context, actor, group string, bytes int64) error {
	id, err := s.groupID(ctx, group)
	if err != nil {
		return err
	}
	if err := s.setQuota(ctx, SpaceGroup, id, bytes); err != nil {
		return err
	}
	s.record(ctx, Actor{Login: actor}, "files.quota", "", fmt.Sprintf("group=%s bytes=%d", group, bytes))
	return nil
}

func (s *Store) setQuota(ctx context.Context, kind SpaceKind, id, bytes int64) error {
	if bytes < -1 {
		return fmt.Errorf("files: quota %d: negative", bytes)
	}
	defer s.unlimited.forget(quotaSpace{kind, id}) // after the commit
	return s.tx(ctx, func(tx *sql.Tx) error {
		if bytes == 0 {
			_, err := tx.ExecContext(ctx, `DELETE FROM files_quotas WHERE space_kind = ? AND space_id = ?`, kind, id)
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO files_quotas (space_kind, space_id, bytes) VALUES (?, ?, ?)
			ON CONFLICT (space_kind, space_id) DO UPDATE SET bytes = excluded.bytes`, kind, id, bytes)
		return err
	})
}

// putMode says what Put does when the name is taken.
type putMode int

const (
	putReplace  putMode = iota // a new version of the file there
	putUniquify                // a new file "name (2).ext"
)

// Put stores the content read from r as file name in folder parentID: a new
// file, or a new version of the file already there. size is the announced
// length (Content-Length) or -1; an announced size over the quota is refused
// with ErrQuota before anything is read, and the quota is enforced while
// streaming too. The file appears only when complete and durable.
func (s *Store) Put(ctx context.Context, a Actor, parentID int64, name string, r io.Reader, size int64) (Node, error) {
	v, ch, err := s.putViewer(ctx, a, parentID)
	if err != nil {
		return Node{}, err
	}
	var pre func() (row, error)
	if ch != nil {
		pre = func() (row, error) {
			ac, err := s.folderChain(ctx, v, ch)
			if err != nil {
				return row{}, err
			}
			return ac.node(), nil
		}
	}
	_, n, err := s.put(ctx, v, parentID, name, r, size, a.Login, putReplace, pre)
	return n, err
}

// PutIn is Put into folder parent as a lookup by a has just found it
// (Stat; a WebDAV PUT looks its folder up by path, mostly in the path
// cache): the checks before the content is read (a folder a may write
// in, and its space's room) take parent as it is, without reading the
// folder again, and an upload into a's own home reads no groups. The
// transaction that commits the file checks the folder again, as Put's
// does, so a parent changed since (moved, deleted, unshared) refuses the
// upload then.
func (s *Store) PutIn(ctx context.Context, a Actor, parent Node, name string, r io.Reader, size int64) (Node, error) {
	if parent.ID == 0 || parent.Virtual {
		return s.Put(ctx, a, parent.ID, name, r, size) // refused there
	}
	switch {
	case !parent.Dir:
		return Node{}, ErrNotDir
	case !parent.Writable:
		return Node{}, fmt.Errorf("%w: shared read-only", ErrForbidden)
	}
	var v *viewer
	var err error
	if parent.Space.Kind == SpaceHome && parent.Space.ID == a.ID {
		v, err = homeViewer(a)
	} else {
		v, err = s.viewer(ctx, a)
	}
	if err != nil {
		return Node{}, err
	}
	pre := func() (row, error) {
		return row{id: parent.ID, kind: parent.Space.Kind, spaceID: parent.Space.ID, dir: true}, nil
	}
	_, n, err := s.put(ctx, v, parent.ID, name, r, size, a.Login, putReplace, pre)
	return n, err
}

// putViewer returns the viewer for a's upload into folder parentID, and
// the folder's chain as read for it (nil if not read). The chain is read
// first: a folder in a's own home is reached without a's groups (see
// homeViewer), so an upload there, what a client syncing its files sends
// most, reads no groups; any other folder gets the viewer with its groups.
func (s *Store) putViewer(ctx context.Context, a Actor, parentID int64) (*viewer, []row, error) {
	if a.ID == 0 || parentID == 0 {
		v, err := s.viewer(ctx, a)
		return v, nil, err // refused by viewer, or by folder
	}
	ch, err := s.chain(ctx, s.db, parentID)
	if err != nil {
		return nil, nil, err
	}
	if root := ch[len(ch)-1]; root.kind == SpaceHome && root.spaceID == a.ID {
		v, err := homeViewer(a)
		return v, ch, err
	}
	v, err := s.viewer(ctx, a)
	return v, ch, err
}

// put streams r into the blob store and commits it as a version of name in
// parentID, and returns the file's id and, but for a file drop, its node
// as v sees it, read in the transaction that committed it. v nil means a
// file drop (access checked by the caller). pre, if not nil, is the
// check before the content is read (the folder's row as just read), in
// place of reading the folder.
func (s *Store) put(ctx context.Context, v *viewer, parentID int64, name string, r io.Reader, size int64, author string, mode putMode, pre func() (row, error)) (int64, Node, error) {
	name, err := validName(name)
	if err != nil {
		return 0, Node{}, err
	}
	// check returns the folder's row, and its access by v.
	check := func(q querier) (row, *access, error) {
		if v == nil {
			ch, err := s.chain(ctx, q, parentID)
			if err != nil {
				return row{}, nil, err
			}
			return ch[0], nil, nil
		}
		if pre != nil && q == s.db { // the check before reading
			r, err := pre()
			return r, nil, err
		}
		ac, err := s.folder(ctx, q, v, parentID)
		if err != nil {
			return row{}, nil, err
		}
		return ac.node(), ac, nil
	}
	id, node, since, err := s.putChecked(ctx, v, check, parentID, name, r, size, author, mode)
	// The file and its folder have new ETags. A client that uploads a
	// file often asks for it next (its properties, its content): the node
	// goes into the path cache, unless another write may have changed it
	// since it was read (see pathcache.go).
	var cached Node // none
	var account int64
	var key pathKey
	if sp := node.Space; err == nil && v != nil && (sp.Kind == SpaceHome && sp.ID == v.ID || sp.Kind == SpaceGroup && v.groups[sp.ID] != "") {
		cached, account, key = node, v.ID, pathKey{kind: sp.Kind, space: sp.ID, path: node.Path}
	}
	s.paths.replace([]int64{id}, []int64{parentID}, account, key, cached, since)
	return id, node, err
}

// putChecked is put once its folder checker is made.
//
// It returns with the node the path cache's epoch (see begin) at which it
// was read.
func (s *Store) putChecked(ctx context.Context, v *viewer, check func(querier) (row, *access, error), parentID int64, name string, r io.Reader, size int64, author string, mode putMode) (id int64, node Node, since uint64, err error) {
	parent, _, err := check(s.db)
	if err != nil {
		return 0, Node{}, 0, err
	}
	dir, room, epoch := false, int64(-1), int64(0)
	if !s.skipCheck(parent, size) {
		dir, room, epoch, err = s.putCheck(ctx, parent, name)
	}
	switch {
	case err != nil:
		return 0, Node{}, 0, err
	case dir && mode == putReplace:
		return 0, Node{}, 0, ErrIsDir
	case room >= 0 && (size > room || room == 0):
		return 0, Node{}, 0, quotaError(room)
	}
	limit := room
	if s.opts.MaxFileSize > 0 && (limit < 0 || s.opts.MaxFileSize < limit) {
		if size > s.opts.MaxFileSize {
			return 0, Node{}, 0, fmt.Errorf("%w: larger than the largest file allowed (%d bytes)", ErrQuota, s.opts.MaxFileSize)
		}
		limit = s.opts.MaxFileSize
	}
	ref, data, n, done, err := s.storeContent(ctx, r, limit)
	defer done() // after the commit, which writes data
	if errors.Is(err, blob.ErrTooLarge) {
		return 0, Node{}, 0, quotaError(limit)
	}
	if err != nil {
		return 0, Node{}, 0, fmt.Errorf("files: storing content: %w", err)
	}
	if size >= 0 && n != size {
		return 0, Node{}, 0, fmt.Errorf("files: upload of %d bytes ended after %d: %w", size, n, io.ErrUnexpectedEOF)
	}

	u := &upload{v: v, check: check, parentID: parentID, parent: parent, name: name, mode: mode,
		ref: ref, data: data, n: n, author: author, epoch: epoch}
	s.gcMu.RLock()
	err = func() error {
		defer s.gcMu.RUnlock()
		return s.commitGrouped(ctx, u)
	}()
	if err != nil {
		s.dropBlobs(context.WithoutCancel(ctx), []string{string(ref)})
		return u.id, Node{}, 0, err
	}
	s.dropBlobs(ctx, u.drop)
	if data != nil && s.contents != nil {
		s.contents.add(string(ref), bytes.Clone(data)) // data's buffer is reused (see storeContent)
	}
	return u.id, u.node, u.since, nil
}

// quiet returns the context for statements that are short and wait for
// no lock: an upload's check before its content is read, and its job in
// the group commit, which holds the write turn. On SQLite it is ctx
// without its end: modernc.org/sqlite starts a goroutine for every
// statement whose context can end, to interrupt the statement then (a
// start, a wait and a wake-up each), and database/sql another for each
// query; a cancelled upload then stops at its next step, not inside a
// statement of a millisecond. The group's own statements, its COMMIT
// among them, still end with the group's context. PostgreSQL's
// statements wait on the network and keep it.
func (s *Store) quiet(ctx context.Context) context.Context {
	if s.pg() {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

// putCheckQuery is the check before an upload's content is read, in one
// statement: whether the name ?2 in folder ?1 is a folder's, the space's
// quota and use as roomQuery reads them (?3, ?4, the default ?5), and the
// last of files_drops (see dropBlobs).
const putCheckQuery = `WITH q AS (SELECT COALESCE((SELECT bytes FROM files_quotas WHERE space_kind = ?3 AND space_id = ?4), ?5) AS bytes)
	SELECT COALESCE((SELECT is_dir FROM files_nodes WHERE parent_id = ?1 AND name = ?2 AND deleted_at IS NULL), 0),
		q.bytes, CASE WHEN q.bytes > 0 THEN COALESCE((SELECT bytes FROM files_usage WHERE space_kind = ?3 AND space_id = ?4), 0) ELSE 0 END,
		(SELECT COALESCE(MAX(id), 0) FROM files_drops)
	FROM q`

// putCheck reads, before an upload into folder parent, whether name is a
// folder there, how many bytes the space takes (-1: no limit; see room),
// and the last of files_drops.
func (s *Store) putCheck(ctx context.Context, parent row, name string) (dir bool, room, epoch int64, err error) {
	var isDir, quota, u int64
	err = s.cached(s.db).QueryRowContext(s.quiet(ctx), putCheckQuery, parent.id, name, parent.kind, parent.spaceID, s.opts.DefaultQuota).Scan(&isDir, &quota, &u, &epoch)
	if err != nil {
		return false, 0, 0, err
	}
	if room = -1; quota > 0 {
		room = max(quota-u, 0)
	} else {
		s.unlimited.note(quotaSpace{parent.kind, parent.spaceID}, s.now())
	}
	return isDir != 0, room, epoch, nil
}

// upload is one upload's commit: what it stores where, and what the
// commit found.
type upload struct {
	v        *viewer // nil: a file drop
	check    func(querier) (row, *access, error)
	parentID int64
	parent   row // the folder as checked before the content was read
	name     string
	mode     putMode
	ref      blob.Ref
	data     []byte // the content, if kept in the database; else nil
	n        int64
	author   string
	epoch    int64 // the last of files_drops before the content was stored

	// Set by the commit.
	id    int64
	node  Node
	since uint64   // the path cache's epoch the node was read at
	drop  []string // the contents of the versions pruned
}

// commitGrouped commits u through the group commit: concurrent uploads
// share a commit. A new file in one's own folder (ownFolder) commits
// after one check: on PostgreSQL as a piped job ([db.Group.DoPiped]),
// its one statement (putNewPG) going to the server with the other
// uploads' of its group, in one message; on SQLite with commitNewSQLite.
// Anything else, or a check that fails, goes through commitChecked. The
// job may run twice (see [db.Group.DoBare]): it sets u's results afresh.
func (s *Store) commitGrouped(ctx context.Context, u *upload) error {
	space, prefix, own := s.ownFolder(u)
	if !own || !s.pg() {
		return s.group.DoBare(ctx, func(ctx context.Context, tx *sql.Tx) error {
			ctx = s.quiet(ctx)
			u.id, u.node, u.since, u.drop = 0, Node{}, 0, nil
			if own {
				if done, err := s.commitNewSQLite(ctx, tx, u, space, prefix); err != nil || done {
					return err
				}
			}
			return s.commitChecked(ctx, tx, u)
		})
	}
	epoch := u.epoch
	if u.data != nil {
		epoch = -1 // written here, in the same statement
	}
	// The cache's epoch before the statement reads: a change announced
	// after it voids what the upload adds to the path cache.
	now, since := ms(s.now()), s.paths.begin()
	args := []any{u.parentID, MaxDepth + 2, u.parent.kind, u.parent.spaceID, MaxDepth,
		u.name, s.opts.DefaultQuota, u.n, epoch, string(u.ref), u.data, now, u.author}
	return s.group.DoPiped(ctx, putNewPG, args, func(ctx context.Context, tx *sql.Tx, row db.Row) error {
		u.id, u.node, u.since, u.drop = 0, Node{}, 0, nil
		done, err := s.newPGRow(u, row, space, prefix, now, since)
		if err != nil || done {
			return err
		}
		return s.commitChecked(ctx, tx, u)
	})
}

// ownFolder reports whether u can commit as a new file after one check
// (on PostgreSQL putNewPG, a piped job; on SQLite commitNewSQLite): an
// upload by a member, named as sent, into a folder of the member's own
// home or of one of the member's groups, whose space and path prefix it
// returns.
func (s *Store) ownFolder(u *upload) (Space, string, bool) {
	if u.v == nil || u.mode != putReplace {
		return Space{}, "", false
	}
	switch p := u.parent; {
	case p.kind == SpaceHome && p.spaceID == u.v.ID:
		return Space{Kind: SpaceHome, ID: u.v.ID, Name: u.v.Login}, "/Home", true
	case p.kind == SpaceGroup && u.v.groups[p.spaceID] != "":
		name := u.v.groups[p.spaceID]
		return Space{Kind: SpaceGroup, ID: p.spaceID, Name: name}, "/Groups/" + name, true
	}
	return Space{}, "", false
}

// putNewPG commits a new file in one statement on PostgreSQL, where each
// statement is a round trip made while the cluster's write lock holds
// every other writer back: it checks what commitChecked checks, and
// writes only if all hold: the folder ?1 is live, a folder, at most ?5
// deep, in the space (?3, ?4) (the viewer's own, as checked before: its
// rights need no share); no live node is named ?6 in it; the space has
// room for ?8 bytes (roomQuery's; ?7 the default quota); and, for a
// content in the blob store (?9 >= 0), no blob has been dropped since ?9
// was read before the content was stored, nor is being dropped (see
// dropBlobs), so the blob is there without asking the store. It returns
// the new node's id (NULL if nothing was written) and the folder's path
// below its space's root. The folder is touched (its ETag and
// modification time) unless its row is already this transaction's own
// (xmin: an upload before it in the same group touched it), so that a
// group of uploads into one folder updates the folder once, not once
// each: each update was a new row version (and a dead one at the next),
// a WAL record and a call of the row's trigger (pathsTriggersPG), 26-40
// µs of PostgreSQL's 690-770 CPU-µs per 10 KiB upload in groups of four
// (TestUploadGroupTouchesFolderOnce). The ETag still changes with every
// commit that adds to the folder; its time is the group's first
// upload's. A touch made in a savepoint (a group run again, see
// [db.Group.DoBare]) has its subtransaction's xmin, and the next upload
// touches again. Each step up the folder chain is a probe of the
// primary key (LATERAL, with LIMIT 1 so that the planner cannot make it
// a join): as a join, PostgreSQL planned a hash join over all of
// files_nodes at each level whenever its statistics said the table was
// small (TestPutNewPlan).
const putNewPG = `WITH RECURSIVE up AS (
		SELECT n.id, n.parent_id, n.name, n.is_dir, n.deleted_at, n.space_kind, n.space_id, 0 AS depth FROM files_nodes n WHERE n.id = ?1
		UNION ALL
		SELECT n.id, n.parent_id, n.name, n.is_dir, n.deleted_at, n.space_kind, n.space_id, up.depth + 1
		FROM up CROSS JOIN LATERAL (SELECT * FROM files_nodes n WHERE n.id = up.parent_id LIMIT 1) n WHERE up.depth < ?2),
	folder AS (SELECT COALESCE(bool_and(deleted_at IS NULL) AND bool_or(depth = 0 AND is_dir <> 0)
			AND bool_or(parent_id IS NULL AND space_kind = ?3 AND space_id = ?4) AND count(*) <= ?5, false) AS ok,
		COALESCE(string_agg(name, '/' ORDER BY depth DESC) FILTER (WHERE parent_id IS NOT NULL), '') AS path
		FROM up),
	q AS (SELECT COALESCE((SELECT bytes FROM files_quotas WHERE space_kind = ?3 AND space_id = ?4), ?7::bigint) AS bytes),
	room AS (SELECT CASE WHEN q.bytes <= 0 THEN true ELSE ?8::bigint <= GREATEST(q.bytes - COALESCE((SELECT bytes FROM files_usage
			WHERE space_kind = ?3 AND space_id = ?4), 0), 0) END AS ok FROM q),
	kept AS (SELECT ?9::bigint < 0 OR NOT EXISTS (SELECT 1 FROM files_drops WHERE id > ?9::bigint OR done = 0) AS ok),
	ok AS (SELECT folder.ok AND room.ok AND kept.ok
		AND NOT EXISTS (SELECT 1 FROM files_nodes WHERE parent_id = ?1 AND name = ?6 AND deleted_at IS NULL) AS ok
		FROM folder, room, kept),
	inline AS (INSERT INTO files_inline (ref, data) SELECT ?10::text, ?11::bytea FROM ok WHERE ok.ok AND ?11::bytea IS NOT NULL
		ON CONFLICT (ref) DO NOTHING),
	node AS (INSERT INTO files_nodes (space_kind, space_id, parent_id, name, is_dir, created_at, modified_at)
		SELECT ?3, ?4, ?1, ?6, 0, ?12::bigint, ?12::bigint FROM ok WHERE ok.ok RETURNING id),
	touched AS (UPDATE files_nodes SET seq = seq + 1, modified_at = ?12::bigint WHERE id = ?1 AND xmin <> pg_current_xact_id()::xid
		AND EXISTS (SELECT 1 FROM node)),
	version AS (INSERT INTO files_versions (node_id, blob, size, created_at, author)
		SELECT id, ?10::text, ?8::bigint, ?12::bigint, ?13::text FROM node)
	SELECT (SELECT id FROM node), folder.path FROM folder`

// newPGRow reads putNewPG's row (r) for u and reports whether it
// committed u as a new file; if not (the name is taken, the folder or the
// quota changed, a blob was dropped meanwhile), commitChecked does,
// reading what it needs. space and prefix are the folder's space's and
// its viewer's path of the space's root; now is the statement's time and
// since the path cache's epoch before it ran.
func (s *Store) newPGRow(u *upload, r db.Row, space Space, prefix string, now int64, since uint64) (bool, error) {
	var id sql.NullInt64
	var path string
	if err := r.Scan(&id, &path); err != nil || !id.Valid {
		return false, err
	}
	if path != "" {
		prefix += "/" + path
	}
	folder := Node{ID: u.parentID, Name: prefix[strings.LastIndexByte(prefix, '/')+1:], Path: prefix, Dir: true, Space: space, Writable: true}
	u.id, u.since = id.Int64, since
	u.node = childNode(folder, row{id: u.id, parent: u.parentID, kind: u.parent.kind, spaceID: u.parent.spaceID, name: u.name,
		created: now, modified: now, size: u.n, blob: string(u.ref), versions: 1})
	return true, nil
}

// commitContent makes sure, under the write lock, that an upload's
// content is there to name: a blob file may have been dropped meanwhile,
// by this process or another node (dropBlobs), and dropBlobs holds the
// write lock too, so that it cannot go between this look and the commit;
// a small content kept in the database (data; see DefaultInlineBytes) is
// written here.
func (s *Store) commitContent(ctx context.Context, tx *sql.Tx, ref blob.Ref, data []byte) error {
	if data == nil {
		if ok, err := s.blobs.Has(ref); err != nil || !ok {
			return fmt.Errorf("files: content vanished while storing, try again: %v", err)
		}
		return nil
	}
	_, err := s.cached(tx).ExecContext(ctx, `INSERT INTO files_inline (ref, data) VALUES (?, ?) ON CONFLICT (ref) DO NOTHING`, string(ref), data)
	return err
}

// commitChecked commits u in tx, reading the folder, the quota and the
// name again, and the blob store for a content there.
func (s *Store) commitChecked(ctx context.Context, tx *sql.Tx, u *upload) error {
	ref, data, n, parentID, name := u.ref, u.data, u.n, u.parentID, u.name
	if err := s.commitContent(ctx, tx, ref, data); err != nil {
		return err
	}
	parent, pac, err := u.check(tx)
	if err != nil {
		return err
	}
	if room, err := s.room(ctx, tx, parent.kind, parent.spaceID); err != nil {
		return err
	} else if room >= 0 && n > room {
		return quotaError(room)
	}
	now := ms(s.now())
	final := name
	cid, dir, err := s.childID(ctx, tx, parentID, final)
	if err != nil {
		return err
	}
	for i := 2; cid != 0 && u.mode == putUniquify; i++ {
		final = numbered(name, i)
		if cid, dir, err = s.childID(ctx, tx, parentID, final); err != nil {
			return err
		}
	}
	if dir {
		return ErrIsDir
	}
	fresh := cid == 0
	if fresh {
		if err := s.cached(tx).QueryRowContext(ctx, `INSERT INTO files_nodes (space_kind, space_id, parent_id, name, is_dir, created_at, modified_at) VALUES (?, ?, ?, ?, 0, ?, ?) RETURNING id`,
			parent.kind, parent.spaceID, parentID, final, now, now).Scan(&cid); err != nil {
			return err
		}
		if err := s.touchCached(ctx, tx, parentID, now); err != nil {
			return err
		}
	} else if err := s.touchCached(ctx, tx, cid, now); err != nil {
		return err
	}
	u.id = cid
	if _, err := s.cached(tx).ExecContext(ctx, `INSERT INTO files_versions (node_id, blob, size, created_at, author) VALUES (?, ?, ?, ?, ?)`,
		cid, string(ref), n, now, u.author); err != nil {
		return err
	}
	if !fresh { // a new file has one version, within opts.Versions (at least 1): nothing to prune
		if u.drop, err = s.prune(ctx, tx, cid); err != nil {
			return err
		}
	}
	if pac == nil {
		return nil
	}
	// The node as committed, for the answer; no write can commit before
	// this one, whose drops are after since.
	u.since = s.paths.begin()
	if fresh {
		// Known without a read (a round trip inside the group commit):
		// the row just inserted, its one version.
		u.node = fileNode(pac, row{id: cid, parent: parentID, kind: parent.kind, spaceID: parent.spaceID, name: final,
			created: now, modified: now, size: n, blob: string(ref), versions: 1})
		return nil
	}
	r, err := s.getRow(ctx, tx, cid)
	if err == nil {
		u.node = fileNode(pac, r)
	}
	return err
}

// fileNode is the Node of r, a file in the folder of access pac, as
// ac.nodeOf(0) gives it through the file's own access.
func fileNode(pac *access, r row) Node {
	n := childNode(pac.nodeOf(0), r)
	if !pac.own {
		n.Versions = min(n.Versions, 1) // see seesVersion
	}
	return n
}

// storeContent reads r to its end, at most limit bytes (limit <= 0: no
// limit, else [blob.ErrTooLarge] past it), and returns its reference and
// size. A content of at most Options.InlineBytes is returned in data, for
// the caller to write in the transaction that commits its version (see
// [DefaultInlineBytes]); a larger one goes to the blob store, durable
// before storeContent returns, and data is nil. data lives in a buffer
// the store reuses: the caller calls done once it no longer needs data
// (done is never nil).
func (s *Store) storeContent(ctx context.Context, r io.Reader, limit int64) (ref blob.Ref, data []byte, n int64, done func(), err error) {
	done = func() {}
	if s.opts.InlineBytes > 0 {
		// Whether the content is small is known once InlineBytes+1
		// bytes are asked for: in a buffer of the pool, not one made
		// per upload (a third of a 64 KiB upload's allocation, issue 21).
		// The buffer goes back to the pool here unless data is in it.
		bp := s.uploadBuf()
		kept := false
		defer func() {
			if !kept {
				s.uploadBufs.Put(bp)
			}
		}()
		buf := (*bp)[:s.opts.InlineBytes+1]
		m, err := io.ReadFull(r, buf)
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			if limit > 0 && int64(m) > limit {
				return "", nil, 0, done, fmt.Errorf("%w: more than %d bytes", blob.ErrTooLarge, limit)
			}
			if err := ctx.Err(); err != nil {
				return "", nil, 0, done, fmt.Errorf("reading: %w", context.Cause(ctx))
			}
			sum := sha256.Sum256(buf[:m])
			kept = true
			return blob.RefOf(sum[:]), buf[:m:m], int64(m), func() { s.uploadBufs.Put(bp) }, nil
		case err != nil:
			return "", nil, 0, done, fmt.Errorf("reading: %w", err)
		}
		// Larger: the blob store reads what was read again.
		r = io.MultiReader(bytes.NewReader(buf), r)
	}
	if np, ok := s.blobs.(blob.NamedPutter); ok {
		ref, n, err = np.PutNamed(ctx, r, limit, func(ref blob.Ref) (bool, error) { return s.named(ctx, ref) })
	} else {
		ref, n, err = s.blobs.Put(ctx, r, limit)
	}
	return ref, nil, n, done, err
}

// uploadBuf returns a buffer of the store's pool for storeContent, of
// Options.InlineBytes+1 bytes at least.
func (s *Store) uploadBuf() *[]byte {
	if bp, ok := s.uploadBufs.Get().(*[]byte); ok && cap(*bp) > s.opts.InlineBytes {
		return bp
	}
	b := make([]byte, s.opts.InlineBytes+1)
	return &b
}

// named reports whether a version names the content ref: if none does,
// no reader can be reading its blob, and an object store may store it
// without asking first whether it holds it (see [blob.NamedPutter]).
func (s *Store) named(ctx context.Context, ref blob.Ref) (bool, error) {
	var ok bool
	err := s.cached(s.db).QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM files_versions WHERE blob = ?)`, string(ref)).Scan(&ok)
	return ok, err
}

// numbered gives "name (i).ext".
func numbered(name string, i int) string {
	ext := filepath.Ext(name)
	if ext == name {
		ext = ""
	}
	return fmt.Sprintf("%s (%d)%s", strings.TrimSuffix(name, ext), i, ext)
}

// prune deletes the versions of node id beyond the newest opts.Versions
// and returns their blobs.
func (s *Store) prune(ctx context.Context, tx *sql.Tx, id int64) ([]string, error) {
	rows, err := s.cached(tx).QueryContext(ctx, `DELETE FROM files_versions WHERE node_id = ? AND id NOT IN
		(SELECT id FROM files_versions WHERE node_id = ? ORDER BY id DESC LIMIT ?) RETURNING blob`, id, id, s.opts.Versions)
	if err != nil {
		return nil, err
	}
	refs, err := scanStrings(rows)
	if err != nil {
		return nil, err
	}
	return refs, s.dropInline(ctx, tx, refs)
}

// dropInline deletes the contents kept in the database among refs that no
// version refers to any more, in tx, the transaction that deleted their
// versions: a content and its last version go together. A backup needs no
// hold for them: its copy of the database has them.
func (s *Store) dropInline(ctx context.Context, tx *sql.Tx, refs []string) error {
	for _, ref := range refs {
		if _, err := s.cached(tx).ExecContext(ctx, `DELETE FROM files_inline WHERE ref = ?
			AND NOT EXISTS (SELECT 1 FROM files_versions WHERE blob = ?)`, ref, ref); err != nil {
			return err
		}
	}
	return nil
}

func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// dropBlobs deletes those of refs that no version refers to. While a
// backup holds the blobs it deletes none: GC finds them later. It looks
// and deletes in a write transaction: under the database's one write
// lock (on PostgreSQL the whole cluster's), which a commit that refers to
// a blob holds from its own look at the blob (see put) to its end, so
// that no node deletes a blob under another's upload of the same
// content. gcMu orders it with this process's uploads as before.
//
// On PostgreSQL an upload does not look at the blob store (an S3 request
// under the cluster's write lock) when files_drops shows that no deletion
// ran since it read the table's last id, before storing its content (see
// putNewPG). So the deletion is recorded there first, in a transaction of
// its own that commits before anything is deleted, and marked done after
// (with one more row, newer than any id an upload has read before).
func (s *Store) dropBlobs(ctx context.Context, refs []string) {
	if len(refs) == 0 {
		return
	}
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	if s.pg() {
		mark, err := s.dropStarts(ctx)
		if err != nil {
			s.log.Error("dropping blobs", "err", err)
			return // nothing deleted
		}
		defer s.dropEnds(ctx, mark)
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if held, err := db.BlobsHeld(ctx, tx); err != nil || held {
			return err
		}
		for _, ref := range refs {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM files_versions WHERE blob = ?`, ref).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				continue
			}
			if br, err := blob.ParseRef(ref); err == nil {
				if err := s.blobs.Delete(br); err != nil {
					s.log.Error("deleting blob", "ref", ref, "err", err)
				}
			}
		}
		return nil
	})
	if err != nil {
		s.log.Error("dropping blobs", "err", err)
	}
}

// dropStale is how long a deletion of blobs recorded in files_drops may
// stay not done before it is taken as ended (its node died): far longer
// than its requests to the blob store may take.
const dropStale = time.Hour

// dropStarts records in files_drops that a deletion of blobs starts, and
// returns its row's id; deletions recorded more than dropStale ago and
// still not done are marked done.
func (s *Store) dropStarts(ctx context.Context) (int64, error) {
	var mark int64
	now := s.now()
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE files_drops SET done = 1 WHERE done = 0 AND started_at < ?`, ms(now.Add(-dropStale))); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `INSERT INTO files_drops (started_at) VALUES (?) RETURNING id`, ms(now)).Scan(&mark)
	})
	return mark, err
}

// dropEnds marks the deletion mark done, adds a row newer than any id an
// upload read while it ran, and forgets the rows before.
func (s *Store) dropEnds(ctx context.Context, mark int64) {
	ctx = context.WithoutCancel(ctx)
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var last int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO files_drops (started_at, done) VALUES (?, 1) RETURNING id`, ms(s.now())).Scan(&last); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE files_drops SET done = 1 WHERE id = ?`, mark); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM files_drops WHERE done = 1 AND id < ?`, last)
		return err
	})
	if err != nil {
		// The row stays not done: uploads look at the blob store until
		// dropStale has passed.
		s.log.Error("dropping blobs: recording the end", "err", err)
	}
}

// GC deletes the blobs no version refers to that are older than an hour
// (younger ones may belong to an upload about to commit). It returns how
// many it deleted.
func (s *Store) GC(ctx context.Context) (int, error) {
	cutoff := time.Now().Add(-time.Hour)
	var cand []string
	err := s.blobs.Walk(func(ref blob.Ref, info fs.FileInfo) error {
		if info.ModTime().Before(cutoff) {
			cand = append(cand, string(ref))
		}
		return ctx.Err()
	})
	if err != nil {
		return 0, err
	}
	var gone []string
	for _, ref := range cand {
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM files_versions WHERE blob = ?`, ref).Scan(&n); err == nil && n == 0 {
			gone = append(gone, ref)
		}
	}
	s.dropBlobs(ctx, gone)
	return len(gone), nil
}

// Move moves node id into folder parentID under name (a rename when the
// folder stays the same). An existing node of that name is an ErrExists.
//
// Inside one space the node itself moves, with its versions and whatever
// of it is in the trash. Into another space (out of a share or a group
// folder into one's home, say) only what is live moves, as a copy of each
// file's current version; the original goes to the trash of the space it
// was in, with its older versions and its own trashed items, where that
// space's members can restore it (see "Ownership" in the package
// documentation). It returns the node at its new place: a new ID after a
// move into another space.
func (s *Store) Move(ctx context.Context, a Actor, id, parentID int64, name string) (Node, error) {
	v, err := s.viewer(ctx, a)
	if err != nil {
		return Node{}, err
	}
	if name, err = validName(name); err != nil {
		return Node{}, err
	}
	var src, dst *access
	newID := id
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var cid int64
		if src, err = s.writable(ctx, tx, v, id); err != nil {
			return err
		}
		if src.anchor == 0 {
			return fmt.Errorf("%w: a space root or a shared item cannot be moved", ErrForbidden)
		}
		dst, cid, err = s.destination(ctx, tx, v, id, parentID, name)
		if err != nil {
			return err
		} else if cid == id {
			return nil
		} else if cid != 0 {
			return ErrExists
		}
		now := ms(s.now())
		sr, dr := src.chain[len(src.chain)-1], dst.chain[len(dst.chain)-1]
		if sr.kind != dr.kind || sr.spaceID != dr.spaceID {
			newID, err = s.moveAcross(ctx, tx, a, src, dst, parentID, name, now)
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE files_nodes SET parent_id = ?, name = ?, seq = seq + 1 WHERE id = ?`, parentID, name, id); err != nil {
			return err
		}
		if err := touch(ctx, tx, src.node().parent, now); err != nil {
			return err
		}
		return touch(ctx, tx, parentID, now)
	})
	if err != nil {
		return Node{}, err
	}
	n, err := s.nodeFor(ctx, v, newID)
	if err == nil && (newID != id || src.space != ownHome(v) || dst.space != ownHome(v)) {
		s.recordMove(ctx, a, src, n.Path)
	}
	return n, err
}

// ownHome is v's home as an access's space.
func ownHome(v *viewer) Space { return Space{Kind: SpaceHome, ID: v.ID, Name: v.Login} }

// recordMove audits a move or rename: one that involves a group folder,
// someone else's share or two spaces. Moves inside one's own home are the
// member's own work and are not recorded.
func (s *Store) recordMove(ctx context.Context, a Actor, src *access, to string) {
	subject := ""
	if src.space.Kind == SpaceHome && src.space.ID != a.ID {
		subject = src.space.Name
	}
	s.record(ctx, a, "files.move", subject, fmt.Sprintf("from=%s to=%s", src.pathOf(0), to))
}

// moveAcross moves the node of src into folder parentID (dst), in another
// space: a copy of what is live goes there, and the original goes to the
// trash of its own space, deleted by a. It returns the copy's ID.
func (s *Store) moveAcross(ctx context.Context, tx *sql.Tx, a Actor, src, dst *access, parentID int64, name string, now int64) (int64, error) {
	id := src.node().id
	dr := dst.chain[len(dst.chain)-1]
	if err := s.roomFor(ctx, tx, id, dr); err != nil {
		return 0, err
	}
	newID, err := s.copyTree(ctx, tx, id, parentID, name, dr, now, a.Login, len(dst.chain))
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE files_nodes SET deleted_at = ?, deleted_by = ? WHERE id = ?`, now, a.Login, id); err != nil {
		return 0, err
	}
	if err := touch(ctx, tx, src.node().parent, now); err != nil {
		return 0, err
	}
	return newID, touch(ctx, tx, parentID, now)
}

// roomFor checks that the space of root dr has room for a copy of what is
// live of node id (current versions only): for the contents it does not
// hold yet (see used; files_usage_blobs lists those it holds).
func (s *Store) roomFor(ctx context.Context, tx *sql.Tx, id int64, dr row) error {
	var size int64
	if err := tx.QueryRowContext(ctx, subtree+`SELECT COALESCE(SUM(size), 0) FROM (SELECT MAX(v.size) AS size
		FROM files_nodes n JOIN files_versions v ON v.id = (SELECT MAX(id) FROM files_versions WHERE node_id = n.id)
		WHERE n.id IN (SELECT id FROM sub) AND n.deleted_at IS NULL AND NOT EXISTS
			(SELECT 1 FROM files_usage_blobs b WHERE b.space_kind = ? AND b.space_id = ? AND b.blob = v.blob)
		GROUP BY v.blob) AS contents`, id, dr.kind, dr.spaceID).Scan(&size); err != nil {
		return err
	}
	if room, err := s.room(ctx, tx, dr.kind, dr.spaceID); err != nil {
		return err
	} else if room >= 0 && size > room {
		return quotaError(room)
	}
	return nil
}

// subtree is a CTE of node ? and every node below it (trash included).
const subtree = `WITH RECURSIVE sub(id) AS (SELECT CAST(? AS BIGINT) UNION ALL SELECT n.id FROM files_nodes n JOIN sub ON n.parent_id = sub.id) `

// Rename renames node id in its folder.
func (s *Store) Rename(ctx context.Context, a Actor, id int64, name string) (Node, error) {
	n, err := s.Node(ctx, a, id)
	if err != nil {
		return Node{}, err
	}
	if n.ParentID == 0 {
		return Node{}, fmt.Errorf("%w: a space root or a shared item cannot be renamed", ErrForbidden)
	}
	return s.Move(ctx, a, id, n.ParentID, name)
}

// destination checks that node id may go into folder parentID, which v
// may write and which is not inside id itself, and returns the folder and
// the ID of the node already named name there (0: none).
func (s *Store) destination(ctx context.Context, tx *sql.Tx, v *viewer, id, parentID int64, name string) (*access, int64, error) {
	dst, err := s.folder(ctx, tx, v, parentID)
	if err != nil {
		return nil, 0, err
	}
	for _, r := range dst.chain {
		if r.id == id {
			return nil, 0, ErrLoop
		}
	}
	cid, _, err := s.childID(ctx, tx, parentID, name)
	return dst, cid, err
}

// Copy copies node id (a folder with everything in it) into folder parentID
// under name. Copies share contents; a copy into another space counts
// against that space's quota (see used).
func (s *Store) Copy(ctx context.Context, a Actor, id, parentID int64, name string) (Node, error) {
	v, err := s.viewer(ctx, a)
	if err != nil {
		return Node{}, err
	}
	if name, err = validName(name); err != nil {
		return Node{}, err
	}
	var newID int64
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.access(ctx, tx, v, id); err != nil {
			return err
		}
		dst, cid, err := s.destination(ctx, tx, v, id, parentID, name)
		if err != nil {
			return err
		} else if cid != 0 {
			return ErrExists
		}
		dr := dst.chain[len(dst.chain)-1]
		if err := s.roomFor(ctx, tx, id, dr); err != nil {
			return err
		}
		now := ms(s.now())
		newID, err = s.copyTree(ctx, tx, id, parentID, name, dr, now, v.Login, len(dst.chain))
		if err != nil {
			return err
		}
		return touch(ctx, tx, parentID, now)
	})
	if err != nil {
		return Node{}, err
	}
	return s.nodeFor(ctx, v, newID)
}

func (s *Store) copyTree(ctx context.Context, tx *sql.Tx, src, parent int64, name string, space row, now int64, author string, depth int) (int64, error) {
	if depth > MaxDepth {
		return 0, ErrTooDeep
	}
	r, err := s.getRow(ctx, tx, src)
	if err != nil {
		return 0, err
	}
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO files_nodes (space_kind, space_id, parent_id, name, is_dir, created_at, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		space.kind, space.spaceID, parent, name, boolInt(r.dir), now, r.modified).Scan(&id)
	if err != nil {
		return 0, err
	}
	if !r.dir {
		if r.blob != "" {
			_, err = tx.ExecContext(ctx, `INSERT INTO files_versions (node_id, blob, size, created_at, author) VALUES (?, ?, ?, ?, ?)`, id, r.blob, r.size, now, author)
		}
		return id, err
	}
	kids, err := s.childRows(ctx, tx, src)
	if err != nil {
		return 0, err
	}
	for _, k := range kids {
		if _, err := s.copyTree(ctx, tx, k.id, id, k.name, space, now, author, depth+1); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// Delete moves node id (and everything in it) to the trash of its space.
func (s *Store) Delete(ctx context.Context, a Actor, id int64) error {
	v, err := s.viewer(ctx, a)
	if err != nil {
		return err
	}
	var path string
	err = s.tx(ctx, func(tx *sql.Tx) error {
		ac, err := s.writable(ctx, tx, v, id)
		if err != nil {
			return err
		}
		if ac.anchor == 0 {
			return fmt.Errorf("%w: a space root or a shared item cannot be deleted", ErrForbidden)
		}
		path = ac.pathOf(0)
		now := ms(s.now())
		if _, err := tx.ExecContext(ctx, `UPDATE files_nodes SET deleted_at = ?, deleted_by = ? WHERE id = ?`, now, a.Login, id); err != nil {
			return err
		}
		return touch(ctx, tx, ac.node().parent, now)
	})
	if err == nil {
		s.record(ctx, a, "files.delete", "", path)
	}
	return err
}

// Trash lists the deleted items of a's home and groups, newest first.
func (s *Store) Trash(ctx context.Context, a Actor) ([]TrashItem, error) {
	v, err := s.viewer(ctx, a)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+rowCols+`, n.deleted_at, n.deleted_by`+rowFrom+` WHERE n.deleted_at IS NOT NULL ORDER BY n.deleted_at DESC`)
	if err != nil {
		return nil, err
	}
	type item struct {
		r  row
		at int64
		by string
	}
	var items []item
	for rows.Next() {
		var it item
		r := &it.r
		if err := rows.Scan(&r.id, &r.parent, &r.kind, &r.spaceID, &r.name, &r.dir, &r.created, &r.modified, &r.deleted, &r.seq, &r.size, &r.blob, &r.versions, &it.at, &it.by); err != nil {
			rows.Close()
			return nil, err
		}
		if v.ownSpace(r.kind, r.spaceID) {
			items = append(items, it)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]TrashItem, 0, len(items))
	for _, it := range items {
		t := TrashItem{DeletedAt: fromMS(it.at), DeletedBy: it.by, PurgeAt: fromMS(it.at).Add(s.opts.TrashRetention)}
		t.Node = Node{ID: it.r.id, Name: it.r.name, Dir: it.r.dir, Size: it.r.size, ModTime: fromMS(it.r.modified), Created: fromMS(it.r.created), Versions: it.r.versions}
		if pac, err := s.access(ctx, s.db, v, it.r.parent); err == nil {
			t.From = pac.pathOf(0)
			t.Space = pac.space
		} else { // its folder is in the trash too
			t.Space = Space{Kind: it.r.kind, ID: it.r.spaceID, Name: s.spaceName(ctx, it.r.kind, it.r.spaceID)}
		}
		out = append(out, t)
	}
	return out, nil
}

// trashed checks that id is an item in the trash of one of v's spaces.
func (s *Store) trashed(ctx context.Context, q querier, v *viewer, id int64) (row, error) {
	r, err := s.getRow(ctx, q, id)
	if err != nil {
		return r, err
	}
	if !r.deleted || !v.ownSpace(r.kind, r.spaceID) {
		return r, ErrNotFound
	}
	return r, nil
}

// Restore puts a deleted item back where it was (under a new name if the
// old one is taken, and into the space root if its folder is gone).
func (s *Store) Restore(ctx context.Context, a Actor, id int64) (Node, error) {
	v, err := s.viewer(ctx, a)
	if err != nil {
		return Node{}, err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		r, err := s.trashed(ctx, tx, v, id)
		if err != nil {
			return err
		}
		parent := r.parent
		if _, err := s.chain(ctx, tx, parent); err != nil {
			if !errors.Is(err, ErrNotFound) {
				return err
			}
			if err := tx.QueryRowContext(ctx, `SELECT id FROM files_nodes WHERE space_kind = ? AND space_id = ? AND parent_id IS NULL`, r.kind, r.spaceID).Scan(&parent); err != nil {
				return err
			}
		}
		name := r.name
		for i := 2; ; i++ {
			cid, _, err := s.childID(ctx, tx, parent, name)
			if err != nil {
				return err
			}
			if cid == 0 {
				break
			}
			name = numbered(r.name, i)
		}
		now := ms(s.now())
		if _, err := tx.ExecContext(ctx, `UPDATE files_nodes SET deleted_at = NULL, deleted_by = NULL, parent_id = ?, name = ?, seq = seq + 1 WHERE id = ?`, parent, name, id); err != nil {
			return err
		}
		return touch(ctx, tx, parent, now)
	})
	if err != nil {
		return Node{}, err
	}
	n, err := s.nodeFor(ctx, v, id)
	if err == nil {
		s.record(ctx, a, "files.restore", "", n.Path)
	}
	return n, err
}

// Purge deletes a trashed item for good, before its retention ends.
func (s *Store) Purge(ctx context.Context, a Actor, id int64) error {
	v, err := s.viewer(ctx, a)
	if err != nil {
		return err
	}
	var name string
	var drop []string
	err = s.tx(ctx, func(tx *sql.Tx) error {
		r, err := s.trashed(ctx, tx, v, id)
		if err != nil {
			return err
		}
		name = r.name
		drop, err = s.purge(ctx, tx, id)
		return err
	})
	if err != nil {
		return err
	}
	s.dropBlobs(ctx, drop)
	s.record(ctx, a, "files.purge", "", name)
	return nil
}

// purge deletes node id and everything below it, returning their blobs.
func (s *Store) purge(ctx context.Context, tx *sql.Tx, id int64) ([]string, error) {
	rows, err := tx.QueryContext(ctx, subtree+`SELECT DISTINCT blob FROM files_versions WHERE node_id IN (SELECT id FROM sub)`, id)
	if err != nil {
		return nil, err
	}
	refs, err := scanStrings(rows)
	if err != nil {
		return nil, err
	}
	if _, err = tx.ExecContext(ctx, `DELETE FROM files_nodes WHERE id = ?`, id); err != nil { // ON DELETE CASCADE
		return nil, err
	}
	return refs, s.dropInline(ctx, tx, refs)
}

// PurgeExpired deletes for good the trash older than TrashRetention and
// returns how many items it purged.
func (s *Store) PurgeExpired(ctx context.Context) (int, error) {
	cutoff := ms(s.now().Add(-s.opts.TrashRetention))
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM files_nodes WHERE deleted_at IS NOT NULL AND deleted_at < ?`, cutoff)
	if err != nil {
		return 0, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		var drop []string
		err := s.tx(ctx, func(tx *sql.Tx) error {
			var err error
			drop, err = s.purge(ctx, tx, id)
			return err
		})
		if err != nil {
			return n, err
		}
		s.dropBlobs(ctx, drop)
		n++
	}
	if n > 0 {
		s.record(ctx, Actor{}, "files.purge", "", fmt.Sprintf("expired trash items=%d", n))
	}
	return n, nil
}

// Run does the housekeeping every hour until ctx ends: purging trash older
// than TrashRetention and deleting blobs no version refers to.
func (s *Store) Run(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		// An error once ctx has ended is the loop being stopped (the
		// server shutting down), not a failure to report.
		if n, err := s.PurgeExpired(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("files: purging trash", "err", err)
		} else if n > 0 {
			s.log.Info("files: trash purged", "items", n)
		}
		if n, err := s.GC(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("files: blob gc", "err", err)
		} else if n > 0 {
			s.log.Info("files: blob gc", "deleted_blobs", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Versions lists the versions of file id that a may see, newest first:
// every stored one through a's own home or group, those made since the
// share through a read-write share, only the current one through a
// read-only share.
func (s *Store) Versions(ctx context.Context, a Actor, id int64) ([]Version, error) {
	vw, err := s.viewer(ctx, a)
	if err != nil {
		return nil, err
	}
	ac, err := s.access(ctx, s.db, vw, id)
	if err != nil {
		return nil, err
	}
	if ac.node().dir {
		return nil, ErrIsDir
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, size, created_at, author FROM files_versions WHERE node_id = ? ORDER BY id DESC`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Version
	for first := true; rows.Next(); first = false {
		var v Version
		var at int64
		if err := rows.Scan(&v.ID, &v.Size, &at, &v.Author); err != nil {
			return nil, err
		}
		if !ac.seesVersion(at, first) {
			continue
		}
		v.Created, v.Current = fromMS(at), first
		out = append(out, v)
	}
	return out, rows.Err()
}

// version returns version versionID of file id if ac may see it.
func (s *Store) version(ctx context.Context, q querier, ac *access, id, versionID int64) (Version, string, error) {
	var v Version
	var at int64
	var ref string
	err := q.QueryRowContext(ctx, `SELECT id, size, created_at, author, blob, id = (SELECT MAX(id) FROM files_versions WHERE node_id = ?)
		FROM files_versions WHERE node_id = ? AND id = ?`, id, id, versionID).Scan(&v.ID, &v.Size, &at, &v.Author, &ref, &v.Current)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !ac.seesVersion(at, v.Current)) {
		return Version{}, "", ErrNotFound
	}
	v.Created = fromMS(at)
	return v, ref, err
}

// OpenVersion opens one stored version of file id, if a may see it (see
// Versions).
func (s *Store) OpenVersion(ctx context.Context, a Actor, id, versionID int64) (io.ReadSeekCloser, Version, error) {
	vw, err := s.viewer(ctx, a)
	if err != nil {
		return nil, Version{}, err
	}
	ac, err := s.access(ctx, s.db, vw, id)
	if err != nil {
		return nil, Version{}, err
	}
	v, ref, err := s.version(ctx, s.db, ac, id, versionID)
	if err != nil {
		return nil, Version{}, err
	}
	f, err := s.openBlob(ctx, ref, v.Size)
	if err == nil {
		if n, nerr := s.Node(ctx, a, id); nerr == nil {
			s.recordRead(ctx, a, n, 0)
		}
	}
	return f, v, err
}

// RestoreVersion makes an older version the current one (as a new version,
// so the current one stays restorable); only one a may see (see Versions).
func (s *Store) RestoreVersion(ctx context.Context, a Actor, id, versionID int64) (Node, error) {
	vw, err := s.viewer(ctx, a)
	if err != nil {
		return Node{}, err
	}
	var drop []string
	err = s.tx(ctx, func(tx *sql.Tx) error {
		ac, err := s.writable(ctx, tx, vw, id)
		if err != nil {
			return err
		}
		if ac.node().dir {
			return ErrIsDir
		}
		// The space holds the version's content already: no quota check.
		v, ref, err := s.version(ctx, tx, ac, id, versionID)
		if err != nil {
			return err
		}
		now := ms(s.now())
		if _, err := tx.ExecContext(ctx, `INSERT INTO files_versions (node_id, blob, size, created_at, author) VALUES (?, ?, ?, ?, ?)`, id, ref, v.Size, now, a.Login); err != nil {
			return err
		}
		if err := touch(ctx, tx, id, now); err != nil {
			return err
		}
		drop, err = s.prune(ctx, tx, id)
		return err
	})
	if err != nil {
		return Node{}, err
	}
	s.dropBlobs(ctx, drop)
	return s.nodeFor(ctx, vw, id)
}
