// Package auth is caucus's identity layer: accounts and groups, passwords,
// WebAuthn credentials (W3C Web Authentication Level 3), TOTP (RFC 6238),
// recovery codes, app passwords for IMAP, SMTP and WebDAV, server-side web
// sessions, throttling of failed sign-ins, and the revocation hub that closes
// an account's live connections.
//
// Every other part of caucus signs users in through this package and is
// revoked through it: a password alone never opens anything. Web sign-in
// needs a second factor (or a passkey with user verification); protocols that
// cannot do WebAuthn take only scoped app passwords (see [Service.AppPassword]).
package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/caucus-org/caucus/auth/password"
	"github.com/caucus-org/caucus/auth/throttle"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/metrics"
)

// Errors returned by the service. Handlers map them to generic texts; the
// detail goes to the audit log.
var (
	ErrNotFound       = errors.New("auth: not found")
	ErrBadCredentials = errors.New("auth: wrong address or password")
	ErrThrottled      = errors.New("auth: too many failed attempts, wait and try again")
	ErrInactive       = errors.New("auth: account is not active")
	ErrNeedsFactor    = errors.New("auth: a second factor is required")
	ErrBadCode        = errors.New("auth: wrong or already used code")
	ErrStepUp         = errors.New("auth: sign in again to do this")
	ErrLastFactor     = errors.New("auth: the last second factor cannot be removed")
	ErrNeedWebAuthn   = errors.New("auth: admins must keep at least one passkey or security key")
	ErrInviteInvalid  = errors.New("auth: this invite link is invalid, used or expired")
	ErrExists         = errors.New("auth: already exists")
	ErrInvalid        = errors.New("auth: invalid input")
	ErrScope          = errors.New("auth: app password not valid for this service")
	ErrSessionInvalid = errors.New("auth: session expired or signed out")
)

// Role is what an account may do.
type Role string

// Roles.
const (
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
	// RoleOfficer is a member who holds the party's keys in another
	// sense (treasurer, leader, spokesperson): they must hold
	// [OfficerKeys] passkeys or security keys, so that losing one never
	// means an admin's reset, and sign in with no other factor.
	RoleOfficer Role = "officer"
	// RoleVolunteer is a campaign volunteer: access has a last day, mail
	// is not forwarded outside the party, public links last a week at
	// most, the hourly sending limit is lower, and the member directory
	// is not offered (the rules of the campaign-security guides for
	// short-term staff; each is enforced where it applies).
	RoleVolunteer Role = "volunteer"
)

// ErrVolunteerLastDay is a volunteer without a last day of access.
var ErrVolunteerLastDay = fmt.Errorf("%w: a volunteer needs a last day of access", ErrInvalid)

// VolunteerLinkDays is the longest a volunteer's public link lasts.
const VolunteerLinkDays = 7

// OfficerKeys is how many passkeys or security keys an officer holds.
const OfficerKeys = 2

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool {
	return r == RoleAdmin || r == RoleMember || r == RoleOfficer || r == RoleVolunteer
}

// stored is how the accounts table keeps r: its role column and subrole
// mark (auth migration 6).
func (r Role) stored() (role, subrole string) {
	if r == RoleOfficer || r == RoleVolunteer {
		return string(RoleMember), string(r)
	}
	return string(r), ""
}

// State is where an account is in its life.
type State string

// States. Only active accounts (and invited ones, for enrolment) sign in.
const (
	StateInvited    State = "invited"
	StateActive     State = "active"
	StateSuspended  State = "suspended"
	StateOffboarded State = "offboarded"
)

// Config holds the service's policy.
type Config struct {
	RPID     string   // WebAuthn relying party id: the web host name, e.g. "mail.example.org"
	RPName   string   // shown by authenticators, e.g. "caucus"
	Origins  []string // allowed web origins, e.g. "https://mail.example.org"
	TOTPName string   // issuer in authenticator apps; default RPName

	IdleTimeout        time.Duration // web session idle timeout; default 30m
	AbsoluteTimeout    time.Duration // web session lifetime; default 12h
	StepUpWindow       time.Duration // how recent a sign-in must be for sensitive changes; default 5m
	InviteTTL          time.Duration // default 72h
	AdminsNeedWebAuthn bool          // policy: admins hold at least one WebAuthn credential
	// OfficerAAGUIDs, if not empty, are the authenticator models (AAGUIDs,
	// in the 8-4-4-4-12 hex form) an officer may register; the party's
	// choice of keys. The AAGUID is what the authenticator reports in its
	// attestation; caucus does not check attestation certificates against
	// a metadata service (it calls no outside service).
	OfficerAAGUIDs []string
}

