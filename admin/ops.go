package admin

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/mail/offboard"
	"github.com/caucus-org/caucus/mail/route"
)

// Errors of the plain functions. The console and the CLI show them in words.
var (
	ErrLastAdmin    = errors.New("admin: the last active admin cannot be suspended or offboarded")
	ErrSelf         = errors.New("admin: admins cannot suspend or offboard themselves")
	ErrSuccessor    = offboard.ErrBadSuccessor // the successor is the account itself or not active
	ErrState        = errors.New("admin: the account is not in a state that allows this")
	ErrCSVInvalid   = errors.New("admin: the CSV file has rows with errors")
	ErrCSVTooBig    = errors.New("admin: the CSV file is too big")
	ErrBadOptions   = errors.New("admin: invalid offboarding options")
	ErrNotAvailable = errors.New("admin: not available on this server")
)

// HumanError is err as a sentence for a person: the package prefixes
// ("auth: invalid input: ", "admin: ") dropped, a capital first letter.
func HumanError(err error) string {
	msg := err.Error()
	for _, p := range []string{"auth: invalid input: ", "auth: already exists: ", "admin: "} {
		if i := strings.Index(msg, p); i >= 0 {
			msg = msg[i+len(p):]
			if p == "auth: already exists: " {
				msg += " already exists"
			}
		}
	}
	return strings.ToUpper(msg[:1]) + msg[1:]
}

// Step outcomes in a Report.
const (
	OutcomeOK      = "ok"
	OutcomeFailed  = "failed"
	OutcomeSkipped = "skipped"
	OutcomePlanned = "planned"
)

// DefaultRetentionDays is how long an offboarded mailbox is kept by
// default, in days: mail/offboard's DefaultRetention.
const DefaultRetentionDays = int(offboard.DefaultRetention / (24 * time.Hour))

// MaxRetentionDays bounds the retention period an admin may choose.
const MaxRetentionDays = 3650

// Expiry windows shown on the dashboard.
const (
	ExpiringWithin = 14 * 24 * time.Hour
	IdleAfter      = 60 * 24 * time.Hour
)

// Actor is who does an admin action: a signed-in admin (Login and
// AccountID) or the server's shell ("cli:<unix user>", AccountID 0), and
// the client address for the audit log.
type Actor struct {
	Login     string
	AccountID int64
	Addr      netip.Addr
	UserAgent string
}

// CLIActor is the actor of `caucus admin …` run by the given Unix user.
func CLIActor(unixUser string) Actor { return Actor{Login: "cli:" + unixUser} }

// systemActor is the actor of the server's own housekeeping (expiry).
var systemActor = Actor{Login: "system"}

func (a Actor) client() auth.Client { return auth.Client{Addr: a.Addr, UserAgent: a.UserAgent} }

func (a Actor) addr() string {
	if !a.Addr.IsValid() {
		return ""
	}
	return a.Addr.String()
}

// Files is what the operations need of the file store (*files.Store).
type Files interface {
	TransferOwnership(ctx context.Context, actor string, from, to int64, links files.LinkDisposition) (files.TransferReport, error)
	RevokeLinksOf(ctx context.Context, actor string, accountID int64) (int, error)
	SuspendPublicLinks(ctx context.Context, actor string) (int, error)
	ResumePublicLinks(ctx context.Context, actor string) (int, error)
	Usage(ctx context.Context, accountID int64) (used, quota int64, err error)
	HandOverGroup(ctx context.Context, actor string, groupID int64, name string, to int64) (files.GroupHandover, error)
}

