package lists

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/headertext"
	"github.com/caucus-org/caucus/internal/i18n"
)

// Subscriber is an outside address on a list, or a group member's opt-out.
type Subscriber struct {
	ID            int64
	Address       string
	State         string // StatePending, StateActive, StateUnsubscribed, StateSuspended
	ConsentAt     time.Time
	ConsentSource string // SourceWeb, SourceImport, SourceAdmin
	ConsentDetail string
	HardBounces   int
	LastBounce    string // the last permanent failure's status and diagnostic
	Updated       time.Time
}

// cleanAddress checks a subscriber's address (RFC 5322 addr-spec); a
// list's own address is none, or its copies would come back as posts.
func (s *Service) cleanAddress(ctx context.Context, addr string) (string, error) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	a, err := mail.ParseAddress("<" + addr + ">")
	if err != nil || a.Address != addr || len(addr) > 254 || strings.ContainsAny(addr, "\r\n<>") {
		return "", fmt.Errorf("%w: %q is not an address", ErrBadList, addr)
	}
	if isList, err := s.IsList(ctx, addr); err != nil {
		return "", err
	} else if isList {
		return "", fmt.Errorf("%w: %q is a list", ErrBadList, addr)
	}
	return addr, nil
}

// Subscribe adds address to a list as active, with consent recorded as
// given by source (SourceImport or SourceAdmin) and detail (who, or the
// file imported), by the admin actor. An unsubscribed or suspended address
// becomes active again: the admin answers for the consent.
func (s *Service) Subscribe(ctx context.Context, actor string, listID int64, address, source, detail string) error {
	if source != SourceImport && source != SourceAdmin {
		return fmt.Errorf("%w: consent source %q", ErrBadList, source)
	}
	l, err := s.Get(ctx, listID)
	if err != nil {
		return err
	}
	addr, err := s.cleanAddress(ctx, address)
	if err != nil {
		return err
	}
	now := s.deps.Now().Unix()
	return s.deps.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := upsertActive(ctx, tx, listID, addr, source, detail, now); err != nil {
			return err
		}
		return s.deps.Auth.Audit().RecordTx(ctx, tx, audit.Event{Actor: actor, Kind: "list.subscribe",
			Detail: fmt.Sprintf("list=%s address=%s source=%s %s", l.Address, addr, source, detail)})
	})
}

