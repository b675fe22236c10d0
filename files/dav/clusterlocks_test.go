package dav

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/pgtest"
	"golang.org/x/net/webdav"
)

// TestClusterLocks: a lock taken through node A stops another member's
// write through node B; its holder refreshes it through B and unlocks it
// through B, which A learns; a node started later learns the locks held.
func TestClusterLocks(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	dbs := srv.Nodes(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	node := func(name string) *Handler {
		d := dbs[name[0]-'A']
		h := &Handler{locks: newLockSystem()}
		c := h.ShareLocks(d, name, nil)
		ready := make(chan struct{})
		wg.Go(func() { c.Run(ctx, ready) })
		<-ready
		return h
	}
	// Both members reach the file under one key, by different paths.
	member := func(h *Handler, account int64, temporary bool) *memberLocks {
		return &memberLocks{ls: h.locks, account: account, temporary: temporary,
			key: func(name string) (string, error) { return "k/" + path.Base(name), nil }}
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("never: %s", what)
			}
		}
	}
	a, b := node("A"), node("B")
	now := time.Now()
	token, err := member(a, 1, false).Create(now, webdav.LockDetails{Root: "/Home/budget.ods", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	eventually("B knows A's lock", func() bool { return b.locks.anyHeld() })
	// Another member's write (x/net/webdav's per-request lock) through B.
	if _, err := member(b, 2, true).Create(now, webdav.LockDetails{Root: "/Group/budget.ods"}); !errors.Is(err, webdav.ErrLocked) {
		t.Fatalf("another member's write through B: %v, want ErrLocked", err)
	}
	// The holder uses, refreshes and removes the lock through B.
	release, err := member(b, 1, true).Confirm(now, "/Home/budget.ods", "", webdav.Condition{Token: token})
	if err != nil {
		t.Fatalf("the holder's write through B: %v", err)
	}
	release()
	if _, err := member(b, 1, false).Refresh(now, token, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	eventually("A learns the refresh", func() bool {
		return len(a.locks.active(now, "k/budget.ods")) == 1 && a.locks.active(now, "k/budget.ods")[token].Duration == 2*time.Hour
	})
	// A node that starts now learns the lock from the others.
	c := node("C")
	eventually("C learns the lock held", func() bool { return len(c.locks.active(now, "k/budget.ods")) == 1 })
	if err := member(b, 2, false).Unlock(now, token); !errors.Is(err, webdav.ErrForbidden) {
		t.Fatalf("another member's UNLOCK: %v", err)
	}
	if err := member(b, 1, false).Unlock(now, token); err != nil {
		t.Fatal(err)
	}
	eventually("A and C learn the unlock", func() bool { return !a.locks.anyHeld() && !c.locks.anyHeld() })
	if _, err := member(a, 2, true).Create(now, webdav.LockDetails{Root: "/Group/budget.ods"}); err != nil {
		t.Fatalf("a write through A after the unlock through B: %v", err)
	}
}

// FuzzClusterLocksReceive feeds any message to a node: it never panics
// and never removes a lock of an account the message does not name.
func FuzzClusterLocksReceive(f *testing.F) {
	f.Add(`{"o":"create","t":"urn:uuid:1","r":"/x","k":"k1","a":3,"e":1}`)
	f.Add(`{"o":"unlock","t":"urn:uuid:9","a":9}`)
	f.Add(`{"o":"refresh","t":"urn:uuid:9","a":9,"d":-5}`)
	f.Add(`{"o":"sync"}`)
	f.Fuzz(func(t *testing.T, body string) {
		h := &Handler{locks: newLockSystem()}
		c := h.ShareLocks(&db.DB{}, "A", nil)
		token, err := (&memberLocks{ls: h.locks, account: 9, key: func(string) (string, error) { return "k9", nil }}).Create(time.Now(), webdav.LockDetails{Root: "/y", Duration: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		c.receive([]byte(body))
		if h.locks.byToken[token] == nil {
			t.Fatalf("%q removed a lock it cannot name", body)
		}
	})
}

// TestLateCopyAfterUnlock: a copy of a lock that another node sends in
// answer to a starting node's request may arrive after the lock's UNLOCK
// (from a third node); it must not bring the lock back, whichever of the
// two the node had heard first (TestClusterLocks failed so, now and then:
// the started node kept a lock that every other node had removed).
func TestLateCopyAfterUnlock(t *testing.T) {
	exp := time.Now().Add(time.Hour).UnixNano()
	create := fmt.Sprintf(`{"o":"create","t":"urn:uuid:1","r":"/Home/a","k":"k/a","a":3,"d":3600000000000,"e":%d}`, exp)
	unlock := fmt.Sprintf(`{"o":"unlock","t":"urn:uuid:1","r":"/Home/a","k":"k/a","a":3,"e":%d}`, exp)
	for name, order := range map[string][]string{
		"known, unlocked, late copy": {create, unlock, create},
		"unlock before any copy":     {unlock, create},
	} {
		h := &Handler{locks: newLockSystem()}
		c := h.ShareLocks(&db.DB{}, "C", nil)
		for _, m := range order {
			c.receive([]byte(m))
		}
		if h.locks.anyHeld() || len(h.locks.active(time.Now(), "k/a")) != 0 {
			t.Errorf("%s: the node holds a lock that was unlocked", name)
		}
	}
}
