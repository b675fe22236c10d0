package audit

import (
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

// TestChainFromTwoNodes: two caucus nodes (two *db.DB on one database, on
// PostgreSQL two connection pools on one server) append to the audit log
// at once, each through every path that writes (Record, RecordTx inside a
// caller's transaction, and the batches of RecordSoon); the result is one
// chain with no fork (two records after the same one) and no gap, read
// alike from both nodes. Each insert reads the newest record and writes
// the next id and hash: without the cluster-wide write lock of db.Tx the
// two nodes read the same newest record, and one chain becomes two.
func TestChainFromTwoNodes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d := dbtest.Create(t)
	a, b := d.Open(t), d.Open(t)
	if err := a.Migrate(ctx, Component()); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	nodes := []*Log{New(a, nil, log), New(b, nil, log)}
	const perNode, each = 4, 100
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(nodes)*perNode*each) // at most two results per event
	for n, l := range nodes {
		for w := range perNode {
			wg.Go(func() {
				for i := range each {
					e := Event{Actor: fmt.Sprintf("node%d-w%d", n, w), Kind: "login.password", Detail: fmt.Sprint(i)}
					switch i % 3 {
					case 0:
						errs <- l.Record(ctx, e)
					case 1:
						errs <- l.db.Tx(ctx, func(tx *sql.Tx) error { return l.RecordTx(ctx, tx, e) })
					default:
						errs <- l.RecordSoon(ctx, e)
						if i%6 == 5 {
							errs <- l.Flush(ctx)
						}
					}
				}
			})
		}
	}
	wg.Wait()
	for _, l := range nodes {
		if err := l.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := len(nodes) * perNode * each
	for i, l := range nodes {
		if n, err := l.Verify(ctx); err != nil || n != want {
			t.Fatalf("node %d: Verify = %d, %v; want %d, nil", i, n, err, want)
		}
	}
	var rows, distinctPrev, top int
	err := a.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT prev_hash), COALESCE(MAX(id), 0) FROM audit_log`).Scan(&rows, &distinctPrev, &top)
	if err != nil || rows != want || distinctPrev != want || top != want {
		t.Fatalf("audit_log: %d rows, %d distinct predecessors, top id %d, %v; want %d of each", rows, distinctPrev, top, err, want)
	}
}
