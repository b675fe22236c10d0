// Package route decides where mail for the party's addresses goes and who
// may send as which address: accounts, aliases, group lists (a group's
// address reaches all its members), mailing lists (mail/lists, hooked in
// with [Directory.SetLists]), and forwarding (used when staff leave).
// Subaddresses ("name+tag@domain") reach "name@domain" (RFC 5233). An
// account may have an auto-reply (see [AutoReply]); mail/autoreply sends it.
package route

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/db"
)

// Errors.
var (
	ErrNotOurs = errors.New("route: not one of the party's domains")
	ErrUnknown = errors.New("route: no such address")
)

// Component returns the tables' migrations.
func Component() db.Component {
	return db.Component{Name: "route", Migrations: []db.Migration{{Version: 1, Postgres: schemaPostgres, SQL: `
CREATE TABLE aliases (
	address    TEXT PRIMARY KEY COLLATE NOCASE,
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL
);
CREATE INDEX aliases_account ON aliases(account_id);
CREATE TABLE forwards (
	account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	target     TEXT NOT NULL,
	keep_copy  INTEGER NOT NULL,
	created_at INTEGER NOT NULL
);
`}, {Version: 2, Postgres: db.NoPostgres, SQL: `
CREATE TABLE autoreplies (
	account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	subject    TEXT NOT NULL,
	body       TEXT NOT NULL,
	until      INTEGER NOT NULL, -- 0: until removed
	created_at INTEGER NOT NULL
);
`}, {Version: 3, SQL: "SELECT 1", Postgres: memoTriggersPG}}}
}

// memoTriggersPG (migration 3, PostgreSQL only) tells every node's mail
// routing memo (see [Directory.SetMemo]) of each write to the tables that
// say where mail for an address goes and how it is answered.
var memoTriggersPG = db.MemoTriggerPG(db.MailRouteChannel, "aliases") +
	db.MemoTriggerPG(db.MailRouteChannel, "forwards") +
	db.MemoTriggerPG(db.MailRouteChannel, "autoreplies")

// schemaPostgres is the whole schema on PostgreSQL (versions 1 and 2).
// An alias's address is citext, as it is COLLATE NOCASE on SQLite: looked
// up, kept unique and sorted without regard to case.
const schemaPostgres = `
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TABLE aliases (
	address    citext PRIMARY KEY,
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	created_at BIGINT NOT NULL
);
CREATE INDEX aliases_account ON aliases(account_id);
CREATE TABLE forwards (
	account_id BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	target     TEXT NOT NULL,
	keep_copy  BIGINT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE TABLE autoreplies (
	account_id BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	subject    TEXT NOT NULL,
	body       TEXT NOT NULL,
	until      BIGINT NOT NULL, -- 0: until removed
	created_at BIGINT NOT NULL
);
`

// Lists says which addresses are mailing lists' (mail/lists).
type Lists interface {
	IsList(ctx context.Context, address string) (bool, error)
}

// Directory answers routing questions. It is safe for concurrent use.
type Directory struct {
	db      *db.DB
	auth    *auth.Service
	domains []string
	now     func() time.Time
	lists   Lists                  // nil: no lists
	roles   Roles                  // nil: no role mailboxes (only CheckFree asks)
	freeze  atomic.Pointer[Freeze] // incident mode's switch (SetFreeze); nil: never frozen
	memo    *db.Memo               // answers kept on PostgreSQL (SetMemo); nil: none

	mu        sync.Mutex
	names     []string
	namesTime time.Time
}

// New builds a directory for the party's mail domains (the first is primary).
func New(d *db.DB, a *auth.Service, domains []string, now func() time.Time) *Directory {
	if now == nil {
		now = time.Now
	}
	ds := make([]string, len(domains))
	for i, x := range domains {
		ds[i] = strings.ToLower(x)
	}
	return &Directory{db: d, auth: a, domains: ds, now: now}
}

