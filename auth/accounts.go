package auth

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caucus-org/caucus/internal/audit"
)

// Account is one person's identity.
type Account struct {
	ID          int64
	Login       string // the address they sign in with
	DisplayName string
	Role        Role
	State       State
	ExpiresAt   time.Time // zero: never
	CreatedAt   time.Time
	LastLoginAt time.Time
	// Language is the member's choice of language for pages and mail, a
	// BCP 47 code such as "it"; "" lets the browser and the party's
	// default decide.
	Language    string
	webauthnID  []byte
	hasPassword bool
}

// IsAdmin reports whether the account has the admin role.
func (a Account) IsAdmin() bool { return a.Role == RoleAdmin }

// NewAccount is what an admin gives to create an account.
type NewAccount struct {
	Login       string
	DisplayName string
	Role        Role
	Groups      []string
	ExpiresAt   time.Time
}

// ValidateLogin checks that login is a plain address (local@domain).
func ValidateLogin(login string) error {
	login = NormalizeLogin(login)
	if len(login) > 254 || login == "" {
		return fmt.Errorf("%w: address must be 1 to 254 characters", ErrInvalid)
	}
	a, err := mail.ParseAddress(login)
	if err != nil || a.Address != login || a.Name != "" {
		return fmt.Errorf("%w: %q is not a plain address like name@example.org", ErrInvalid, login)
	}
	at := strings.LastIndexByte(login, '@')
	if at <= 0 || at == len(login)-1 {
		return fmt.Errorf("%w: %q is not a plain address like name@example.org", ErrInvalid, login)
	}
	return nil
}

func validDisplayName(name string) error {
	if !utf8.ValidString(name) || strings.TrimSpace(name) == "" || len(name) > 200 {
		return fmt.Errorf("%w: name must be 1 to 200 characters", ErrInvalid)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: name has control characters", ErrInvalid)
		}
	}
	return nil
}

const accountCols = `a.id, a.login, a.display_name, CASE a.subrole WHEN '' THEN a.role ELSE a.subrole END, a.state, a.expires_at, a.created_at, a.last_login_at, a.webauthn_id, a.password_hash IS NOT NULL, a.language`

type rowScanner interface{ Scan(...any) error }

