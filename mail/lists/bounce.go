package lists

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/caucus-org/caucus/internal/audit"
)

// Bounce reads a notification that came back to the return path of
// subscriber sub of list l. A permanent failure counts against the
// address; at MaxHardBounces it is suspended (no more copies, shown in
// the console, recorded in the audit log). Delays and other reports
// count nothing, nor does a message that is no notification.
func (s *Service) Bounce(ctx context.Context, l List, sub int64, msg []byte) error {
	rcpts, err := ParseDSN(msg)
	if err != nil {
		s.log.Info("lists: mail to a return path that is no notification", "list", l.Address, "err", err)
		return nil
	}
	var failed *DSNRecipient
	for i := range rcpts {
		if rcpts[i].Permanent() {
			failed = &rcpts[i]
			break
		}
	}
	if failed == nil {
		return nil
	}
	return s.deps.DB.Tx(ctx, func(tx *sql.Tx) error {
		var addr, state string
		var n int
		err := tx.QueryRowContext(ctx, `UPDATE list_subscribers SET hard_bounces = hard_bounces + 1, last_bounce = ?, updated_at = ?
			WHERE id = ? AND list_id = ? RETURNING address, state, hard_bounces`,
			oneLine(failed.Status+" "+failed.Diagnostic, 300), s.deps.Now().Unix(), sub, l.ID).Scan(&addr, &state, &n)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // the subscriber is gone
		}
		if err != nil {
			return fmt.Errorf("lists: bounce: %w", err)
		}
		if n < MaxHardBounces || state != StateActive {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE list_subscribers SET state = 'suspended' WHERE id = ?`, sub); err != nil {
			return fmt.Errorf("lists: bounce: %w", err)
		}
		s.log.Info("lists: address suspended after permanent failures", "list", l.Address, "failures", n)
		return s.deps.Auth.Audit().RecordTx(ctx, tx, audit.Event{Kind: "list.suspend",
			Detail: fmt.Sprintf("list=%s address=%s hard_bounces=%d last=%s", l.Address, addr, n, failed.Status)})
	})
}
