package route

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/db"
)

// Limits of an auto-reply's text.
const (
	MaxAutoReplySubject = 200
	MaxAutoReplyBody    = 16 << 10
)

// ErrBadAutoReply reports an auto-reply that is empty, too long or not UTF-8.
var ErrBadAutoReply = errors.New("route: bad auto-reply")

// AutoReply is the automatic answer that mail to an account gets (RFC 3834),
// typically after its owner left: "Alice has left; write to Bob". The
// directory only keeps it; mail/autoreply decides whom to answer and sends
// it. While an offboarded account without forwarding has an auto-reply,
// mail to it is still accepted into its (retained) mailbox, so that no
// message is answered and then lost.
type AutoReply struct {
	Subject string    // "" for "Auto: " and the subject of the message answered
	Body    string    // plain text, required
	Until   time.Time // the last moment it is sent; zero: until removed
}

func (ar AutoReply) validate() error {
	switch {
	case strings.TrimSpace(ar.Body) == "":
		return fmt.Errorf("%w: no text", ErrBadAutoReply)
	case len(ar.Body) > MaxAutoReplyBody || len(ar.Subject) > MaxAutoReplySubject:
		return fmt.Errorf("%w: subject over %d or text over %d bytes", ErrBadAutoReply, MaxAutoReplySubject, MaxAutoReplyBody)
	case !utf8.ValidString(ar.Body) || !utf8.ValidString(ar.Subject) || strings.ContainsAny(ar.Subject, "\r\n"):
		return fmt.Errorf("%w: not UTF-8 text, or a subject with a line break", ErrBadAutoReply)
	}
	return nil
}

// SetAutoReply gives the account an auto-reply, replacing any it had; nil
// removes it. actor is recorded in the audit log.
func (d *Directory) SetAutoReply(ctx context.Context, actor string, accountID int64, ar *AutoReply) error {
	acct, err := d.auth.Account(ctx, accountID)
	if err != nil {
		return err
	}
	if ar != nil {
		if err := ar.validate(); err != nil {
			return err
		}
	}
	return d.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		detail := "removed"
		if ar == nil {
			_, err = tx.ExecContext(ctx, `DELETE FROM autoreplies WHERE account_id = ?`, accountID)
		} else {
			var until int64
			if !ar.Until.IsZero() {
				until = ar.Until.Unix()
			}
			detail = "until=" + untilText(ar.Until)
			_, err = tx.ExecContext(ctx, `INSERT INTO autoreplies (account_id, subject, body, until, created_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (account_id) DO UPDATE SET subject = excluded.subject, body = excluded.body, until = excluded.until, created_at = excluded.created_at`,
				accountID, ar.Subject, ar.Body, until, d.now().Unix())
		}
		if err != nil {
			return fmt.Errorf("route: set auto-reply: %w", err)
		}
		return d.auth.Audit().RecordTx(ctx, tx, audit.Event{Actor: actor, Subject: acct.Login, Kind: "mail.autoreply", Detail: detail})
	})
}

func untilText(t time.Time) string {
	if t.IsZero() {
		return "removed-by-hand"
	}
	return t.UTC().Format(time.RFC3339)
}

// AutoReplyOf returns the account's auto-reply, also one whose time is
// over, and whether it has one.
func (d *Directory) AutoReplyOf(ctx context.Context, accountID int64) (AutoReply, bool, error) {
	var ar AutoReply
	var until int64
	st, err := d.db.Prepared(ctx, `SELECT subject, body, until FROM autoreplies WHERE account_id = ?`)
	if err != nil {
		return AutoReply{}, false, fmt.Errorf("route: auto-reply: %w", err)
	}
	err = st.QueryRowContext(ctx, accountID).Scan(&ar.Subject, &ar.Body, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return AutoReply{}, false, nil
	}
	if err != nil {
		return AutoReply{}, false, fmt.Errorf("route: auto-reply: %w", err)
	}
	if until != 0 {
		ar.Until = time.Unix(until, 0)
	}
	return ar, true, nil
}

// AutoReplyFor returns the auto-reply in force now for mail to rcpt (an
// account's address or alias, "+tag" ignored) and the address it answers
// as: rcpt without its tag, lower-cased. ok is false when rcpt has none.
func (d *Directory) AutoReplyFor(ctx context.Context, rcpt string) (ar AutoReply, acct auth.Account, address string, ok bool, err error) {
	local, domain, valid := split(rcpt)
	if !valid || !d.IsOurs(rcpt) {
		return AutoReply{}, auth.Account{}, "", false, nil
	}
	address = local + "@" + domain
	id, ar, ok, err := d.autoReplyKept(ctx, address)
	if err != nil || !ok || (!ar.Until.IsZero() && !d.now().Before(ar.Until)) {
		return AutoReply{}, auth.Account{}, "", false, err
	}
	if acct, err = d.auth.Account(ctx, id); err != nil {
		return AutoReply{}, auth.Account{}, "", false, err
	}
	return ar, acct, address, true, nil
}

// keptAutoReply is what the memo keeps of an address's auto-reply.
type keptAutoReply struct {
	id int64
	ar AutoReply
	ok bool
}

// autoReplyKept is autoReplyOfAddress answered from the memo when it
// can be (see [Directory.SetMemo]); the end time is checked by the caller.
func (d *Directory) autoReplyKept(ctx context.Context, address string) (id int64, ar AutoReply, ok bool, err error) {
	k, err := db.Remember(d.memo, "autoreply\x00"+address, func() (keptAutoReply, bool, error) {
		id, ar, ok, err := d.autoReplyOfAddress(ctx, address)
		return keptAutoReply{id, ar, ok}, true, err
	})
	return k.id, k.ar, k.ok, err
}

// autoReplyOfAddress returns the auto-reply of the account whose login
// or alias address is (as accountFor finds it), also one whose time is
// over, and whether it has one: one query, as the MX asks this of every
// recipient of every message, and most have none.
func (d *Directory) autoReplyOfAddress(ctx context.Context, address string) (id int64, ar AutoReply, ok bool, err error) {
	if !storable(address) {
		return 0, AutoReply{}, false, nil // no account or alias has it
	}
	st, err := d.db.Prepared(ctx, `SELECT r.account_id, r.subject, r.body, r.until FROM autoreplies r
		WHERE r.account_id = coalesce((SELECT a.id FROM accounts a WHERE a.login = ?1), (SELECT l.account_id FROM aliases l WHERE l.address = ?2))`)
	if err != nil {
		return 0, AutoReply{}, false, fmt.Errorf("route: auto-reply: %w", err)
	}
	var until int64
	err = st.QueryRowContext(ctx, auth.NormalizeLogin(address), address).Scan(&id, &ar.Subject, &ar.Body, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, AutoReply{}, false, nil
	}
	if err != nil {
		return 0, AutoReply{}, false, fmt.Errorf("route: auto-reply: %w", err)
	}
	if until != 0 {
		ar.Until = time.Unix(until, 0)
	}
	return id, ar, true, nil
}

// hasAutoReply reports whether the account has an auto-reply in force.
func (d *Directory) hasAutoReply(ctx context.Context, accountID int64) (bool, error) {
	var n int
	err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM autoreplies WHERE account_id = ? AND (until = 0 OR until > ?)`, accountID, d.now().Unix()).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("route: auto-reply: %w", err)
	}
	return n > 0, nil
}