func (c *Config) defaults() {
	if c.RPName == "" {
		c.RPName = "caucus"
	}
	if c.TOTPName == "" {
		c.TOTPName = c.RPName
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Minute
	}
	if c.AbsoluteTimeout <= 0 {
		c.AbsoluteTimeout = 12 * time.Hour
	}
	if c.StepUpWindow <= 0 {
		c.StepUpWindow = 5 * time.Minute
	}
	if c.InviteTTL <= 0 {
		c.InviteTTL = 72 * time.Hour
	}
}

// Deps are what the service is built on.
type Deps struct {
	DB      *db.DB
	Audit   *audit.Log
	Log     *slog.Logger
	Now     func() time.Time // nil: time.Now
	Keys    *Keys
	Hasher  *password.Hasher // nil: a default hasher
	Metrics *metrics.Set     // nil: web sign-ins are not counted

	// Revocations registers live connections and closes them when
	// access is revoked; nil: a new in-process [Hub].
	Revocations Revocations
}

// Service is the identity layer. It is safe for concurrent use.
type Service struct {
	cfg          Config
	db           *db.DB
	audit        *audit.Log
	log          *slog.Logger
	now          func() time.Time
	keys         *Keys
	hasher       *password.Hasher
	throttle     *throttle.Limiter // failures per account (and per app-password login and address)
	addrThrottle *throttle.Limiter // failures per source address
	gate         *gate             // sign-in attempts in flight
	wa           *webauthn.WebAuthn
	hub          Revocations
	metrics      *metrics.Set

	apMu    sync.RWMutex
	apCache map[[32]byte]appPassEntry // keyed hash → entry; the fast path of AppPassword
	apDirty map[int64]appPassUse      // last uses not yet written
	// apOwner is, on PostgreSQL, the account of each live app password
	// this node has seen (keyed hash → account id; an app password never
	// changes hands), so that a check reads the account's revocation
	// epoch before its one database read (see liveAppPassword).
	apOwner map[[32]byte]int64
	// pg is, on PostgreSQL with ShareCaches, the cache of app passwords
	// checked and of members' groups (see clustercache.go).
	pg pgCache
}

// New builds the service. Call [Component] migrations before.
func New(cfg Config, d Deps) (*Service, error) {
	cfg.defaults()
	if d.DB == nil || d.Audit == nil || d.Keys == nil {
		return nil, errors.New("auth: DB, Audit and Keys are required")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Hasher == nil {
		d.Hasher = password.NewHasher(password.DefaultParams(), 0)
	}
	if d.Revocations == nil {
		d.Revocations = NewHub()
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: cfg.RPName,
		RPOrigins:     cfg.Origins,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: 5 * time.Minute, TimeoutUVD: 5 * time.Minute},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: 5 * time.Minute, TimeoutUVD: 5 * time.Minute},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("auth: webauthn config: %w", err)
	}
	return &Service{
		cfg:          cfg,
		db:           d.DB,
		audit:        d.Audit,
		log:          d.Log,
		now:          d.Now,
		keys:         d.Keys,
		hasher:       d.Hasher,
		throttle:     throttle.New(throttle.Config{Limit: passwordLimit}, d.Now),
		addrThrottle: throttle.New(throttle.Config{Free: addrFree}, d.Now),
		gate:         newGate(),
		metrics:      d.Metrics,
		wa:           wa,
		hub:          d.Revocations,
		apDirty:      map[int64]appPassUse{},
		apOwner:      map[[32]byte]int64{},
	}, nil
}

// Config returns the service's effective configuration.
func (s *Service) Config() Config { return s.cfg }

// Hub returns the revocation bus that live connections register with.
func (s *Service) Hub() Revocations { return s.hub }

// Audit returns the audit log the service writes to.
func (s *Service) Audit() *audit.Log { return s.audit }

// Client describes where a request comes from, for throttling and the audit log.
type Client struct {
	Addr      netip.Addr
	UserAgent string
	// Device is the device cookie the browser sent, if any ([Service.DeviceToken]).
	Device string
}

func (c Client) addr() string {
	if !c.Addr.IsValid() {
		return ""
	}
	return c.Addr.String()
}

// NormalizeLogin lower-cases and trims a login address.
func NormalizeLogin(login string) string {
	return strings.ToLower(strings.TrimSpace(login))
}
