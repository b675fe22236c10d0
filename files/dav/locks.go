package dav

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
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

// lockSystem is an in-memory webdav.LockSystem with exclusive and shared
// write locks (RFC 4918 sections 6 and 7). x/net/webdav's own (NewMemLS)
// and its LOCK handler know only exclusive locks; a shared LOCK is made by
// Handler.sharedLock, everything else (refresh, confirm, unlock) goes
// through x/net/webdav to this.
type lockSystem struct {
	mu      sync.Mutex
	byToken map[string]*lock
}

type lock struct {
	webdav.LockDetails
	shared  bool
	expires time.Time // zero: never (not used: timeouts are bounded)
	held    bool
}

func newLockSystem() *lockSystem { return &lockSystem{byToken: map[string]*lock{}} }

func (l *lock) covers(name string) bool {
	return name == l.Root || (!l.ZeroDepth && (l.Root == "/" || strings.HasPrefix(name, l.Root+"/")))
}

// overlaps reports whether two lock scopes share a resource.
func overlaps(a, b *lock) bool { return a.covers(b.Root) || b.covers(a.Root) }

func (ls *lockSystem) expire(now time.Time) {
	for t, l := range ls.byToken {
		if !l.expires.IsZero() && !now.Before(l.expires) {
			delete(ls.byToken, t)
		}
	}
}

func (ls *lockSystem) create(now time.Time, d webdav.LockDetails, shared bool) (string, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.expire(now)
	d.Root = path.Clean("/" + d.Root)
	nl := &lock{LockDetails: d, shared: shared}
	for _, l := range ls.byToken {
		if overlaps(l, nl) && !(l.shared && shared) {
			return "", webdav.ErrLocked
		}
	}
	if len(ls.byToken) >= MaxLocks {
		return "", webdav.ErrLocked
	}
	if d.Duration < 0 || d.Duration > MaxLockTimeout {
		nl.Duration = MaxLockTimeout
	}
	nl.expires = now.Add(nl.Duration)
	b := make([]byte, 16)
	rand.Read(b)
	token := "urn:uuid:" + hex.EncodeToString(b)
	ls.byToken[token] = nl
	return token, nil
}

// Create makes an exclusive lock (x/net/webdav's LOCK and its temporary
// per-request locks).
func (ls *lockSystem) Create(now time.Time, d webdav.LockDetails) (string, error) {
	return ls.create(now, d, false)
}

// Confirm checks that every lock on name0 and name1 is matched by a token
// of conditions, as RFC 4918 section 7.5 asks before a change.
func (ls *lockSystem) Confirm(now time.Time, name0, name1 string, conditions ...webdav.Condition) (func(), error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.expire(now)
	var held []*lock
	for _, name := range []string{name0, name1} {
		if name == "" {
			continue
		}
		name = path.Clean("/" + name)
		var found *lock
		for _, c := range conditions {
			if l := ls.byToken[c.Token]; l != nil && !l.held && l.covers(name) {
				found = l
				break
			}
		}
		if found == nil {
			return nil, webdav.ErrConfirmationFailed
		}
		found.held = true
		held = append(held, found)
	}
	return func() {
		ls.mu.Lock()
		defer ls.mu.Unlock()
		for _, l := range held {
			l.held = false
		}
	}, nil
}

// Refresh extends a lock.
func (ls *lockSystem) Refresh(now time.Time, token string, d time.Duration) (webdav.LockDetails, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.expire(now)
	l := ls.byToken[token]
	if l == nil {
		return webdav.LockDetails{}, webdav.ErrNoSuchLock
	}
	if l.held {
		return webdav.LockDetails{}, webdav.ErrLocked
	}
	if d < 0 || d > MaxLockTimeout {
		d = MaxLockTimeout
	}
	l.Duration, l.expires = d, now.Add(d)
	return l.LockDetails, nil
}

// Unlock removes a lock.
func (ls *lockSystem) Unlock(now time.Time, token string) error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.expire(now)
	l := ls.byToken[token]
	if l == nil {
		return webdav.ErrNoSuchLock
	}
	if l.held {
		return webdav.ErrLocked
	}
	delete(ls.byToken, token)
	return nil
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
func (h *Handler) sharedLock(w http.ResponseWriter, r *http.Request, fsys *fileSystem, ls *lockSystem, reqPath string, li lockInfo) {
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
	var depthText = "infinity"
	if zero {
		depthText = "0"
	}
	w.Header().Set("Lock-Token", "<"+token+">")
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(status)
	var esc bytes.Buffer
	xml.EscapeText(&esc, []byte(Prefix+reqPath))
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+
		`<D:prop xmlns:D="DAV:"><D:lockdiscovery><D:activelock>`+
		`<D:locktype><D:write/></D:locktype><D:lockscope><D:shared/></D:lockscope>`+
		`<D:depth>%s</D:depth><D:owner>%s</D:owner><D:timeout>Second-%d</D:timeout>`+
		`<D:locktoken><D:href>%s</D:href></D:locktoken><D:lockroot><D:href>%s</D:href></D:lockroot>`+
		`</D:activelock></D:lockdiscovery></D:prop>`, depthText, li.Owner.InnerXML, int(d/time.Second), token, esc.String())
}
