package store

import (
	"context"
	"database/sql"
	"sync"
)

// maxSearchStmts bounds how many search statements a store keeps prepared.
const maxSearchStmts = 128

// stmtCache keeps the statements of queries whose text is made at run
// time (SEARCH: one text per shape of criteria, the values bound as
// arguments), so that the searches clients repeat (SUBJECT x, BODY x,
// UNSEEN, DELETED) are not parsed again each time; parsing was 5% of the
// CPU under imapload -steady. Unlike [db.DB.Prepared] it is bounded:
// clients can make any number of texts. When full it starts afresh.
//
// It is a querier whose QueryRowContext uses the cache; its other
// methods run on the database directly.
type stmtCache struct {
	*sql.DB
	mu    sync.RWMutex // write-held to add or close statements
	stmts map[string]*sql.Stmt
}

func newStmtCache(d *sql.DB) *stmtCache {
	return &stmtCache{DB: d, stmts: map[string]*sql.Stmt{}}
}

// QueryRowContext runs query with its cached statement, preparing it on
// first use. A statement closed (the cache starting afresh) after the
// query started stays alive until its rows are read: database/sql closes
// it once they are.
func (c *stmtCache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	c.mu.RLock()
	if st := c.stmts[query]; st != nil {
		defer c.mu.RUnlock()
		return st.QueryRowContext(ctx, args...)
	}
	c.mu.RUnlock()
	st, err := c.DB.PrepareContext(ctx, query)
	if err != nil {
		return c.DB.QueryRowContext(ctx, query, args...) // reports the error
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.stmts[query]; old != nil {
		st.Close()
		st = old
	} else {
		if len(c.stmts) >= maxSearchStmts {
			for _, old := range c.stmts {
				old.Close()
			}
			clear(c.stmts)
		}
		c.stmts[query] = st
	}
	return st.QueryRowContext(ctx, args...)
}
