package phish

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/db"
)

// Block is one entry of the party's block list.
type Block struct {
	Sender string // local@domain, or @domain for a whole domain
	At     time.Time
	Actor  string
	Reason string
}

// Blocked reports whether mail from any of the addresses is refused: an
// address is blocked by its own entry or by its domain's. The MX asks it
// for the envelope sender (RFC 5321 MAIL FROM) and the header From
// (RFC 5322 3.6.2); empty addresses (bounces) are never blocked.
func (s *Service) Blocked(ctx context.Context, addrs ...string) (string, bool, error) {
	for _, a := range addrs {
		a = strings.ToLower(strings.TrimSpace(a))
		at := strings.LastIndexByte(a, '@')
		if at <= 0 || at == len(a)-1 {
			continue
		}
		entry, blocked, err := s.blockedOne(ctx, a, a[at:])
		if err != nil || blocked {
			return entry, blocked, err
		}
	}
	return "", false, nil
}

// keptBlock is what the memo keeps of an address: the entry blocking it.
type keptBlock struct {
	entry   string
	blocked bool
}

// blockedOne looks up addr and its domain ("@example.org") in the block
// list, from the memo when it can (see [Service.SetMemo]).
func (s *Service) blockedOne(ctx context.Context, addr, domain string) (string, bool, error) {
	k, err := db.Remember(s.memo, "blocked\x00"+addr, func() (keptBlock, bool, error) {
		var entry string
		err := s.db.QueryRowContext(ctx, `SELECT sender FROM phish_blocked WHERE sender IN (?, ?) LIMIT 1`, addr, domain).Scan(&entry)
		switch {
		case err == nil:
			return keptBlock{entry, true}, true, nil
		case isNoRows(err):
			return keptBlock{}, true, nil
		}
		return keptBlock{}, false, fmt.Errorf("phish: block list: %w", err)
	})
	return k.entry, k.blocked, err
}

// SetMemo makes the service keep, in m, which senders the block list
// refuses (see [db.Memo]: on PostgreSQL, kept true by the triggers of
// migration 2 on db.MailRouteChannel). It is called once, while wiring,
// before any lookup.
func (s *Service) SetMemo(m *db.Memo) { s.memo = m }

// Blocks returns the block list, newest first.
func (s *Service) Blocks(ctx context.Context) ([]Block, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT sender, at, actor, reason FROM phish_blocked ORDER BY at DESC, sender`)
	if err != nil {
		return nil, fmt.Errorf("phish: block list: %w", err)
	}
	defer rows.Close()
	var out []Block
	for rows.Next() {
		var b Block
		var at int64
		if err := rows.Scan(&b.Sender, &at, &b.Actor, &b.Reason); err != nil {
			return nil, fmt.Errorf("phish: block list: %w", err)
		}
		b.At = time.Unix(at, 0)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("phish: block list: %w", err)
	}
	return out, nil
}

// AddBlock puts a sender (local@domain) or a domain (@domain) on the
// block list, audited; one already there is left as it was.
func (s *Service) AddBlock(ctx context.Context, actor, addr, sender, reason string) error {
	added, err := s.block(ctx, sender, actor, clip(reason, maxReason))
	if err != nil {
		return err
	}
	if added {
		s.record(ctx, audit.Event{Actor: actor, Kind: "phish.block", Addr: addr, Detail: "sender=" + sender})
	}
	return nil
}

// RemoveBlock takes a sender off the block list, audited.
func (s *Service) RemoveBlock(ctx context.Context, actor, addr, sender string) error {
	sender, err := parseSender(sender)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM phish_blocked WHERE sender = ?`, sender)
	if err != nil {
		return fmt.Errorf("phish: unblock: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.record(ctx, audit.Event{Actor: actor, Kind: "phish.unblock", Addr: addr, Detail: "sender=" + sender})
	}
	return nil
}

// block adds an entry and says whether it was new.
func (s *Service) block(ctx context.Context, sender, actor, reason string) (bool, error) {
	sender, err := parseSender(sender)
	if err != nil {
		return false, err
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO phish_blocked (sender, at, actor, reason) VALUES (?, ?, ?, ?) ON CONFLICT (sender) DO NOTHING`,
		sender, s.now().Unix(), actor, reason)
	if err != nil {
		return false, fmt.Errorf("phish: block: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("phish: block: %w", err)
	}
	return n > 0, nil
}
