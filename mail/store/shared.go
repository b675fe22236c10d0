package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/db"
)

// Role mailboxes (press@, info@, treasurer@) belong to the party, not to a
// person. A role is a set of mailboxes under a store owner id that is no
// person's: the negative of the role's id ([Role.Owner]). auth's account
// ids are positive, so the two never meet, and a role has no account to
// sign in with, no password and no factor: there is never a secret to
// pass around. Everything the store does for an account (special-use
// mailboxes, UIDs, mod-sequences, quota, QRESYNC) it does for a role's
// owner id unchanged. An auth account of a "role" kind that can never sign
// in was the other way; it would have put a non-person in every list of
// people (the console, the directory, postmaster's admins, the
// impersonation check) and in every sign-in path as one more case to
// refuse.
//
// Admins grant members access: read, or read and send-as ([Grant]).
// Flags of a role's messages are the messages' flags, so \Seen is shared:
// what one member of the press team read is read for the others, which is
// what a team answering one inbox expects (a per-person \Seen would show
// each of them every message as new).
//
// Grants are changed by [Store.SetGrant], [Store.RevokeGrant] and
// [Store.RevokeGrants]; each publishes a [ChangeGrants] on the change bus,
// so that live IMAP sessions of the member lose a revoked role mailbox at
// once.

// ChangeGrants says that a member's access to a role changed: AccountID
// is the member, MailboxID the role's owner id ([Role.Owner], negative,
// so no mailbox's id).
const ChangeGrants ChangeKind = 100

// SharedRoot is the first level of the names under which a member's IMAP
// account shows the role mailboxes granted to them (RFC 2342 shared
// namespace): "Shared/press@party.example/INBOX".
const SharedRoot = "Shared"

// Errors of role mailboxes.
var (
	ErrNoRole     = errors.New("store: no such role mailbox")
	ErrRoleExists = errors.New("store: role mailbox already exists")
	ErrNoGrant    = errors.New("store: no access to this role mailbox")
	ErrRoleName   = errors.New("store: invalid role address")
)

// schemaRoles (version 6) holds the role mailboxes and who may use them.
//
//   - mail_roles: one row per role address; its mailboxes are those of the
//     owner id -id (AUTOINCREMENT: a role's id, and so its mailboxes, are
//     never handed to a later role).
//   - mail_role_grants: who may read a role's mailboxes, and send as its
//     address; account_id is an auth account (the store does not reference
//     auth's tables, see [Component]).
const schemaRoles = `
CREATE TABLE mail_roles (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	address    TEXT NOT NULL UNIQUE COLLATE NOCASE,
	name       TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE TABLE mail_role_grants (
	role_id    INTEGER NOT NULL REFERENCES mail_roles(id) ON DELETE CASCADE,
	account_id INTEGER NOT NULL,
	send_as    INTEGER NOT NULL,
	granted_by TEXT NOT NULL,
	granted_at INTEGER NOT NULL,
	PRIMARY KEY (role_id, account_id)
) WITHOUT ROWID;
CREATE INDEX mail_role_grants_account ON mail_role_grants(account_id);
`

// Role is a role mailbox: an address of the party that no person owns.
type Role struct {
	ID      int64
	Address string // lower case, e.g. "press@party.example"
	Name    string // what the console shows, e.g. "Press office"
	Created time.Time
}

// Owner is the store owner id of the role's mailboxes: in place of an
// account id in every method that takes one.
func (r Role) Owner() int64 { return -r.ID }

// IsRoleOwner reports whether an owner id (a mailbox's AccountID) is a
// role's rather than a person's.
func IsRoleOwner(owner int64) bool { return owner < 0 }

// Grant is a member's access to a role mailbox.
type Grant struct {
	Role      Role
	AccountID int64
	SendAs    bool // may send as Role.Address, besides reading
	GrantedBy string
	GrantedAt time.Time
}

