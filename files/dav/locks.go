package dav

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/webdav"
)

// Lock limits.
const (
	MaxLocks       = 1000           // per account
	MaxLockTimeout = 24 * time.Hour // longest lock lifetime; "Infinite" gets this
)

// lockSystem holds the WebDAV write locks of every account, exclusive and
// shared (RFC 4918 sections 6 and 7), in memory. A lock is on a resource,
// not on one of its URLs (section 6): the members of a share or a group
// reach one file by different paths, so locks are kept by the store's key
// of the resource (files.Store.Key), and a lock held by one member stops
// every other. A lock token is its creator's: another account cannot
// submit it, refresh it or remove it (section 6.4). x/net/webdav's own
// LockSystem (NewMemLS) and its LOCK handler know only exclusive locks
// and paths; each request sees this through a memberLocks, and a shared
// LOCK is made by Handler.sharedLock.
type lockSystem struct {
	mu      sync.Mutex
	byToken map[string]*lock
	held    int // locks made by LOCK, not x/net/webdav's per-request ones

	// changed, if set, is told (under mu) of every lock LOCK made on this
	// node, and of every lock refreshed or removed here, for the other
	// nodes (clusterlocks.go).
	changed func(op string, token string, l *lock)
	// unlocked remembers, until they would have expired, the tokens of
	// locks removed by UNLOCK here or on another node, so that a late
	// copy of one (another node's answer to a starting node's request)
	// does not bring it back (clusterlocks.go).
	unlocked map[string]time.Time
}

type lock struct {
	webdav.LockDetails        // Root is the path its creator locked
	key                string // files.Store.Key of Root; "" for a per-request lock made while no LOCK held anything
	account            int64
	shared             bool
	temporary          bool      // x/net/webdav's lock for the length of one request
	expires            time.Time // zero: never (not used: timeouts are bounded)
	inUse              bool
	remote             bool // made on another node, known here through clusterlocks.go
}

func newLockSystem() *lockSystem {
	return &lockSystem{byToken: map[string]*lock{}, unlocked: map[string]time.Time{}}
}

func (l *lock) covers(key string) bool {
	return l.key != "" && (key == l.key || (!l.ZeroDepth && strings.HasPrefix(key, l.key+"/")))
}

// overlaps reports whether two lock scopes share a resource.
func overlaps(a, b *lock) bool { return a.covers(b.key) || b.covers(a.key) }

func (ls *lockSystem) expire(now time.Time) {
	for t, l := range ls.byToken {
		if !l.expires.IsZero() && !now.Before(l.expires) {
			ls.remove(t, l)
		}
	}
	for t, until := range ls.unlocked {
		if !now.Before(until) {
			delete(ls.unlocked, t)
		}
	}
}

// unlock removes the lock token that UNLOCK ended and, if LOCK made it,
// remembers it. A request's own lock (temporary) is never told to other
// nodes and needs no remembering: kept, every write request would add a
// token for a day, which every lock operation goes through.
func (ls *lockSystem) unlock(token string, l *lock) {
	ls.remove(token, l)
	if !l.temporary {
		ls.unlocked[token] = l.expires
	}
}

func (ls *lockSystem) remove(token string, l *lock) {
	delete(ls.byToken, token)
	if !l.temporary {
		ls.held--
	}
}

func (ls *lockSystem) create(now time.Time, nl *lock) (string, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.expire(now)
	nl.Root = path.Clean("/" + nl.Root)
	n := 0
	for _, l := range ls.byToken {
		if overlaps(l, nl) && !(l.shared && nl.shared) {
			return "", webdav.ErrLocked
		}
		if l.account == nl.account {
			n++
		}
	}
	if n >= MaxLocks {
		return "", webdav.ErrLocked
	}
	if nl.Duration < 0 || nl.Duration > MaxLockTimeout {
		nl.Duration = MaxLockTimeout
	}
	nl.expires = now.Add(nl.Duration)
	b := make([]byte, 16)
	rand.Read(b)
	token := "urn:uuid:" + hex.EncodeToString(b)
	ls.byToken[token] = nl
	if !nl.temporary {
		ls.held++
		ls.tell("create", token, nl)
	}
	return token, nil
}

// tell tells the other nodes of a change made here to a lock LOCK made
// (on this node, or on another: a client may refresh or unlock through
// any node).
func (ls *lockSystem) tell(op, token string, l *lock) {
	if ls.changed != nil && !l.temporary {
		ls.changed(op, token, l)
	}
}

