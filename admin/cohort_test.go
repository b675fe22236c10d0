package admin

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

// cohortReq is a cohort of three volunteers sponsored by sponsor, ending
// in days days.
func (e *opsEnv) cohortReq(sponsor string, days int) CohortRequest {
	people, err := ParseCohortPeople("# canvassers\nann@" + domain + ", Ann Vol, ann.private@example.net\n\nben@" + domain + ", Ben Vol\ncat@" + domain + "\n")
	if err != nil {
		panic(err)
	}
	return CohortRequest{Name: "Canvassing spring", Sponsor: sponsor, Ends: e.Clock.Now().Add(time.Duration(days) * 24 * time.Hour), Groups: []string{"canvass"}, People: people}
}

// TestCohortCreate: one step invites every volunteer of the list with
// the volunteer role and the cohort's end as their last day, mails the
// link where a personal address is given, and records the cohort.
func TestCohortCreate(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	sam := e.User(t, "sam@"+domain, auth.RoleMember)
	req := e.cohortReq(sam.Account.Login, 30)
	res, err := e.ops.CreateCohort(ctx, e.actor, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Invites) != 3 || len(res.Failed) != 0 || len(res.Cohort.People) != 3 {
		t.Fatalf("cohort made %d invites, %d failed, %d people", len(res.Invites), len(res.Failed), len(res.Cohort.People))
	}
	for _, a := range res.Cohort.People {
		if a.Role != auth.RoleVolunteer || !a.ExpiresAt.Equal(req.Ends) || a.State != auth.StateInvited {
			t.Errorf("%s: role %s, access ends %v (want %v), state %s", a.Login, a.Role, a.ExpiresAt, req.Ends, a.State)
		}
		if g, _ := e.Auth.GroupsOf(ctx, a.ID); len(g) != 1 || g[0] != "canvass" {
			t.Errorf("%s: groups %v", a.Login, g)
		}
	}
	if names := res.Cohort.People[2].DisplayName; names != "cat" {
		t.Errorf("a volunteer without a name is called %q, want the address's local part", names)
	}
	if len(e.mailer.to) != 1 || e.mailer.to[0][0] != "ann.private@example.net" {
		t.Errorf("invites mailed to %v, want ann's personal address only", e.mailer.to)
	}
	if res.Cohort.Sponsor.ID != sam.Account.ID || res.Cohort.Name != "Canvassing spring" {
		t.Errorf("cohort %+v", res.Cohort)
	}
	if recs, _ := e.Audit.List(ctx, audit.Filter{Kind: "admin.cohort.create"}); len(recs) != 1 || recs[0].Subject != sam.Account.Login {
		t.Errorf("audit of the cohort: %+v", recs)
	}
}

// TestCohortRefused: a cohort is refused whole, and nothing is made,
// when its sponsor is not an active member, its end has passed, its name
// is empty, or a line is wrong (an address twice, an address taken).
func TestCohortRefused(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	sam := e.User(t, "sam@"+domain, auth.RoleMember)
	vol := e.User(t, "vol@"+domain, auth.RoleVolunteer)
	before, err := e.Auth.Accounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	twice := e.cohortReq(sam.Account.Login, 30)
	twice.People = append(twice.People, CohortPerson{Line: 9, Login: "ANN@" + domain})
	taken := e.cohortReq(sam.Account.Login, 30)
	taken.People = append(taken.People, CohortPerson{Line: 9, Login: vol.Account.Login})
	for name, req := range map[string]CohortRequest{
		"volunteer sponsor": e.cohortReq(vol.Account.Login, 30),
		"unknown sponsor":   e.cohortReq("nobody@"+domain, 30),
		"end passed":        e.cohortReq(sam.Account.Login, -1),
		"no name":           func() CohortRequest { r := e.cohortReq(sam.Account.Login, 30); r.Name = " "; return r }(),
		"no people":         func() CohortRequest { r := e.cohortReq(sam.Account.Login, 30); r.People = nil; return r }(),
		"address twice":     twice,
		"address taken":     taken,
	} {
		if _, err := e.ops.CreateCohort(ctx, e.actor, req); !errors.Is(err, auth.ErrInvalid) && !errors.Is(err, auth.ErrExists) {
			t.Errorf("%s: %v, want it refused", name, err)
		}
	}
	var pe *PersonError
	if _, err := e.ops.CreateCohort(ctx, e.actor, taken); !errors.As(err, &pe) || pe.Line != 9 {
		t.Errorf("a taken address: %v, want the line named", err)
	}
	after, err := e.Auth.Accounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("refused cohorts made %d accounts", len(after)-len(before))
	}
	if cs, err := e.ops.Cohorts(ctx); err != nil || len(cs) != 0 {
		t.Errorf("refused cohorts were kept: %d %v", len(cs), err)
	}
}

