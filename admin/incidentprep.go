package admin

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/backup"
	"github.com/caucus-org/caucus/internal/i18n"
)

// What incident mode does besides signing everyone out, and what it
// leaves to people: the message the admins prepare in advance, mailed to
// every member when it goes on (by auth/notice, in the member's
// language), the immediate backup, and the checklist drawn from the
// guides parties follow (ENISA's election-security recommendations, the
// Belfer Center's Campaign Playbook, CISA's guidance for campaigns, the
// UK NCSC's guidance for political parties).

// Backup makes an immediate backup (*backup.Service).
type Backup interface {
	Backup(ctx context.Context) (backup.Result, error)
}

// Limits of the prepared message.
const (
	MaxIncidentSubject = 200
	MaxIncidentBody    = 16 << 10
)

// IncidentMessage is the message members get when incident mode goes on,
// in one language.
type IncidentMessage struct {
	Lang      string
	Subject   string
	Body      string
	UpdatedAt time.Time
	UpdatedBy string
}

// IncidentMessages returns the prepared message in every language it was
// written in.
func (o *Ops) IncidentMessages(ctx context.Context) ([]IncidentMessage, error) {
	if o.d.DB == nil {
		return nil, nil
	}
	rows, err := o.d.DB.QueryContext(ctx, `SELECT lang, subject, body, updated_at, updated_by FROM admin_incident_message ORDER BY lang`)
	if err != nil {
		return nil, fmt.Errorf("admin: incident message: %w", err)
	}
	defer rows.Close()
	var out []IncidentMessage
	for rows.Next() {
		var m IncidentMessage
		var at int64
		if err := rows.Scan(&m.Lang, &m.Subject, &m.Body, &at, &m.UpdatedBy); err != nil {
			return nil, fmt.Errorf("admin: incident message: %w", err)
		}
		m.UpdatedAt = time.Unix(at, 0)
		out = append(out, m)
	}
	return out, rows.Err()
}

// SetIncidentMessage keeps the message in lang (one of caucus's
// languages); an empty subject and body remove it.
func (o *Ops) SetIncidentMessage(ctx context.Context, actor Actor, lang, subject, body string) error {
	if o.d.DB == nil {
		return fmt.Errorf("%w: the prepared message needs the database", ErrNotAvailable)
	}
	subject, body = strings.TrimSpace(subject), strings.TrimSpace(strings.ReplaceAll(body, "\r\n", "\n"))
	switch {
	case !i18n.Builtin().Supported(lang):
		return problem(auth.ErrInvalid, i18n.Key("admin.err.incident_lang"), "lang", lang)
	case (subject == "") != (body == ""):
		return problem(auth.ErrInvalid, i18n.Key("admin.err.incident_both"))
	case len(subject) > MaxIncidentSubject || strings.ContainsFunc(subject, isControl) || !utf8.ValidString(subject):
		return problem(auth.ErrInvalid, i18n.Key("admin.err.incident_subject"), "max", MaxIncidentSubject)
	case len(body) > MaxIncidentBody || !utf8.ValidString(body):
		return problem(auth.ErrInvalid, i18n.Key("admin.err.incident_body"), "kb", MaxIncidentBody>>10)
	}
	return o.d.DB.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if subject == "" {
			_, err = tx.ExecContext(ctx, `DELETE FROM admin_incident_message WHERE lang = ?`, lang)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO admin_incident_message (lang, subject, body, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (lang) DO UPDATE SET subject = excluded.subject, body = excluded.body, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
				lang, subject, body, o.d.Now().Unix(), actor.Login)
		}
		if err != nil {
			return fmt.Errorf("admin: incident message: %w", err)
		}
		return o.d.Audit.RecordTx(ctx, tx, audit.Event{Actor: actor.Login, Kind: "admin.incident.message",
			Detail: fmt.Sprintf("lang=%s bytes=%d", lang, len(subject)+len(body)), Addr: actor.addr(), UserAgent: actor.UserAgent})
	})
}