// SetLists hooks the mailing lists in: mail for a list's address (and
// its subaddresses, which carry the list's return paths) resolves to
// [Target.Lists]. It is called once, while wiring, before any lookup.
func (d *Directory) SetLists(l Lists) { d.lists = l }

// SetMemo makes the directory keep, in m, where mail for an address goes
// and which auto-reply answers it (see [db.Memo]: on PostgreSQL, kept
// true by the triggers of migration 3 and of auth's and mail/store's on
// db.MailRouteChannel). It is called once, while wiring, before any
// lookup.
func (d *Directory) SetMemo(m *db.Memo) { d.memo = m }

// OwnDomains returns the party's mail domains.
func (d *Directory) OwnDomains() []string { return slices.Clone(d.domains) }

// IsOurs reports whether address is in one of the party's domains.
func (d *Directory) IsOurs(address string) bool {
	_, domain, ok := split(address)
	return ok && slices.Contains(d.domains, domain)
}

// split returns the lower-cased local part (without a +subaddress) and domain.
func split(address string) (local, domain string, ok bool) {
	address = strings.ToLower(strings.TrimSpace(address))
	at := strings.LastIndexByte(address, '@')
	if at <= 0 || at == len(address)-1 {
		return "", "", false
	}
	local, domain = address[:at], address[at+1:]
	if plus := strings.IndexByte(local, '+'); plus > 0 {
		local = local[:plus]
	}
	return local, domain, true
}

// Target is where mail for an address goes.
type Target struct {
	Accounts []int64  // local mailboxes
	Remote   []string // forwarded to outside addresses
	Lists    []string // mailing lists' addresses, as given (subaddress kept, lower case)

	// unkept is set while resolving when the answer depends on more
	// than the memo's tables tell of (a list, a group, incident mode,
	// the clock): such an answer is not kept.
	unkept bool
}

// clone returns a copy of t that shares no slice with it.
func (t Target) clone() Target {
	return Target{Accounts: slices.Clone(t.Accounts), Remote: slices.Clone(t.Remote), Lists: slices.Clone(t.Lists)}
}

// Resolve says where mail for rcpt goes. ErrNotOurs for other domains,
// ErrUnknown for addresses that do not exist (refused at RCPT).
//
// On PostgreSQL with a memo (SetMemo), an address that reaches accounts
// (by login or alias, following forwards) is answered from it; one that
// reaches a list or a group, or whose answer depends on incident mode or
// the clock, is read every time.
func (d *Directory) Resolve(ctx context.Context, rcpt string) (Target, error) {
	t, err := db.Remember(d.memo, "route\x00"+strings.ToLower(strings.TrimSpace(rcpt)), func() (Target, bool, error) {
		var t Target
		if err := d.resolve(ctx, rcpt, &t, 0); err != nil {
			return Target{}, false, err
		}
		slices.Sort(t.Accounts)
		t.Accounts = slices.Compact(t.Accounts)
		slices.Sort(t.Remote)
		t.Remote = slices.Compact(t.Remote)
		slices.Sort(t.Lists)
		t.Lists = slices.Compact(t.Lists)
		return t, !t.unkept, nil
	})
	if err != nil {
		return Target{}, err
	}
	return t.clone(), nil // the memo's copy stays its own
}

const maxForwardDepth = 4

