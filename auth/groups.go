package auth

import (
	"context"
	"database/sql"
	"errors"
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

// DeleteGroup deletes a group and its memberships, and returns it as it
// was (id, name, members). note says in the audit record what became of
// what the group had (its files, for one). A group's id is never given to
// another group (schemaV4), so nothing keyed by the id (a file space,
// shares with the group) can pass to a group made later. ErrNotFound if
// there is no such group.
func (s *Service) DeleteGroup(ctx context.Context, actor, name, note string) (Group, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	var g Group
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		g = Group{}
		if err := tx.QueryRowContext(ctx, `SELECT id, name FROM groups WHERE name = ?`, name).Scan(&g.ID, &g.Name); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: group %s", ErrNotFound, name)
		} else if err != nil {
			return fmt.Errorf("auth: delete group: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT a.login FROM group_members m JOIN accounts a ON a.id = m.account_id WHERE m.group_id = ? ORDER BY a.login`, g.ID)
		if err != nil {
			return fmt.Errorf("auth: delete group: %w", err)
		}
		for rows.Next() {
			var login string
			if err := rows.Scan(&login); err != nil {
				rows.Close()
				return fmt.Errorf("auth: delete group: %w", err)
			}
			g.Members = append(g.Members, login)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("auth: delete group: %w", err)
		}
		// group_members go with it (ON DELETE CASCADE).
		if _, err := tx.ExecContext(ctx, `DELETE FROM groups WHERE id = ?`, g.ID); err != nil {
			return fmt.Errorf("auth: delete group: %w", err)
		}
		detail := fmt.Sprintf("%s (%d member)", g.Name, len(g.Members))
		if len(g.Members) != 1 {
			detail = fmt.Sprintf("%s (%d members)", g.Name, len(g.Members))
		}
		if note != "" {
			detail += ": " + note
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: actor, Kind: "group.delete", Detail: detail})
	})
	return g, err
}

// GroupID returns the id of the named group; ErrNotFound if there is none.
func (s *Service) GroupID(ctx context.Context, name string) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, `SELECT id FROM groups WHERE name = ?`, strings.ToLower(strings.TrimSpace(name))).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: group %s", ErrNotFound, name)
	}
	if err != nil {
		return 0, fmt.Errorf("auth: group: %w", err)
	}
	return id, nil
}
