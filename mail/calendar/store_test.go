package calendar_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/mail/calendar"
)

type env struct {
	*authtest.Env
	store *calendar.Store
}

func newEnv(t testing.TB) *env {
	ae := authtest.New(t, auth.Config{}, calendar.Component())
	return &env{Env: ae, store: calendar.New(ae.DB, ae.Auth, ae.Audit, ae.Clock.Now, nil)}
}

func (e *env) member(t testing.TB, login string) calendar.Member {
	login += "@example.org"
	u := e.User(t, login, auth.RoleMember)
	return calendar.Member{ID: u.Account.ID, Login: login}
}

// event is a minimal VEVENT object.
func event(uid, start, end, extra string) string {
	return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:" + uid +
		"\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:" + start + "\r\nDTEND:" + end + "\r\nSUMMARY:Canvassing\r\n" + extra +
		"END:VEVENT\r\nEND:VCALENDAR\r\n"
}

func mustParse(t testing.TB, s string) *calendar.Object {
	t.Helper()
	o, err := calendar.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestPersonalCalendarIsOwnersOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice, bob := e.member(t, "alice"), e.member(t, "bob")
	cals, err := e.store.Calendars(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if len(cals) != 1 || cals[0].Slug != calendar.PersonalSlug || !cals[0].Writable {
		t.Fatalf("alice's calendars: %+v", cals)
	}
	o := mustParse(t, event("a1", "20260610T090000Z", "20260610T100000Z", ""))
	if _, created, err := e.store.Put(ctx, alice, calendar.PersonalSlug, "a1.ics", o, calendar.Cond{IfNoneMatch: "*"}); err != nil || !created {
		t.Fatalf("put: created %v, %v", created, err)
	}
	// Bob's personal calendar is his own: the same URL name reaches his.
	if _, err := e.store.Get(ctx, bob, calendar.PersonalSlug, "a1.ics"); !errors.Is(err, calendar.ErrNotFound) {
		t.Fatalf("bob reads alice's event: %v", err)
	}
	if _, err := e.store.Calendar(ctx, bob, "group-1"); !errors.Is(err, calendar.ErrNotFound) {
		t.Fatalf("bob reaches a group calendar he is not in: %v", err)
	}
	for _, slug := range []string{"", "group-", "group-01", "group-x", "../personal", "other"} {
		if _, err := e.store.Calendar(ctx, bob, slug); !errors.Is(err, calendar.ErrNotFound) {
			t.Errorf("calendar %q: %v, want ErrNotFound", slug, err)
		}
	}
}

func TestGroupCalendarFollowsMembership(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice, bob, carol := e.member(t, "alice"), e.member(t, "bob"), e.member(t, "carol")
	if err := e.Auth.CreateGroup(ctx, "admin", "press"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []calendar.Member{alice, bob} {
		if err := e.Auth.AddToGroup(ctx, "admin", "press", m.ID); err != nil {
			t.Fatal(err)
		}
	}
	gid, err := e.Auth.GroupID(ctx, "press")
	if err != nil {
		t.Fatal(err)
	}
	slug := fmt.Sprintf("group-%d", gid)
	cals, err := e.store.Calendars(ctx, alice)
	if err != nil || len(cals) != 2 || cals[1].Slug != slug || cals[1].Group != "press" || !cals[1].Writable {
		t.Fatalf("alice's calendars: %+v, %v", cals, err)
	}
	o := mustParse(t, event("debate", "20260610T180000Z", "20260610T200000Z", ""))
	if _, _, err := e.store.Put(ctx, alice, slug, "debate.ics", o, calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	if r, err := e.store.Get(ctx, bob, slug, "debate.ics"); err != nil || r.UID != "debate" {
		t.Fatalf("bob reads the group's event: %+v, %v", r, err)
	}
	if _, err := e.store.Get(ctx, carol, slug, "debate.ics"); !errors.Is(err, calendar.ErrNotFound) {
		t.Fatalf("carol, not in the group: %v", err)
	}
	// Bob leaves the group: at once, no more calendar.
	if err := e.Auth.RemoveFromGroup(ctx, "admin", "press", bob.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Get(ctx, bob, slug, "debate.ics"); !errors.Is(err, calendar.ErrNotFound) {
		t.Fatalf("bob after leaving: %v", err)
	}
	if _, _, err := e.store.Put(ctx, bob, slug, "x.ics", mustParse(t, event("x", "20260610T180000Z", "20260610T200000Z", "")), calendar.Cond{}); !errors.Is(err, calendar.ErrNotFound) {
		t.Fatalf("bob writes after leaving: %v", err)
	}
	// Read-only: alice reads, cannot write or delete.
	if err := e.store.SetGroupReadOnly(ctx, "admin@example.org", auth.Group{ID: gid, Name: "press"}, true); err != nil {
		t.Fatal(err)
	}
	recs, err := e.Audit.List(ctx, audit.Filter{Kind: "calendar.group"})
	if err != nil || len(recs) != 1 || recs[0].Actor != "admin@example.org" || recs[0].Detail != "press read-only" {
		t.Fatalf("audit of the change: %+v, %v", recs, err)
	}
	if _, _, err := e.store.Put(ctx, alice, slug, "y.ics", mustParse(t, event("y", "20260610T180000Z", "20260610T200000Z", "")), calendar.Cond{}); !errors.Is(err, calendar.ErrReadOnly) {
		t.Fatalf("write to a read-only group calendar: %v", err)
	}
	if err := e.store.Delete(ctx, alice, slug, "debate.ics", calendar.Cond{}); !errors.Is(err, calendar.ErrReadOnly) {
		t.Fatalf("delete in a read-only group calendar: %v", err)
	}
	if _, err := e.store.Get(ctx, alice, slug, "debate.ics"); err != nil {
		t.Fatalf("read of a read-only group calendar: %v", err)
	}
}

func TestConditionalWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice := e.member(t, "alice")
	p := calendar.PersonalSlug
	v1 := mustParse(t, event("u1", "20260610T090000Z", "20260610T100000Z", ""))
	v2 := mustParse(t, event("u1", "20260611T090000Z", "20260611T100000Z", ""))
	r1, _, err := e.store.Put(ctx, alice, p, "u1.ics", v1, calendar.Cond{IfNoneMatch: "*"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cond calendar.Cond
	}{
		{"If-None-Match: * on an existing resource", calendar.Cond{IfNoneMatch: "*"}},
		{"If-Match: a stale tag", calendar.Cond{IfMatch: strings.Repeat("0", 64)}},
		{"If-None-Match: the current tag", calendar.Cond{IfNoneMatch: r1.ETag}},
	}
	for _, c := range cases {
		if _, _, err := e.store.Put(ctx, alice, p, "u1.ics", v2, c.cond); !errors.Is(err, calendar.ErrPrecondition) {
			t.Errorf("%s: %v, want ErrPrecondition", c.name, err)
		}
	}
	if err := e.store.Delete(ctx, alice, p, "u1.ics", calendar.Cond{IfMatch: strings.Repeat("0", 64)}); !errors.Is(err, calendar.ErrPrecondition) {
		t.Errorf("delete with a stale tag: %v", err)
	}
	if _, _, err := e.store.Put(ctx, alice, p, "new.ics", v2, calendar.Cond{IfMatch: "*"}); !errors.Is(err, calendar.ErrPrecondition) {
		t.Errorf("If-Match: * on a missing resource: %v", err)
	}
	if r, _ := e.store.Get(ctx, alice, p, "u1.ics"); r.ETag != r1.ETag {
		t.Fatal("a refused write changed the resource")
	}
	r2, created, err := e.store.Put(ctx, alice, p, "u1.ics", v2, calendar.Cond{IfMatch: r1.ETag})
	if err != nil || created || r2.ETag == r1.ETag || r2.ETag != calendar.ETag(v2.Data) {
		t.Fatalf("put with the current tag: %+v, created %v, %v", r2, created, err)
	}
	// The same UID under another name: RFC 4791 section 5.3.2.1.
	if _, _, err := e.store.Put(ctx, alice, p, "other.ics", v1, calendar.Cond{}); !errors.Is(err, calendar.ErrUIDConflict) {
		t.Errorf("second resource with UID u1: %v", err)
	}
	if err := e.store.Delete(ctx, alice, p, "u1.ics", calendar.Cond{IfMatch: r2.ETag}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Delete(ctx, alice, p, "u1.ics", calendar.Cond{}); !errors.Is(err, calendar.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestChangesSince(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice := e.member(t, "alice")
	p := calendar.PersonalSlug
	for i := range 3 {
		uid := fmt.Sprintf("e%d", i)
		if _, _, err := e.store.Put(ctx, alice, p, uid+".ics", mustParse(t, event(uid, "20260610T090000Z", "20260610T100000Z", "")), calendar.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := e.store.ChangesSince(ctx, alice, p, 0)
	if err != nil || len(all.Updated) != 3 || len(all.Deleted) != 0 || all.Seq != 3 {
		t.Fatalf("initial: %+v, %v", all, err)
	}
	none, err := e.store.ChangesSince(ctx, alice, p, all.Seq)
	if err != nil || len(none.Updated)+len(none.Deleted) != 0 || none.Seq != all.Seq {
		t.Fatalf("no change: %+v, %v", none, err)
	}
	if _, _, err := e.store.Put(ctx, alice, p, "e1.ics", mustParse(t, event("e1", "20260612T090000Z", "20260612T100000Z", "")), calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Delete(ctx, alice, p, "e2.ics", calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	ch, err := e.store.ChangesSince(ctx, alice, p, all.Seq)
	if err != nil || len(ch.Updated) != 1 || ch.Updated[0].Name != "e1.ics" || len(ch.Deleted) != 1 || ch.Deleted[0] != "e2.ics" {
		t.Fatalf("after an edit and a delete: %+v, %v", ch, err)
	}
	if _, err := e.store.ChangesSince(ctx, alice, p, ch.Seq+1); !errors.Is(err, calendar.ErrBadToken) {
		t.Fatalf("a number from the future: %v", err)
	}
}

func TestInRange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice := e.member(t, "alice")
	p := calendar.PersonalSlug
	objs := map[string]string{
		"june.ics":   event("june", "20260610T090000Z", "20260610T100000Z", ""),
		"july.ics":   event("july", "20260710T090000Z", "20260710T100000Z", ""),
		"weekly.ics": event("weekly", "20260105T090000Z", "20260105T100000Z", "RRULE:FREQ=WEEKLY;COUNT=10\r\n"),
		"daily.ics":  event("daily", "20250101T090000Z", "20250101T100000Z", "RRULE:FREQ=DAILY\r\n"),
	}
	for name, s := range objs {
		if _, _, err := e.store.Put(ctx, alice, p, name, mustParse(t, s), calendar.Cond{}); err != nil {
			t.Fatal(name, err)
		}
	}
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	got, err := e.store.InRange(ctx, alice, p, start, start.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range got {
		names = append(names, r.Name)
	}
	if strings.Join(names, " ") != "daily.ics june.ics" {
		t.Fatalf("June: %v, want daily.ics june.ics (the weekly one ended in March)", names)
	}
}

func TestImportAllOrNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice := e.member(t, "alice")
	p := calendar.PersonalSlug
	if _, _, err := e.store.Put(ctx, alice, p, "old.ics", mustParse(t, event("old", "20260610T090000Z", "20260610T100000Z", "")), calendar.Cond{}); err != nil {
		t.Fatal(err)
	}
	bad := map[string]*calendar.Object{
		"new.ics":   mustParse(t, event("new", "20260610T090000Z", "20260610T100000Z", "")),
		"again.ics": mustParse(t, event("old", "20260610T090000Z", "20260610T100000Z", "")),
	}
	if err := e.store.Import(ctx, alice, p, bad); !errors.Is(err, calendar.ErrUIDConflict) {
		t.Fatalf("import of a UID the calendar has: %v", err)
	}
	if rs, _ := e.store.List(ctx, alice, p); len(rs) != 1 {
		t.Fatalf("a refused import left %d resources, want 1", len(rs))
	}
	delete(bad, "again.ics")
	if err := e.store.Import(ctx, alice, p, bad); err != nil {
		t.Fatal(err)
	}
	ch, err := e.store.ChangesSince(ctx, alice, p, 1)
	if err != nil || len(ch.Updated) != 1 || ch.Updated[0].Name != "new.ics" {
		t.Fatalf("changes after the import: %+v, %v", ch, err)
	}
}
