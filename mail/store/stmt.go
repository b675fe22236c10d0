package store

import (
	"context"
	"database/sql"

	"github.com/caucus-org/caucus/internal/db"
)

// stmtCache hands out the statements of the delivery path, prepared once
// (see [db.DB.Prepared]) instead of parsed at every delivery.
type stmtCache struct {
	db *db.DB
}

func newStmtCache(d *db.DB) *stmtCache {
	return &stmtCache{db: d}
}

// get returns the prepared statement for query, a constant text.
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	return c.db.Prepared(ctx, query)
}

// preparedTx is a querier that runs each query of a transaction with the
// cached prepared statement for its text.
type preparedTx struct {
	c  *stmtCache
	tx *sql.Tx
}

func (p preparedTx) stmt(ctx context.Context, query string) *sql.Stmt {
	st, err := p.c.get(ctx, query)
	if err != nil {
		return nil
	}
	return p.tx.StmtContext(ctx, st)
}

func (p preparedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.tx.QueryRowContext(ctx, query, args...) // reports the error
}

func (p preparedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.tx.QueryContext(ctx, query, args...)
}

func (p preparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.tx.ExecContext(ctx, query, args...)
}

// PrepareContext returns the cached statement for query, bound to the
// transaction; closing it leaves the cached statement open.
func (p preparedTx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	st, err := p.c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return p.tx.StmtContext(ctx, st), nil
}