// scanAccount scans accountCols, after the destinations in pre (columns
// selected before them).
func scanAccount(r rowScanner, pre ...any) (Account, error) {
	var a Account
	var exp, last sql.NullInt64
	var created int64
	err := r.Scan(append(pre, &a.ID, &a.Login, &a.DisplayName, &a.Role, &a.State, &exp, &created, &last, &a.webauthnID, &a.hasPassword, &a.Language)...)
	if errors.Is(err, sql.ErrNoRows) {
		return a, ErrNotFound
	}
	if err != nil {
		return a, fmt.Errorf("auth: read account: %w", err)
	}
	a.CreatedAt = time.Unix(created, 0)
	if exp.Valid {
		a.ExpiresAt = time.Unix(exp.Int64, 0)
	}
	if last.Valid {
		a.LastLoginAt = time.Unix(last.Int64, 0)
	}
	return a, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Account returns the account with the given id.
func (s *Service) Account(ctx context.Context, id int64) (Account, error) {
	st, err := s.db.Prepared(ctx, `SELECT `+accountCols+` FROM accounts a WHERE a.id = ?`)
	if err != nil {
		return Account{}, fmt.Errorf("auth: account: %w", err)
	}
	return scanAccount(st.QueryRowContext(ctx, id))
}

// AccountByLogin returns the account signing in with login.
func (s *Service) AccountByLogin(ctx context.Context, login string) (Account, error) {
	// Prepared once: SMTP asks this for every recipient.
	st, err := s.db.Prepared(ctx, `SELECT `+accountCols+` FROM accounts a WHERE a.login = ?`)
	if err != nil {
		return Account{}, fmt.Errorf("auth: account: %w", err)
	}
	return scanAccount(st.QueryRowContext(ctx, NormalizeLogin(login)))
}

// Accounts lists every account, by login.
func (s *Service) Accounts(ctx context.Context) ([]Account, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+accountCols+` FROM accounts a ORDER BY a.login`)
	if err != nil {
		return nil, fmt.Errorf("auth: list accounts: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// CountAccounts returns how many accounts exist.
func (s *Service) CountAccounts(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM accounts`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("auth: count accounts: %w", err)
	}
	return n, nil
}

func (s *Service) createAccount(ctx context.Context, tx *sql.Tx, na NewAccount) (int64, error) {
	login := NormalizeLogin(na.Login)
	if err := ValidateLogin(login); err != nil {
		return 0, err
	}
	if err := validDisplayName(na.DisplayName); err != nil {
		return 0, err
	}
	if !na.Role.Valid() {
		return 0, fmt.Errorf("%w: role must be admin, officer, member or volunteer", ErrInvalid)
	}
	if na.Role == RoleVolunteer && na.ExpiresAt.IsZero() {
		return 0, ErrVolunteerLastDay
	}
	var exp sql.NullInt64
	if !na.ExpiresAt.IsZero() {
		exp = sql.NullInt64{Int64: na.ExpiresAt.Unix(), Valid: true}
	}
	waID := make([]byte, 64) // WebAuthn user handle: random, never the login (privacy)
	rand.Read(waID)
	role, subrole := na.Role.stored()
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO accounts (login, display_name, role, subrole, state, expires_at, webauthn_id, created_at)
		VALUES (?, ?, ?, ?, 'invited', ?, ?, ?) ON CONFLICT (login) DO NOTHING RETURNING id`,
		login, strings.TrimSpace(na.DisplayName), role, subrole, exp, waID, s.now().Unix()).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows): // the conflict: nothing inserted
		return 0, fmt.Errorf("%w: account %s", ErrExists, login)
	case err != nil:
		return 0, fmt.Errorf("auth: create account: %w", err)
	}
	for _, g := range na.Groups {
		if err := addToGroup(ctx, tx, g, id, s.now()); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// SetState changes an account's state. Suspending or offboarding also revokes
// every session, app password and live connection at once (see [Service.Revoke]).
func (s *Service) SetState(ctx context.Context, actor string, id int64, st State, c Client) error {
	switch st {
	case StateActive, StateSuspended, StateOffboarded:
	default:
		return fmt.Errorf("%w: state %q", ErrInvalid, st)
	}
	acct, err := s.Account(ctx, id)
	if err != nil {
		return err
	}
	if st == StateActive && !s.hasSecondFactor(ctx, id) {
		return fmt.Errorf("%w: the account has no second factor yet; send a new enrolment link", ErrNeedsFactor)
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET state = ? WHERE id = ?`, st, id); err != nil {
			return fmt.Errorf("auth: set state: %w", err)
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: actor, Subject: acct.Login, Kind: "account.state", Detail: string(acct.State) + " -> " + string(st), Addr: c.addr(), UserAgent: c.UserAgent})
	})
	if err != nil {
		return err
	}
	if st != StateActive {
		_, err = s.Revoke(ctx, actor, id, c)
	}
	return err
}

// usable reports whether an account may sign in now.
func (s *Service) usable(a Account) bool {
	if a.State != StateActive && a.State != StateInvited {
		return false
	}
	return a.ExpiresAt.IsZero() || s.now().Before(a.ExpiresAt)
}

// Group is a set of accounts with a shared mail address and folder (later issues).
type Group struct {
	ID      int64
	Name    string
	Members []string // logins
}

func validGroupName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("%w: group name must be 1 to 64 characters", ErrInvalid)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%w: group name %q may hold only a-z, 0-9, '-', '_' and '.'", ErrInvalid, name)
		}
	}
	return nil
}

func addToGroup(ctx context.Context, tx *sql.Tx, name string, accountID int64, now time.Time) error {
	name = strings.ToLower(strings.TrimSpace(name))
	if err := validGroupName(name); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO groups (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, now.Unix()); err != nil {
		return fmt.Errorf("auth: create group: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO group_members (group_id, account_id) SELECT id, ? FROM groups WHERE name = ? ON CONFLICT DO NOTHING`, accountID, name); err != nil {
		return fmt.Errorf("auth: add to group: %w", err)
	}
	return nil
}

// AddToGroup adds an account to a group, creating the group if needed.
func (s *Service) AddToGroup(ctx context.Context, actor, group string, accountID int64) error {
	acct, err := s.Account(ctx, accountID)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := addToGroup(ctx, tx, group, accountID, s.now()); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: actor, Subject: acct.Login, Kind: "group.add", Detail: group})
	})
}

// RemoveFromGroup removes an account from a group.
func (s *Service) RemoveFromGroup(ctx context.Context, actor, group string, accountID int64) error {
	acct, err := s.Account(ctx, accountID)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM group_members WHERE account_id = ? AND group_id = (SELECT id FROM groups WHERE name = ?)`, accountID, strings.ToLower(group)); err != nil {
			return fmt.Errorf("auth: remove from group: %w", err)
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: actor, Subject: acct.Login, Kind: "group.remove", Detail: group})
	})
}

// Groups lists every group with its members.
func (s *Service) Groups(ctx context.Context) ([]Group, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT g.id, g.name, a.login FROM groups g
		LEFT JOIN group_members m ON m.group_id = g.id LEFT JOIN accounts a ON a.id = m.account_id
		ORDER BY g.name, a.login`)
	if err != nil {
		return nil, fmt.Errorf("auth: list groups: %w", err)
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		var id int64
		var name string
		var login sql.NullString
		if err := rows.Scan(&id, &name, &login); err != nil {
			return nil, fmt.Errorf("auth: list groups: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].ID != id {
			out = append(out, Group{ID: id, Name: name})
		}
		if login.Valid {
			out[len(out)-1].Members = append(out[len(out)-1].Members, login.String)
		}
	}
	return out, rows.Err()
}

