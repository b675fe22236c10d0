package store

import (
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestTraceWrites: with Options.TraceWrites set, APPEND, STORE and
// EXPUNGE each hand over a trace of their kind; a write that went
// through the group commit says so and was in a transaction of at least
// one job, a STORE that changed nothing says it needed no write.
func TestTraceWrites(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var traces []WriteTrace
	e := newEnv(t, func(o *Options) {
		o.TraceWrites = func(tr WriteTrace) {
			mu.Lock()
			traces = append(traces, tr)
			mu.Unlock()
		}
	})
	ctx := t.Context()
	acct := e.account(t, 1)
	mb := e.mailbox(t, acct, "INBOX")
	uid := e.append(t, acct, "INBOX", simple("traced", "x"))
	for range 2 { // the second changes nothing
		if _, _, err := e.s.StoreFlags(ctx, mb.ID, []imap.UID{uid}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.s.Expunge(ctx, mb.ID, nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []struct {
		kind    string
		written bool
	}{{"append", true}, {"store", true}, {"store", false}, {"expunge", true}}
	if len(traces) != len(want) {
		t.Fatalf("%d traces, want %d: %+v", len(traces), len(want), traces)
	}
	for i, w := range want {
		tr := traces[i]
		if tr.Kind != w.kind || tr.Written != w.written || tr.Total <= 0 || (w.written && tr.Group.Jobs < 1) {
			t.Errorf("trace %d: %+v; want kind %s, written %v", i, tr, w.kind, w.written)
		}
	}
}
