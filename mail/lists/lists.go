// Package lists runs the party's member mailing lists: a list has an
// address in one of the party's domains, and its members are a group
// (following its membership), outside subscribers (supporters) whose
// consent is recorded with its time and source, or both.
//
// Posts from moderators who signed in to send go out at once; all others
// wait for a moderator's approval. Each approved post is sent to every
// member as a copy of its own, through mail/submit (DKIM-signed, queued at
// the paced bulk rate of mail/queue), carrying the list header fields of
// RFC 2919 (List-Id) and RFC 2369 (List-Post, List-Archive, List-Help,
// List-Unsubscribe) with a one-click unsubscription (RFC 8058) that a
// signed link per recipient allows without signing in. Remote copies go
// out from a return path of their own (VERP), so that the delivery
// status notifications coming back (RFC 3464) name the subscriber; an
// address that failed permanently [MaxHardBounces] times is suspended.
// Sent posts are kept as the list's archive, which only its members read.
package lists

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/mail/route"
)

// Errors.
var (
	ErrNotFound = errors.New("lists: no such list")
	ErrNoPost   = errors.New("lists: no such waiting post")
	ErrBadList  = errors.New("lists: invalid list")
	ErrBadToken = errors.New("lists: invalid or expired link")
	ErrTooLarge = errors.New("lists: post too large")
	ErrTooMany  = errors.New("lists: too many posts waiting")
	ErrClosed   = errors.New("lists: the list takes no outside subscribers")
	ErrTooSoon  = errors.New("lists: a confirmation was sent to this address recently")
)

// Limits.
const (
	MaxPost        = 10 << 20 // bytes of one post
	MaxWaiting     = 500      // posts waiting for approval per list
	MaxHardBounces = 3        // permanent failures before an address is suspended
	maxLocal       = 30       // a list address's local part: room for VERP
	confirmEvery   = 24 * time.Hour
	confirmValid   = 7 * 24 * time.Hour
)

// Consent sources.
const (
	SourceWeb    = "web"    // the subscription form, confirmed by mail (double opt-in)
	SourceImport = "import" // an import of a list the party kept elsewhere
	SourceAdmin  = "admin"  // added by an admin in the console
)

// Subscriber states.
const (
	StatePending      = "pending"
	StateActive       = "active"
	StateUnsubscribed = "unsubscribed"
	StateSuspended    = "suspended"
)

// Sender sends through mail/submit, the one way mail leaves: SendBulk for
// a list's copies (paced behind members' own mail), Send for a
// confirmation request.
type Sender interface {
	SendBulk(ctx context.Context, from string, to []string, msg []byte) error
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// Config is the service's identity.
type Config struct {
	Domains []string // the party's mail domains; list addresses live there
	BaseURL string   // "https://mail.example-party.org", for the links in the header
	Key     []byte   // at least 32 bytes: signs unsubscription, confirmation and VERP tokens
	// Language is the party's, for the confirmation mail of a request
	// that names none; "": English.
	Language string
}

// Directory says whether an address is taken by an account, an alias,
// a group or a role mailbox (*route.Directory): a list may not take it.
type Directory interface {
	CheckFree(ctx context.Context, address string) error
}

// Deps are what the service works with.
type Deps struct {
	DB     *db.DB
	Auth   *auth.Service
	Sender Sender
	Blobs  blob.Store // the lists' own blob store: the posts' text
	Dir    Directory  // nil: only other lists' addresses are checked
	Log    *slog.Logger
	Now    func() time.Time
}

// Service runs the lists. It is safe for concurrent use; call Run once.
type Service struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	wake chan struct{}
	// maxWaiting is MaxWaiting, lower in tests.
	maxWaiting int
}