func (d *Directory) resolve(ctx context.Context, rcpt string, t *Target, depth int) error {
	local, domain, ok := split(rcpt)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknown, rcpt)
	}
	if !slices.Contains(d.domains, domain) {
		if depth > 0 { // a forward to the outside
			t.Remote = append(t.Remote, local+"@"+domain)
			return nil
		}
		return ErrNotOurs
	}
	address := local + "@" + domain
	if !storable(address) {
		return fmt.Errorf("%w: %q", ErrUnknown, rcpt)
	}
	acct, id, err := d.lookup(ctx, address)
	if err != nil {
		return err
	}
	if acct != nil {
		return d.deliverToAccount(ctx, *acct, t, depth)
	}
	if id != 0 {
		return d.deliverTo(ctx, id, t, depth)
	}
	t.unkept = true // a list or a group's (or not ours): read every time
	if isList, err := d.isList(ctx, address); err != nil {
		return err
	} else if isList {
		t.Lists = append(t.Lists, strings.ToLower(strings.TrimSpace(rcpt)))
		return nil
	}
	members, isGroup, err := d.auth.GroupMembers(ctx, local)
	if err != nil {
		return err
	}
	if !isGroup && local == "postmaster" {
		// RFC 5321 4.5.1: every domain has a postmaster; unless an account,
		// alias or group has the name, it reaches the admins, from the
		// first moment: the DMARC reports the published record asks
		// postmaster for start before the first admin has enrolled.
		if members, err = d.admins(ctx); err != nil {
			return err
		}
		isGroup = len(members) > 0
	}
	if isGroup {
		for _, m := range members {
			if err := d.deliverTo(ctx, m, t, depth); err != nil && !errors.Is(err, ErrUnknown) {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%w: %s", ErrUnknown, address)
}

// isList reports whether address is a mailing list's.
func (d *Directory) isList(ctx context.Context, address string) (bool, error) {
	if d.lists == nil {
		return false, nil
	}
	ok, err := d.lists.IsList(ctx, address)
	if err != nil {
		return false, fmt.Errorf("route: list: %w", err)
	}
	return ok, nil
}

// admins returns the ids of the admins who are active or invited (whose
// mailbox takes mail while they have not yet enrolled).
func (d *Directory) admins(ctx context.Context) ([]int64, error) {
	accts, err := d.auth.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, a := range accts {
		if a.IsAdmin() && (a.State == auth.StateActive || a.State == auth.StateInvited) {
			out = append(out, a.ID)
		}
	}
	return out, nil
}

// accountFor finds the account of an address or alias (0 if none).
func (d *Directory) accountFor(ctx context.Context, address string) (int64, error) {
	acct, id, err := d.lookup(ctx, address)
	if acct != nil {
		return acct.ID, err
	}
	return id, err
}

// lookup finds the account of an address: acct if it is the account's
// login (read already, so not read again by its id), else the id of the
// account whose alias it is (0 if none).
func (d *Directory) lookup(ctx context.Context, address string) (acct *auth.Account, id int64, err error) {
	if !storable(address) {
		return nil, 0, nil // no account or alias has it
	}
	a, err := d.auth.AccountByLogin(ctx, address)
	if err == nil {
		return &a, a.ID, nil
	}
	if !errors.Is(err, auth.ErrNotFound) {
		return nil, 0, err
	}
	id, err = d.aliasFor(ctx, address)
	return nil, id, err
}

// aliasFor returns the account whose alias address is (0 if none).
func (d *Directory) aliasFor(ctx context.Context, address string) (int64, error) {
	var id int64
	st, err := d.db.Prepared(ctx, `SELECT account_id FROM aliases WHERE address = ?`)
	if err != nil {
		return 0, fmt.Errorf("route: alias: %w", err)
	}
	err = st.QueryRowContext(ctx, address).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("route: alias: %w", err)
	}
	return id, nil
}

// storable reports whether s can be a text value of the database: valid
// UTF-8 without NUL, which PostgreSQL refuses in text (an error, where
// SQLite finds no row). A recipient from the network may hold either.
func storable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// deliverTo adds an account, following its forwarding.
func (d *Directory) deliverTo(ctx context.Context, accountID int64, t *Target, depth int) error {
	a, err := d.auth.Account(ctx, accountID)
	if err != nil {
		return err
	}
	return d.deliverToAccount(ctx, a, t, depth)
}

// deliverToAccount is deliverTo for an account read already.
func (d *Directory) deliverToAccount(ctx context.Context, a auth.Account, t *Target, depth int) error {
	accountID := a.ID
	var target string
	var keep bool
	st, err := d.db.Prepared(ctx, `SELECT target, keep_copy FROM forwards WHERE account_id = ?`)
	if err != nil {
		return fmt.Errorf("route: forward: %w", err)
	}
	err = st.QueryRowContext(ctx, accountID).Scan(&target, &keep)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if a.State == auth.StateOffboarded {
			// Mail that gets an auto-reply is kept in the (retained)
			// mailbox, never answered and dropped. (Until its end
			// time: the answer depends on the clock.)
			t.unkept = true
			on, err := d.hasAutoReply(ctx, accountID)
			if err != nil {
				return err
			}
			if !on {
				return fmt.Errorf("%w: %s has left", ErrUnknown, a.Login)
			}
		}
		t.Accounts = append(t.Accounts, accountID)
		return nil
	case err != nil:
		return fmt.Errorf("route: forward: %w", err)
	}
	if keep && a.State != auth.StateOffboarded {
		t.Accounts = append(t.Accounts, accountID)
	}
	if depth >= maxForwardDepth {
		return fmt.Errorf("%w: forwarding loop at %s", ErrUnknown, a.Login)
	}
	if !d.IsOurs(target) {
		// During incident mode the mail stays in the member's own
		// mailbox (retained, for someone who left) instead of leaving.
		t.unkept = true
		on, err := d.frozen(ctx)
		if err != nil {
			return err
		}
		if on {
			if !keep || a.State == auth.StateOffboarded {
				t.Accounts = append(t.Accounts, accountID)
			}
			return nil
		}
	}
	return d.resolve(ctx, target, t, depth+1)
}

