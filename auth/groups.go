package auth

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/caucus-org/caucus/internal/audit"
)

// CreateGroup creates an empty group; ErrExists if it exists.
func (s *Service) CreateGroup(ctx context.Context, actor, name string) error {
	name = strings.ToLower(strings.TrimSpace(name))
	if err := validGroupName(name); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO groups (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, s.now().Unix())
		if err != nil {
			return fmt.Errorf("auth: create group: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: group %s", ErrExists, name)
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: actor, Kind: "group.create", Detail: name})
	})
}

// RenameGroup renames a group, keeping its members; ErrNotFound if there
// is no group from, ErrExists if to is taken.
func (s *Service) RenameGroup(ctx context.Context, actor, from, to string) error {
	from, to = strings.ToLower(strings.TrimSpace(from)), strings.ToLower(strings.TrimSpace(to))
	if err := validGroupName(to); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM groups WHERE name = ?`, to).Scan(&n); err != nil {
			return fmt.Errorf("auth: rename group: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("%w: group %s", ErrExists, to)
		}
		res, err := tx.ExecContext(ctx, `UPDATE groups SET name = ? WHERE name = ?`, to, from)
		if err != nil {
			return fmt.Errorf("auth: rename group: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: group %s", ErrNotFound, from)
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: actor, Kind: "group.rename", Detail: from + " -> " + to})
	})
}