// PreparedIncidentMessage is the prepared message for a member whose
// language is lang, and the language it is in (used): lang if it was
// written in it, else the party's language, else English, else any; used
// is "" when none was prepared. auth/notice mails it.
func (o *Ops) PreparedIncidentMessage(ctx context.Context, lang string) (used, subject, body string, err error) {
	ms, err := o.IncidentMessages(ctx)
	if err != nil || len(ms) == 0 {
		return "", "", "", err
	}
	for _, want := range []string{lang, o.d.Language, i18n.Fallback} {
		for _, m := range ms {
			if want != "" && m.Lang == want {
				return m.Lang, m.Subject, m.Body, nil
			}
		}
	}
	return ms[0].Lang, ms[0].Subject, ms[0].Body, nil
}

// CheckItem is one line of incident mode's checklist: what caucus did
// (Auto, done by the switch) or what is left to people (ticked in the
// console), and the guide that asks for it.
type CheckItem struct {
	ID     string
	Guide  string // "ENISA", "Belfer", "CISA", "NCSC"
	Words  Words  // what to do, in the catalogue
	Auto   bool
	Done   bool
	Failed bool // an Auto step that failed
	By     string
	At     time.Time
}

// checklist is incident mode's checklist: ID, guide, sentence, and for
// what caucus does the step of the incident report that does it.
func checklist() []struct{ id, guide, key, step string } {
	return []struct{ id, guide, key, step string }{
		{"signout", "NCSC", i18n.Key("admin.check.signout"), stepSignOut},
		{"links", "Belfer", i18n.Key("admin.check.links"), stepLinks},
		{"forwarding", "CISA", i18n.Key("admin.check.forwarding"), stepFrozen},
		{"backup", "ENISA", i18n.Key("admin.check.backup"), stepBackup},
		{"members", "Belfer", i18n.Key("admin.check.members"), stepTold},
		{"lead", "Belfer", i18n.Key("admin.check.lead"), ""},
		{"evidence", "NCSC", i18n.Key("admin.check.evidence"), ""},
		{"audit", "ENISA", i18n.Key("admin.check.audit"), ""},
		{"forwards", "CISA", i18n.Key("admin.check.forwards"), ""},
		{"devices", "CISA", i18n.Key("admin.check.devices"), ""},
		{"report", "ENISA", i18n.Key("admin.check.report"), ""},
		{"comms", "Belfer", i18n.Key("admin.check.comms"), ""},
		{"review", "NCSC", i18n.Key("admin.check.review"), ""},
	}
}

// Step names of incident mode.
const (
	stepSignOut = "everyone signed out, app passwords revoked"
	stepLinks   = "public links suspended"
	stepFrozen  = "outside forwarding and new public links frozen"
	stepBackup  = "backup taken"
	stepTold    = "members told"
)

// ErrNoIncident is a checklist asked for while incident mode is off.
var ErrNoIncident = errors.New("admin: incident mode is not on")

// IncidentChecklist is the checklist of the incident under way: what
// caucus did (from the report of its start) and what people ticked.
func (o *Ops) IncidentChecklist(ctx context.Context) ([]CheckItem, error) {
	st, err := o.IncidentState(ctx)
	if err != nil {
		return nil, err
	}
	if !st.On {
		return nil, ErrNoIncident
	}
	steps := map[string]Step{}
	if id, err := o.LastReport(ctx, "incident.on"); err != nil {
		return nil, err
	} else if id != 0 {
		rep, err := o.Report(ctx, id)
		if err != nil {
			return nil, err
		}
		if !rep.Started.Before(st.Since.Add(-time.Second)) { // this incident's, not an earlier one's
			for _, s := range rep.Steps {
				steps[s.Name] = s
			}
		}
	}
	ticked, err := o.ticked(ctx, st.Since)
	if err != nil {
		return nil, err
	}
	var out []CheckItem
	for _, c := range checklist() {
		it := CheckItem{ID: c.id, Guide: c.guide, Words: say(c.key), Auto: c.step != ""}
		if it.Auto {
			s, ok := steps[c.step]
			it.Done, it.Failed, it.At = ok && s.Outcome == OutcomeOK, ok && s.Outcome == OutcomeFailed, s.At
			it.By = "caucus"
		} else if t, ok := ticked[c.id]; ok {
			it.Done, it.By, it.At = true, t.By, t.At
		}
		out = append(out, it)
	}
	return out, nil
}

