// Package notice mails members what they need to know about their
// account, in their language and with the party's name: security notices
// (a sign-in from a new device, a new app password, a sign-in method added
// or removed, a changed password, incident mode with the message the
// admins prepared for it), the notice that something was shared with
// them, and to the sponsor of a cohort of volunteers that its end is near.
//
// It follows the audit log (internal/audit), where auth and files record
// every such event, and sends through the server's one send path
// (mail/submit) into the member's own INBOX; nothing leaves the party's
// machine. Messages are RFC 5322 plain text in quoted-printable, marked
// Auto-Submitted: auto-generated (RFC 3834 section 5) so that no
// auto-reply answers them, with Content-Language (RFC 3282). They carry no
// secret (no password, token or code) and of an address only its network
// (/24 for IPv4, /48 for IPv6).
//
// Notices are coalesced per member and kind: the first is sent at once,
// and more of the same kind within a window (a minute; an hour, and per
// sharer, for shares) are sent together when the window ends, so a script
// that creates a hundred app passwords sends a member two or three mails,
// not a hundred. Members who are not active (invited, suspended, departed,
// past their last day) get none; a member may turn share mails off.
package notice

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/ui"
)

// Log is what the notices read of the audit log (*audit.Log).
type Log interface {
	List(ctx context.Context, f audit.Filter) ([]audit.Record, error)
	Watch() (<-chan struct{}, func())
}

// Accounts is what the notices need of the accounts (*auth.Service).
type Accounts interface {
	AccountByLogin(ctx context.Context, login string) (auth.Account, error)
	Account(ctx context.Context, id int64) (auth.Account, error)
	Accounts(ctx context.Context) ([]auth.Account, error)
	GroupMembers(ctx context.Context, group string) ([]int64, bool, error)
	ShareMail(ctx context.Context, accountID int64) (bool, error)
}

// Prepared gives the message the admins prepared for incident mode
// (*admin.Ops): in lang if they wrote it in lang, else in another
// language, which it returns; used "" when there is none.
type Prepared interface {
	PreparedIncidentMessage(ctx context.Context, lang string) (used, subject, body string, err error)
}

