package db

// HearMemo sets m's test hook (see Memo.heard); call it before m runs.
func HearMemo(m *Memo, f func(payload string)) { m.heard = f }