// upsertActive makes (list, addr) active with the consent given.
func upsertActive(ctx context.Context, tx *sql.Tx, listID int64, addr, source, detail string, now int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO list_subscribers (list_id, address, state, consent_at, consent_source, consent_detail, updated_at)
		VALUES (?, ?, 'active', ?, ?, ?, ?)
		ON CONFLICT (list_id, address) DO UPDATE SET state = 'active', consent_at = excluded.consent_at,
			consent_source = excluded.consent_source, consent_detail = excluded.consent_detail,
			hard_bounces = 0, last_bounce = '', updated_at = excluded.updated_at`,
		listID, addr, now, source, detail, now)
	if err != nil {
		return fmt.Errorf("lists: subscribe: %w", err)
	}
	return nil
}

// RequestSubscription is an outside person's request, from the list's
// subscription form, to receive an open list's mail: it records the
// request and mails the address a link that confirms it (double opt-in),
// in the language lang the person read the form in ("": the party's).
// An address asked for in the last day gets no second mail (ErrTooSoon),
// so the form cannot be used to flood someone; an address already active
// gets none either, and the answer is the same.
func (s *Service) RequestSubscription(ctx context.Context, listID int64, address, from, lang string) error {
	l, err := s.Get(ctx, listID)
	if err != nil {
		return err
	}
	if !l.Open {
		return ErrClosed
	}
	addr, err := s.cleanAddress(ctx, address)
	if err != nil {
		return err
	}
	now := s.deps.Now()
	var state string
	var requested int64
	err = s.deps.DB.QueryRowContext(ctx, `SELECT state, requested_at FROM list_subscribers WHERE list_id = ? AND address = ?`, listID, addr).Scan(&state, &requested)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("lists: request: %w", err)
	case state == StateActive:
		return nil
	case now.Sub(time.Unix(requested, 0)) < confirmEvery:
		return ErrTooSoon
	}
	_, err = s.deps.DB.ExecContext(ctx, `INSERT INTO list_subscribers (list_id, address, state, requested_at, consent_detail, updated_at)
		VALUES (?, ?, 'pending', ?, ?, ?)
		ON CONFLICT (list_id, address) DO UPDATE SET state = 'pending', requested_at = excluded.requested_at, updated_at = excluded.updated_at`,
		listID, addr, now.Unix(), "requested from "+from, now.Unix())
	if err != nil {
		return fmt.Errorf("lists: request: %w", err)
	}
	msg := s.confirmMessage(l, addr, s.confirmURL(listID, addr, now.Unix()), lang)
	local, domain := l.local()
	return s.deps.Sender.Send(ctx, local+"+owner@"+domain, []string{addr}, msg)
}

// confirmMessage is the mail asking addr to confirm, in the language the
// person used on the form (lang), quoted-printable.
func (s *Service) confirmMessage(l List, addr, link, lang string) []byte {
	loc := i18n.Builtin().Localizer(cmp.Or(lang, s.cfg.Language), time.UTC)
	_, domain := l.local()
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", headertext.Mailbox(l.Name, l.Address))
	h("To", "<"+addr+">")
	h("Subject", headertext.Unstructured("Subject", loc.T("lists.mail.confirm.subject", "list", l.Name)))
	h("Date", s.deps.Now().Format(time.RFC1123Z))
	h("Message-ID", "<confirm."+rand.Text()+"@"+domain+">")
	h("Auto-Submitted", "auto-generated") // RFC 3834 section 5
	h("MIME-Version", "1.0")
	h("Content-Language", loc.Lang()) // RFC 3282
	h("Content-Type", `text/plain; charset="utf-8"`)
	h("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	body := loc.T("lists.mail.confirm.body", "address", addr, "list", l.Name, "listaddr", l.Address, "link", link)
	qp := quotedprintable.NewWriter(&b)
	io.WriteString(qp, strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n"))
	qp.Close() // writes to a buffer: no error
	return b.Bytes()
}

// Confirm completes a subscription request with its link's token: the
// address becomes active, with consent recorded as given on the web at
// this moment (from is where the confirmation came from).
func (s *Service) Confirm(ctx context.Context, listID int64, address, token, from string) error {
	addr := strings.ToLower(strings.TrimSpace(address))
	var state string
	var requested int64
	err := s.deps.DB.QueryRowContext(ctx, `SELECT state, requested_at FROM list_subscribers WHERE list_id = ? AND address = ?`, listID, addr).Scan(&state, &requested)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrBadToken
	}
	if err != nil {
		return fmt.Errorf("lists: confirm: %w", err)
	}
	if state != StatePending || requested == 0 || s.confirmExpired(requested) ||
		!hmacEqual(token, s.confirmToken(listID, addr, requested)) {
		return ErrBadToken
	}
	l, err := s.Get(ctx, listID)
	if err != nil {
		return err
	}
	now := s.deps.Now().Unix()
	return s.deps.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := upsertActive(ctx, tx, listID, addr, SourceWeb, "confirmed from "+from, now); err != nil {
			return err
		}
		return s.deps.Auth.Audit().RecordTx(ctx, tx, audit.Event{Kind: "list.subscribe",
			Detail: fmt.Sprintf("list=%s address=%s source=web (double opt-in)", l.Address, addr), Addr: from})
	})
}

// Unsubscribe takes address off a list with a one-click link's token
// (RFC 8058), no sign-in needed; a group member's address is recorded as
// opted out and gets no more of the list's mail while in the group. It
// is recorded in the audit log. An address already off the list is
// answered alike.
func (s *Service) Unsubscribe(ctx context.Context, listID int64, address, token, from string) error {
	addr := strings.ToLower(strings.TrimSpace(address))
	if !s.checkUnsub(listID, addr, token) {
		return ErrBadToken
	}
	l, err := s.Get(ctx, listID)
	if err != nil {
		return err
	}
	now := s.deps.Now().Unix()
	return s.deps.DB.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO list_subscribers (list_id, address, state, updated_at) VALUES (?, ?, 'unsubscribed', ?)
			ON CONFLICT (list_id, address) DO UPDATE SET state = 'unsubscribed', updated_at = excluded.updated_at`, listID, addr, now)
		if err != nil {
			return fmt.Errorf("lists: unsubscribe: %w", err)
		}
		return s.deps.Auth.Audit().RecordTx(ctx, tx, audit.Event{Kind: "list.unsubscribe",
			Detail: fmt.Sprintf("list=%s address=%s one-click", l.Address, addr), Addr: from})
	})
}

