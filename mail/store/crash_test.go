package store

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// crashDirEnv names the directory in which the child process of a crash
// test works; set only in that child.
const crashDirEnv = "CAUCUS_STORE_CRASH_DIR"

// crashAppends is how many messages the crashing child appends.
const crashAppends = 20

// TestCrashBeforeIndexing checks that bodies whose APPEND committed but
// which were not yet indexed when the process died (killed with SIGKILL
// right after the last Append returned, its indexer never run) are
// indexed by the next process's indexer from their durable queue
// (blob_unindexed), and found by search before and after.
func TestCrashBeforeIndexing(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		appendAndDie(t, dir)
		return
	}
	t.Parallel()
	dir, dbh := runKilledChild(t, "TestCrashBeforeIndexing", crashDirEnv)
	ctx := t.Context()
	d := dbh.Open(t)
	e := newEnvOn(t, d, dir) // the restart
	if n := e.count(t, `SELECT count(*) FROM messages`); n != crashAppends {
		t.Fatalf("%d messages after the crash, want %d (each Append returned)", n, crashAppends)
	}
	if n := e.count(t, `SELECT count(*) FROM blob_unindexed`); n != crashAppends {
		t.Fatalf("%d bodies wait for the index after the crash, want %d (the child never indexed)", n, crashAppends)
	}
	inbox := e.mailbox(t, 1, "INBOX").ID
	find := func(i int) {
		t.Helper()
		got, err := e.s.Search(ctx, inbox, &imap.SearchCriteria{Body: []string{fmt.Sprintf("resolution-%03d", i)}})
		if err != nil || !slices.Equal(got, []imap.UID{imap.UID(i + 1)}) {
			t.Errorf("search for message %d: %v, %v; want [%d]", i, got, err, i+1)
		}
	}
	find(7)

	run, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { e.s.RunIndexer(run); close(done) }()
	defer func() { stop(); <-done }()
	for e.count(t, `SELECT count(*) FROM blob_unindexed`) != 0 {
		if ctx.Err() != nil {
			t.Fatal("the restarted indexer did not index the bodies the crash left waiting")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := e.count(t, `SELECT count(*) FROM message_text`); n != crashAppends {
		t.Errorf("%d bodies indexed, want %d", n, crashAppends)
	}
	for i := range crashAppends {
		find(i)
	}
}

// appendAndDie is the child of TestCrashBeforeIndexing: it appends
// crashAppends messages in dir and kills itself.
func appendAndDie(t *testing.T, dir string) {
	ctx := context.Background()
	d := crashDatabase().Open(t)
	if err := d.Migrate(ctx, Component()); err != nil {
		t.Fatal(err)
	}
	e := newEnvOn(t, d, dir)
	if err := e.s.EnsureAccount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for i := range crashAppends {
		raw := simple(fmt.Sprintf("minutes %d", i), strings.Repeat("the assembly adopted ", 20)+fmt.Sprintf("resolution-%03d", i))
		if _, _, err := e.s.Append(ctx, 1, "INBOX", strings.NewReader(raw), nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal ends the process
}