// Mailer sends a message that caucus itself writes through its own
// submission path (local delivery or the outbound queue).
type Mailer interface {
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// MailOffboard is the mail side of offboarding (*offboard.Service).
type MailOffboard interface {
	Forward(ctx context.Context, actor string, accountID int64, target string) error
	AutoReply(ctx context.Context, actor string, accountID int64, subject, text string, until time.Time) error
	Retain(ctx context.Context, actor string, accountID int64, until time.Time, export bool) error
	GrantSuccessor(ctx context.Context, actor string, accountID, successorID int64) (folder string, copied int, err error)
	Exports() ([]offboard.Export, error)
	OpenExport(ctx context.Context, actor, name string) (*os.File, offboard.Export, error)
}

// OpsDeps are the parts the plain functions work with. Auth is required;
// the others may be nil, and the steps that need them are then reported as
// skipped.
type OpsDeps struct {
	Auth         *auth.Service
	DB           *db.DB // for reports and the incident switch (Component)
	Mail         MailStore
	Route        *route.Directory
	Files        Files
	Mailer       Mailer
	MailOffboard MailOffboard
	Roles        RoleStore  // role mailboxes (roles.go); nil: none
	Backup       Backup     // incident mode's immediate backup; nil: none configured
	Audit        *audit.Log // nil: Auth's
	Log          *slog.Logger
	Now          func() time.Time
	BaseURL      string // public web address, for enrolment links
	MailFrom     string // sender of invite mail, e.g. "postmaster@example.org"
	// PartyName, Language and TimeZone are the party's name, default
	// language and time zone for the mail caucus sends (invites); by
	// default "caucus", English, UTC. TimeZone is also the zone in which
	// a last day of access is a day (ParseLastDay), the server's when
	// nil, as ui.Party's.
	PartyName string
	Language  string
	TimeZone  *time.Location
}

// Ops are the admin actions that the console and the CLI share.
// It is safe for concurrent use.
type Ops struct {
	d OpsDeps

	claimMu sync.Mutex
	claims  map[claimed]bool // held by this process (claim)
}

// MailStore is what the operations and the console need of the message
// store (*store.Store).
type MailStore interface {
	Usage(ctx context.Context, accountID int64) (used, quota int64, err error)
	SetQuota(ctx context.Context, accountID int64, bytes int64) error
}

// NewOps builds the admin actions.
func NewOps(d OpsDeps) *Ops {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Audit == nil && d.Auth != nil {
		d.Audit = d.Auth.Audit()
	}
	d.BaseURL = strings.TrimSuffix(d.BaseURL, "/")
	return &Ops{d: d, claims: map[claimed]bool{}}
}

// Deps returns what o works with, defaults filled in: the console shows
// the same parts that the operations change.
func (o *Ops) Deps() OpsDeps { return o.d }

// zone is the party's time zone, in which a last day of access is a day.
func (o *Ops) zone() *time.Location { return cmp.Or(o.d.TimeZone, time.Local) }

// Step is one step of an admin action and its outcome.
type Step struct {
	Who     string    `json:"who,omitempty"` // the person the step is about, in a report of several (a cohort's end)
	Name    string    `json:"name"`
	At      time.Time `json:"at,omitzero"`
	Outcome string    `json:"outcome"` // OutcomeOK, OutcomeFailed, OutcomeSkipped or OutcomePlanned
	Detail  string    `json:"detail,omitempty"`
	Said    Words     `json:"said,omitzero"` // Detail in any language (reports saved before it have none)
	Err     string    `json:"err,omitempty"`
}

// DetailIn is the step's detail in l's language: the words it was saved
// with, else (an older report) its English detail.
func (s Step) DetailIn(l *i18n.Localizer) string {
	if s.Said.Key != "" {
		return s.Said.In(l)
	}
	return s.Detail
}

// Report is the record of an admin action: each step, when it happened and
// its outcome. It is written to the audit log and kept for download.
type Report struct {
	ID      int64     `json:"id,omitempty"` // once saved
	Kind    string    `json:"kind"`         // "offboard", "suspend", "resume", "incident.on", …
	Actor   string    `json:"actor"`
	Subject string    `json:"subject,omitempty"`
	Started time.Time `json:"started"`
	Steps   []Step    `json:"steps"`
}

// reportTitles are the reports' kinds in people's words.
var reportTitles = map[string]string{
	"offboard": "Offboarding", "suspend": "Suspension", "resume": "Reactivation", "expire": "Access ended",
	"incident.on": "Incident mode started", "incident.off": "Incident mode lifted", "group.delete": "Group deleted",
}

// Title is the report's kind in people's words.
func (r Report) Title() string {
	if t, ok := reportTitles[r.Kind]; ok {
		return t
	}
	return r.Kind + " report"
}

// Failed reports whether a step failed.
func (r Report) Failed() bool {
	for _, s := range r.Steps {
		if s.Outcome == OutcomeFailed {
			return true
		}
	}
	return false
}

// JSON returns the report as indented JSON.
func (r Report) JSON() []byte {
	b, _ := json.MarshalIndent(r, "", "  ") // plain types: cannot fail
	return append(b, '\n')
}

// Text returns the report as plain text, one line per step.
func (r Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "caucus %s report\n", r.Kind)
	if r.Subject != "" {
		fmt.Fprintf(&b, "Account: %s\n", r.Subject)
	}
	fmt.Fprintf(&b, "By:      %s\nStarted: %s\n\n", r.Actor, r.Started.UTC().Format(time.RFC3339))
	for _, s := range r.Steps {
		at := "                    "
		if !s.At.IsZero() {
			at = s.At.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(&b, "%s  %-8s ", at, s.Outcome)
		if s.Who != "" {
			fmt.Fprintf(&b, "%s: ", s.Who)
		}
		b.WriteString(s.Name)
		if s.Detail != "" {
			fmt.Fprintf(&b, ": %s", s.Detail)
		}
		if s.Err != "" {
			fmt.Fprintf(&b, " (error: %s)", s.Err)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// run records steps of an action as they happen.
type run struct {
	o   *Ops
	rep Report
	who string // the person the next steps are about (Step.Who); "" for the subject
}

func (o *Ops) newRun(kind string, actor Actor, subject string) *run {
	return &run{o: o, rep: Report{Kind: kind, Actor: actor.Login, Subject: subject, Started: o.d.Now()}}
}

// step runs fn and records its outcome: fn returns a detail and an error;
// a skipped error marks the step skipped (with its reason), not failed.
// step returns fn's error, nil for a skipped step.
func (r *run) step(name string, fn func() (Words, error)) error {
	said, err := fn()
	s := Step{Who: r.who, Name: name, At: r.o.d.Now(), Outcome: OutcomeOK, Said: said}
	var sk skipped
	switch {
	case errors.As(err, &sk):
		s.Outcome, s.Said, err = OutcomeSkipped, sk.why, nil
	case err != nil:
		s.Outcome, s.Err = OutcomeFailed, err.Error()
	}
	if s.Said.Key != "" {
		s.Detail = s.Said.English()
	}
	r.rep.Steps = append(r.rep.Steps, s)
	return err
}

// skipped is a step's "nothing to do" with its reason.
type skipped struct{ why Words }

func (s skipped) Error() string { return "skipped: " + s.why.English() }

func filesMissing() error { return skipped{say(i18n.Key("admin.step.no_files"))} }

func mailMissing() error { return skipped{say(i18n.Key("admin.step.no_mail"))} }

// revoked says what auth.Revoke did.
func revoked(rr auth.RevokeReport) Words {
	return say(i18n.Key("admin.step.revoked"), "sessions", rr.Sessions, "apppw", rr.AppPasswords, "live", rr.Connections)
}

// finish saves the report and writes its audit records: one per step and
// one for the whole action.
func (r *run) finish(ctx context.Context, actor Actor) Report {
	o := r.o
	outcome := audit.OK
	if r.rep.Failed() {
		outcome = audit.Fail
	}
	if o.d.DB != nil {
		id, err := o.saveReport(ctx, r.rep)
		if err != nil {
			o.d.Log.Error("save admin report", "kind", r.rep.Kind, "err", err)
		}
		r.rep.ID = id
	}
	for _, s := range r.rep.Steps {
		out := audit.OK
		if s.Outcome == OutcomeFailed {
			out = audit.Fail
		}
		detail, subject := s.Name, r.rep.Subject
		if s.Who != "" {
			subject = s.Who // the volunteer of a cohort, so that their own records show it
		}
		if s.Outcome == OutcomeSkipped {
			detail = "skipped " + detail
		}
		if s.Detail != "" {
			detail += ": " + s.Detail
		}
		if s.Err != "" {
			detail += " (error: " + s.Err + ")"
		}
		o.record(ctx, actor, subject, "admin."+r.rep.Kind+".step", out, detail)
	}
	o.record(ctx, actor, r.rep.Subject, "admin."+r.rep.Kind, outcome, fmt.Sprintf("report=%d steps=%d", r.rep.ID, len(r.rep.Steps)))
	return r.rep
}

func (o *Ops) record(ctx context.Context, actor Actor, subject, kind, outcome, detail string) {
	if o.d.Audit == nil {
		return
	}
	if err := o.d.Audit.Record(ctx, audit.Event{Actor: actor.Login, Subject: subject, Kind: kind, Outcome: outcome,
		Detail: detail, Addr: actor.addr(), UserAgent: actor.UserAgent}); err != nil {
		o.d.Log.Error("audit admin action", "kind", kind, "err", err)
	}
}

// AccountByLogin returns the account with the given login.
func (o *Ops) AccountByLogin(ctx context.Context, login string) (auth.Account, error) {
	return o.d.Auth.AccountByLogin(ctx, auth.NormalizeLogin(login))
}

// guardTarget refuses to suspend or offboard oneself or the last active admin.
func (o *Ops) guardTarget(ctx context.Context, actor Actor, a auth.Account) error {
	if actor.AccountID != 0 && actor.AccountID == a.ID {
		return ErrSelf
	}
	if !a.IsAdmin() || a.State != auth.StateActive {
		return nil
	}
	accts, err := o.d.Auth.Accounts(ctx)
	if err != nil {
		return err
	}
	for _, x := range accts {
		if x.ID != a.ID && x.IsAdmin() && x.State == auth.StateActive {
			return nil
		}
	}
	return ErrLastAdmin
}

// Suspend is the reversible form of offboarding: sign-in disabled, every
// session and app password revoked and every live connection closed;
// nothing is transferred or deleted.
func (o *Ops) Suspend(ctx context.Context, actor Actor, accountID int64) (Report, error) {
	a, err := o.d.Auth.Account(ctx, accountID)
	if err != nil {
		return Report{}, err
	}
	if err := o.guardTarget(ctx, actor, a); err != nil {
		return Report{}, err
	}
	if a.State != auth.StateActive && a.State != auth.StateInvited {
		return Report{}, problem(ErrState, i18n.Key("admin.err.not_active"), "login", a.Login)
	}
	r := o.newRun("suspend", actor, a.Login)
	o.suspendSteps(ctx, r, actor, a)
	rep := r.finish(ctx, actor)
	return rep, reportErr(rep)
}

func (o *Ops) suspendSteps(ctx context.Context, r *run, actor Actor, a auth.Account) {
	r.step(stepRevoke, func() (Words, error) {
		rr, err := o.d.Auth.Revoke(ctx, actor.Login, a.ID, actor.client())
		return revoked(rr), err
	})
	r.step(stepDisable, func() (Words, error) {
		return say(i18n.Key("admin.step.suspended")), o.d.Auth.SetState(ctx, actor.Login, a.ID, auth.StateSuspended, actor.client())
	})
}

// Resume lifts a suspension. The person signs in with their own factors;
// app passwords must be made anew. An account with no factor left gets
// auth.ErrNeedsFactor: issue a new enrolment link instead.
func (o *Ops) Resume(ctx context.Context, actor Actor, accountID int64) (Report, error) {
	a, err := o.d.Auth.Account(ctx, accountID)
	if err != nil {
		return Report{}, err
	}
	if a.State != auth.StateSuspended {
		return Report{}, problem(ErrState, i18n.Key("admin.err.not_suspended"), "login", a.Login)
	}
	if !a.ExpiresAt.IsZero() && !a.ExpiresAt.After(o.d.Now()) {
		return Report{}, problem(ErrState, i18n.Key("admin.err.access_ended"), "login", a.Login, "day", LastDay(a.ExpiresAt, o.zone()))
	}
	r := o.newRun("resume", actor, a.Login)
	if err := r.step("sign-in enabled", func() (Words, error) {
		return say(i18n.Key("admin.step.active")), o.d.Auth.SetState(ctx, actor.Login, a.ID, auth.StateActive, actor.client())
	}); errors.Is(err, auth.ErrNeedsFactor) {
		rep := r.finish(ctx, actor)
		return rep, err
	}
	rep := r.finish(ctx, actor)
	return rep, reportErr(rep)
}

// reportErr turns a report with failed steps into an error for callers
// that only look at the error.
func reportErr(rep Report) error {
	for _, s := range rep.Steps {
		if s.Outcome == OutcomeFailed {
			return fmt.Errorf("admin: %s: step %q failed: %s", rep.Kind, s.Name, s.Err)
		}
	}
	return nil
}

// ExpireDue suspends every active or invited account whose expiry date has
// passed, each with its own report, and returns how many it suspended.
func (o *Ops) ExpireDue(ctx context.Context) (int, error) {
	accts, err := o.d.Auth.Accounts(ctx)
	if err != nil {
		return 0, err
	}
	now := o.d.Now()
	n := 0
	var errs []error
	for _, a := range accts {
		if !expired(a, now) {
			continue
		}
		done, err := o.expire(ctx, a.ID, now)
		if err != nil {
			errs = append(errs, err)
		}
		if done {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// expired reports whether a's access has ended and it is not suspended
// yet.
func expired(a auth.Account, now time.Time) bool {
	return !a.ExpiresAt.IsZero() && !a.ExpiresAt.After(now) && (a.State == auth.StateActive || a.State == auth.StateInvited)
}

// expire suspends account id for its expiry, once: under a claim (see
// claim), with the account read again after it, so that RunExpiry on two
// nodes at once neither suspends it twice nor writes two reports.
func (o *Ops) expire(ctx context.Context, id int64, now time.Time) (bool, error) {
	release, ok, err := o.claim(ctx, "expire", id)
	if err != nil || !ok {
		return false, err
	}
	defer release()
	a, err := o.d.Auth.Account(ctx, id)
	if errors.Is(err, auth.ErrNotFound) {
		return false, nil // deleted meanwhile
	}
	if err != nil || !expired(a, now) {
		return false, err
	}
	r := o.newRun("expire", systemActor, a.Login)
	r.step("expired", func() (Words, error) {
		return say(i18n.Key("admin.step.expired"), "day", LastDay(a.ExpiresAt, o.zone())), nil
	})
	o.suspendSteps(ctx, r, systemActor, a)
	if err := reportErr(r.finish(ctx, systemActor)); err != nil {
		return false, err
	}
	return true, nil
}

// RunExpiry calls CohortsDue and ExpireDue at start and then every
// interval until ctx ends.
func (o *Ops) RunExpiry(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if ended, reminded, err := o.CohortsDue(ctx); err != nil {
			o.d.Log.Error("cohorts", "err", err)
		} else if ended+reminded > 0 {
			o.d.Log.Info("cohorts", "ended", ended, "reminded", reminded)
		}
		if n, err := o.ExpireDue(ctx); err != nil {
			o.d.Log.Error("suspend expired accounts", "err", err)
		} else if n > 0 {
			o.d.Log.Info("suspended expired accounts", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PersonSummary is one row of the people list and the dashboard.
type PersonSummary struct {
	auth.Account
	Kinds        []auth.FactorKind // factor kinds held, in a fixed order
	Groups       []string
	MailUsed     int64 // bytes; -1 when unknown
	MailQuota    int64 // bytes; 0: none
	FilesUsed    int64 // bytes; -1 when unknown
	FilesQuota   int64
	Idle         bool // active, and no sign-in for 60 days (or never, 60 days after creation)
	ExpiringSoon bool // expiry within 14 days, not passed

	name, login string // lower case, for searching and sorting
}

// List returns every account with its factor kinds, groups, usage and the
// dashboard's warnings (Directory, and each one's storage).
func (o *Ops) List(ctx context.Context) ([]PersonSummary, error) {
	out, err := o.Directory(ctx)
	if err != nil {
		return nil, err
	}
	for i := range out {
		p := &out[i]
		if o.d.Mail != nil {
			if p.MailUsed, p.MailQuota, err = o.d.Mail.Usage(ctx, p.ID); err != nil {
				return nil, fmt.Errorf("mail usage of %s: %w", p.Login, err)
			}
		}
		if o.d.Files != nil {
			if p.FilesUsed, p.FilesQuota, err = o.d.Files.Usage(ctx, p.ID); err != nil {
				return nil, fmt.Errorf("files usage of %s: %w", p.Login, err)
			}
		}
	}
	return out, nil
}

func factorKinds(fs []auth.Factor) []auth.FactorKind {
	have := map[auth.FactorKind]bool{}
	for _, f := range fs {
		have[f.Kind] = true
	}
	var out []auth.FactorKind
	for _, k := range []auth.FactorKind{auth.KindSecurityKey, auth.KindPasskey, auth.KindTOTP} {
		if have[k] {
			out = append(out, k)
		}
	}
	return out
}

// Report returns a saved report; auth.ErrNotFound if there is none.
func (o *Ops) Report(ctx context.Context, id int64) (Report, error) {
	if o.d.DB == nil {
		return Report{}, ErrNotAvailable
	}
	var js []byte
	err := o.d.DB.QueryRowContext(ctx, `SELECT report FROM admin_reports WHERE id = ?`, id).Scan(&js)
	if errors.Is(err, sql.ErrNoRows) {
		return Report{}, fmt.Errorf("report %d: %w", id, auth.ErrNotFound)
	}
	if err != nil {
		return Report{}, err
	}
	var r Report
	if err := json.NewDecoder(bytes.NewReader(js)).Decode(&r); err != nil {
		return Report{}, fmt.Errorf("report %d: %w", id, err)
	}
	r.ID = id
	return r, nil
}

func (o *Ops) saveReport(ctx context.Context, r Report) (int64, error) {
	js, err := json.Marshal(r)
	if err != nil {
		return 0, err
	}
	var id int64
	err = o.d.DB.Tx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO admin_reports (at, kind, actor, subject, report) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			r.Started.Unix(), r.Kind, r.Actor, r.Subject, js).Scan(&id)
	})
	return id, err
}
