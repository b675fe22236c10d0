package db

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
)

// MailRouteChannel is the notification channel on which the database's
// triggers announce, on PostgreSQL, a write to any table that decides
// where an incoming message goes or how it is answered: accounts' logins
// and states, aliases, forwards, auto-replies, role mailboxes, the block
// list (each package's own migration adds the triggers of its tables, with
// [MemoTriggerPG]). The nodes' [Memo] of those answers listens on it.
const MailRouteChannel = "caucus_mail_route"

// maxMemo bounds the answers a Memo keeps; past it, lookups read the
// database.
const maxMemo = 1 << 16

// Memo is, on PostgreSQL, what a node keeps of answers read from tables
// that change rarely but are asked of every message (the MX asks who a
// recipient is, whether it has an auto-reply, whether the sender is
// blocked), so that each message does not cost a round trip per question.
//
// The database's own triggers keep it true: each write to one of those
// tables NOTIFYs the Memo's channel from inside the writing transaction
// (a node dying between its commit and a later send cannot lose the
// news), and a Memo that hears anything on it forgets everything. The
// guarantee, as for auth's and files' caches: PostgreSQL delivers a
// transaction's notifications once it has committed, to each listening
// session in commit order; once this node has heard a commit's
// notification, no lookup that begins afterwards answers from before it
// (between the commit and its arrival, a few milliseconds, one may: on
// the writing node too). A Memo is off (neither read nor filled) until
// its listener listens, and whenever the listener is cut.
//
// A nil *Memo (SQLite: one node, and every lookup is a local read) keeps
// nothing. Values put in must not be changed afterwards.
type Memo struct {
	db      *DB
	channel string

	mu  sync.RWMutex
	on  bool
	gen uint64 // raised by every forgetting: a lookup older keeps nothing
	m   map[string]any
	// syncs are the markers Sync waits to hear, each closed when heard.
	syncs map[string]chan struct{}

	// heard, for tests, is called after each notification is applied
	// with its payload, and with "(lost)" and "(listening)" when the
	// listener is lost and listens again.
	heard func(payload string)
}

// Memo returns an empty, off Memo kept true by the notifications on
// channel; its Run listens.
func (db *DB) Memo(channel string) *Memo {
	return &Memo{db: db, channel: channel, m: map[string]any{}, syncs: map[string]chan struct{}{}}
}

// Run listens and applies the notifications until ctx is done; ready, if
// not nil, is closed once the listener listens (the Memo is on then).
func (m *Memo) Run(ctx context.Context, ready chan<- struct{}) error {
	return m.db.Watch(ctx, []string{m.channel}, m.receive,
		func() { m.reset(true); m.tell("(listening)") },
		func() { m.reset(false); m.tell("(lost)") }, ready)
}

// syncPrefix starts the payloads of Sync's markers, which change nothing.
const syncPrefix = "sync "

// receive applies one notification: every write forgets everything; a
// marker of Sync's is only noted.
func (m *Memo) receive(_, payload string) {
	if strings.HasPrefix(payload, syncPrefix) {
		m.mu.Lock()
		if c, ok := m.syncs[payload]; ok {
			close(c)
			delete(m.syncs, payload)
		}
		m.mu.Unlock()
	} else {
		m.mu.Lock()
		m.gen, m.m = m.gen+1, map[string]any{}
		m.mu.Unlock()
	}
	m.tell(payload)
}

func (m *Memo) tell(payload string) {
	if m.heard != nil {
		m.heard(payload)
	}
}

// reset forgets everything and turns the Memo on or off.
func (m *Memo) reset(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.on, m.gen, m.m = on, m.gen+1, map[string]any{}
}

// Sync returns once m has heard every notification of the writes
// committed before it was called (it sends a marker of its own on the
// channel after them and waits to hear it: notifications arrive in
// commit order), or when ctx is done. A node that must answer from after
// another node's write calls it, as tests do.
func (m *Memo) Sync(ctx context.Context) error {
	var b [8]byte
	rand.Read(b[:])
	marker := syncPrefix + hex.EncodeToString(b[:])
	heard := make(chan struct{})
	m.mu.Lock()
	m.syncs[marker] = heard
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.syncs, marker)
		m.mu.Unlock()
	}()
	if err := m.db.Notify(ctx, m.channel, marker); err != nil {
		return err
	}
	select {
	case <-heard:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("db: memo %s: sync: %w", m.channel, ctx.Err())
	}
}

// Get returns the value kept under key, if any; else the Memo's
// generation, for [Memo.Put] of what the caller then reads.
func (m *Memo) Get(key string) (v any, ok bool, gen uint64) {
	if m == nil {
		return nil, false, 0
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.on {
		return nil, false, 0
	}
	v, ok = m.m[key]
	return v, ok, m.gen
}

// Put keeps v under key, read by a lookup that began at generation gen
// (from [Memo.Get]), unless the Memo forgot since or is off.
func (m *Memo) Put(key string, v any, gen uint64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.on && m.gen == gen && len(m.m) < maxMemo {
		m.m[key] = v
	}
}

// Remember returns the value m keeps under key or, if it keeps none, what
// ask answers, keeping that when ask says to (an answer that depends on
// more than the Memo's tables tell of must not be kept) and it is no
// error; the generation check of [Memo.Put] applies. A nil Memo keeps
// nothing. The value kept and the one returned are the same: a T that
// holds slices or maps must be copied by the caller before it is changed.
func Remember[T any](m *Memo, key string, ask func() (v T, keep bool, err error)) (T, error) {
	v, ok, gen := m.Get(key)
	if ok {
		return v.(T), nil
	}
	t, keep, err := ask()
	if err == nil && keep {
		m.Put(key, t, gen)
	}
	return t, err
}

// MemoTriggerPG returns the PostgreSQL statements that make every write
// to table (INSERT, DELETE, TRUNCATE, and UPDATE of columns, or of any
// column if none are named) NOTIFY channel from inside its transaction,
// once per statement: for a migration of the package that owns table.
// The trigger's name ends in "_notify", which `caucus storage migrate`
// knows as a cache's (it only tells the nodes).
func MemoTriggerPG(channel, table string, columns ...string) string {
	update := "UPDATE"
	for i, c := range columns {
		if i == 0 {
			update += " OF "
		} else {
			update += ", "
		}
		update += c
	}
	return fmt.Sprintf(`
CREATE OR REPLACE FUNCTION caucus_memo_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify(TG_ARGV[0], '*');
	RETURN NULL;
END $$;
CREATE TRIGGER %[2]s_memo_notify AFTER INSERT OR DELETE OR %[3]s ON %[2]s
	FOR EACH STATEMENT EXECUTE FUNCTION caucus_memo_notify('%[1]s');
CREATE TRIGGER %[2]s_memo_truncate_notify AFTER TRUNCATE ON %[2]s
	FOR EACH STATEMENT EXECUTE FUNCTION caucus_memo_notify('%[1]s');
`, channel, table, update)
}
