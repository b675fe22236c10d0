// Package phish keeps what members report as phishing and the party's
// list of blocked senders, and carries out an admin's answer to a report:
// block the sender for the whole party and remove the message from every
// mailbox, in one audited step.
//
// Members report from webmail (mail/webmail's "Report phishing"), which
// also mails the report to the postmaster; the console (admin/console)
// lists the reports grouped by message, shows where the message is
// before anything is removed, and asks for the decision. The MX
// (mail/smtpserver.Checks) refuses mail from a blocked sender with
// 550 5.7.1 (RFC 5321 4.2.2, RFC 3463 5.7.1).
package phish

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/mail/store"
)

// Component returns the tables of reports and blocked senders.
func Component() db.Component {
	return db.Component{Name: "phish", Migrations: []db.Migration{{Version: 1, SQL: `
CREATE TABLE phish_reports (
	id          INTEGER PRIMARY KEY,
	reporter    TEXT NOT NULL,
	message_id  TEXT NOT NULL,
	sender      TEXT NOT NULL,
	sender_name TEXT NOT NULL,
	subject     TEXT NOT NULL,
	at          INTEGER NOT NULL,
	closed_at   INTEGER,
	closed_by   TEXT NOT NULL DEFAULT '',
	outcome     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX phish_reports_open ON phish_reports(closed_at, message_id, sender);
CREATE TABLE phish_blocked (
	sender   TEXT PRIMARY KEY,
	at       INTEGER NOT NULL,
	actor    TEXT NOT NULL,
	reason   TEXT NOT NULL
);
`}}}
}

// Limits on what a report keeps (they come from the message's header).
const (
	maxField  = 998 // RFC 5322 2.1.1: a header line's limit
	maxReason = 200
)

// Outcomes of a closed report.
const (
	OutcomeRemoved   = "removed"   // sender blocked, message removed everywhere
	OutcomeDismissed = "dismissed" // not phishing
)

// Errors.
var (
	ErrInvalid  = errors.New("phish: invalid")
	ErrNoReport = errors.New("phish: no such open report")
)

// Remover removes a message from every mailbox: *store.Store.
type Remover interface {
	FindEverywhere(ctx context.Context, m store.Match) ([]store.Found, error)
	RemoveEverywhere(ctx context.Context, m store.Match) ([]store.Found, error)
}

// Options are what a Service works with.
type Options struct {
	DB    *db.DB // with [Component] migrated
	Mail  Remover
	Audit *audit.Log // nil: nothing recorded (tests only)
	Log   *slog.Logger
	Now   func() time.Time // nil: time.Now
}

// Service keeps reports and the block list.
type Service struct {
	db    *db.DB
	mail  Remover
	audit *audit.Log
	log   *slog.Logger
	now   func() time.Time
}

// New returns a Service.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{db: o.DB, mail: o.Mail, audit: o.Audit, log: o.Log, now: o.Now}
}

// Report is what a member reported.
type Report struct {
	Reporter   string // the member's login
	MessageID  string // without angle brackets
	Sender     string // the first From address, lower case
	SenderName string // its display name
	Subject    string
}