// Rights are the RFC 4314 rights (section 2.1) a grant gives on each of
// the role's mailboxes: "l" see it, "r" read it, "s" keep \Seen (shared
// by everyone with access); with send-as also "i", to APPEND the copy a
// client keeps in the role's Sent, and "p", to post to it. Nobody has
// "a": only an admin grants, in the console.
func (g Grant) Rights() string {
	if g.SendAs {
		return "lrsip"
	}
	return "lrs"
}

// Level names the grant for people and the audit log: "read" or
// "read+send-as".
func (g Grant) Level() string {
	if g.SendAs {
		return "read+send-as"
	}
	return "read"
}

// NormalizeRoleAddress lower-cases and checks a role address: one "@",
// a local part and a domain, no subaddress ("+"), no spaces.
func NormalizeRoleAddress(address string) (string, error) {
	a := strings.ToLower(strings.TrimSpace(address))
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || strings.Count(a, "@") != 1 || strings.ContainsAny(a, "+/ \t\r\n\"<>*%\\") || len(a) > 254 {
		return "", fmt.Errorf("%w: %q", ErrRoleName, address)
	}
	return a, nil
}

// roleCols are the columns scanRole reads, of mail_roles r.
const roleCols = `r.id, r.address, r.name, r.created_at`

func scanRole(r interface{ Scan(...any) error }) (Role, error) {
	var ro Role
	var created int64
	if err := r.Scan(&ro.ID, &ro.Address, &ro.Name, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return ro, ErrNoRole
		}
		return ro, fmt.Errorf("store: role: %w", err)
	}
	ro.Created = time.Unix(created, 0)
	return ro, nil
}

// CreateRole makes a role mailbox for address with its special-use
// mailboxes ([SpecialUse]); [ErrRoleExists] if the address has one. The
// caller checks that the address is one of the party's and no person's,
// group's or alias's.
func (s *Store) CreateRole(ctx context.Context, address, name string) (Role, error) {
	a, err := NormalizeRoleAddress(address)
	if err != nil {
		return Role{}, err
	}
	name = strings.TrimSpace(name)
	if len(name) > 200 || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return Role{}, fmt.Errorf("%w: name", ErrRoleName)
	}
	ro := Role{Address: a, Name: name, Created: s.now().Truncate(time.Second)}
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx, ch *changes) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO mail_roles (address, name, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
			a, name, ro.Created.Unix()).Scan(&ro.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrRoleExists, a)
		}
		if err != nil {
			return fmt.Errorf("store: create role: %w", err)
		}
		return s.ensureAccount(ctx, tx, ch, ro.Owner())
	})
	return ro, err
}

// Roles lists the role mailboxes by address.
func (s *Store) Roles(ctx context.Context) ([]Role, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+roleCols+` FROM mail_roles r ORDER BY r.address`)
	if err != nil {
		return nil, fmt.Errorf("store: roles: %w", err)
	}
	defer rows.Close()
	var out []Role
	for rows.Next() {
		ro, err := scanRole(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ro)
	}
	return out, rows.Err()
}

// RoleByAddress returns the role of an address; a subaddress
// ("press+x@…", RFC 5233) is the role's too. [ErrNoRole] if none.
func (s *Store) RoleByAddress(ctx context.Context, address string) (Role, error) {
	a := strings.ToLower(strings.TrimSpace(address))
	if at := strings.LastIndexByte(a, '@'); at > 0 {
		if plus := strings.IndexByte(a[:at], '+'); plus > 0 {
			a = a[:plus] + a[at:]
		}
	}
	k, err := db.Remember(s.memo, "role\x00"+a, func() (keptRole, bool, error) {
		st, err := s.db.Prepared(ctx, `SELECT `+roleCols+` FROM mail_roles r WHERE r.address = ?`)
		if err != nil {
			return keptRole{}, false, fmt.Errorf("store: role: %w", err)
		}
		ro, err := scanRole(st.QueryRowContext(ctx, a))
		if errors.Is(err, ErrNoRole) {
			return keptRole{}, true, nil
		}
		return keptRole{ro, err == nil}, true, err
	})
	if err == nil && !k.ok {
		return Role{}, ErrNoRole
	}
	return k.role, err
}

