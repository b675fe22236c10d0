package db

// HearMemo sets m's test hook (see Memo.heard); call it before m runs.
func HearMemo(m *Memo, f func(payload string)) { m.heard = f }

// OnCommitting makes g call fn in each group commit on PostgreSQL just
// before its COMMIT is sent (once the turn is handed on).
func OnCommitting(g *Group, fn func()) { g.committing = fn }
