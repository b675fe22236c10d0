package store

import "github.com/caucus-org/caucus/internal/db"

// The store's SQL is one text for SQLite and PostgreSQL wherever the two
// take the same; where they do not, the engine's form comes from one of
// these functions (and, for the full-text index, from indexBlob,
// indexLookup and crossJoin in fts.go).

// uidsIn returns the subquery of the UIDs in a JSON array argument
// ([uidJSON]): SQLite's json_each; on PostgreSQL json_array_elements_text,
// each element cast to a bigint as the uid columns are.
func uidsIn(e db.Engine) string {
	if e == db.Postgres {
		return `SELECT value::bigint FROM json_array_elements_text(CAST(? AS json))`
	}
	return `SELECT value FROM json_each(?)`
}

// storeFlagsQueryPG is storeFlagsQuery on PostgreSQL: the same statement,
// the array's elements read with json_array_elements and cast.
const storeFlagsQueryPG = `WITH u(uid, flags, keywords) AS MATERIALIZED (SELECT (value->>0)::bigint, (value->>1)::bigint, value->>2 FROM json_array_elements(CAST(? AS json)))
	UPDATE messages SET flags = u.flags, keywords = u.keywords, modseq = ? FROM u WHERE messages.mailbox_id = ? AND messages.uid = u.uid`

// flagsQuery returns storeFlagsQuery for engine e.
func flagsQuery(e db.Engine) string {
	if e == db.Postgres {
		return storeFlagsQueryPG
	}
	return storeFlagsQuery
}

// envelopeMessageID is the expression of the Message-ID stored in a blob's
// envelope JSON (the "m" member, see parse.go): json_extract on SQLite,
// the ->> operator on PostgreSQL (the column is TEXT on both).
func envelopeMessageID(e db.Engine) string {
	if e == db.Postgres {
		return `CAST(b.envelope AS json)->>'m'`
	}
	return `json_extract(b.envelope, '$.m')`
}

// keywordMatch is the condition that the messages row m has the keyword
// in the argument (" kw ", lower case) among its keywords (" kw1 kw2 "):
// SQLite's instr, PostgreSQL's strpos.
func keywordMatch(e db.Engine) string {
	if e == db.Postgres {
		return "strpos(lower(m.keywords), ?) > 0"
	}
	return "instr(lower(m.keywords), ?) > 0"
}

// boolInt is b as the integer an INTEGER (BIGINT) column holds: SQLite's
// driver stores a Go bool so, pgx encodes none into a bigint.
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
