package auth

import (
	"fmt"
	"slices"
	"testing"
)

// TestListAccounts: the console's directory of a party: a search of
// several words (any case, LIKE's wildcards taken literally) over names,
// logins and groups; the sets and their counts in one query; names sorted
// without regard to case; pages; the factors and groups of a page.
func TestListAccounts(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	for _, na := range []NewAccount{
		{Login: "bea@example.org", DisplayName: "bea Stone", Role: RoleMember, Groups: []string{"press"}},
		{Login: "al@example.org", DisplayName: "Al Rivers", Role: RoleAdmin},
		{Login: "cy@example.org", DisplayName: "Cy 100%_done", Role: RoleMember, Groups: []string{"press", "board"}},
	} {
		if _, err := s.CreateInvite(ctx, testAdmin, na, cl); err != nil {
			t.Fatal(err)
		}
	}
	m := enrolMember(t, s, clk, "dee@example.org") // active, with TOTP
	logins := func(q AccountQuery) string {
		t.Helper()
		q.Now = clk.Now()
		q.Limit = 100
		accts, _, err := s.ListAccounts(ctx, q)
		if err != nil {
			t.Fatalf("ListAccounts(%+v): %v", q, err)
		}
		var out []string
		for _, a := range accts {
			out = append(out, a.Login[:len(a.Login)-len("@example.org")])
		}
		return fmt.Sprint(out)
	}
	for _, tc := range []struct {
		q    AccountQuery
		want string
	}{
		{AccountQuery{}, "[al bea cy dee]"}, // by name, case ignored: Al, bea, Cy, Test Person
		{AccountQuery{Desc: true}, "[dee cy bea al]"},
		{AccountQuery{Sort: "address", Desc: true}, "[dee cy bea al]"},
		{AccountQuery{Search: "STONE"}, "[bea]"},
		{AccountQuery{Search: "PRESS"}, "[bea cy]"},
		{AccountQuery{Search: "press board"}, "[cy]"},
		{AccountQuery{Search: "%_"}, "[cy]"},
		{AccountQuery{Search: "_"}, "[cy]"},
		{AccountQuery{Search: "DEE@"}, "[dee]"},
		{AccountQuery{Set: SetInvited}, "[al bea cy]"},
		{AccountQuery{Set: SetActive}, "[dee]"},
		{AccountQuery{Set: SetAdmins}, "[al]"},
		{AccountQuery{Sort: "state"}, "[dee al bea cy]"},
	} {
		if got := logins(tc.q); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.q, got, tc.want)
		}
	}
	accts, counts, err := s.ListAccounts(ctx, AccountQuery{Search: "example", Now: clk.Now(), Offset: 1, Limit: 2})
	if err != nil || len(accts) != 2 || accts[0].Login != "bea@example.org" {
		t.Fatalf("page 2 of 2: %+v, %v", accts, err)
	}
	if want := (map[AccountSet]int{SetAll: 4, SetActive: 1, SetInvited: 3, SetAdmins: 1}); counts[SetAll] != 4 || counts[SetActive] != 1 ||
		counts[SetInvited] != 3 || counts[SetAdmins] != 1 || counts[SetSuspended] != 0 || counts[SetNoFactor] != 0 {
		t.Errorf("counts %v, want %v and the others 0", counts, want)
	}
	var ids []int64
	for _, a := range accts {
		ids = append(ids, a.ID)
	}
	ids = append(ids, m.ID)
	kinds, err := s.FactorKindsOf(ctx, ids)
	if err != nil || len(kinds) != 1 || !slices.Equal(kinds[m.ID], []FactorKind{KindTOTP}) {
		t.Errorf("FactorKindsOf = %v, %v", kinds, err)
	}
	groups, err := s.GroupsOfAccounts(ctx, ids)
	if err != nil || len(groups) != 2 || !slices.Equal(groups[accts[1].ID], []string{"board", "press"}) {
		t.Errorf("GroupsOfAccounts = %v, %v", groups, err)
	}
}

// TestFactorKindsOrder: an account's kinds of factor come in the order
// they were first added, TOTP last, on either engine (the console lists
// them so).
func TestFactorKindsOrder(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "zia@example.org")
	for _, k := range []FactorKind{KindSecurityKey, KindPasskey, KindSecurityKey} {
		addFakeCredential(t, s, m.ID, k)
	}
	other := enrolMember(t, s, clk, "abe@example.org")
	addFakeCredential(t, s, other.ID, KindPasskey)
	want := map[int64][]FactorKind{m.ID: {KindSecurityKey, KindPasskey, KindTOTP}, other.ID: {KindPasskey, KindTOTP}}
	all, err := s.FactorKindsByAccount(ctx)
	if err != nil || len(all) != 2 || !slices.Equal(all[m.ID], want[m.ID]) || !slices.Equal(all[other.ID], want[other.ID]) {
		t.Errorf("FactorKindsByAccount = %v, %v; want %v", all, err, want)
	}
	some, err := s.FactorKindsOf(ctx, []int64{m.ID})
	if err != nil || len(some) != 1 || !slices.Equal(some[m.ID], want[m.ID]) {
		t.Errorf("FactorKindsOf = %v, %v; want %v", some, err, want[m.ID])
	}
}
