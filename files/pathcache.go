package files

import (
	"strings"
	"sync"
)

// The path cache remembers, per member, the node a path in the member's own
// home or in one of their group folders leads to, so that the requests a
// WebDAV client sends for one file (PROPFIND, GET, HEAD, the PUT that made
// it) look its path up once, not once each: the lookup was the largest part
// of a small GET (issue 21). Paths under /Shared are never cached (they
// depend on shares and on their owners' accounts); a /Groups path is looked
// up in the cache under the group's id, which comes from the member's
// groups as read at every request, so leaving a group or its renaming
// needs nothing of the cache.
//
// What the cache holds is kept true by the store's writes (this process's:
// every write of the store goes through it):
//
//   - every write transaction except an upload's ([Store.tx]: a move, a
//     rename, a deletion, a restore, a purge, a folder made, a copy, a
//     version restored, a group's folder handed over, an account's files
//     transferred) and every share or unshare empties the cache once
//     committed;
//   - an upload (and an imported file) drops only the nodes it changed, the
//     file and its folder, whose ETags changed: the cached paths of the
//     other files in that folder stay true. An upload keeps its folder's
//     entries, marked stale (see cacheEntry), for the next upload into it.
//
// A lookup that read the database before such a write committed must not
// put its answer in the cache after the write dropped what it changed: a
// lookup notes the cache's epoch before it reads, and its answer is kept
// only if nothing was emptied since then and its node was not dropped
// since (the last recentDrops drops are remembered; a lookup older than
// that keeps nothing). A node only marked stale since (an upload into
// the folder) is kept marked stale: what the lookup read of it, but its
// ETag and time, is still true, and the uploads into a folder, eight in
// flight, nearly always overlap another's commit into it.
//
// Several nodes sharing one PostgreSQL database learn of each other's
// writes from the database itself ([Store.SharePaths], clusterpaths.go):
// triggers on the tables a cached node is read from send, in the writing
// transaction, the ids whose rows changed or "*" for a change of paths,
// and each node drops or empties as for its own writes. While a node's
// listener is not connected its cache is down: empty, and neither read
// nor filled.
type pathCache struct {
	max, perMember int

	mu      sync.Mutex
	down    bool                             // not trusted: see suspend
	members map[int64]map[pathKey]cacheEntry // account → its cached paths
	n       int                              // entries in members
	byNode  map[int64][]cacheRef             // node id → the entries that lead to it
	epoch   uint64                           // raised by every drop and every emptying
	emptied uint64                           // epoch of the last emptying
	recent  [recentDrops]droppedNode         // the last drops, by epoch modulo recentDrops
}

// cacheEntry is one entry: the node a path leads to. An upload into a folder
// marks the folder's entries stale (its ETag and modification time
// changed) rather than dropping them: a lookup for another upload into it
// (Store.Folder) still finds its id, space and rights there, which
// uploads do not change, where every other lookup reads it again.
type cacheEntry struct {
	n     Node
	stale bool
}

// pathKey is a path as one member reaches it: in the space (kind, id), by
// its full path ("/Home/a/b", "/Groups/board/a").
type pathKey struct {
	kind  SpaceKind
	space int64
	path  string
}

// cacheRef names one entry of the cache.
type cacheRef struct {
	account int64
	key     pathKey
}

// droppedNode is a node whose entries were dropped at epoch, or with
// stale only marked stale.
type droppedNode struct {
	epoch uint64
	id    int64
	stale bool
}

// recentDrops is how many drops a lookup in progress is checked against.
const recentDrops = 256

// DefaultPathCache is the most entries the path cache holds by default
// (Options.PathCache): a few hundred bytes each, some 10 MiB in all.
const DefaultPathCache = 1 << 15

// newPathCache returns a cache of at most max entries, at most half of
// them a single member's; nil (no cache) if max is negative.
func newPathCache(size int) *pathCache {
	if size < 0 {
		return nil
	}
	if size == 0 {
		size = DefaultPathCache
	}
	return &pathCache{max: size, perMember: max(size/2, 1), members: map[int64]map[pathKey]cacheEntry{}, byNode: map[int64][]cacheRef{}}
}

// begin returns the epoch to pass to add for a lookup about to read the
// database.
func (c *pathCache) begin() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// get returns the node account's path key leads to, if cached; with
// stale, also an entry an upload marked stale (see cacheEntry).
func (c *pathCache) get(account int64, key pathKey, stale bool) (Node, bool) {
	if c == nil {
		return Node{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return Node{}, false
	}
	e, ok := c.members[account][key]
	return e.n, ok && (stale || !e.stale)
}

// add caches n as what account's path key leads to, read by a lookup that
// began at epoch since (see begin), unless the cache changed meanwhile in
// a way that may make n untrue.
func (c *pathCache) add(account int64, key pathKey, n Node, since uint64) {
	if c == nil || n.ID == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return
	}
	if changed, stale := c.changedSince(since, c.epoch, n.ID); !changed {
		c.insert(account, key, n, stale)
	}
}

