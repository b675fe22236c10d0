// Package contacts keeps the party's address books: each member's own
// ("Contacts", made on first use), one shared book per group that every
// member of the group sees (read-write, or read-only when an admin says
// so), and the party directory, a read-only book of every active member
// made from auth's accounts at the time of each request. Books hold vCards
// (RFC 6350, and 3.0 of RFC 2426), one per resource as CardDAV (RFC 6352)
// wants them, with a UID unique per book and an entity tag that is the
// content's hash. Every change takes the book's next modification
// sequence, so a sync token (RFC 6578) names a point in the book's history
// and [Store.Changes] says what changed since.
//
// Who may see a book is decided at every call from auth: leaving a group
// loses its book at once, and an offboarded or suspended member vanishes
// from the directory at the next request. The store knows people only
// through the small [Auth] interface, which *auth.Service satisfies. The
// CardDAV server is in package dav below.
package contacts

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/db"
)

// Errors. Callers test them with errors.Is.
var (
	// ErrNotFound: no such book or card, or one the member may not see
	// (the two answer alike).
	ErrNotFound = errors.New("contacts: not found")
	// ErrReadOnly: the book is the directory or a read-only group book.
	ErrReadOnly = errors.New("contacts: address book is read-only")
	// ErrPrecondition: an If-Match or If-None-Match condition failed
	// (RFC 9110 section 13.1).
	ErrPrecondition = errors.New("contacts: precondition failed")
	// ErrUIDConflict: another card of the book has the same UID (RFC 6352
	// section 6.3.2.1, CARDDAV:no-uid-conflict).
	ErrUIDConflict = errors.New("contacts: another card of the book has this UID")
	// ErrInvalid: not a vCard caucus stores (see Check), or a bad name.
	ErrInvalid = errors.New("contacts: invalid vCard")
	// ErrTooLarge: over MaxCardBytes, MaxProperties or an import's limit.
	ErrTooLarge = errors.New("contacts: too large")
	// ErrBadToken: a sync token this book did not give, or one too old
	// (RFC 6578 section 3.2, DAV:valid-sync-token).
	ErrBadToken = errors.New("contacts: invalid sync token")
	// ErrFull: the book has MaxCards cards.
	ErrFull = errors.New("contacts: the address book is full")
)

// Auth is what the address books need of auth: a member's groups (for the
// group books), the accounts and groups (for the directory) and a group's
// id by name. *auth.Service is one.
type Auth interface {
	AccountGroups(ctx context.Context, accountID int64) ([]auth.Group, error)
	Accounts(ctx context.Context) ([]auth.Account, error)
	Groups(ctx context.Context) ([]auth.Group, error)
	GroupID(ctx context.Context, name string) (int64, error)
}

// Member is who asks: a signed-in account.
type Member struct {
	ID    int64
	Login string
	Admin bool // may write read-only group books
	// Volunteer is a volunteer (auth.RoleVolunteer), who is not shown
	// the party directory.
	Volunteer bool
}

// MemberOf returns the Member of an account.
func MemberOf(a auth.Account) Member {
	return Member{ID: a.ID, Login: a.Login, Admin: a.IsAdmin(), Volunteer: a.Role == auth.RoleVolunteer}
}

// querier is what *sql.DB, *sql.Tx and db.Stmts have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Store is the address books. It is safe for concurrent use.
type Store struct {
	db   *db.DB
	auth Auth
	now  func() time.Time
	log  *slog.Logger
	lim  limits

	// dirMu serialises refreshes of the directory (see directory.go).
	dirMu    sync.Mutex
	dirCache dirCache // under dirMu
}

// Deps are the store's dependencies. Log and Now may be nil.
type Deps struct {
	Auth Auth
	Log  *slog.Logger
	Now  func() time.Time
	// MaxCards and MaxGone replace the limits of the same names when
	// positive (tests).
	MaxCards, MaxGone int
}

// limits are a store's bounds.
type limits struct{ cards, gone int }

// New returns the store on d, whose tables come from Component's
// migrations.
func New(d *db.DB, deps Deps) *Store {
	s := &Store{db: d, auth: deps.Auth, now: deps.Now, log: deps.Log}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.lim = limits{cards: MaxCards, gone: MaxGone}
	if deps.MaxCards > 0 {
		s.lim.cards = deps.MaxCards
	}
	if deps.MaxGone > 0 {
		s.lim.gone = deps.MaxGone
	}
	return s
}
