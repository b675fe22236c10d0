package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/admin/ctl"
)

// TestAdminListLastDay: `caucus admin list` prints the last day of access
// as it was given, 2027-06-30, not the day after (issue 16 bug 5).
func TestAdminListLastDay(t *testing.T) {
	t.Parallel()
	end, err := admin.ParseLastDay("2027-06-30", nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	printPeople(&b, []ctl.Person{{Login: "anna@example.org", Name: "Anna", Role: "member", State: "active", Expires: end, LastDay: admin.LastDay(end, nil).Format(time.DateOnly)}})
	if out := b.String(); !strings.Contains(out, "2027-06-30") || strings.Contains(out, "2027-07-01") {
		t.Errorf("admin list prints:\n%s\nwant the last day 2027-06-30", out)
	}
}
