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