// New builds the service.
func New(cfg Config, d Deps) (*Service, error) {
	if len(cfg.Key) < 32 {
		return nil, errors.New("lists: key shorter than 32 bytes")
	}
	if d.Blobs == nil {
		return nil, errors.New("lists: no blob store")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	for i, x := range cfg.Domains {
		cfg.Domains[i] = strings.ToLower(x)
	}
	cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	return &Service{cfg: cfg, deps: d, log: d.Log, wake: make(chan struct{}, 1), maxWaiting: MaxWaiting}, nil
}

// List is a mailing list.
type List struct {
	ID         int64
	Address    string   // news@example-party.org
	Name       string   // shown in List-Id and in the console
	Group      string   // "" or the group whose members are members
	Open       bool     // outside people may subscribe themselves (double opt-in)
	Moderators []string // logins
	Created    time.Time
}

// ListID is the list's identifier of RFC 2919 section 2: the address
// with "@" made a dot, e.g. "news.example-party.org".
func (l List) ListID() string { return strings.Replace(strings.ToLower(l.Address), "@", ".", 1) }

// local is the address's local part.
func (l List) local() (local, domain string) {
	local, domain, _ = strings.Cut(strings.ToLower(l.Address), "@")
	return local, domain
}

var localRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// reserved are the mailbox names RFC 2142 and RFC 5321 section 4.5.1
// keep for the mail system, whether or not someone has them now.
var reserved = []string{"postmaster", "abuse", "mailer-daemon", "hostmaster", "webmaster", "security"}

// validAddress checks a new list's address: in one of the party's
// domains, a plain local part short enough to leave room for the VERP
// tag, no subaddress.
func (s *Service) validAddress(addr string) (string, error) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || !slices.Contains(s.cfg.Domains, domain) {
		return "", fmt.Errorf("%w: %q is not an address in the party's domains", ErrBadList, addr)
	}
	if slices.Contains(reserved, local) {
		return "", fmt.Errorf("%w: %q is kept for the mail system (RFC 2142)", ErrBadList, addr)
	}
	if len(local) > maxLocal || !localRe.MatchString(local) {
		return "", fmt.Errorf("%w: %q: the name before @ must be at most %d letters, digits, dots, dashes", ErrBadList, addr, maxLocal)
	}
	return addr, nil
}

// Create makes a list. Its address must not be an account's, an
// alias, a group's or another list's.
func (s *Service) Create(ctx context.Context, actor string, l List) (int64, error) {
	addr, err := s.validAddress(l.Address)
	if err != nil {
		return 0, err
	}
	if err := s.free(ctx, addr); err != nil {
		return 0, err
	}
	l.Name = strings.TrimSpace(l.Name)
	if l.Name == "" || len(l.Name) > 100 || strings.ContainsAny(l.Name, "\r\n<>\"") {
		return 0, fmt.Errorf("%w: the name must be 1-100 characters without quotes or angle brackets", ErrBadList)
	}
	l.Group = strings.ToLower(strings.TrimSpace(l.Group))
	if l.Group != "" {
		if _, ok, err := s.deps.Auth.GroupMembers(ctx, l.Group); err != nil {
			return 0, err
		} else if !ok {
			return 0, fmt.Errorf("%w: no group %q", ErrBadList, l.Group)
		}
	}
	var id int64
	err = s.deps.DB.Tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO lists (address, name, grp, open, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			addr, l.Name, l.Group, flag(l.Open), s.deps.Now().Unix()).Scan(&id)
		if err != nil {
			return fmt.Errorf("%w: %s is taken", ErrBadList, addr)
		}
		for _, m := range l.Moderators {
			if _, err := tx.ExecContext(ctx, `INSERT INTO list_moderators (list_id, login) VALUES (?, ?) ON CONFLICT DO NOTHING`, id, strings.ToLower(m)); err != nil {
				return err
			}
		}
		return s.deps.Auth.Audit().RecordTx(ctx, tx, audit.Event{Actor: actor, Kind: "list.create",
			Detail: fmt.Sprintf("list=%s group=%q open=%v moderators=%q", addr, l.Group, l.Open, l.Moderators)})
	})
	if err != nil {
		return 0, fmt.Errorf("lists: create: %w", err)
	}
	return id, nil
}

