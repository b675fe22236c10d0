package files

import (
	"sync"
	"time"
)

// unlimitedFor is how long a space that an upload's check found without
// a quota is taken to have none (see unlimitedSpaces).
const unlimitedFor = 10 * time.Second

// maxUnlimited bounds the spaces an unlimitedSpaces remembers; past it,
// it starts afresh.
const maxUnlimited = 4096

// quotaSpace names a space whose quota unlimitedSpaces remembers.
type quotaSpace struct {
	kind SpaceKind
	id   int64
}

// unlimitedSpaces remembers the spaces that the check before an
// upload's content (putCheck) recently found without a quota,
// so that a small upload of announced size into one can skip that check
// (see skipCheck). A quota set on this node forgets its space at once;
// one set on another node is seen here within unlimitedFor, and meanwhile
// an upload the quota refuses is refused after its body (at most
// Options.InlineBytes) rather than before: the quota itself is checked in
// the commit, under the write lock, either way.
type unlimitedSpaces struct {
	mu sync.Mutex
	at map[quotaSpace]time.Time // when the check found no quota
}

// known reports whether k was found without a quota since unlimitedFor
// before now.
func (u *unlimitedSpaces) known(k quotaSpace, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	at, ok := u.at[k]
	return ok && now.Sub(at) < unlimitedFor && !now.Before(at)
}

// note records that k had no quota at now.
func (u *unlimitedSpaces) note(k quotaSpace, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.at == nil || len(u.at) >= maxUnlimited {
		u.at = map[quotaSpace]time.Time{}
	}
	u.at[k] = now
}

// forget drops k (its quota changed).
func (u *unlimitedSpaces) forget(k quotaSpace) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.at, k)
}

// skipCheck reports whether an upload of size bytes into folder parent
// can do without putCheck, a statement before the body is read (on
// PostgreSQL a round trip; on SQLite a read transaction on a connection
// of the pool, which in a burst of uploads begins with its cache dropped
// and the file unmapped, as another connection has committed since: 55
// µs of CPU of a 10 KiB upload's ~500): its content will be kept in the
// database (so no files_drops mark is needed; see putNewPG), its size is
// announced and allowed, and its space was recently found without a
// quota, so that no early refusal is lost but a quota set on another
// node within unlimitedFor, or a folder of that name (ErrIsDir), each
// then answered after a body of at most Options.InlineBytes. The commit
// checks all of it under the write lock (commitNewSQLite, putNewPG).
func (s *Store) skipCheck(parent row, size int64) bool {
	return s.opts.InlineBytes > 0 && size >= 0 && size <= int64(s.opts.InlineBytes) &&
		(s.opts.MaxFileSize <= 0 || size <= s.opts.MaxFileSize) &&
		s.unlimited.known(quotaSpace{parent.kind, parent.spaceID}, s.now())
}