// ticked returns the items people ticked for the incident that began at
// since.
func (o *Ops) ticked(ctx context.Context, since time.Time) (map[string]CheckItem, error) {
	rows, err := o.d.DB.QueryContext(ctx, `SELECT item, done_at, done_by FROM admin_incident_checks WHERE since = ?`, since.Unix())
	if err != nil {
		return nil, fmt.Errorf("admin: incident checklist: %w", err)
	}
	defer rows.Close()
	out := map[string]CheckItem{}
	for rows.Next() {
		var it CheckItem
		var at int64
		if err := rows.Scan(&it.ID, &at, &it.By); err != nil {
			return nil, fmt.Errorf("admin: incident checklist: %w", err)
		}
		it.At = time.Unix(at, 0)
		out[it.ID] = it
	}
	return out, rows.Err()
}

// TickIncidentItem marks an item that is left to people done or not
// done, for the incident under way.
func (o *Ops) TickIncidentItem(ctx context.Context, actor Actor, id string, done bool) error {
	st, err := o.IncidentState(ctx)
	if err != nil {
		return err
	}
	if !st.On {
		return ErrNoIncident
	}
	known := false
	for _, c := range checklist() {
		known = known || (c.id == id && c.step == "")
	}
	if !known {
		return fmt.Errorf("%w: no checklist item %q", auth.ErrNotFound, id)
	}
	return o.d.DB.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if done {
			_, err = tx.ExecContext(ctx, `INSERT INTO admin_incident_checks (since, item, done_at, done_by) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				st.Since.Unix(), id, o.d.Now().Unix(), actor.Login)
		} else {
			_, err = tx.ExecContext(ctx, `DELETE FROM admin_incident_checks WHERE since = ? AND item = ?`, st.Since.Unix(), id)
		}
		if err != nil {
			return fmt.Errorf("admin: incident checklist: %w", err)
		}
		return o.d.Audit.RecordTx(ctx, tx, audit.Event{Actor: actor.Login, Kind: "admin.incident.check",
			Detail: fmt.Sprintf("item=%s done=%t", id, done), Addr: actor.addr(), UserAgent: actor.UserAgent})
	})
}

// incidentExtras are the steps of incident mode that follow the sign-out
// and the links' suspension: the freeze, the members told, and last (it
// takes longest) the backup.
func (o *Ops) incidentExtras(ctx context.Context, r *run) {
	r.step(stepFrozen, func() (Words, error) { return say(i18n.Key("admin.step.frozen")), nil })
	r.step(stepTold, func() (Words, error) {
		accts, err := o.d.Auth.Accounts(ctx)
		if err != nil {
			return Words{}, err
		}
		n := 0
		now := o.d.Now()
		for _, a := range accts {
			if a.State == auth.StateActive && (a.ExpiresAt.IsZero() || now.Before(a.ExpiresAt)) {
				n++
			}
		}
		ms, err := o.IncidentMessages(ctx)
		if err != nil {
			return Words{}, err
		}
		if len(ms) == 0 {
			return say(i18n.Key("admin.step.told_standard"), "n", n), nil
		}
		langs := make([]string, len(ms))
		for i, m := range ms {
			langs[i] = m.Lang
		}
		return say(i18n.Key("admin.step.told_prepared"), "n", n, "langs", strings.Join(langs, ", "), "lang", cmp.Or(o.d.Language, i18n.Fallback)), nil
	})
	r.step(stepBackup, func() (Words, error) {
		if o.d.Backup == nil {
			return Words{}, skipped{say(i18n.Key("admin.step.no_backup"))}
		}
		res, err := o.d.Backup.Backup(ctx)
		return say(i18n.Key("admin.step.backup"), "id", res.ID, "files", res.Files, "size", byteCount(res.Size)), err
	})
}
