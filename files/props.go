package files

import (
	"context"
	"database/sql"
	"fmt"
)

// Limits on WebDAV dead properties.
const (
	MaxProps     = 64       // per node
	MaxPropBytes = 16 << 10 // namespace, name and value of one property
)

// Prop is a dead property of a node (RFC 4918 section 4.3): one that
// clients set with PROPPATCH and the store keeps but does not interpret.
type Prop struct {
	Space string // XML namespace
	Name  string // local name
	Lang  string // xml:lang
	XML   []byte // inner XML
}

// Props returns the dead properties of node id.
func (s *Store) Props(ctx context.Context, a Actor, id int64) ([]Prop, error) {
	if _, err := s.Node(ctx, a, id); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT space, name, lang, value FROM files_props WHERE node_id = ? ORDER BY space, name`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Prop
	for rows.Next() {
		var p Prop
		if err := rows.Scan(&p.Space, &p.Name, &p.Lang, &p.XML); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// PropPatch is one instruction of a PROPPATCH: set or remove a property.
type PropPatch struct {
	Prop
	Remove bool
}

// PatchProps applies patches to the dead properties of node id in order
// (RFC 4918 section 9.2), all or none.
func (s *Store) PatchProps(ctx context.Context, a Actor, id int64, patches []PropPatch) error {
	v, err := s.viewer(ctx, a)
	if err != nil {
		return err
	}
	for _, p := range patches {
		if len(p.Space)+len(p.Name)+len(p.Lang)+len(p.XML) > MaxPropBytes || p.Name == "" {
			return fmt.Errorf("%w: property too large", ErrForbidden)
		}
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.writable(ctx, tx, v, id); err != nil {
			return err
		}
		for _, p := range patches {
			if p.Remove {
				if _, err := tx.ExecContext(ctx, `DELETE FROM files_props WHERE node_id = ? AND space = ? AND name = ?`, id, p.Space, p.Name); err != nil {
					return err
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO files_props (node_id, space, name, lang, value) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (node_id, space, name) DO UPDATE SET lang = excluded.lang, value = excluded.value`, id, p.Space, p.Name, p.Lang, p.XML); err != nil {
				return err
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM files_props WHERE node_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n > MaxProps {
			return fmt.Errorf("%w: more than %d properties", ErrForbidden, MaxProps)
		}
		return nil
	})
}
