package server

import (
	"errors"
	"fmt"
	"os/user"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/mail/calendar"
)

// TestAdminGroupDiary: `caucus admin group diary GROUP read-only` over the
// running server's control socket makes the group's calendar refuse its
// members' writes, as the console's switch does, audited as
// calendar.group with the actor cli:<unix user>; read-write undoes it;
// an unknown group or state is refused.
func TestAdminGroupDiary(t *testing.T) {
	t.Parallel()
	srv, dir := startMailDev(t)
	ctx := t.Context()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := enrolWithAppPassword(t, srv, "diarist@"+srv.cfg.MailDomains[0], "Motion-Quorum-7731-Seconded", auth.ScopeCalendar)
	if err := srv.auth.CreateGroup(ctx, "", "press"); err != nil {
		t.Fatal(err)
	}
	if err := srv.auth.AddToGroup(ctx, "", "press", id); err != nil {
		t.Fatal(err)
	}
	gid, err := srv.auth.GroupID(ctx, "press")
	if err != nil {
		t.Fatal(err)
	}
	m := calendar.Member{ID: id, Login: "diarist@" + srv.cfg.MailDomains[0]}
	slug := fmt.Sprintf("group-%d", gid)
	put := func(uid string) error {
		o, err := calendar.Parse([]byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:" + uid + "\r\nDTSTAMP:20260101T000000Z\r\n" +
			"DTSTART:20260605T160000Z\r\nDTEND:20260605T170000Z\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = srv.diaries.cals.Put(ctx, m, slug, uid+".ics", o, calendar.Cond{})
		return err
	}
	cli := func(want int, args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(t, append(append([]string{"admin"}, args...), "--data", dir)...)
		if code != want {
			t.Fatalf("caucus admin %q: exit %d, want %d\n%s%s", args, code, want, out, errOut)
		}
		return out + errOut
	}
	if err := put("before"); err != nil {
		t.Fatalf("a member writes the writable group calendar: %v", err)
	}
	if out := cli(0, "group", "diary", "press", "read-only"); !strings.Contains(out, "group press: calendar and address book now read-only for its members") {
		t.Errorf("read-only: %q", out)
	}
	if err := put("during"); !errors.Is(err, calendar.ErrReadOnly) {
		t.Errorf("a member writes the read-only group calendar: %v", err)
	}
	if ro, err := srv.diaries.ReadOnly(ctx, auth.Group{ID: gid, Name: "press"}); err != nil || !ro {
		t.Errorf("the console sees read-only %v, %v", ro, err)
	}
	if out := cli(0, "audit", "--kind", "calendar.group"); !strings.Contains(out, "cli:"+me.Username) || !strings.Contains(out, "press read-only") {
		t.Errorf("audit: %q", out)
	}
	if out := cli(0, "group", "diary", "press", "read-write"); !strings.Contains(out, "now writable by its members") {
		t.Errorf("read-write: %q", out)
	}
	if out := cli(0, "group", "diary", "press", "read-write"); !strings.Contains(out, "still writable by its members") {
		t.Errorf("read-write again: %q", out)
	}
	if err := put("after"); err != nil {
		t.Errorf("a member writes the group calendar made writable again: %v", err)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"group", "diary", "nosuchgroup", "read-only"}, `no group "nosuchgroup"`},
		{[]string{"group", "diary", "press", "readonly"}, "say read-only or read-write"},
		{[]string{"group", "calendar", "press", "read-only"}, "the only one is diary"},
		{[]string{"group", "diary", "press"}, "takes 3 arguments"},
	} {
		if out := cli(1, bad.args...); !strings.Contains(out, bad.want) {
			t.Errorf("%q: %q, want %q", bad.args, out, bad.want)
		}
	}
}