// keptRole is what the memo keeps of an address: its role, if it has one.
type keptRole struct {
	role Role
	ok   bool
}

// SetMemo makes the store keep, in m, which addresses are roles' (see
// [db.Memo]: on PostgreSQL, kept true by the triggers of migration 7 on
// db.MailRouteChannel). It is called once, while wiring, before any
// lookup.
func (s *Store) SetMemo(m *db.Memo) { s.memo = m }

// RoleByID returns a role; [ErrNoRole] if none.
func (s *Store) RoleByID(ctx context.Context, id int64) (Role, error) {
	return scanRole(s.db.QueryRowContext(ctx, `SELECT `+roleCols+` FROM mail_roles r WHERE r.id = ?`, id))
}

// grantCols are the columns scanGrant reads, of mail_role_grants g joined
// with mail_roles r.
const grantCols = roleCols + `, g.account_id, g.send_as, g.granted_by, g.granted_at`

func scanGrant(r interface{ Scan(...any) error }) (Grant, error) {
	var g Grant
	var created, at int64
	if err := r.Scan(&g.Role.ID, &g.Role.Address, &g.Role.Name, &created, &g.AccountID, &g.SendAs, &g.GrantedBy, &at); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return g, ErrNoGrant
		}
		return g, fmt.Errorf("store: role grant: %w", err)
	}
	g.Role.Created, g.GrantedAt = time.Unix(created, 0), time.Unix(at, 0)
	return g, nil
}

// queryGrants runs a query of grantCols.
func (s *Store) queryGrants(ctx context.Context, q querier, where string, args ...any) ([]Grant, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+grantCols+` FROM mail_role_grants g JOIN mail_roles r ON r.id = g.role_id WHERE `+where+` ORDER BY r.address, g.account_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: role grants: %w", err)
	}
	defer rows.Close()
	var out []Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// GrantsOf lists the role mailboxes a member may use, by address.
func (s *Store) GrantsOf(ctx context.Context, accountID int64) ([]Grant, error) {
	return s.queryGrants(ctx, s.db, `g.account_id = ?`, accountID)
}

// RoleGrants lists who may use a role mailbox.
func (s *Store) RoleGrants(ctx context.Context, roleID int64) ([]Grant, error) {
	return s.queryGrants(ctx, s.db, `g.role_id = ?`, roleID)
}

// GrantFor returns a member's grant on the role whose owner id is owner
// ([Role.Owner]); [ErrNoGrant] if there is none (or owner is no role).
func (s *Store) GrantFor(ctx context.Context, accountID, owner int64) (Grant, error) {
	if !IsRoleOwner(owner) {
		return Grant{}, ErrNoGrant
	}
	st, err := s.db.Prepared(ctx, `SELECT `+grantCols+` FROM mail_role_grants g JOIN mail_roles r ON r.id = g.role_id WHERE g.role_id = ? AND g.account_id = ?`)
	if err != nil {
		return Grant{}, fmt.Errorf("store: role grant: %w", err)
	}
	return scanGrant(st.QueryRowContext(ctx, -owner, accountID))
}

// GrantByAddress returns a member's grant on the role of address;
// [ErrNoRole] if address is no role, [ErrNoGrant] if the member has none.
func (s *Store) GrantByAddress(ctx context.Context, accountID int64, address string) (Grant, error) {
	ro, err := s.RoleByAddress(ctx, address)
	if err != nil {
		return Grant{}, err
	}
	return s.GrantFor(ctx, accountID, ro.Owner())
}

// SetGrant gives a member access to a role mailbox, or changes it (read,
// or read and send-as), recording who granted it.
func (s *Store) SetGrant(ctx context.Context, actor string, roleID, accountID int64, sendAs bool) error {
	if accountID <= 0 {
		return fmt.Errorf("store: grant: bad account %d", accountID)
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, ch *changes) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO mail_role_grants (role_id, account_id, send_as, granted_by, granted_at)
			SELECT id, ?, ?, ?, ? FROM mail_roles WHERE id = ?
			ON CONFLICT (role_id, account_id) DO UPDATE SET send_as = excluded.send_as, granted_by = excluded.granted_by, granted_at = excluded.granted_at`,
			accountID, boolInt(sendAs), actor, s.now().Unix(), roleID)
		if err != nil {
			return fmt.Errorf("store: grant: %w", err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM mail_roles WHERE id = ?`, roleID).Scan(&n); err != nil {
			return fmt.Errorf("store: grant: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("%w: id %d", ErrNoRole, roleID)
		}
		ch.add(Change{Kind: ChangeGrants, AccountID: accountID, MailboxID: -roleID})
		return nil
	})
}

// RevokeGrant ends a member's access to a role mailbox; [ErrNoGrant] if
// there was none. Live IMAP sessions of the member lose the role's
// mailboxes at once ([ChangeGrants]).
func (s *Store) RevokeGrant(ctx context.Context, roleID, accountID int64) (Grant, error) {
	var g Grant
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, ch *changes) error {
		gs, err := s.queryGrants(ctx, tx, `g.role_id = ? AND g.account_id = ?`, roleID, accountID)
		if err != nil {
			return err
		}
		if len(gs) == 0 {
			return ErrNoGrant
		}
		g = gs[0]
		if _, err := tx.ExecContext(ctx, `DELETE FROM mail_role_grants WHERE role_id = ? AND account_id = ?`, roleID, accountID); err != nil {
			return fmt.Errorf("store: revoke grant: %w", err)
		}
		ch.add(Change{Kind: ChangeGrants, AccountID: accountID, MailboxID: -roleID})
		return nil
	})
	return g, err
}

// RevokeGrants ends every grant of a member (offboarding) and returns
// them, by address.
func (s *Store) RevokeGrants(ctx context.Context, accountID int64) ([]Grant, error) {
	var gs []Grant
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, ch *changes) error {
		var err error
		if gs, err = s.queryGrants(ctx, tx, `g.account_id = ?`, accountID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM mail_role_grants WHERE account_id = ?`, accountID); err != nil {
			return fmt.Errorf("store: revoke grants: %w", err)
		}
		for _, g := range gs {
			ch.add(Change{Kind: ChangeGrants, AccountID: accountID, MailboxID: -g.Role.ID})
		}
		return nil
	})
	return gs, err
}

