package db

import (
	"context"
	"database/sql"
)

// Stmts runs each query with the statement [DB.Prepared] keeps for its
// text, inside a transaction or outside any, so that hot queries are not
// parsed at every call. Pass only constant query texts.
type Stmts struct {
	db *DB
	tx *sql.Tx // nil: outside any transaction
}

// Stmts returns the cached statements bound to tx; a nil tx runs them
// outside any transaction.
func (db *DB) Stmts(tx *sql.Tx) Stmts { return Stmts{db: db, tx: tx} }

// stmt is the cached statement for query, bound to the transaction; nil
// if it cannot be prepared (the plain call then reports why).
func (p Stmts) stmt(ctx context.Context, query string) *sql.Stmt {
	st, err := p.db.Prepared(ctx, query)
	switch {
	case err != nil:
		return nil
	case p.tx != nil:
		return p.tx.StmtContext(ctx, st)
	}
	return st
}

// QueryRowContext runs query with the cached statement.
func (p Stmts) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	if p.tx != nil {
		return p.tx.QueryRowContext(ctx, query, args...)
	}
	return p.db.QueryRowContext(ctx, query, args...)
}

// QueryContext runs query with the cached statement.
func (p Stmts) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	if p.tx != nil {
		return p.tx.QueryContext(ctx, query, args...)
	}
	return p.db.QueryContext(ctx, query, args...)
}

// ExecContext runs query with the cached statement.
func (p Stmts) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	if p.tx != nil {
		return p.tx.ExecContext(ctx, query, args...)
	}
	return p.db.ExecContext(ctx, query, args...)
}

// PrepareContext returns the cached statement for query, bound to the
// transaction; closing it leaves the cached statement open.
func (p Stmts) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	st, err := p.db.Prepared(ctx, query)
	if err != nil || p.tx == nil {
		return st, err
	}
	return p.tx.StmtContext(ctx, st), nil
}
