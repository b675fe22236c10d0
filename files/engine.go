package files

import "github.com/caucus-org/caucus/internal/db"

// The few statements whose text differs between SQLite and PostgreSQL;
// everything else is in the subset both take.

// walkDownPG is walkDown on PostgreSQL: the path's names are a jsonb array
// read by position (SQLite's json_extract has no PostgreSQL namesake).
const walkDownPG = `WITH RECURSIVE down(id, depth) AS (
		SELECT id, 0 FROM files_nodes WHERE space_kind = ?1 AND space_id = ?2 AND parent_id IS NULL
		UNION ALL
		SELECT n.id, down.depth + 1 FROM down JOIN files_nodes n
			ON n.parent_id = down.id AND n.name = (?3::jsonb ->> down.depth) AND n.deleted_at IS NULL)
	`

// walkSQL returns walkQuery, or with content walkContentQuery, for the
// store's engine.
func (s *Store) walkSQL(content bool) string {
	pg := s.db.Engine() == db.Postgres
	switch {
	case content && pg:
		return walkDownPG + walkContent + walkFrom
	case content:
		return walkContentQuery
	case pg:
		return walkDownPG + `SELECT ` + rowCols + walkFrom
	}
	return walkQuery
}

// boolInt is b as the 1 or 0 an INTEGER flag column holds (SQLite's
// driver stores a Go bool so; PostgreSQL's takes no bool into a BIGINT).
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