// Subscribers returns a list's subscriber rows (not the group's members).
func (s *Service) Subscribers(ctx context.Context, listID int64) ([]Subscriber, error) {
	rows, err := s.deps.DB.QueryContext(ctx, `SELECT id, address, state, consent_at, consent_source, consent_detail, hard_bounces, last_bounce, updated_at
		FROM list_subscribers WHERE list_id = ? ORDER BY address`, listID)
	if err != nil {
		return nil, fmt.Errorf("lists: subscribers: %w", err)
	}
	defer rows.Close()
	var out []Subscriber
	for rows.Next() {
		var x Subscriber
		var consent, updated int64
		if err := rows.Scan(&x.ID, &x.Address, &x.State, &consent, &x.ConsentSource, &x.ConsentDetail, &x.HardBounces, &x.LastBounce, &updated); err != nil {
			return nil, fmt.Errorf("lists: subscribers: %w", err)
		}
		if consent != 0 {
			x.ConsentAt = time.Unix(consent, 0)
		}
		x.Updated = time.Unix(updated, 0)
		out = append(out, x)
	}
	return out, rows.Err()
}

// recipient is one address an approved post goes to.
type recipient struct {
	address string
	sub     int64 // the subscriber row; 0 for a group member
}

// recipients returns who gets a list's posts now: the group's members
// whose accounts take mail (active or invited) and have not opted out,
// and the active subscribers, each address once.
func (s *Service) recipients(ctx context.Context, l List) ([]recipient, error) {
	off := map[string]bool{}
	var out []recipient
	seen := map[string]bool{}
	subs, err := s.Subscribers(ctx, l.ID)
	if err != nil {
		return nil, err
	}
	for _, x := range subs {
		if x.State != StateActive {
			off[x.Address] = true
			continue
		}
		seen[x.Address] = true
		out = append(out, recipient{address: x.Address, sub: x.ID})
	}
	if l.Group == "" {
		return out, nil
	}
	ids, _, err := s.deps.Auth.GroupMembers(ctx, l.Group)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		a, err := s.deps.Auth.Account(ctx, id)
		if err != nil {
			return nil, err
		}
		login := strings.ToLower(a.Login)
		if (a.State != auth.StateActive && a.State != auth.StateInvited) || off[login] || seen[login] {
			continue
		}
		seen[login] = true
		out = append(out, recipient{address: login})
	}
	return out, nil
}

// IsMember reports whether the account may read the list's archive: a
// member of its group, a moderator, or an active subscriber with the
// account's address.
func (s *Service) IsMember(ctx context.Context, l List, a auth.Account) (bool, error) {
	if a.State != auth.StateActive {
		return false, nil
	}
	if ok, err := s.isModerator(ctx, l, a.Login); ok || err != nil {
		return ok, err
	}
	if l.Group != "" {
		groups, err := s.deps.Auth.GroupsOf(ctx, a.ID)
		if err != nil {
			return false, err
		}
		for _, g := range groups {
			if g == l.Group {
				return true, nil
			}
		}
	}
	var n int
	err := s.deps.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM list_subscribers WHERE list_id = ? AND address = ? AND state = 'active'`, l.ID, strings.ToLower(a.Login)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("lists: member: %w", err)
	}
	return n > 0, nil
}

// Forget deletes an address's row from a list: its consent, state and
// bounces (a person's request to be erased). The audit log keeps that it
// was done, by whom. A group member forgotten gets the list again while
// in the group.
func (s *Service) Forget(ctx context.Context, actor string, listID int64, address string) error {
	l, err := s.Get(ctx, listID)
	if err != nil {
		return err
	}
	addr := strings.ToLower(strings.TrimSpace(address))
	return s.deps.DB.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM list_subscribers WHERE list_id = ? AND address = ?`, listID, addr)
		if err != nil {
			return fmt.Errorf("lists: forget: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmpErr(err, fmt.Errorf("%w: %s is not on %s", ErrBadList, addr, l.Address))
		}
		return s.deps.Auth.Audit().RecordTx(ctx, tx, audit.Event{Actor: actor, Kind: "list.forget", Detail: fmt.Sprintf("list=%s address=%s", l.Address, addr)})
	})
}