// TestCohortEnd: at the cohort's end every volunteer is offboarded as in
// an offboarding (sessions ended, files to the sponsor with links
// revoked, the mailbox kept for the retention period), a volunteer who
// left earlier is listed as such, and the cohort has one report, kept,
// that names each of them; nothing happens before the end, nor twice.
func TestCohortEnd(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	sam := e.User(t, "sam@"+domain, auth.RoleMember)
	res, err := e.ops.CreateCohort(ctx, e.actor, e.cohortReq(sam.Account.Login, 20))
	if err != nil {
		t.Fatal(err)
	}
	ann := res.Invites[0]
	sess, err := e.Auth.AcceptInvite(ctx, ann.Link[strings.LastIndexByte(ann.Link, '/')+1:], "correct horse battery staple 1", auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	ben := res.Invites[1].Account
	if _, err := e.ops.Offboard(ctx, e.actor, OffboardPlan{Account: ben, Options: OffboardOptions{Links: files.LinksRevoke}}); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(19 * 24 * time.Hour)
	if ended, _, err := e.ops.CohortsDue(ctx); err != nil || ended != 0 {
		t.Fatalf("a day before the end: %d ended, %v", ended, err)
	}
	e.Clock.Advance(24*time.Hour + time.Minute)
	if ended, _, err := e.ops.CohortsDue(ctx); err != nil || ended != 1 {
		t.Fatalf("at the end: %d ended, %v", ended, err)
	}
	if ended, _, err := e.ops.CohortsDue(ctx); err != nil || ended != 0 {
		t.Errorf("again: %d ended, %v", ended, err)
	}
	c, err := e.ops.Cohort(ctx, res.Cohort.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range c.People {
		if a.State != auth.StateOffboarded {
			t.Errorf("%s is %s after the cohort's end", a.Login, a.State)
		}
	}
	if _, err := e.Auth.Session(ctx, sess); err == nil {
		t.Error("a volunteer's session outlived the cohort's end")
	}
	if !c.Ended() || c.ReportID == 0 {
		t.Fatalf("cohort after its end: %+v", c)
	}
	rep, err := e.ops.Report(ctx, c.ReportID)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.Text())
	if rep.Kind != "cohort.end" || rep.Actor != "system" || rep.Subject != "Canvassing spring" {
		t.Errorf("report %s by %s about %q", rep.Kind, rep.Actor, rep.Subject)
	}
	steps := map[string]string{}
	for _, s := range rep.Steps {
		steps[s.Who+" "+s.Name] = s.Outcome
	}
	for _, want := range []string{"ann@" + domain + " " + stepDisable, "ann@" + domain + " " + stepRetain, "cat@" + domain + " " + stepFiles, "cat@" + domain + " " + stepRetain} {
		if steps[want] != OutcomeOK {
			t.Errorf("report step %q: %q, want ok", want, steps[want])
		}
	}
	if steps["ben@"+domain+" "+stepLeft] != OutcomeSkipped {
		t.Errorf("the volunteer who had left: %v", steps)
	}
	calls := strings.Join(e.files.Calls(), "\n")
	for _, a := range []int64{res.Invites[0].Account.ID, res.Invites[2].Account.ID} {
		if want := "->" + strconv.FormatInt(sam.Account.ID, 10) + " links=revoke"; !strings.Contains(calls, strconv.FormatInt(a, 10)+want) {
			t.Errorf("files of %d not handed to the sponsor with links revoked:\n%s", a, calls)
		}
	}
	recs, _ := e.Audit.List(ctx, audit.Filter{Kind: "admin.cohort.end"})
	n := 0
	for _, r := range recs {
		if r.Kind == "admin.cohort.end" {
			n++
		} else if r.Kind == "admin.cohort.end.step" && r.Subject == "" {
			t.Errorf("a step of the end names nobody: %+v", r)
		}
	}
	if n != 1 {
		t.Errorf("%d audit records of the end, want 1", n)
	}
	if _, err := e.ops.EndCohort(ctx, e.actor, c.ID); !errors.Is(err, ErrCohortEnded) {
		t.Errorf("ending an ended cohort: %v", err)
	}
	if _, err := e.ops.ExtendCohort(ctx, e.actor, c.ID, e.Clock.Now().Add(time.Hour)); !errors.Is(err, ErrCohortEnded) {
		t.Errorf("extending an ended cohort: %v", err)
	}
}

// TestCohortReminders: the sponsor's reminder is recorded once per
// threshold (14 and 3 days before the end), also when the service is
// built anew (a restart), and again for a new end after an extension,
// which gives every volunteer the new last day.
func TestCohortReminders(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	sam := e.User(t, "sam@"+domain, auth.RoleMember)
	res, err := e.ops.CreateCohort(ctx, e.actor, e.cohortReq(sam.Account.Login, 20))
	if err != nil {
		t.Fatal(err)
	}
	reminders := func() int {
		t.Helper()
		recs, err := e.Audit.List(ctx, audit.Filter{Kind: "admin.cohort.reminder"})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Subject != sam.Account.Login {
				t.Errorf("a reminder to %q, want the sponsor", r.Subject)
			}
		}
		return len(recs)
	}
	sweep := func(ops *Ops) {
		t.Helper()
		if _, _, err := ops.CohortsDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sweep(e.ops)
	if n := reminders(); n != 0 {
		t.Fatalf("20 days before the end: %d reminders", n)
	}
	e.Clock.Advance(6*24*time.Hour + time.Minute) // 14 days left
	sweep(e.ops)
	sweep(e.ops)
	restarted := NewOps(e.ops.Deps())
	sweep(restarted)
	if n := reminders(); n != 1 {
		t.Fatalf("14 days before the end, swept three times across a restart: %d reminders, want 1", n)
	}
	e.Clock.Advance(11 * 24 * time.Hour) // 3 days left
	sweep(restarted)
	sweep(e.ops)
	if n := reminders(); n != 2 {
		t.Fatalf("3 days before the end: %d reminders, want 2", n)
	}
	ends := res.Cohort.Ends.Add(30 * 24 * time.Hour)
	c, err := e.ops.ExtendCohort(ctx, e.actor, res.Cohort.ID, ends)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range c.People {
		if !a.ExpiresAt.Equal(ends) {
			t.Errorf("%s: access ends %v after the extension, want %v", a.Login, a.ExpiresAt, ends)
		}
	}
	if _, err := e.ops.ExtendCohort(ctx, e.actor, res.Cohort.ID, ends.Add(-time.Hour)); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("an earlier end: %v, want it refused", err)
	}
	sweep(e.ops)
	if n := reminders(); n != 2 {
		t.Errorf("just after the extension: %d reminders, want 2", n)
	}
	e.Clock.Advance(30*24*time.Hour + time.Minute) // 3 days before the new end: one mail for both thresholds
	sweep(e.ops)
	sweep(e.ops)
	if n := reminders(); n != 3 {
		t.Errorf("before the new end: %d reminders, want 3", n)
	}
}