// SetModerators replaces a list's moderators.
func (s *Service) SetModerators(ctx context.Context, actor string, id int64, logins []string) error {
	l, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	return s.deps.DB.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM list_moderators WHERE list_id = ?`, id); err != nil {
			return fmt.Errorf("lists: moderators: %w", err)
		}
		for _, m := range logins {
			if _, err := tx.ExecContext(ctx, `INSERT INTO list_moderators (list_id, login) VALUES (?, ?) ON CONFLICT DO NOTHING`, id, strings.ToLower(strings.TrimSpace(m))); err != nil {
				return fmt.Errorf("lists: moderators: %w", err)
			}
		}
		return s.deps.Auth.Audit().RecordTx(ctx, tx, audit.Event{Actor: actor, Kind: "list.moderators", Detail: fmt.Sprintf("list=%s moderators=%q", l.Address, logins)})
	})
}

// free checks that no account, alias, group or role mailbox has addr
// (route's one check, [route.Directory.CheckFree]).
func (s *Service) free(ctx context.Context, addr string) error {
	if s.deps.Dir == nil {
		return nil
	}
	err := s.deps.Dir.CheckFree(ctx, addr)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, route.ErrTaken), errors.Is(err, route.ErrNotOurs):
		return fmt.Errorf("%w: %w", ErrBadList, err)
	}
	return fmt.Errorf("lists: create: %w", err)
}

const listCols = `id, address, name, grp, open, created_at`

func scanList(sc interface{ Scan(...any) error }) (List, error) {
	var l List
	var created int64
	err := sc.Scan(&l.ID, &l.Address, &l.Name, &l.Group, &l.Open, &created)
	l.Created = time.Unix(created, 0)
	return l, err
}

// Get returns list id with its moderators.
func (s *Service) Get(ctx context.Context, id int64) (List, error) {
	l, err := scanList(s.deps.DB.QueryRowContext(ctx, `SELECT `+listCols+` FROM lists WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return List{}, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	if err != nil {
		return List{}, fmt.Errorf("lists: get: %w", err)
	}
	l.Moderators, err = s.moderators(ctx, id)
	return l, err
}

func (s *Service) moderators(ctx context.Context, id int64) ([]string, error) {
	rows, err := s.deps.DB.QueryContext(ctx, `SELECT login FROM list_moderators WHERE list_id = ? ORDER BY login`, id)
	if err != nil {
		return nil, fmt.Errorf("lists: moderators: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, fmt.Errorf("lists: moderators: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// All returns every list, by address.
func (s *Service) All(ctx context.Context) ([]List, error) {
	rows, err := s.deps.DB.QueryContext(ctx, `SELECT `+listCols+` FROM lists ORDER BY address`)
	if err != nil {
		return nil, fmt.Errorf("lists: all: %w", err)
	}
	var out []List
	for rows.Next() {
		l, err := scanList(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("lists: all: %w", err)
		}
		out = append(out, l)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("lists: all: %w", err)
	}
	for i := range out {
		if out[i].Moderators, err = s.moderators(ctx, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// byAddress finds the list of an address: "news@…" or a subaddress of it
// ("news+b-…@…"); ErrNotFound if none.
func (s *Service) byAddress(ctx context.Context, addr string) (List, string, error) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	local, domain, ok := strings.Cut(addr, "@")
	if !ok {
		return List{}, "", ErrNotFound
	}
	local, tag, _ := strings.Cut(local, "+")
	st, err := s.deps.DB.Prepared(ctx, `SELECT `+listCols+` FROM lists WHERE address = ?`)
	if err != nil {
		return List{}, "", fmt.Errorf("lists: by address: %w", err)
	}
	l, err := scanList(st.QueryRowContext(ctx, local+"@"+domain))
	if errors.Is(err, sql.ErrNoRows) {
		return List{}, "", ErrNotFound
	}
	if err != nil {
		return List{}, "", fmt.Errorf("lists: by address: %w", err)
	}
	return l, tag, nil
}

// IsList reports whether address (or the address it is a subaddress of)
// is a list's: mail/route delivers it here.
func (s *Service) IsList(ctx context.Context, address string) (bool, error) {
	_, _, err := s.byAddress(ctx, address)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// isModerator reports whether login moderates l.
func (s *Service) isModerator(ctx context.Context, l List, login string) (bool, error) {
	if login == "" {
		return false, nil
	}
	var n int
	err := s.deps.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM list_moderators WHERE list_id = ? AND login = ?`, l.ID, strings.ToLower(login)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("lists: moderator: %w", err)
	}
	return n > 0, nil
}