// GroupsOf lists the names of the groups an account belongs to.
func (s *Service) GroupsOf(ctx context.Context, accountID int64) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT g.name FROM groups g JOIN group_members m ON m.group_id = g.id WHERE m.account_id = ? ORDER BY g.name`, accountID)
	if err != nil {
		return nil, fmt.Errorf("auth: groups of account: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("auth: groups of account: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// AccountGroups lists the groups an account belongs to, by name, with
// their ids and without their members: one indexed query, for callers
// that check a member's access on every request (files, WebDAV), where
// Groups would read every membership of every group. On PostgreSQL with
// ShareCaches, a node keeps what it read until the database announces a
// change (clustercache.go).
func (s *Service) AccountGroups(ctx context.Context, accountID int64) ([]Group, error) {
	gs, ok, gen := s.cachedGroups(accountID)
	if ok {
		return slices.Clone(gs), nil
	}
	gs, err := s.accountGroups(ctx, accountID)
	if err == nil {
		s.cacheGroups(accountID, slices.Clone(gs), gen)
	}
	return gs, err
}

// accountGroups is AccountGroups read from the database.
func (s *Service) accountGroups(ctx context.Context, accountID int64) ([]Group, error) {
	st, err := s.db.Prepared(ctx, `SELECT g.id, g.name FROM groups g JOIN group_members m ON m.group_id = g.id WHERE m.account_id = ? ORDER BY g.name`)
	if err != nil {
		return nil, fmt.Errorf("auth: groups of account: %w", err)
	}
	rows, err := st.QueryContext(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("auth: groups of account: %w", err)
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		var g Group
		if err := rows.Scan(&g.ID, &g.Name); err != nil {
			return nil, fmt.Errorf("auth: groups of account: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// GroupMembers returns the ids of the accounts in a group, and whether the
// group exists.
func (s *Service) GroupMembers(ctx context.Context, group string) ([]int64, bool, error) {
	var gid int64
	err := s.db.QueryRowContext(ctx, `SELECT id FROM groups WHERE name = ?`, strings.ToLower(group)).Scan(&gid)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("auth: group members: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT account_id FROM group_members WHERE group_id = ? ORDER BY account_id`, gid)
	if err != nil {
		return nil, false, fmt.Errorf("auth: group members: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, false, fmt.Errorf("auth: group members: %w", err)
		}
		out = append(out, id)
	}
	return out, true, rows.Err()
}

// maxLanguage bounds a language setting: a BCP 47 code as caucus uses them
// ("it", "pt-BR"), not a whole tag with extensions.
const maxLanguage = 35

// ValidateLanguage checks that lang is "" or looks like a BCP 47 language
// code (RFC 5646 section 2.1): letters, digits and hyphens, starting with
// two or three letters. Whether caucus has a catalogue for it is for the
// caller to say.
func ValidateLanguage(lang string) error {
	if lang == "" {
		return nil
	}
	if len(lang) > maxLanguage {
		return fmt.Errorf("%w: language code too long", ErrInvalid)
	}
	for i, part := range strings.Split(lang, "-") {
		ok := part != "" && len(part) <= 8
		for _, r := range part {
			letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
			ok = ok && (letter || i > 0 && r >= '0' && r <= '9')
		}
		if !ok || i == 0 && (len(part) < 2 || len(part) > 3) {
			return fmt.Errorf("%w: %q is not a language code", ErrInvalid, lang)
		}
	}
	return nil
}

// SetLanguage sets the account's language for pages and mail; "" clears
// it.
func (s *Service) SetLanguage(ctx context.Context, accountID int64, lang string) error {
	if err := ValidateLanguage(lang); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE accounts SET language = ? WHERE id = ?`, lang, accountID)
	if err != nil {
		return fmt.Errorf("auth: set language: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// ShareMail reports whether the member gets a mail when something is
// shared with them (on unless they turned it off).
func (s *Service) ShareMail(ctx context.Context, accountID int64) (bool, error) {
	var on bool
	err := s.db.QueryRowContext(ctx, `SELECT share_mail FROM accounts WHERE id = ?`, accountID).Scan(&on)
	if errors.Is(err, sql.ErrNoRows) {
		return false, ErrNotFound
	}
	if err != nil {
		return false, fmt.Errorf("auth: share mail: %w", err)
	}
	return on, nil
}

// SetShareMail turns the member's share mails on or off.
func (s *Service) SetShareMail(ctx context.Context, accountID int64, on bool) error {
	res, err := s.db.ExecContext(ctx, `UPDATE accounts SET share_mail = ? WHERE id = ?`, flag(on), accountID)
	if err != nil {
		return fmt.Errorf("auth: set share mail: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
