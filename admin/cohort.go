package admin

import (
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/i18n"
)

// A campaign cohort is a group of volunteers invited in one step, with
// one sponsor (the member who answers for them) and one end: each
// volunteer's last day of access is the cohort's. Before the end the
// sponsor is mailed (14 and 3 days before: auth/notice reads the audit
// record "admin.cohort.reminder"), to ask the admins to extend the
// cohort or let it end. At the end every volunteer is offboarded as
// [Ops.Offboard] does, their files handed to the sponsor and their mail
// kept for the party's retention period, with one report for the
// cohort.

// schemaV2 holds the cohorts and the incident mode's prepared message and
// checklist (admin migration 2).
const schemaV2 = `
CREATE TABLE admin_cohorts (
	id         INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	sponsor_id INTEGER NOT NULL REFERENCES accounts(id),
	ends_at    INTEGER NOT NULL, -- the instant access ends (ParseLastDay)
	created_at INTEGER NOT NULL,
	created_by TEXT NOT NULL,
	ended_at   INTEGER,          -- when its end was carried out
	report_id  INTEGER           -- the report of its end (admin_reports)
);
CREATE TABLE admin_cohort_members (
	cohort_id  INTEGER NOT NULL REFERENCES admin_cohorts(id) ON DELETE CASCADE,
	account_id INTEGER NOT NULL UNIQUE REFERENCES accounts(id),
	PRIMARY KEY (cohort_id, account_id)
);
CREATE TABLE admin_cohort_reminders (
	cohort_id INTEGER NOT NULL REFERENCES admin_cohorts(id) ON DELETE CASCADE,
	days      INTEGER NOT NULL, -- the threshold: so many days before the end
	ends_at   INTEGER NOT NULL, -- the end it was for: an extension reminds again
	sent_at   INTEGER NOT NULL,
	PRIMARY KEY (cohort_id, days, ends_at)
);
CREATE TABLE admin_incident_message (
	lang       TEXT PRIMARY KEY,
	subject    TEXT NOT NULL,
	body       TEXT NOT NULL,
	updated_at INTEGER NOT NULL,
	updated_by TEXT NOT NULL
);
CREATE TABLE admin_incident_checks (
	since   INTEGER NOT NULL, -- the incident, by when incident mode went on
	item    TEXT NOT NULL,
	done_at INTEGER NOT NULL,
	done_by TEXT NOT NULL,
	PRIMARY KEY (since, item)
);
`

// Limits of a cohort.
const (
	MaxCohortPeople    = 500
	MaxCohortListBytes = 128 << 10
	MaxCohortName      = 100
)

// The sponsor is reminded this many days before a cohort's end.
const (
	CohortFirstReminder = 14
	CohortLastReminder  = 3
)

// CohortPerson is one volunteer of a new cohort.
type CohortPerson struct {
	Line   int    // line of the list, from 1
	Login  string // their caucus address
	Name   string // display name; "" for the address's local part
	MailTo string // also mail the invite to this personal address ("" for none)
}

// CohortRequest is a cohort to invite.
type CohortRequest struct {
	Name    string    // e.g. "Canvassing, spring 2027"
	Sponsor string    // login of the member who answers for the volunteers
	Ends    time.Time // the instant access ends (ParseLastDay)
	Groups  []string  // groups every volunteer joins
	People  []CohortPerson
}

// Cohort is a saved cohort.
type Cohort struct {
	ID        int64
	Name      string
	Sponsor   auth.Account
	Ends      time.Time // the instant access ends
	CreatedAt time.Time
	CreatedBy string
	EndedAt   time.Time // zero while it runs
	ReportID  int64     // its end's report; 0 before
	People    []auth.Account
}

// LastDay is the cohort's last day of access.
func (c Cohort) LastDay() time.Time { return lastDay(c.Ends, time.UTC) }

// Ended reports whether the cohort's end was carried out.
func (c Cohort) Ended() bool { return !c.EndedAt.IsZero() }