// FuzzParseCohortPeople: the list's reader takes anything without
// panicking, and what it returns is bounded and trimmed.
func FuzzParseCohortPeople(f *testing.F) {
	for _, s := range []string{
		"ann@example.org, Ann\nben@example.org",
		"ann@example.org;Ann;ann@example.net\n",
		"# list\nann@example.org;Ann\n",
		"# comment\n\n\"ann@example.org\",\"Ann, the first\"\n",
		"a,b,c,d", "\"unterminated", ",,\n", "\x00,\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParseCohortPeople(s)
		if err != nil {
			return
		}
		if len(ps) > MaxCohortPeople {
			t.Errorf("%d people", len(ps))
		}
		for _, p := range ps {
			if p.Login != strings.TrimSpace(p.Login) || p.Name != strings.TrimSpace(p.Name) || p.Line < 1 {
				t.Errorf("person %+v", p)
			}
		}
	})
}

// TestCohortReminderSponsorLeft: when the sponsor has left, the admins
// are reminded of the cohort's end instead.
func TestCohortReminderSponsorLeft(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	sam := e.User(t, "sam@"+domain, auth.RoleMember)
	if _, err := e.ops.CreateCohort(ctx, e.actor, e.cohortReq(sam.Account.Login, 10)); err != nil {
		t.Fatal(err)
	}
	if err := e.Auth.SetState(ctx, e.actor.Login, sam.Account.ID, auth.StateOffboarded, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.ops.CohortsDue(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := e.Audit.List(ctx, audit.Filter{Kind: "admin.cohort.reminder"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Subject != e.admin.Account.Login {
		t.Errorf("reminders when the sponsor left: %+v, want one to the admin", recs)
	}
}

// TestParseCohortPeople: the list takes commas or semicolons (as
// spreadsheets write it), comments and blank lines, quoted names with
// commas, and refuses a line with too many fields, naming it.
func TestParseCohortPeople(t *testing.T) {
	t.Parallel()
	ps, err := ParseCohortPeople("# volunteers\n\nann@example.org;Ann Rossi;ann@example.net\nben@example.org\n")
	if err != nil || len(ps) != 2 || ps[0].Name != "Ann Rossi" || ps[0].MailTo != "ann@example.net" || ps[1].Line != 4 {
		t.Errorf("semicolons: %+v %v", ps, err)
	}
	ps, err = ParseCohortPeople(`cat@example.org, "Rossi, Cat"` + "\n")
	if err != nil || len(ps) != 1 || ps[0].Name != "Rossi, Cat" {
		t.Errorf("a quoted name: %+v %v", ps, err)
	}
	var p *Problem
	if _, err := ParseCohortPeople("ann@example.org\nben@example.org, Ben, b@example.net, extra\n"); !errors.As(err, &p) || p.Num["line"] != 2 {
		t.Errorf("too many fields: %v, want line 2 named", err)
	}
	if _, err := ParseCohortPeople(strings.Repeat("x@example.org\n", MaxCohortPeople+1)); !errors.Is(err, ErrCSVTooBig) {
		t.Errorf("too many people: %v", err)
	}
}

// TestCohortEndOnce: a cohort's end asked twice at once (an admin's
// click while the hourly RunExpiry ends it, or RunExpiry on two nodes:
// on PostgreSQL two Ops, as two nodes have) is carried out once: one
// report, one audit record, each volunteer offboarded once; the other
// call is told the cohort has ended (or is being ended).
func TestCohortEndOnce(t *testing.T) {
	t.Parallel()
	e := newOps(t)
	ctx := t.Context()
	sam := e.User(t, "sam@"+domain, auth.RoleMember)
	res, err := e.ops.CreateCohort(ctx, e.actor, e.cohortReq(sam.Account.Login, 2))
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(3 * 24 * time.Hour)
	other := e.ops
	if dbtest.Engine() == db.Postgres {
		other = NewOps(e.ops.d) // another node: only the database is shared
	}
	var wg sync.WaitGroup
	var start sync.WaitGroup
	start.Add(2)
	errs := make([]error, 2)
	for i, o := range []*Ops{e.ops, other} {
		wg.Go(func() {
			start.Done()
			start.Wait()
			_, errs[i] = o.EndCohort(ctx, e.actor, res.Cohort.ID)
		})
	}
	wg.Wait()
	ended := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ended++
		case !errors.Is(err, ErrCohortEnded):
			t.Errorf("end: %v", err)
		}
	}
	recs, _ := e.Audit.List(ctx, audit.Filter{Kind: "admin.cohort.end"})
	n := 0
	for _, r := range recs {
		if r.Kind == "admin.cohort.end" {
			n++
		}
	}
	if ended != 1 || n != 1 {
		t.Errorf("%d ends carried out, %d audit records of an end (%v); want one", ended, n, errs)
	}
	calls := strings.Join(e.files.Calls(), "\n")
	for _, inv := range res.Invites {
		if k := strings.Count(calls, strconv.FormatInt(inv.Account.ID, 10)+"->"); k != 1 {
			t.Errorf("files of %s handed over %d times, want once:\n%s", inv.Account.Login, k, calls)
		}
	}
}
