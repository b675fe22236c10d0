package auth

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

// cachedNodes returns two nodes with their caches shared (ShareCaches,
// listening), and caughtUp, which returns once node B has applied every
// write committed before it was called (a marker sent after them:
// notifications arrive in commit order).
func cachedNodes(t *testing.T) (a, b *Service, clk *fakeClock, caughtUp func()) {
	t.Helper()
	nodes, clk := newTestNodes(t, 2, withLog(io.Discard))
	heard := make(chan string, 1024)
	for i, s := range nodes {
		c := s.ShareCaches(s.db, nil)
		if i == 1 {
			c.heard = func(p string) { heard <- p }
		}
		ctx, cancel := context.WithCancel(context.Background())
		ready, done := make(chan struct{}), make(chan struct{})
		go func() { defer close(done); c.Run(ctx, ready) }()
		t.Cleanup(func() { cancel(); <-done })
		<-ready
	}
	caughtUp = func() {
		t.Helper()
		// No account's id, and no other test's marker (tests share the
		// database, and so the channel).
		marker := strconv.FormatInt(-1-rand.Int64N(1<<62), 10)
		if err := nodes[0].db.Notify(t.Context(), cacheChannel, marker); err != nil {
			t.Fatal(err)
		}
		for p := range heard {
			if p == marker {
				return
			}
		}
	}
	return nodes[0], nodes[1], clk, caughtUp
}

// TestAppPasswordCacheAcrossNodes: with the caches on, node B answers a
// check of an app password it has seen from memory (no database read),
// and once it has heard of node A's commit it refuses an app password
// revoked on A, and every app password of an account suspended on A. The
// nodes' revocation hubs are their own here, so only the database's
// notifications tell B. Seen failing without them (cacheTriggersPG
// left out): B accepted the revoked app password from its cache.
func TestAppPasswordCacheAcrossNodes(t *testing.T) {
	if dbtest.Engine() != db.Postgres {
		t.Skip("several nodes share a PostgreSQL database; one SQLite file has one server")
	}
	t.Parallel()
	a, b, clk, caughtUp := cachedNodes(t)
	ctx := t.Context()
	m := enrolMember(t, a, clk, "ines@example.org")
	check := func(s *Service, secret string) error {
		t.Helper()
		_, err := s.AppPassword(ctx, m.Login, secret, ScopeMail, cl)
		forgetFailures(s, m.Login, cl)
		return err
	}
	create := func() (string, int64) {
		t.Helper()
		secret, info, err := a.CreateAppPassword(ctx, mustSession(t, a, m.Token), "device", ScopeMail, cl)
		if err != nil {
			t.Fatal(err)
		}
		return secret, info.ID
	}
	phone, phoneID := create()
	tablet, _ := create()
	caughtUp() // what the sign-ins and creations wrote
	// Other tests' writes (they share the database's channel) may drop
	// what B cached: check until both stay.
	cached := 0
	for range 100 {
		for _, p := range []string{phone, tablet} {
			if err := check(b, p); err != nil {
				t.Fatal(err)
			}
		}
		b.apMu.RLock()
		cached = len(b.pg.pass)
		b.apMu.RUnlock()
		if cached == 2 {
			break
		}
	}
	if cached != 2 {
		t.Fatalf("node B caches %d app passwords after checking two; the test would prove nothing", cached)
	}
	if err := a.RevokeAppPassword(ctx, testAdmin, m.ID, phoneID, cl); err != nil {
		t.Fatal(err)
	}
	caughtUp()
	if err := check(b, phone); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("the app password revoked on node A: %v on node B, want ErrBadCredentials", err)
	}
	if err := check(b, tablet); err != nil {
		t.Errorf("the app password not revoked: %v", err)
	}
	if err := a.SetState(ctx, testAdmin, m.ID, StateSuspended, cl); err != nil {
		t.Fatal(err)
	}
	caughtUp()
	if err := check(b, tablet); err == nil {
		t.Error("an app password of the account suspended on node A still opens mail on node B")
	}
}

// TestGroupsCacheAcrossNodes: node B caches a member's groups; once it
// has heard of node A's commits it sees the member added to a group, a
// group renamed, and the member removed. Seen failing without the
// database's notifications: B kept the groups it had read.
func TestGroupsCacheAcrossNodes(t *testing.T) {
	if dbtest.Engine() != db.Postgres {
		t.Skip("several nodes share a PostgreSQL database; one SQLite file has one server")
	}
	t.Parallel()
	a, b, clk, caughtUp := cachedNodes(t)
	ctx := t.Context()
	m := enrolMember(t, a, clk, "ines@example.org")
	caughtUp()
	names := func() []string {
		t.Helper()
		gs, err := b.AccountGroups(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, g := range gs {
			out = append(out, g.Name)
		}
		return out
	}
	if err := a.CreateGroup(ctx, testAdmin, "board"); err != nil {
		t.Fatal(err)
	}
	caughtUp()
	cached := false
	for i := 0; i < 100 && !cached; i++ { // as in TestAppPasswordCacheAcrossNodes
		if got := names(); len(got) != 0 {
			t.Fatalf("groups %v before any", got)
		}
		b.apMu.RLock()
		_, cached = b.pg.groups[m.ID]
		b.apMu.RUnlock()
	}
	if !cached {
		t.Fatal("node B does not cache the member's groups; the test would prove nothing")
	}
	steps := []struct {
		do   func() error
		want []string
	}{
		{func() error { return a.AddToGroup(ctx, testAdmin, "board", m.ID) }, []string{"board"}},
		{func() error { return a.RenameGroup(ctx, testAdmin, "board", "council") }, []string{"council"}},
		{func() error { return a.RemoveFromGroup(ctx, testAdmin, "council", m.ID) }, nil},
	}
	for i, st := range steps {
		if err := st.do(); err != nil {
			t.Fatal(err)
		}
		caughtUp()
		if got := names(); !slices.Equal(got, st.want) {
			t.Errorf("step %d: node B reads groups %v, want %v", i, got, st.want)
		}
	}
}
