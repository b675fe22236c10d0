package admin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/i18n"
)

// Component returns the admin tables: saved reports, the incident switch
// with its prepared message and checklist, and the cohorts.
func Component() db.Component {
	return db.Component{Name: "admin", Migrations: []db.Migration{{Version: 1, SQL: `
CREATE TABLE admin_reports (
	id      INTEGER PRIMARY KEY,
	at      INTEGER NOT NULL,
	kind    TEXT NOT NULL,
	actor   TEXT NOT NULL,
	subject TEXT NOT NULL,
	report  BLOB NOT NULL -- JSON of a Report
);
CREATE INDEX admin_reports_subject ON admin_reports(subject, id);
CREATE TABLE admin_incident (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	since INTEGER NOT NULL,
	actor TEXT NOT NULL
);
`}, {Version: 2, SQL: schemaV2}}}
}

// Freeze is incident mode's switch as the domains read it
// (route.Freeze, files.Freeze): while it is on, mail is not forwarded
// outside the party and no public link is made. It only needs the
// database, so the server hands it to the domains before it builds [Ops].
type Freeze struct{ db *db.DB }

// NewFreeze returns the switch kept in d ([Component]).
func NewFreeze(d *db.DB) Freeze { return Freeze{db: d} }

// Frozen reports whether incident mode is on.
func (f Freeze) Frozen(ctx context.Context) (bool, error) {
	var on bool
	if err := f.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM admin_incident WHERE id = 1)`).Scan(&on); err != nil {
		return false, fmt.Errorf("admin: incident switch: %w", err)
	}
	return on, nil
}

// IncidentState says whether incident mode is on, since when and by whom.
type IncidentState struct {
	On    bool
	Since time.Time
	By    string
}

// IncidentState returns whether incident mode is on.
func (o *Ops) IncidentState(ctx context.Context) (IncidentState, error) {
	if o.d.DB == nil {
		return IncidentState{}, nil
	}
	var st IncidentState
	var since int64
	err := o.d.DB.QueryRowContext(ctx, `SELECT since, actor FROM admin_incident WHERE id = 1`).Scan(&since, &st.By)
	if errors.Is(err, sql.ErrNoRows) {
		return IncidentState{}, nil
	}
	if err != nil {
		return IncidentState{}, fmt.Errorf("admin: incident state: %w", err)
	}
	st.On, st.Since = true, time.Unix(since, 0)
	return st, nil
}

// Incident switches incident mode on or off. On: everyone is signed out
// (admins included, who then sign in afresh), every app password is
// revoked and every live connection closed, every public file link is
// suspended, mail forwarding to outside addresses and new public links
// are frozen ([Freeze]), a backup is made at once, and every active
// member is mailed the message the admins prepared (auth/notice, from the
// audit record of the switch); switching it on again repeats the sweep.
// Off: public links work again, and the freeze ends; app passwords stay
// revoked (devices get new ones).
func (o *Ops) Incident(ctx context.Context, actor Actor, on bool) (Report, error) {
	if o.d.DB == nil {
		return Report{}, fmt.Errorf("%w: incident mode needs the database", ErrNotAvailable)
	}
	st, err := o.IncidentState(ctx)
	if err != nil {
		return Report{}, err
	}
	if !on && !st.On {
		return Report{}, fmt.Errorf("%w: incident mode is not on", ErrState)
	}
	if !on {
		r := o.newRun("incident.off", actor, "")
		r.step("public links resumed", func() (Words, error) {
			if o.d.Files == nil {
				return Words{}, filesMissing()
			}
			n, err := o.d.Files.ResumePublicLinks(ctx, actor.Login)
			return say(i18n.Key("admin.step.links"), "n", n), err
		})
		r.step("incident mode off", func() (Words, error) {
			_, err := o.d.DB.ExecContext(ctx, `DELETE FROM admin_incident WHERE id = 1`)
			return say(i18n.Key("admin.step.incident_was"), "since", moment(st.Since), "by", st.By), err
		})
		rep := r.finish(ctx, actor)
		return rep, reportErr(rep)
	}
	// Once begun, the switch runs to its end even if the admin's browser
	// goes away: half an incident mode (signed out, but no backup and no
	// message to members) is worse than none. The backup is what takes
	// long.
	ctx = context.WithoutCancel(ctx)
	r := o.newRun("incident.on", actor, "")
	// The switch is recorded first, so that the banner shows and a crash
	// half-way leaves it on.
	r.step("incident mode on", func() (Words, error) {
		_, err := o.d.DB.ExecContext(ctx, `INSERT INTO admin_incident (id, since, actor) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING`, o.d.Now().Unix(), actor.Login)
		return Words{}, err
	})
	r.step(stepSignOut, func() (Words, error) {
		accts, err := o.d.Auth.Accounts(ctx)
		if err != nil {
			return Words{}, err
		}
		var sum auth.RevokeReport
		var errs []error
		for _, a := range accts {
			rr, err := o.d.Auth.Revoke(ctx, actor.Login, a.ID, actor.client())
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", a.Login, err))
				continue
			}
			sum.Sessions += rr.Sessions
			sum.AppPasswords += rr.AppPasswords
			sum.Connections += rr.Connections
		}
		return say(i18n.Key("admin.step.everyone"), "n", len(accts), "sessions", sum.Sessions, "apppw", sum.AppPasswords, "live", sum.Connections), errors.Join(errs...)
	})
	r.step(stepLinks, func() (Words, error) {
		if o.d.Files == nil {
			return Words{}, filesMissing()
		}
		n, err := o.d.Files.SuspendPublicLinks(ctx, actor.Login)
		return say(i18n.Key("admin.step.links"), "n", n), err
	})
	o.incidentExtras(ctx, r)
	rep := r.finish(ctx, actor)
	return rep, reportErr(rep)
}

// LastReport returns the id of the newest saved report of kind; 0 when
// there is none.
func (o *Ops) LastReport(ctx context.Context, kind string) (int64, error) {
	if o.d.DB == nil {
		return 0, nil
	}
	var id int64
	err := o.d.DB.QueryRowContext(ctx, `SELECT id FROM admin_reports WHERE kind = ? ORDER BY id DESC LIMIT 1`, kind).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("admin: last %s report: %w", kind, err)
	}
	return id, nil
}