// Record keeps a member's report. Reports without a Message-ID or From
// are kept too (the admin sees them), but cannot be acted on everywhere.
func (s *Service) Record(ctx context.Context, r Report) error {
	if r.Reporter == "" {
		return fmt.Errorf("%w: a report needs its reporter", ErrInvalid)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO phish_reports (reporter, message_id, sender, sender_name, subject, at) VALUES (?, ?, ?, ?, ?, ?)`,
		r.Reporter, clip(strings.Trim(r.MessageID, "<> "), maxField), clip(strings.ToLower(strings.TrimSpace(r.Sender)), maxField),
		clip(r.SenderName, maxField), clip(r.Subject, maxField), s.now().Unix())
	if err != nil {
		return fmt.Errorf("phish: record report: %w", err)
	}
	return nil
}

// Case is one reported message with every member's report of it.
type Case struct {
	ID         int64 // the first report's id; names the case in URLs
	MessageID  string
	Sender     string
	SenderName string
	Subject    string
	Reporters  []string
	First      time.Time
	Last       time.Time
	Blocked    bool // the sender is on the block list already
}

// Actionable says whether the message can be found everywhere: it needs
// a Message-ID and a From address.
func (c Case) Actionable() bool { return c.MessageID != "" && strings.Contains(c.Sender, "@") }

// Open returns the open reports, one Case per message and sender, newest
// first, at most limit of them.
func (s *Service) Open(ctx context.Context, limit int) ([]Case, error) {
	return s.cases(ctx, ``, limit)
}

// Case returns the open case whose first report has the given id.
func (s *Service) Case(ctx context.Context, id int64) (Case, error) {
	cs, err := s.cases(ctx, `AND (r.message_id, r.sender) = (SELECT message_id, sender FROM phish_reports WHERE id = ? AND closed_at IS NULL)`, 1, id)
	if err != nil {
		return Case{}, err
	}
	if len(cs) == 0 {
		return Case{}, fmt.Errorf("%w: %d", ErrNoReport, id)
	}
	return cs[0], nil
}

// cases reads the open reports grouped by message and sender, those the
// condition and its arguments keep, newest first, at most limit.
func (s *Service) cases(ctx context.Context, cond string, limit int, args ...any) ([]Case, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT min(r.id), r.message_id, r.sender, max(r.sender_name), max(r.subject),
		group_concat(r.reporter, char(10)), min(r.at), max(r.at),
		EXISTS (SELECT 1 FROM phish_blocked b WHERE b.sender = r.sender OR b.sender = '@' || substr(r.sender, instr(r.sender, '@') + 1))
		FROM phish_reports r WHERE r.closed_at IS NULL `+cond+`
		GROUP BY r.message_id, r.sender ORDER BY max(r.at) DESC, min(r.id) DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("phish: open reports: %w", err)
	}
	defer rows.Close()
	var out []Case
	for rows.Next() {
		var c Case
		var reporters string
		var first, last int64
		if err := rows.Scan(&c.ID, &c.MessageID, &c.Sender, &c.SenderName, &c.Subject, &reporters, &first, &last, &c.Blocked); err != nil {
			return nil, fmt.Errorf("phish: open reports: %w", err)
		}
		c.Reporters = uniq(strings.Split(reporters, "\n"))
		c.First, c.Last = time.Unix(first, 0), time.Unix(last, 0)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("phish: open reports: %w", err)
	}
	return out, nil
}

// Where returns every mailbox the case's message is in now.
func (s *Service) Where(ctx context.Context, c Case) ([]store.Found, error) {
	if !c.Actionable() {
		return nil, nil
	}
	return s.mail.FindEverywhere(ctx, store.Match{MessageID: c.MessageID, From: c.Sender})
}

// Outcome is what RemoveEverywhere did.
type Outcome struct {
	Removed  []store.Found // the copies removed
	Accounts int           // how many accounts had one
	Blocked  string        // the block list entry added ("" if it was there)
}

// RemoveEverywhere answers a case: the sender goes on the block list (the
// address, or with wholeDomain its domain as "@domain"), every copy of
// the message is removed from every mailbox, the case's reports are
// closed, and the audit log records who did it, what was blocked and
// how many copies went from how many accounts.
func (s *Service) RemoveEverywhere(ctx context.Context, actor, addr string, id int64, wholeDomain bool) (Outcome, error) {
	c, err := s.Case(ctx, id)
	if err != nil {
		return Outcome{}, err
	}
	if !c.Actionable() {
		return Outcome{}, fmt.Errorf("%w: the message has no Message-ID or From address", ErrInvalid)
	}
	entry := c.Sender
	if wholeDomain {
		entry = "@" + c.Sender[strings.LastIndexByte(c.Sender, '@')+1:]
	}
	var out Outcome
	added, err := s.block(ctx, entry, actor, "phishing report "+fmt.Sprint(id))
	if err != nil {
		return out, err
	}
	if added {
		out.Blocked = entry
	}
	out.Removed, err = s.mail.RemoveEverywhere(ctx, store.Match{MessageID: c.MessageID, From: c.Sender})
	if err != nil {
		return out, fmt.Errorf("phish: remove everywhere: %w", err)
	}
	accounts := map[int64]bool{}
	for _, f := range out.Removed {
		accounts[f.AccountID] = true
	}
	out.Accounts = len(accounts)
	if err := s.close(ctx, c, actor, OutcomeRemoved); err != nil {
		return out, err
	}
	s.record(ctx, audit.Event{Actor: actor, Kind: "phish.remove", Addr: addr,
		Detail: fmt.Sprintf("message_id=%s sender=%s blocked=%s copies=%d accounts=%d", c.MessageID, c.Sender, entry, len(out.Removed), out.Accounts)})
	return out, nil
}

// Dismiss closes a case as not phishing; nothing is blocked or removed.
func (s *Service) Dismiss(ctx context.Context, actor, addr string, id int64) error {
	c, err := s.Case(ctx, id)
	if err != nil {
		return err
	}
	if err := s.close(ctx, c, actor, OutcomeDismissed); err != nil {
		return err
	}
	s.record(ctx, audit.Event{Actor: actor, Kind: "phish.dismiss", Addr: addr, Detail: fmt.Sprintf("message_id=%s sender=%s", c.MessageID, c.Sender)})
	return nil
}

func (s *Service) close(ctx context.Context, c Case, actor, outcome string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE phish_reports SET closed_at = ?, closed_by = ?, outcome = ? WHERE message_id = ? AND sender = ? AND closed_at IS NULL`,
		s.now().Unix(), actor, outcome, c.MessageID, c.Sender)
	if err != nil {
		return fmt.Errorf("phish: close case: %w", err)
	}
	return nil
}

// record writes an audit event. The action is done by then: a failure to
// record it is logged, not returned, so the admin is not told to redo it.
func (s *Service) record(ctx context.Context, e audit.Event) {
	if s.audit == nil {
		return
	}
	if err := s.audit.Record(ctx, e); err != nil {
		s.log.Error("phish: audit", "kind", e.Kind, "err", err)
	}
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

func uniq(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// parseSender normalises a block list entry: an address (local@domain)
// or a whole domain (@domain), lower case.
func parseSender(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if d, ok := strings.CutPrefix(s, "@"); ok {
		if d == "" || strings.ContainsAny(d, "@ <>\"") || !strings.Contains(d, ".") {
			return "", fmt.Errorf("%w: %q is not a domain", ErrInvalid, s)
		}
		return s, nil
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return "", fmt.Errorf("%w: %q is not an address", ErrInvalid, s)
	}
	return s, nil
}