// replace is drop of ids and a marking stale of folders (see cacheEntry),
// a write's own changes, and then add of n, which that write read in its
// transaction, after epoch since: the write's own drops do not keep n
// out of the cache, others' do.
func (c *pathCache) replace(ids, folders []int64, account int64, key pathKey, n Node, since uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	before := c.epoch
	c.dropLocked(ids)
	c.staleLocked(folders)
	if n.ID == 0 || c.down {
		return
	}
	if changed, stale := c.changedSince(since, before, n.ID); !changed {
		c.insert(account, key, n, stale)
	}
}

// changedSince reports whether node id may have changed between epochs
// since and upto: the cache was emptied, id was dropped, or too many
// drops were made to tell; if not, stale reports whether id was marked
// stale meanwhile (see cacheEntry), so that what was read of it before
// is kept only as a stale entry.
func (c *pathCache) changedSince(since, upto uint64, id int64) (changed, stale bool) {
	if c.emptied > since || upto-since >= recentDrops {
		return true, false
	}
	for e := since + 1; e <= upto; e++ {
		if d := c.recent[e%recentDrops]; d.epoch == e && d.id == id {
			if !d.stale {
				return true, false
			}
			stale = true
		}
	}
	return false, stale
}

// insert caches n under account's key, making room if needed; stale
// marks it stale (see cacheEntry).
func (c *pathCache) insert(account int64, key pathKey, n Node, stale bool) {
	m := c.members[account]
	if m == nil {
		m = map[pathKey]cacheEntry{}
		c.members[account] = m
	}
	if old, ok := m[key]; ok {
		if stale && !old.stale && old.n.ID == n.ID {
			// The entry there was read after the node's last marking
			// (see changedSince): it is the fresher.
			return
		}
		c.unlink(old.n.ID, cacheRef{account, key})
		c.n--
	} else if len(m) >= c.perMember {
		c.evict(account, m)
	} else if c.n >= c.max {
		for a, om := range c.members { // a member at random
			c.evict(a, om)
			break
		}
	}
	m[key] = cacheEntry{n: n, stale: stale}
	c.n++
	c.byNode[n.ID] = append(c.byNode[n.ID], cacheRef{account, key})
}

// evict removes an entry of account's, m, at random.
func (c *pathCache) evict(account int64, m map[pathKey]cacheEntry) {
	for k, e := range m {
		delete(m, k)
		c.n--
		c.unlink(e.n.ID, cacheRef{account, k})
		break
	}
	if len(m) == 0 {
		delete(c.members, account)
	}
}

// unlink removes r from the entries of node id.
func (c *pathCache) unlink(id int64, r cacheRef) {
	refs := c.byNode[id]
	for i, o := range refs {
		if o == r {
			refs[i] = refs[len(refs)-1]
			refs = refs[:len(refs)-1]
			break
		}
	}
	if len(refs) == 0 {
		delete(c.byNode, id)
	} else {
		c.byNode[id] = refs
	}
}

// drop removes the entries that lead to the nodes ids, whose own rows a
// committed write changed (a new version, a new ETag).
func (c *pathCache) drop(ids ...int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(ids)
}

// dropLocked is drop with c.mu held.
func (c *pathCache) dropLocked(ids []int64) {
	for _, id := range ids {
		c.epoch++
		c.recent[c.epoch%recentDrops] = droppedNode{epoch: c.epoch, id: id}
		for _, r := range c.byNode[id] {
			m := c.members[r.account]
			delete(m, r.key)
			c.n--
			if len(m) == 0 {
				delete(c.members, r.account)
			}
		}
		delete(c.byNode, id)
	}
}

// staleLocked marks the entries that lead to the folders ids stale (see
// cacheEntry), with c.mu held. What a lookup begun before it read of
// those folders goes into the cache marked stale too (see changedSince).
func (c *pathCache) staleLocked(ids []int64) {
	for _, id := range ids {
		c.epoch++
		c.recent[c.epoch%recentDrops] = droppedNode{epoch: c.epoch, id: id, stale: true}
		for _, r := range c.byNode[id] {
			m := c.members[r.account]
			e := m[r.key]
			e.stale = true
			m[r.key] = e
		}
	}
}

// empty removes every entry, after a committed write that may have
// changed what any path leads to.
func (c *pathCache) empty() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.emptyLocked()
}

// emptyLocked is empty with c.mu held.
func (c *pathCache) emptyLocked() {
	c.epoch++
	c.emptied = c.epoch
	clear(c.members)
	clear(c.byNode)
	c.n = 0
}

// suspend empties the cache and keeps it down (neither read nor filled)
// until resume: the writes of other nodes can no longer be heard.
func (c *pathCache) suspend() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = true
	c.emptyLocked()
}

// resume empties the cache and serves from it again: the writes of other
// nodes are heard from now on. A lookup begun before keeps nothing (it
// may have read what a write unheard of changed).
func (c *pathCache) resume() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = false
	c.emptyLocked()
}

// len returns the number of entries, for tests.
func (c *pathCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// spaceKey is the key of names below the root of the space (kind, id)
// that v reaches as its own.
func spaceKey(v *viewer, kind SpaceKind, id int64, names []string) pathKey {
	p := "/Home"
	if kind == SpaceGroup {
		p = "/Groups/" + v.groups[id]
	}
	if len(names) > 0 {
		p += "/" + strings.Join(names, "/")
	}
	return pathKey{kind: kind, space: id, path: p}
}