// PersonError is a problem with one person of a list: the console names
// the person and says the problem in the reader's language (Explain of
// Err).
type PersonError struct {
	Login string
	Line  int
	Err   error
}

func (e *PersonError) Error() string { return fmt.Sprintf("line %d (%s): %v", e.Line, e.Login, e.Err) }

// Unwrap returns the problem.
func (e *PersonError) Unwrap() error { return e.Err }

// ParseCohortPeople reads a cohort's list: one volunteer a line, written
// "address", "address, name" or "address, name, personal address" (CSV,
// RFC 4180, with a comma or semicolon); blank lines and lines starting
// with # are skipped.
func ParseCohortPeople(text string) ([]CohortPerson, error) {
	if len(text) > MaxCohortListBytes {
		return nil, problem(ErrCSVTooBig, i18n.Key("admin.err.cohort_list_big"), "max", MaxCohortPeople)
	}
	comma := ','
	for line := range strings.Lines(text) {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.Contains(line, ",") && strings.Contains(line, ";") {
			comma = ';' // as spreadsheets write CSV where the decimal mark is a comma
		}
		break
	}
	r := csv.NewReader(strings.NewReader(text))
	r.Comma, r.Comment, r.FieldsPerRecord, r.TrimLeadingSpace = comma, '#', -1, true
	var out []CohortPerson
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			return nil, problem(auth.ErrInvalid, i18n.Key("admin.err.cohort_line"), "line", line)
		}
		line, _ := r.FieldPos(0)
		if len(rec) > 3 {
			return nil, problem(auth.ErrInvalid, i18n.Key("admin.err.cohort_line"), "line", line)
		}
		p := CohortPerson{Line: line, Login: strings.TrimSpace(rec[0])}
		if p.Login == "" && len(rec) == 1 {
			continue
		}
		if len(rec) > 1 {
			p.Name = strings.TrimSpace(rec[1])
		}
		if len(rec) > 2 {
			p.MailTo = strings.TrimSpace(rec[2])
		}
		if len(out) == MaxCohortPeople {
			return nil, problem(ErrCSVTooBig, i18n.Key("admin.err.cohort_list_big"), "max", MaxCohortPeople)
		}
		out = append(out, p)
	}
	return out, nil
}

// CohortResult is a created cohort and each volunteer's invite.
type CohortResult struct {
	Cohort  Cohort
	Invites []InviteResult
	Failed  []PersonError // invites that could not be made or mailed
}

