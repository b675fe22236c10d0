package files

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// ErrGroupDeleted ends the reading of a group's file when the group is
// deleted.
var ErrGroupDeleted = errors.New("files: the group was deleted")

// GroupHandover says what HandOverGroup did.
type GroupHandover struct {
	Folder        string // path in the recipient's home, e.g. "/Home/board"; "" if the folder was empty
	Files         int
	Folders       int
	Bytes         int64
	SharesRevoked int // shares of items in the folder, and shares with the group
	LinksRevoked  int // public links to items in the folder
}

// HandOverGroup empties the folder of group groupID (named name) into
// to's home, under a folder named after the group, when a group is
// deleted: nothing a group owned is lost, and nothing stays keyed by the
// group's id. The shares of what was in the folder, the shares with the
// group and the public links to what was in the folder are revoked (they
// were the group's to give, not the recipient's), and transfers through
// those links under way are cut. It may run again: a second pass moves
// only what arrived meanwhile, and nothing if nothing did. actor is the
// admin's login.
func (s *Store) HandOverGroup(ctx context.Context, actor string, groupID int64, name string, to int64) (GroupHandover, error) {
	ta, err := s.auth.Account(ctx, to)
	if err != nil {
		return GroupHandover{}, fmt.Errorf("files: hand over group %s to %d: %w", name, to, err)
	}
	toRoot, err := s.ensureRoot(ctx, SpaceHome, to)
	if err != nil {
		return GroupHandover{}, err
	}
	base, err := validName(name)
	if err != nil {
		base = fmt.Sprintf("Group %d", groupID)
	}
	var rep GroupHandover
	var links []int64
	err = s.tx(ctx, func(tx *sql.Tx) error {
		rep, links = GroupHandover{}, nil
		var root int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM files_nodes WHERE space_kind = 'group' AND space_id = ? AND parent_id IS NULL`, groupID).Scan(&root)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if root != 0 {
			if links, err = s.revokeSubtree(ctx, tx, root, &rep); err != nil {
				return err
			}
			if err := s.moveSpace(ctx, tx, root, groupID, to, toRoot, base, &rep); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM files_shares WHERE grantee_kind = 'group' AND grantee_id = ?`, groupID)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		rep.SharesRevoked += int(n)
		_, err = tx.ExecContext(ctx, `DELETE FROM files_quotas WHERE space_kind = 'group' AND space_id = ?`, groupID)
		return err
	})
	if err != nil {
		return GroupHandover{}, fmt.Errorf("files: hand over group %s: %w", name, err)
	}
	s.cutGroupReaders(groupID)
	if len(links) > 0 {
		revoked := make(map[int64]bool, len(links))
		for _, id := range links {
			revoked[id] = true
		}
		s.endTransfers(ErrRevoked, func(w *linkWatch) bool { return revoked[w.link] })
	}
	if rep != (GroupHandover{}) {
		s.record(ctx, Actor{Login: actor}, "files.group_handover", name, fmt.Sprintf("to=%s folder=%q files=%d folders=%d bytes=%d shares_revoked=%d links_revoked=%d",
			ta.Login, rep.Folder, rep.Files, rep.Folders, rep.Bytes, rep.SharesRevoked, rep.LinksRevoked))
	}
	return rep, nil
}

// revokeSubtree deletes the shares of the items under root (root included)
// and revokes their live links, returning the links' ids.
func (s *Store) revokeSubtree(ctx context.Context, tx *sql.Tx, root int64, rep *GroupHandover) ([]int64, error) {
	res, err := tx.ExecContext(ctx, subtree+`DELETE FROM files_shares WHERE node_id IN (SELECT id FROM sub)`, root)
	if err != nil {
		return nil, err
	}
	n, _ := res.RowsAffected()
	rep.SharesRevoked += int(n)
	rows, err := tx.QueryContext(ctx, subtree+`UPDATE files_links SET revoked_at = ? WHERE node_id IN (SELECT id FROM sub) AND revoked_at IS NULL RETURNING id`, root, ms(s.now()))
	if err != nil {
		return nil, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	rep.LinksRevoked = len(ids)
	return ids, nil
}

// moveSpace moves everything under the group's root into a new folder of
// to's home named base (numbered if taken), and deletes the root. An empty
// folder makes no new folder.
func (s *Store) moveSpace(ctx context.Context, tx *sql.Tx, root, groupID, to, toRoot int64, base string, rep *GroupHandover) error {
	if err := tx.QueryRowContext(ctx, subtree+`SELECT COUNT(*) FILTER (WHERE is_dir = 1 AND id != ?), COUNT(*) FILTER (WHERE is_dir = 0),
		COALESCE((SELECT SUM(size) FROM files_versions WHERE node_id IN (SELECT id FROM sub)), 0) FROM files_nodes WHERE id IN (SELECT id FROM sub)`,
		root, root).Scan(&rep.Folders, &rep.Files, &rep.Bytes); err != nil {
		return err
	}
	if rep.Folders > 0 || rep.Files > 0 {
		name := base
		for i := 2; ; i++ {
			cid, _, err := s.childID(ctx, tx, toRoot, name)
			if err != nil {
				return err
			}
			if cid == 0 {
				break
			}
			name = numbered(base, i)
		}
		rep.Folder = "/Home/" + name
		now := ms(s.now())
		var folder int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO files_nodes (space_kind, space_id, parent_id, name, is_dir, created_at, modified_at) VALUES ('home', ?, ?, ?, 1, ?, ?) RETURNING id`,
			to, toRoot, name, now, now).Scan(&folder); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE files_nodes SET space_kind = 'home', space_id = ? WHERE space_kind = 'group' AND space_id = ? AND parent_id IS NOT NULL`, to, groupID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE files_nodes SET parent_id = ? WHERE parent_id = ?`, folder, root); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM files_nodes WHERE id = ?`, root)
	return err
}

// groupReader is the open content of a file in a group's folder. Access
// to a group's folder is checked on every request, but a download under
// way (a large file over WebDAV) outlives its check: the group's deletion
// cuts it at its next read.
type groupReader struct {
	io.ReadSeekCloser
	s     *Store
	group int64
	cut   atomic.Bool
}

func (r *groupReader) Read(p []byte) (int, error) {
	if r.cut.Load() {
		return 0, ErrGroupDeleted
	}
	return r.ReadSeekCloser.Read(p)
}

func (r *groupReader) Close() error {
	r.s.readMu.Lock()
	delete(r.s.reading, r)
	r.s.readMu.Unlock()
	return r.ReadSeekCloser.Close()
}

// watchGroup returns rc, the content of n, as a groupReader when n is in a
// group's folder; rc itself otherwise (or when nil).
func (s *Store) watchGroup(rc io.ReadSeekCloser, n Node) io.ReadSeekCloser {
	if rc == nil || n.Space.Kind != SpaceGroup {
		return rc
	}
	r := &groupReader{ReadSeekCloser: rc, s: s, group: n.Space.ID}
	s.readMu.Lock()
	s.reading[r] = struct{}{}
	s.readMu.Unlock()
	return r
}

// cutGroupReaders ends the reading of every open file of group id.
func (s *Store) cutGroupReaders(id int64) {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	for r := range s.reading {
		if r.group == id {
			r.cut.Store(true)
		}
	}
}