// Mailer sends a message caucus writes through its one send path
// (*submit.Service).
type Mailer interface {
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// Config is what the notices say and how often.
type Config struct {
	From    string   // sender address, e.g. "postmaster@example-party.org"; required
	BaseURL string   // the web address, for the links to the account and file pages
	Party   ui.Party // name, default language and time zone

	Window      time.Duration // security notices of one kind coalesced within; default [DefaultWindow]
	ShareWindow time.Duration // share notices of one sharer coalesced within; default [DefaultShareWindow]
	Poll        time.Duration // how often the log is read without a wake-up; default [DefaultPoll]
	Settle      time.Duration // how long after a wake-up the log is read; default [DefaultSettle]
}

// Defaults of [Config].
const (
	DefaultWindow      = time.Minute
	DefaultShareWindow = time.Hour
	DefaultPoll        = 5 * time.Second
	DefaultSettle      = 100 * time.Millisecond
)

// Deps are what the notices are built on.
type Deps struct {
	DB       *db.DB // the read position in the log ([Component])
	Audit    Log
	Accounts Accounts
	Mailer   Mailer
	Prepared Prepared         // nil: the incident notice has only the standard text
	Log      *slog.Logger     // nil: discarded
	Now      func() time.Time // nil: time.Now
}

// Notifier follows the audit log and mails the notices. Build it with
// [New]; [Notifier.Run] does the work. It is safe for concurrent use.
type Notifier struct {
	cfg Config
	d   Deps

	mu      sync.Mutex // one Step at a time
	cursor  int64      // id of the last audit record handled
	unsaved int        // records handled since the cursor was saved
	co      coalescer
}

// batch is how many audit records one query reads; saveEvery, after how
// many records without a notice the read position is saved.
const (
	batch     = 200
	saveEvery = 1000
)

// New builds the notifier and sets its read position: where it stopped
// before a restart, or on first start the newest record, so that the
// past is not mailed about.
func New(ctx context.Context, cfg Config, d Deps) (*Notifier, error) {
	if cfg.From == "" || d.DB == nil || d.Audit == nil || d.Accounts == nil || d.Mailer == nil {
		return nil, errors.New("notice: From, DB, Audit, Accounts and Mailer are required")
	}
	cfg.Window = orDefault(cfg.Window, DefaultWindow)
	cfg.ShareWindow = orDefault(cfg.ShareWindow, DefaultShareWindow)
	cfg.Poll = orDefault(cfg.Poll, DefaultPoll)
	cfg.Settle = orDefault(cfg.Settle, DefaultSettle)
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	n := &Notifier{cfg: cfg, d: d, co: coalescer{wins: map[key]*window{}}}
	if err := n.loadCursor(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

// orDefault is d, or def when d is not positive.
func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Component returns the table of the read position.
func Component() db.Component {
	return db.Component{Name: "notice", Migrations: []db.Migration{{Version: 1, SQL: `
CREATE TABLE notice_cursor (
	id       INTEGER PRIMARY KEY CHECK (id = 1),
	audit_id INTEGER NOT NULL -- the last audit record handled
);`, Postgres: `
CREATE TABLE notice_cursor (
	id       BIGINT PRIMARY KEY CHECK (id = 1),
	audit_id BIGINT NOT NULL -- the last audit record handled
);`}}}
}

// loadCursor reads the read position, or starts it at the newest record.
func (n *Notifier) loadCursor(ctx context.Context) error {
	err := n.d.DB.QueryRowContext(ctx, `SELECT audit_id FROM notice_cursor WHERE id = 1`).Scan(&n.cursor)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("notice: read position: %w", err)
	}
	newest, err := n.d.Audit.List(ctx, audit.Filter{Limit: 1})
	if err != nil {
		return fmt.Errorf("notice: read position: %w", err)
	}
	if len(newest) > 0 {
		n.cursor = newest[0].ID
	}
	return n.saveCursor(ctx)
}

func (n *Notifier) saveCursor(ctx context.Context) error {
	_, err := n.d.DB.ExecContext(ctx, `INSERT INTO notice_cursor (id, audit_id) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET audit_id = excluded.audit_id`, n.cursor)
	if err != nil {
		return fmt.Errorf("notice: save read position: %w", err)
	}
	return nil
}

// Run mails notices until ctx ends: it reads the log shortly after a
// new record wakes it (so that the record's transaction has committed),
// every Poll, and when a coalescing window ends. A stream of records
// never puts a read off: a wake-up only brings the next read forward.
//
// On several nodes the server runs one notifier at a time (under a lease),
// so Run first goes on where the notifier that ran last saved its read
// position, not from where this one was when it was built.
func (n *Notifier) Run(ctx context.Context) {
	if err := n.resume(ctx); err != nil && ctx.Err() == nil {
		n.d.Log.Warn("notices", "err", err)
	}
	wake, stop := n.d.Audit.Watch()
	defer stop()
	settle := n.cfg.Settle
	timer := time.NewTimer(0)
	defer timer.Stop()
	due := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
			if time.Until(due) > settle {
				due = time.Now().Add(settle)
				timer.Reset(settle)
			}
			continue
		case <-timer.C:
		}
		next, err := n.Step(ctx)
		if err != nil && ctx.Err() == nil {
			n.d.Log.Warn("notices", "err", err)
		}
		wait := n.cfg.Poll
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(n.d.Now()), settle))
		}
		due = time.Now().Add(wait)
		timer.Reset(wait)
	}
}

// resume moves the read position forward to the one saved, if another
// notifier saved a later one.
func (n *Notifier) resume(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var saved int64
	err := n.d.DB.QueryRowContext(ctx, `SELECT audit_id FROM notice_cursor WHERE id = 1`).Scan(&saved)
	if err != nil {
		return fmt.Errorf("notice: read position: %w", err)
	}
	if saved > n.cursor {
		n.cursor, n.unsaved = saved, 0
	}
	return nil
}

// Step handles the audit records written since the last step and sends
// the notices that are due. It returns when the next coalescing window
// ends (zero if none is waiting). Run calls it; tests call it with their
// own clock.
func (n *Notifier) Step(ctx context.Context) (next time.Time, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for {
		recs, err := n.d.Audit.List(ctx, audit.Filter{AfterID: n.cursor, Limit: batch})
		if err != nil {
			return time.Time{}, fmt.Errorf("notice: reading the audit log: %w", err)
		}
		slices.Reverse(recs) // oldest first
		noted := false
		for i, r := range recs {
			noted = n.handle(ctx, r, recs[i+1:]) || noted
			n.cursor = r.ID
		}
		// The position is saved after every notice, else once in a
		// while: a restart reads at most that many records again, none
		// of which is mailed about.
		if n.unsaved += len(recs); n.unsaved > 0 && (noted || n.unsaved >= saveEvery) {
			if err := n.saveCursor(ctx); err != nil {
				return time.Time{}, err
			}
			n.unsaved = 0
		}
		if len(recs) < batch {
			break
		}
	}
	for _, b := range n.co.due(n.d.Now()) {
		n.send(ctx, b)
	}
	return n.co.next(), nil
}