// anyHeld reports whether some LOCK holds a lock.
func (ls *lockSystem) anyHeld() bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.held > 0
}

// active returns copies of the locks LOCK made that cover key.
func (ls *lockSystem) active(now time.Time, key string) map[string]lock {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.expire(now)
	out := map[string]lock{}
	for t, l := range ls.byToken {
		if !l.temporary && l.covers(key) {
			out[t] = *l
		}
	}
	return out
}

// memberLocks is the lock system as one account's request sees it: paths
// are that account's, turned into keys by key.
type memberLocks struct {
	ls        *lockSystem
	account   int64
	temporary bool // Create makes x/net/webdav's per-request locks (the request is not a LOCK)
	key       func(name string) (string, error)
}

// Create makes an exclusive lock (x/net/webdav's LOCK and its temporary
// per-request locks). While no LOCK holds anything, a per-request lock is
// made without resolving its key: nothing can conflict with it, and
// every upload is spared the lookup.
func (m *memberLocks) Create(now time.Time, d webdav.LockDetails) (string, error) {
	return m.create(now, d, false)
}

func (m *memberLocks) create(now time.Time, d webdav.LockDetails, shared bool) (string, error) {
	nl := &lock{LockDetails: d, account: m.account, shared: shared, temporary: m.temporary}
	if !m.temporary || m.ls.anyHeld() {
		k, err := m.key(d.Root)
		switch {
		case err == nil:
			nl.key = k
		case !m.temporary:
			return "", err
		}
		// A request on a path with no key (an invalid name) changes
		// nothing: the store refuses it.
	}
	return m.ls.create(now, nl)
}

// Confirm checks that every lock on name0 and name1 is matched by a token
// of conditions that this account holds, as RFC 4918 section 7.5 asks
// before a change.
func (m *memberLocks) Confirm(now time.Time, name0, name1 string, conditions ...webdav.Condition) (func(), error) {
	var keys []string
	for _, name := range []string{name0, name1} {
		if name == "" {
			continue
		}
		k, err := m.key(path.Clean("/" + name))
		if err != nil {
			return nil, webdav.ErrConfirmationFailed
		}
		keys = append(keys, k)
	}
	ls := m.ls
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.expire(now)
	var held []*lock
	for _, k := range keys {
		var found *lock
		for _, c := range conditions {
			if l := ls.byToken[c.Token]; l != nil && l.account == m.account && !l.inUse && l.covers(k) {
				found = l
				break
			}
		}
		if found == nil {
			return nil, webdav.ErrConfirmationFailed
		}
		found.inUse = true
		held = append(held, found)
	}
	return func() {
		ls.mu.Lock()
		defer ls.mu.Unlock()
		for _, l := range held {
			l.inUse = false
		}
	}, nil
}

// Refresh extends a lock of this account.
func (m *memberLocks) Refresh(now time.Time, token string, d time.Duration) (webdav.LockDetails, error) {
	ls := m.ls
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.expire(now)
	l := ls.byToken[token]
	if l == nil || l.account != m.account {
		return webdav.LockDetails{}, webdav.ErrNoSuchLock
	}
	if l.inUse {
		return webdav.LockDetails{}, webdav.ErrLocked
	}
	if d < 0 || d > MaxLockTimeout {
		d = MaxLockTimeout
	}
	l.Duration, l.expires = d, now.Add(d)
	ls.tell("refresh", token, l)
	return l.LockDetails, nil
}

// Unlock removes a lock of this account; another's is ErrForbidden.
func (m *memberLocks) Unlock(now time.Time, token string) error {
	ls := m.ls
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.expire(now)
	l := ls.byToken[token]
	switch {
	case l == nil:
		return webdav.ErrNoSuchLock
	case l.account != m.account:
		return webdav.ErrForbidden
	case l.inUse:
		return webdav.ErrLocked
	}
	ls.unlock(token, l)
	ls.tell("unlock", token, l)
	return nil
}

