package files

import (
	"context"

	"github.com/caucus-org/caucus/internal/db"
)

// PathCacheLen returns the number of entries of s's path cache, or with
// account != 0 of that member's.
func PathCacheLen(s *Store, account int64) int {
	if account == 0 {
		return s.paths.len()
	}
	s.paths.mu.Lock()
	defer s.paths.mu.Unlock()
	return len(s.paths.members[account])
}

// HoldLookup makes the next path lookup of s that reads the database call
// fn once it has read, before it puts its answer in the cache.
func HoldLookup(s *Store, fn func()) { s.holdLookup.Store(&fn) }

// PutReadsGroups reports whether an upload of a into folder parentID
// reads a's groups (see putViewer).
func PutReadsGroups(s *Store, a Actor, parentID int64) (bool, error) {
	v, _, err := s.putViewer(context.Background(), a, parentID)
	if err != nil {
		return false, err
	}
	return v.groups != nil, nil
}

// HearPaths makes c call fn with each notification it has applied.
func HearPaths(c *ClusterPaths, fn func(payload string)) { c.heard = fn }

// DB returns s's database handle.
func DB(s *Store) *db.DB { return s.db }

// LookupStatements returns the statements a lookup or an upload runs on
// s's engine, by name, each with its arguments: the chain up from node,
// the node's row, folder's children, and the walk down the names of
// kind's space space (with and without content).
func LookupStatements(s *Store, kind SpaceKind, space, folder, node int64, names string) map[string][]any {
	return map[string][]any{
		"chain":        {s.chainSQL(), node, MaxDepth + 2},
		"row":          {s.getRowSQL(), node},
		"children":     {s.childRowsSQL(), folder},
		"walk":         {s.walkSQL(false), kind, space, names},
		"walk+content": {s.walkSQL(true), kind, space, names, s.opts.InlineBytes},
	}
}

// DropBlobs deletes those of refs no version refers to, as the store
// does after pruning versions or a failed upload.
func DropBlobs(s *Store, refs ...string) { s.dropBlobs(context.Background(), refs) }

// HoldGroup holds the turn of s's group commit (see db.Group.Hold) and
// returns how to release it and how many jobs wait for it.
func HoldGroup(s *Store) (release func(), queued func() int, err error) {
	release, err = s.group.Hold(context.Background())
	return release, s.group.Queued, err
}

// PutNewStatement returns putNewPG, the statement that commits a new
// file on PostgreSQL, and its arguments for new.txt into folder of space
// (kind, space), as LookupStatements does.
func PutNewStatement(s *Store, kind SpaceKind, space, folder int64) []any {
	return PutNewFile(s, kind, space, folder, "new.txt", "sha256-x", []byte("hello"), 1, "author")
}

// PutNewFile returns putNewPG and its arguments for a new file name
// into folder of space (kind, space), as the store commits an upload:
// content data (ref its reference), kept in the database, made at now
// (Unix milliseconds) by author.
func PutNewFile(s *Store, kind SpaceKind, space, folder int64, name, ref string, data []byte, now int64, author string) []any {
	return []any{putNewPG, folder, MaxDepth + 2, kind, space, MaxDepth, name, s.opts.DefaultQuota, int64(len(data)), int64(-1),
		ref, data, now, author}
}