// checkCohort checks a request without touching anything and returns
// the invites it makes and its sponsor.
func (o *Ops) checkCohort(ctx context.Context, req *CohortRequest) ([]InviteRequest, auth.Account, error) {
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > MaxCohortName || strings.ContainsFunc(req.Name, isControl) {
		return nil, auth.Account{}, problem(auth.ErrInvalid, i18n.Key("admin.err.cohort_name"), "max", MaxCohortName)
	}
	sponsor, err := o.d.Auth.AccountByLogin(ctx, auth.NormalizeLogin(req.Sponsor))
	if errors.Is(err, auth.ErrNotFound) || (err == nil && (sponsor.State != auth.StateActive || sponsor.Role == auth.RoleVolunteer)) {
		return nil, auth.Account{}, problem(auth.ErrInvalid, i18n.Key("admin.err.cohort_sponsor"), "login", req.Sponsor)
	}
	if err != nil {
		return nil, auth.Account{}, err
	}
	if req.Ends.IsZero() || !req.Ends.After(o.d.Now()) {
		return nil, auth.Account{}, problem(auth.ErrInvalid, i18n.Key("admin.err.last_day_passed"))
	}
	if len(req.People) == 0 {
		return nil, auth.Account{}, problem(auth.ErrInvalid, i18n.Key("admin.err.cohort_empty"))
	}
	if err := o.groupsFree(ctx, req.Groups); err != nil { // taken.go: before anyone is invited
		return nil, auth.Account{}, err
	}
	if len(req.People) > MaxCohortPeople {
		return nil, auth.Account{}, problem(ErrCSVTooBig, i18n.Key("admin.err.cohort_list_big"), "max", MaxCohortPeople)
	}
	seen := map[string]bool{}
	ins := make([]InviteRequest, 0, len(req.People))
	for _, p := range req.People {
		in := InviteRequest{Login: p.Login, Name: p.Name, Role: auth.RoleVolunteer, Groups: req.Groups, Expires: req.Ends, MailTo: p.MailTo}
		if in.Name == "" {
			in.Name, _, _ = strings.Cut(strings.TrimSpace(p.Login), "@")
		}
		fail := func(err error) error { return &PersonError{Login: p.Login, Line: p.Line, Err: err} }
		if err := o.checkInvite(&in); err != nil {
			return nil, auth.Account{}, fail(err)
		}
		if seen[in.Login] {
			return nil, auth.Account{}, fail(problem(auth.ErrInvalid, i18n.Key("admin.err.cohort_twice"), "addr", in.Login))
		}
		seen[in.Login] = true
		if _, err := o.d.Auth.AccountByLogin(ctx, in.Login); err == nil {
			return nil, auth.Account{}, fail(problem(auth.ErrExists, i18n.Key("admin.err.cohort_exists"), "addr", in.Login))
		} else if !errors.Is(err, auth.ErrNotFound) {
			return nil, auth.Account{}, err
		}
		ins = append(ins, in)
	}
	return ins, sponsor, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// CreateCohort invites a cohort of volunteers in one step: every one an
// account with the role volunteer and the cohort's last day, in the
// cohort's groups, their link mailed where a personal address is given.
// The whole list is checked first; nothing is made if a line is wrong
// (a [*PersonError] says which). An invite that fails after the checks
// (a mail not sent) is listed in Failed.
func (o *Ops) CreateCohort(ctx context.Context, actor Actor, req CohortRequest) (CohortResult, error) {
	if o.d.DB == nil {
		return CohortResult{}, fmt.Errorf("%w: cohorts need the database", ErrNotAvailable)
	}
	ins, sponsor, err := o.checkCohort(ctx, &req)
	if err != nil {
		return CohortResult{}, err
	}
	var id int64
	err = o.d.DB.Tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO admin_cohorts (name, sponsor_id, ends_at, created_at, created_by) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			req.Name, sponsor.ID, req.Ends.Unix(), o.d.Now().Unix(), actor.Login).Scan(&id)
		if err != nil {
			return fmt.Errorf("admin: create cohort: %w", err)
		}
		return o.d.Audit.RecordTx(ctx, tx, audit.Event{Actor: actor.Login, Subject: sponsor.Login, Kind: "admin.cohort.create",
			Detail: fmt.Sprintf("cohort=%d people=%d last=%s name=%s", id, len(ins), LastDay(req.Ends, o.zone()).Format(time.DateOnly), strconv.Quote(req.Name)),
			Addr:   actor.addr(), UserAgent: actor.UserAgent})
	})
	if err != nil {
		return CohortResult{}, err
	}
	var res CohortResult
	for i, in := range ins {
		inv, err := o.Invite(ctx, actor, in)
		if inv.Link != "" {
			if _, err := o.d.DB.ExecContext(ctx, `INSERT INTO admin_cohort_members (cohort_id, account_id) VALUES (?, ?)`, id, inv.Account.ID); err != nil {
				return res, fmt.Errorf("admin: cohort member: %w", err)
			}
			res.Invites = append(res.Invites, inv)
		}
		if err != nil {
			res.Failed = append(res.Failed, PersonError{Login: in.Login, Line: req.People[i].Line, Err: err})
		}
	}
	res.Cohort, err = o.Cohort(ctx, id)
	return res, err
}