// MaySendAs reports whether the account may use address as its envelope
// sender and From: its own address, its aliases, and the addresses of the
// groups it belongs to.
func (d *Directory) MaySendAs(ctx context.Context, acct auth.Account, address string) (bool, error) {
	local, domain, ok := split(address)
	if !ok {
		return false, nil
	}
	full := strings.ToLower(strings.TrimSpace(address))
	if full == strings.ToLower(acct.Login) || local+"@"+domain == strings.ToLower(acct.Login) {
		return true, nil
	}
	if !slices.Contains(d.domains, domain) {
		return false, nil
	}
	id, err := d.accountFor(ctx, local+"@"+domain)
	if err != nil {
		return false, err
	}
	if id != 0 {
		return id == acct.ID, nil
	}
	groups, err := d.auth.GroupsOf(ctx, acct.ID)
	if err != nil {
		return false, err
	}
	return slices.Contains(groups, local), nil
}

// AddAlias gives an account another address in one of the party's
// domains, if it is free ([Directory.CheckFree]).
func (d *Directory) AddAlias(ctx context.Context, actor string, accountID int64, address string) error {
	if !d.IsOurs(address) || strings.Contains(address, "+") {
		return fmt.Errorf("%w: %q is not an address in the party's domains", ErrNotOurs, address)
	}
	address = strings.ToLower(strings.TrimSpace(address))
	if err := d.CheckFree(ctx, address); err != nil {
		return err
	}
	acct, err := d.auth.Account(ctx, accountID)
	if err != nil {
		return err
	}
	return d.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO aliases (address, account_id, created_at) VALUES (?, ?, ?)`, address, accountID, d.now().Unix()); err != nil {
			return fmt.Errorf("route: add alias: %w", err)
		}
		return d.auth.Audit().RecordTx(ctx, tx, audit.Event{Actor: actor, Subject: acct.Login, Kind: "mail.alias.add", Detail: address})
	})
}

// Aliases lists an account's aliases.
func (d *Directory) Aliases(ctx context.Context, accountID int64) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT address FROM aliases WHERE account_id = ? ORDER BY address`, accountID)
	if err != nil {
		return nil, fmt.Errorf("route: aliases: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("route: aliases: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ErrVolunteerForward is a volunteer's mail forwarded outside the party:
// a short-term helper's mail stays on the party's server.
var ErrVolunteerForward = errors.New("route: a volunteer's mail is not forwarded outside the party")

// SetForwarding forwards an account's mail to target (an address inside or
// outside the party; a volunteer's only inside, [ErrVolunteerForward]),
// keeping a copy in the account's mailbox or not. An empty target removes
// the forwarding.
func (d *Directory) SetForwarding(ctx context.Context, actor string, accountID int64, target string, keepCopy bool) error {
	acct, err := d.auth.Account(ctx, accountID)
	if err != nil {
		return err
	}
	target = strings.ToLower(strings.TrimSpace(target))
	if target != "" {
		if err := auth.ValidateLogin(target); err != nil {
			return fmt.Errorf("route: forward target: %w", err)
		}
		if acct.Role == auth.RoleVolunteer && !d.IsOurs(target) {
			return ErrVolunteerForward
		}
		if !d.IsOurs(target) {
			if on, err := d.frozen(ctx); err != nil || on {
				return cmp.Or(err, ErrFrozen)
			}
		}
	}
	return d.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if target == "" {
			_, err = tx.ExecContext(ctx, `DELETE FROM forwards WHERE account_id = ?`, accountID)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO forwards (account_id, target, keep_copy, created_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (account_id) DO UPDATE SET target = excluded.target, keep_copy = excluded.keep_copy, created_at = excluded.created_at`,
				accountID, target, flag(keepCopy), d.now().Unix())
		}
		if err != nil {
			return fmt.Errorf("route: set forwarding: %w", err)
		}
		return d.auth.Audit().RecordTx(ctx, tx, audit.Event{Actor: actor, Subject: acct.Login, Kind: "mail.forward",
			Detail: fmt.Sprintf("target=%q keep_copy=%v", target, keepCopy)})
	})
}

// MemberNames returns the display names of the party's active members, for
// the impersonation check; the list is cached for a minute.
func (d *Directory) MemberNames() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.names != nil && d.now().Sub(d.namesTime) < time.Minute {
		return d.names
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	accts, err := d.auth.Accounts(ctx)
	if err != nil {
		return d.names // keep the last good list
	}
	names := make([]string, 0, len(accts))
	for _, a := range accts {
		if a.State == auth.StateActive || a.State == auth.StateInvited {
			names = append(names, a.DisplayName)
		}
	}
	d.names, d.namesTime = names, d.now()
	return names
}

// DropGroupRoutes removes the routes stored for a deleted group's address:
// the forwards to it (from people who left), in any of the party's
// domains and with any subaddress. Its list address and the right of its
// members to send as it need nothing: they follow the group, and end with
// it. A forward left in place would deliver a departed person's mail to a
// group made later with the same name. It returns the logins whose
// forward was removed.
func (d *Directory) DropGroupRoutes(ctx context.Context, actor, group string) ([]string, error) {
	group = strings.ToLower(strings.TrimSpace(group))
	rows, err := d.db.QueryContext(ctx, `SELECT a.login, f.account_id, f.target FROM forwards f JOIN accounts a ON a.id = f.account_id ORDER BY a.login`)
	if err != nil {
		return nil, fmt.Errorf("route: forwards: %w", err)
	}
	type fwd struct {
		login string
		id    int64
	}
	var drop []fwd
	for rows.Next() {
		var f fwd
		var target string
		if err := rows.Scan(&f.login, &f.id, &target); err != nil {
			rows.Close()
			return nil, fmt.Errorf("route: forwards: %w", err)
		}
		if local, domain, ok := split(target); ok && local == group && slices.Contains(d.domains, domain) {
			drop = append(drop, f)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("route: forwards: %w", err)
	}
	var out []string
	for _, f := range drop {
		err := d.db.Tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `DELETE FROM forwards WHERE account_id = ?`, f.id); err != nil {
				return fmt.Errorf("route: remove forward: %w", err)
			}
			return d.auth.Audit().RecordTx(ctx, tx, audit.Event{Actor: actor, Subject: f.login, Kind: "mail.forward",
				Detail: fmt.Sprintf("target=%q keep_copy=false (group %s deleted)", "", group)})
		})
		if err != nil {
			return out, err
		}
		out = append(out, f.login)
	}
	return out, nil
}

// flag is b as the 0 or 1 an INTEGER flag column holds (PostgreSQL's
// driver does not turn a Go bool into an integer).
func flag(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