// lockDiscovery returns the DAV:lockdiscovery property of name (RFC 4918
// section 15.8): the locks LOCK made on it, whoever holds them. The lock
// root is shown as its creator's path to the creator, as name to others.
func (m *memberLocks) lockDiscovery(now time.Time, name string) (string, error) {
	if !m.ls.anyHeld() { // a listing need not look up every key
		return "", nil
	}
	k, err := m.key(name)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for token, l := range m.ls.active(now, k) {
		root := name
		if l.account == m.account {
			root = l.Root
		}
		b.WriteString(activeLock(l.shared, l.ZeroDepth, l.OwnerXML, l.expires.Sub(now), token, root))
	}
	return b.String(), nil
}

// supportedLock is the DAV:supportedlock property (RFC 4918 section
// 15.10): exclusive and shared write locks.
const supportedLock = `<D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>` +
	`<D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>`

// activeLock is one DAV:activelock element (RFC 4918 section 14.1).
func activeLock(shared, zeroDepth bool, ownerXML string, timeout time.Duration, token, root string) string {
	scope, depth := "exclusive", "infinity"
	if shared {
		scope = "shared"
	}
	if zeroDepth {
		depth = "0"
	}
	var esc bytes.Buffer
	xml.EscapeText(&esc, []byte(Prefix+root))
	return fmt.Sprintf(`<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:%s/></D:lockscope>`+
		`<D:depth>%s</D:depth><D:owner>%s</D:owner><D:timeout>Second-%d</D:timeout>`+
		`<D:locktoken><D:href>%s</D:href></D:locktoken><D:lockroot><D:href>%s</D:href></D:lockroot></D:activelock>`,
		scope, depth, ownerXML, max(int(timeout/time.Second), 0), token, esc.String())
}

// lockInfo is the body of a LOCK that makes a lock (RFC 4918 section 14.11).
type lockInfo struct {
	XMLName   xml.Name  `xml:"DAV: lockinfo"`
	Exclusive *struct{} `xml:"DAV: lockscope>exclusive"`
	Shared    *struct{} `xml:"DAV: lockscope>shared"`
	Write     *struct{} `xml:"DAV: locktype>write"`
	Owner     struct {
		InnerXML string `xml:",innerxml"`
	} `xml:"DAV: owner"`
}

// isSharedLock reports whether body asks for a shared lock.
func isSharedLock(body []byte) (lockInfo, bool) {
	var li lockInfo
	if err := xml.NewDecoder(bytes.NewReader(body)).Decode(&li); err != nil {
		return li, false
	}
	return li, li.Shared != nil && li.Exclusive == nil && li.Write != nil
}

// sharedLock makes a shared lock on reqPath (already without Prefix).
func (h *Handler) sharedLock(w http.ResponseWriter, r *http.Request, fsys *fileSystem, ls *memberLocks, reqPath string, li lockInfo) {
	depth := r.Header.Get("Depth")
	zero := false
	switch depth {
	case "0":
		zero = true
	case "", "infinity":
	default:
		http.Error(w, "bad Depth", http.StatusBadRequest)
		return
	}
	d := MaxLockTimeout
	if t := r.Header.Get("Timeout"); t != "" {
		first, _, _ := strings.Cut(t, ",")
		if s, ok := strings.CutPrefix(strings.TrimSpace(first), "Second-"); ok {
			if n, err := strconv.ParseUint(s, 10, 32); err == nil {
				d = time.Duration(n) * time.Second
			}
		}
	}
	ctx := r.Context()
	token, err := ls.create(time.Now(), webdav.LockDetails{Root: reqPath, Duration: d, OwnerXML: li.Owner.InnerXML, ZeroDepth: zero}, true)
	if err != nil {
		http.Error(w, "locked", http.StatusLocked)
		return
	}
	status := http.StatusOK
	if _, err := fsys.Stat(ctx, reqPath); err != nil {
		// A LOCK on an unmapped URL makes an empty resource (RFC 4918 section 7.3).
		f, err := fsys.OpenFile(ctx, reqPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err == nil {
			err = f.Close()
		}
		if err != nil {
			ls.Unlock(time.Now(), token)
			code := statusOf(err)
			if code == 0 {
				code = http.StatusConflict
			}
			http.Error(w, "cannot create the locked resource", code)
			return
		}
		status = http.StatusCreated
	}
	w.Header().Set("Lock-Token", "<"+token+">")
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+`<D:prop xmlns:D="DAV:"><D:lockdiscovery>`+
		activeLock(true, zero, li.Owner.InnerXML, min(d, MaxLockTimeout), token, reqPath)+`</D:lockdiscovery></D:prop>`)
}