// Cohorts returns every cohort, the running ones first, each by its end.
func (o *Ops) Cohorts(ctx context.Context) ([]Cohort, error) {
	if o.d.DB == nil {
		return nil, nil
	}
	rows, err := o.d.DB.QueryContext(ctx, `SELECT id FROM admin_cohorts ORDER BY ended_at IS NOT NULL, ends_at, id`)
	if err != nil {
		return nil, fmt.Errorf("admin: cohorts: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("admin: cohorts: %w", err)
		}
		ids = append(ids, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("admin: cohorts: %w", err)
	}
	// Every account once, not one read per volunteer of every cohort:
	// RunExpiry asks for all cohorts every hour, the ended ones too.
	accts, err := o.d.Auth.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]auth.Account, len(accts))
	for _, a := range accts {
		byID[a.ID] = a
	}
	account := func(_ context.Context, id int64) (auth.Account, error) {
		if a, ok := byID[id]; ok {
			return a, nil
		}
		return auth.Account{}, fmt.Errorf("admin: account %d: %w", id, auth.ErrNotFound)
	}
	out := make([]Cohort, 0, len(ids))
	for _, id := range ids {
		c, err := o.cohort(ctx, id, account)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Cohort returns one cohort with its volunteers; auth.ErrNotFound if
// there is none.
func (o *Ops) Cohort(ctx context.Context, id int64) (Cohort, error) {
	if o.d.DB == nil {
		return Cohort{}, ErrNotAvailable
	}
	return o.cohort(ctx, id, o.d.Auth.Account)
}

// cohort reads cohort id, its sponsor and volunteers read with account.
func (o *Ops) cohort(ctx context.Context, id int64, account func(context.Context, int64) (auth.Account, error)) (Cohort, error) {
	c := Cohort{ID: id}
	var sponsor, ends, created int64
	var ended, report sql.NullInt64
	err := o.d.DB.QueryRowContext(ctx, `SELECT name, sponsor_id, ends_at, created_at, created_by, ended_at, report_id FROM admin_cohorts WHERE id = ?`, id).
		Scan(&c.Name, &sponsor, &ends, &created, &c.CreatedBy, &ended, &report)
	if errors.Is(err, sql.ErrNoRows) {
		return Cohort{}, fmt.Errorf("cohort %d: %w", id, auth.ErrNotFound)
	}
	if err != nil {
		return Cohort{}, fmt.Errorf("admin: cohort %d: %w", id, err)
	}
	c.Ends, c.CreatedAt, c.ReportID = time.Unix(ends, 0), time.Unix(created, 0), report.Int64
	if ended.Valid {
		c.EndedAt = time.Unix(ended.Int64, 0)
	}
	if c.Sponsor, err = account(ctx, sponsor); err != nil {
		return Cohort{}, err
	}
	rows, err := o.d.DB.QueryContext(ctx, `SELECT account_id FROM admin_cohort_members WHERE cohort_id = ?`, id)
	if err != nil {
		return Cohort{}, fmt.Errorf("admin: cohort %d: %w", id, err)
	}
	var ids []int64
	for rows.Next() {
		var m int64
		if err := rows.Scan(&m); err != nil {
			rows.Close()
			return Cohort{}, fmt.Errorf("admin: cohort %d: %w", id, err)
		}
		ids = append(ids, m)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return Cohort{}, fmt.Errorf("admin: cohort %d: %w", id, err)
	}
	for _, m := range ids {
		a, err := account(ctx, m)
		if err != nil {
			return Cohort{}, err
		}
		c.People = append(c.People, a)
	}
	sortAccounts(c.People)
	return c, nil
}

// sortAccounts orders accounts by login.
func sortAccounts(as []auth.Account) {
	slices.SortFunc(as, func(a, b auth.Account) int { return strings.Compare(a.Login, b.Login) })
}

// ErrCohortEnded is an action on a cohort whose end was carried out.
var ErrCohortEnded = errors.New("admin: the cohort has ended")

// ExtendCohort moves a running cohort's end to ends (later than now and
// than its end): every volunteer of it who has not left gets the new
// last day. The sponsor is reminded again before the new end.
func (o *Ops) ExtendCohort(ctx context.Context, actor Actor, id int64, ends time.Time) (Cohort, error) {
	c, err := o.Cohort(ctx, id)
	if err != nil {
		return Cohort{}, err
	}
	if c.Ended() {
		return c, ErrCohortEnded
	}
	if !ends.After(o.d.Now()) || !ends.After(c.Ends) {
		return c, problem(auth.ErrInvalid, i18n.Key("admin.err.cohort_extend"), "day", c.LastDay())
	}
	var errs []error
	for _, a := range c.People {
		if a.State == auth.StateOffboarded {
			continue
		}
		if err := o.d.Auth.ChangeAccount(ctx, actor.Login, a.ID, auth.AccountChange{Expires: &ends}, actor.client()); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a.Login, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	err = o.d.DB.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE admin_cohorts SET ends_at = ? WHERE id = ?`, ends.Unix(), id); err != nil {
			return fmt.Errorf("admin: extend cohort: %w", err)
		}
		return o.d.Audit.RecordTx(ctx, tx, audit.Event{Actor: actor.Login, Subject: c.Sponsor.Login, Kind: "admin.cohort.extend",
			Detail: fmt.Sprintf("cohort=%d last=%s was=%s", id, LastDay(ends, o.zone()).Format(time.DateOnly), LastDay(c.Ends, o.zone()).Format(time.DateOnly)),
			Addr:   actor.addr(), UserAgent: actor.UserAgent})
	})
	if err != nil {
		return c, err
	}
	return o.Cohort(ctx, id)
}

// EndCohort ends a cohort now: every volunteer of it is offboarded as
// [Ops.Offboard] does (their sign-in, sessions, app passwords and factors
// ended, their groups left, their files handed to the sponsor with their
// links revoked, their mailbox kept for the party's retention period and
// then deleted), all in one report for the cohort, kept with it. A
// volunteer who already left is listed as such. The cohort's own end
// (RunExpiry) calls it with the system as actor; an admin may end one
// early.
func (o *Ops) EndCohort(ctx context.Context, actor Actor, id int64) (Report, error) {
	release, err := o.claimEnd(ctx, id)
	if err != nil {
		return Report{}, err
	}
	defer release()
	// Read after the claim: another call may have ended it meanwhile.
	c, err := o.Cohort(ctx, id)
	if err != nil {
		return Report{}, err
	}
	if c.Ended() {
		return Report{}, ErrCohortEnded
	}
	// Once begun, the end runs to its end even if the admin's browser
	// goes away: a cohort half offboarded has no report.
	ctx = context.WithoutCancel(ctx)
	r := o.newRun("cohort.end", actor, c.Name)
	opts := OffboardOptions{Links: files.LinksRevoke} // the party's retention period (RetainDays 0)
	if c.Sponsor.State == auth.StateActive {
		opts.Successor = c.Sponsor.ID
	}
	for _, a := range c.People {
		r.who = a.Login
		if a.State == auth.StateOffboarded {
			r.step(stepLeft, func() (Words, error) { return Words{}, skipped{say(i18n.Key("admin.step.cohort_left"))} })
			continue
		}
		p, err := o.PlanOffboard(ctx, a.ID, opts)
		if err != nil {
			r.step(stepDisable, func() (Words, error) { return Words{}, err })
			continue
		}
		o.offboardSteps(ctx, r, actor, p)
	}
	r.who = ""
	rep := r.finish(ctx, actor)
	if _, err := o.d.DB.ExecContext(ctx, `UPDATE admin_cohorts SET ended_at = ?, report_id = ? WHERE id = ?`, o.d.Now().Unix(), rep.ID, id); err != nil {
		return rep, fmt.Errorf("admin: end cohort: %w", err)
	}
	return rep, reportErr(rep)
}

// stepLeft is the step of a cohort's end for a volunteer who had left.
const stepLeft = "already offboarded"

// CohortsDue ends the cohorts whose end has come and reminds the sponsors
// of those whose end is near; it returns how many it ended and reminded.
// RunExpiry calls it before it suspends expired accounts, so that a
// cohort's volunteers are offboarded together, with one report.
func (o *Ops) CohortsDue(ctx context.Context) (ended, reminded int, err error) {
	cs, err := o.Cohorts(ctx)
	if err != nil {
		return 0, 0, err
	}
	now := o.d.Now()
	var errs []error
	for _, c := range cs {
		switch {
		case c.Ended():
		case !c.Ends.After(now):
			rep, err := o.EndCohort(ctx, systemActor, c.ID)
			if err != nil {
				errs = append(errs, fmt.Errorf("cohort %d: %w", c.ID, err))
			}
			if rep.Kind != "" {
				ended++
			}
		default:
			sent, err := o.remind(ctx, c, now)
			if err != nil {
				errs = append(errs, fmt.Errorf("cohort %d: %w", c.ID, err))
			}
			if sent {
				reminded++
			}
		}
	}
	return ended, reminded, errors.Join(errs...)
}

// remind records the reminder to the sponsor of c (to the admins if the
// sponsor left) that is due at now, if it was not recorded for this end
// before; auth/notice mails it. The
// reminders sent are kept with the audit record in one transaction, so
// that each threshold is mailed once, across restarts. When several are
// due at once (a cohort made 2 days before its end) one mail is sent.
func (o *Ops) remind(ctx context.Context, c Cohort, now time.Time) (bool, error) {
	left := c.Ends.Sub(now)
	var due []int
	for _, d := range []int{CohortFirstReminder, CohortLastReminder} {
		if left <= time.Duration(d)*24*time.Hour {
			due = append(due, d)
		}
	}
	if len(due) == 0 {
		return false, nil
	}
	people := 0
	for _, a := range c.People {
		if a.State != auth.StateOffboarded {
			people++
		}
	}
	to, err := o.reminded(ctx, c)
	if err != nil {
		return false, err
	}
	sent := false
	err = o.d.DB.Tx(ctx, func(tx *sql.Tx) error {
		n := int64(0)
		for _, d := range due {
			res, err := tx.ExecContext(ctx, `INSERT INTO admin_cohort_reminders (cohort_id, days, ends_at, sent_at) VALUES (?, ?, ?, ?)
				ON CONFLICT DO NOTHING`, c.ID, d, c.Ends.Unix(), now.Unix())
			if err != nil {
				return fmt.Errorf("admin: cohort reminder: %w", err)
			}
			k, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("admin: cohort reminder: %w", err)
			}
			n += k
		}
		if n == 0 {
			return nil
		}
		sent = true
		for _, to := range to {
			if err := o.d.Audit.RecordTx(ctx, tx, audit.Event{Actor: systemActor.Login, Subject: to, Kind: "admin.cohort.reminder",
				Detail: fmt.Sprintf("cohort=%d people=%d last=%s name=%s", c.ID, people, LastDay(c.Ends, o.zone()).Format(time.DateOnly), strconv.Quote(c.Name))}); err != nil {
				return err
			}
		}
		return nil
	})
	return sent, err
}

// reminded are who is reminded of c's end: its sponsor, or when the
// sponsor is no longer active (they left), every active admin.
func (o *Ops) reminded(ctx context.Context, c Cohort) ([]string, error) {
	if c.Sponsor.State == auth.StateActive {
		return []string{c.Sponsor.Login}, nil
	}
	accts, err := o.d.Auth.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range accts {
		if a.IsAdmin() && a.State == auth.StateActive {
			out = append(out, a.Login)
		}
	}
	return out, nil
}
