package files

import "github.com/caucus-org/caucus/internal/db"

// The few statements whose text differs between SQLite and PostgreSQL;
// everything else is in the subset both take.

// On PostgreSQL, the recursive statements (a path walked down, a chain
// walked up) carry each node's row in the recursion itself, where every
// step is a probe of an index, and read each node's current version by a
// LATERAL probe of files_versions_node. PostgreSQL estimates any
// recursive CTE at about 31 rows however few it yields, so the SQLite
// form, which joins the CTE's ids with files_nodes and the versions by
// MAX(id), was planned as hash joins over whole tables: every upload's
// chain and every lookup of a new name read every node and every version
// of the database (3.8 ms with 3,500 files, growing with each upload; the
// PUT benchmark's throughput fell as it ran). TestPlansUseIndexes checks
// the plans.
const (
	// walkDownPG is walkDown on PostgreSQL: the path's names are a jsonb
	// array read by position (SQLite's json_extract has no PostgreSQL
	// namesake).
	walkDownPG = `WITH RECURSIVE down AS (
		SELECT n.*, 0 AS depth FROM files_nodes n WHERE n.space_kind = ?1 AND n.space_id = ?2 AND n.parent_id IS NULL
		UNION ALL
		SELECT n.*, down.depth + 1 FROM down JOIN files_nodes n
			ON n.parent_id = down.id AND n.name = (?3::jsonb ->> down.depth) AND n.deleted_at IS NULL)
	`
	walkFromPG = ` FROM down n` + currentVersionPG + ` ORDER BY n.depth DESC`

	// currentVersionPG joins each node n with its current version v.
	currentVersionPG = ` LEFT JOIN LATERAL (SELECT size, blob FROM files_versions WHERE node_id = n.id ORDER BY id DESC LIMIT 1) v ON true`

	// rowFromPG is rowFrom on PostgreSQL.
	rowFromPG = ` FROM files_nodes n` + currentVersionPG

	// chainQueryPG is chainQuery on PostgreSQL.
	chainQueryPG = `WITH RECURSIVE up AS (
		SELECT n.*, 0 AS depth FROM files_nodes n WHERE n.id = ?
		UNION ALL
		SELECT n.*, up.depth + 1 FROM up JOIN files_nodes n ON n.id = up.parent_id WHERE up.depth < ?)
	SELECT ` + rowCols + ` FROM up n` + currentVersionPG + ` ORDER BY n.depth`
)

// pg reports whether the store runs on PostgreSQL.
func (s *Store) pg() bool { return s.db.Engine() == db.Postgres }

// walkSQL returns walkQuery, or with content walkContentQuery, for the
// store's engine.
func (s *Store) walkSQL(content bool) string {
	switch pg := s.pg(); {
	case content && pg:
		return walkDownPG + walkContent + walkFromPG
	case content:
		return walkContentQuery
	case pg:
		return walkDownPG + `SELECT ` + rowCols + walkFromPG
	}
	return walkQuery
}

// chainSQL returns chainQuery for the store's engine.
func (s *Store) chainSQL() string {
	if s.pg() {
		return chainQueryPG
	}
	return chainQuery
}

// getRowSQL returns getRowQuery for the store's engine.
func (s *Store) getRowSQL() string {
	if s.pg() {
		return `SELECT ` + rowCols + rowFromPG + ` WHERE n.id = ?`
	}
	return getRowQuery
}

// childRowsSQL returns the query of childRows for the store's engine.
func (s *Store) childRowsSQL() string {
	if s.pg() {
		return `SELECT ` + rowCols + rowFromPG + ` WHERE n.parent_id = ? AND n.deleted_at IS NULL`
	}
	return `SELECT ` + rowCols + rowFrom + ` WHERE n.parent_id = +? AND n.deleted_at IS NULL` // +?: see getRowQuery
}

// boolInt is b as the 1 or 0 an INTEGER flag column holds (SQLite's
// driver stores a Go bool so; PostgreSQL's takes no bool into a BIGINT).
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
