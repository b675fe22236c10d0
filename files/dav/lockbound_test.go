package dav

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/webdav"
)

// TestMaxLocks: one account holds at most MaxLocks locks; another account
// can still lock; the lifetime is bounded by MaxLockTimeout.
func TestMaxLocks(t *testing.T) {
	t.Parallel()
	ls := newLockSystem()
	key := func(name string) (string, error) { return "/home/1" + name, nil }
	alice := &memberLocks{ls: ls, account: 1, key: key}
	bob := &memberLocks{ls: ls, account: 2, key: key}
	now := time.Now()
	for i := range MaxLocks {
		if _, err := alice.Create(now, webdav.LockDetails{Root: "/f" + strconv.Itoa(i), Duration: time.Minute}); err != nil {
			t.Fatalf("lock %d: %v", i, err)
		}
	}
	if _, err := alice.Create(now, webdav.LockDetails{Root: "/one-more", Duration: time.Minute}); !errors.Is(err, webdav.ErrLocked) {
		t.Fatalf("lock %d of one account: %v", MaxLocks+1, err)
	}
	tok, err := bob.Create(now, webdav.LockDetails{Root: "/bob", Duration: -1})
	if err != nil {
		t.Fatalf("another account's lock: %v", err)
	}
	if d, err := bob.Refresh(now, tok, 100*MaxLockTimeout); err != nil || d.Duration != MaxLockTimeout {
		t.Fatalf("refresh: %v %v", d.Duration, err)
	}
	if err := alice.Unlock(now, tok); !errors.Is(err, webdav.ErrForbidden) {
		t.Fatalf("alice removes bob's lock: %v", err)
	}
	// All expire.
	if _, err := alice.Create(now.Add(MaxLockTimeout+time.Second), webdav.LockDetails{Root: "/one-more", Duration: time.Minute}); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

// TestRequestLocksForgotten: the lock x/net/webdav makes for the length
// of each writing request (PUT, MKCOL, DELETE …) is forgotten when the
// request releases it. The tokens UNLOCK removes are remembered until
// they would have expired (a day at most, see clusterlocks.go); a
// request's lock remembered so made every upload add an entry that every
// later lock operation went through, for a day.
func TestRequestLocksForgotten(t *testing.T) {
	t.Parallel()
	ls := newLockSystem()
	key := func(name string) (string, error) { return "/home/1" + name, nil }
	req := &memberLocks{ls: ls, account: 1, key: key, temporary: true}
	now := time.Now()
	for i := range 100 {
		// As x/net/webdav's confirmLocks does for a request without an If header.
		tok, err := req.Create(now, webdav.LockDetails{Root: "/f" + strconv.Itoa(i), Duration: -1, ZeroDepth: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := req.Unlock(now, tok); err != nil {
			t.Fatal(err)
		}
	}
	lockOp := &memberLocks{ls: ls, account: 1, key: key}
	tok, err := lockOp.Create(now, webdav.LockDetails{Root: "/locked", Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := lockOp.Unlock(now, tok); err != nil {
		t.Fatal(err)
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if len(ls.byToken) != 0 || len(ls.unlocked) != 1 {
		t.Fatalf("after 100 requests and one LOCK and UNLOCK: %d locks, %d unlocked tokens remembered; want 0 and 1 (the LOCK's)",
			len(ls.byToken), len(ls.unlocked))
	}
}
