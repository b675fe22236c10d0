package files

// RoomStatements returns, by name, the statements an upload into folder
// of space (kind, space) runs that read the space's quota and usage on
// s's engine, each with its arguments for an upload of 5 bytes: the room
// (roomQuery), the check before the body (putCheckQuery) and the commit
// of a new file (putNewPG, or putNewCheckSQLite on SQLite).
func RoomStatements(s *Store, kind SpaceKind, space, folder int64) map[string][]any {
	commit := []any{putNewCheckSQLite, folder, MaxDepth + 2, kind, space, MaxDepth, "new.txt", s.opts.DefaultQuota, int64(5)}
	if s.pg() {
		commit = PutNewStatement(s, kind, space, folder)
	}
	return map[string][]any{
		"room":   {roomQuery, kind, space, s.opts.DefaultQuota, kind, space},
		"check":  {putCheckQuery, folder, "new.txt", kind, space, s.opts.DefaultQuota},
		"commit": commit,
	}
}