// SharedName is the name under which a member's IMAP account and webmail
// show a role's mailbox: "Shared/press@party.example/INBOX".
func SharedName(g Grant, mailbox string) string {
	return SharedRoot + string(Delimiter) + g.Role.Address + string(Delimiter) + mailbox
}

// SplitSharedName splits a name of the shared namespace into the role's
// address and the role's mailbox name ("" for "Shared/press@…" itself).
// ok is false for a name outside the namespace.
func SplitSharedName(name string) (address, mailbox string, ok bool) {
	rest, found := strings.CutPrefix(name, SharedRoot+string(Delimiter))
	if !found || rest == "" {
		return "", "", false
	}
	address, mailbox, _ = strings.Cut(rest, string(Delimiter))
	return address, mailbox, address != ""
}

// SharedMailbox resolves a name of the shared namespace for a member: the
// role's mailbox and the member's grant. [ErrNoMailbox] for a name outside
// the namespace, a role the member has no grant on, or a mailbox the role
// does not have: a member without a grant cannot tell whether a role
// exists.
func (s *Store) SharedMailbox(ctx context.Context, accountID int64, name string) (Mailbox, Grant, error) {
	address, inner, ok := SplitSharedName(name)
	if !ok || inner == "" {
		return Mailbox{}, Grant{}, fmt.Errorf("%w: %q", ErrNoMailbox, name)
	}
	g, err := s.GrantByAddress(ctx, accountID, address)
	if errors.Is(err, ErrNoRole) || errors.Is(err, ErrNoGrant) {
		return Mailbox{}, Grant{}, fmt.Errorf("%w: %q", ErrNoMailbox, name)
	}
	if err != nil {
		return Mailbox{}, Grant{}, err
	}
	mb, err := s.Mailbox(ctx, g.Role.Owner(), inner)
	return mb, g, err
}
