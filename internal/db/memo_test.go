package db_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/pgtest"
)

// memoNode runs a Memo of d on channel until the test ends, telling heard
// of what it hears (the hook may block); it returns once the Memo listens.
func memoNode(t *testing.T, d *db.DB, channel string, heard func(string)) *db.Memo {
	t.Helper()
	m := d.Memo(channel)
	if heard != nil {
		db.HearMemo(m, heard)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan struct{})
	go func() { defer close(done); m.Run(ctx, ready) }()
	t.Cleanup(func() { cancel(); <-done })
	<-ready
	return m
}

// TestMemoTriggers: a Memo keeps what is put in it until a write to a
// table with MemoTriggerPG's triggers commits on another node and its
// notification arrives; an update of a column the trigger does not name
// changes nothing. Seen failing with the triggers left out (the kept
// answer stayed after the insert).
func TestMemoTriggers(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	a, b := openPG(t, srv)
	ctx := t.Context()
	const channel = "caucus_test_memo"
	if err := a.Migrate(ctx, db.Component{Name: "t", Migrations: []db.Migration{{Version: 1,
		SQL:      `CREATE TABLE x (k TEXT PRIMARY KEY, v TEXT NOT NULL, seen BIGINT NOT NULL)`,
		Postgres: `CREATE TABLE x (k TEXT PRIMARY KEY, v TEXT NOT NULL, seen BIGINT NOT NULL);` + db.MemoTriggerPG(channel, "x", "k", "v")}}}); err != nil {
		t.Fatal(err)
	}
	m := memoNode(t, b, channel, nil)
	keep := func() {
		t.Helper()
		if _, ok, gen := m.Get("k"); !ok {
			m.Put("k", "kept", gen)
		}
		if v, ok, _ := m.Get("k"); !ok || v != "kept" {
			t.Fatalf("Get after Put = %v, %v", v, ok)
		}
	}
	kept := func() bool {
		t.Helper()
		if err := m.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		_, ok, _ := m.Get("k")
		return ok
	}
	for _, tc := range []struct {
		write  string
		forget bool
	}{
		{`INSERT INTO x (k, v, seen) VALUES ('a', 'one', 0)`, true},
		{`UPDATE x SET seen = seen + 1`, false},
		{`UPDATE x SET v = 'two'`, true},
		{`DELETE FROM x`, true},
		{`TRUNCATE x`, true},
	} {
		keep()
		if _, err := a.ExecContext(ctx, tc.write); err != nil {
			t.Fatal(err)
		}
		if got := kept(); got == tc.forget {
			t.Errorf("after %q on another node: kept %v, want %v", tc.write, got, !tc.forget)
		}
	}
	// A lookup that began before a forgetting keeps nothing.
	_, _, gen := m.Get("late")
	if _, err := a.ExecContext(ctx, `INSERT INTO x (k, v, seen) VALUES ('b', 'one', 0)`); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	m.Put("late", "stale", gen)
	if v, ok, _ := m.Get("late"); ok {
		t.Errorf("a lookup older than a write was kept: %v", v)
	}
}

// TestMemoListenerCut: while a Memo's listener is cut it neither answers
// nor keeps anything (the notifications of that time are lost); once it
// listens again it does both. Seen failing with the Memo left on when
// the listener was lost.
func TestMemoListenerCut(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	a, b := openPG(t, srv)
	ctx := t.Context()
	const channel = "caucus_test_memo_cut"
	lost, release, listening := make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
	var once sync.Once
	var armed atomic.Bool // hold the next loss until free
	free := func() { once.Do(func() { close(release) }) }
	m := memoNode(t, b, channel, func(p string) {
		switch p {
		case "(lost)":
			if armed.CompareAndSwap(true, false) {
				lost <- struct{}{}
				<-release
			}
		case "(listening)":
			select {
			case listening <- struct{}{}:
			default:
			}
		}
	})
	<-listening // the first start's
	_, _, gen := m.Get("k")
	m.Put("k", "kept", gen)
	if _, ok, _ := m.Get("k"); !ok {
		t.Fatal("nothing kept while listening")
	}
	t.Cleanup(free) // before the listener stops (cleanups run last first)
	armed.Store(true)
	if _, err := a.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN %`+channel+`%'`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(time.Minute): // a guard against a hang, not a measure
		t.Fatal("the listener was cut and never said so")
	}
	if v, ok, _ := m.Get("k"); ok {
		t.Errorf("a Memo whose listener is cut answers %v", v)
	}
	_, _, gen = m.Get("k")
	m.Put("k", "kept", gen)
	if v, ok, _ := m.Get("k"); ok {
		t.Errorf("a Memo whose listener is cut kept %v", v)
	}
	free()
	<-listening
	_, _, gen = m.Get("k")
	m.Put("k", "kept", gen)
	if _, ok, _ := m.Get("k"); !ok {
		t.Error("nothing kept once listening again")
	}
}
