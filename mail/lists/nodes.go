package lists

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/caucus-org/caucus/internal/db"
)

// outboxLockKey names the PostgreSQL advisory lock that the node sending
// the outbox holds (see sendLock): "list" in ASCII, with the hash of the
// schema caucus's tables are in as the lock's second key, so that two
// parties' caucus in two schemas of one database (or two tests) do not
// wait for each other.
const outboxLockKey int32 = 0x6c697374

// sendLock makes this node the one that sends the outbox, if no other
// node is, and reports whether it did; release gives the turn back. Each
// outbox row must become one copy, and a row goes only once its copy is
// handed over (SendPending), so two nodes reading the outbox at once
// would both send it. On PostgreSQL the turn is a transaction-level
// advisory lock, tried without waiting, in a transaction of its own held
// while the batch is sent: it ends with that transaction, also when the
// node's connection is lost. On SQLite, whose database is one machine's,
// one process runs the lists, and the turn is always its own.
func (s *Service) sendLock(ctx context.Context) (release func(), ok bool, err error) {
	if s.deps.DB.Engine() != db.Postgres {
		return func() {}, true, nil
	}
	tx, err := s.deps.DB.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, false, fmt.Errorf("lists: outbox lock: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock(?, hashtext(current_schema()))`, outboxLockKey).Scan(&ok); err != nil || !ok {
		tx.Rollback()
		if err != nil {
			return nil, false, fmt.Errorf("lists: outbox lock: %w", err)
		}
		return nil, false, nil
	}
	return func() { tx.Rollback() }, true, nil
}
