package auth

import (
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

// TestTOTPCodeOnceAcrossNodes: a TOTP code is accepted once (RFC 6238
// section 5.2), also when it reaches two nodes of one party at the same
// moment (a phished code replayed through the other node while its owner
// signs in). Each node reads the last step used and writes the new one in
// one transaction; without the cluster-wide write lock of db.Tx, both
// would read the same last step on PostgreSQL and both accept the code.
func TestTOTPCodeOnceAcrossNodes(t *testing.T) {
	t.Parallel()
	nodes, clk := newTestNodes(t, 2, withLog(io.Discard))
	ctx := t.Context()
	m := enrolMember(t, nodes[0], clk, "tia@example.org")
	for round := range 25 {
		var sessions []Session
		for _, s := range nodes {
			tok, st, err := s.PasswordSignIn(ctx, m.Login, m.Password, cl)
			if err != nil || st != StageSecond {
				t.Fatalf("round %d: PasswordSignIn = %v, %v", round, st, err)
			}
			sessions = append(sessions, mustSession(t, s, tok))
		}
		code := m.code(t, clk)
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			ok, bad int
		)
		start := make(chan struct{})
		for i, s := range nodes {
			wg.Go(func() {
				<-start
				full, err := s.VerifyTOTP(ctx, sessions[i], code, cl)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && full != "":
					ok++
				case errors.Is(err, ErrBadCode):
					bad++
				default:
					t.Errorf("round %d, node %d: VerifyTOTP = %q, %v", round, i, full, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if ok != 1 || bad != len(nodes)-1 {
			t.Fatalf("round %d: the same code accepted %d times, refused %d times; want once", round, ok, bad)
		}
		for _, s := range nodes {
			forgetFailures(s, m.Login, cl)
		}
	}
}

// TestAppPasswordAcrossNodes: behind a load balancer, a phone's next
// connection may reach any node. An app password made on one node opens
// mail on the other at once; one revoked on a node, or whose account is
// suspended there, is refused by the other at once, also when that node
// had accepted it before (an app password is never kept valid in one
// node's memory after the database says otherwise).
func TestAppPasswordAcrossNodes(t *testing.T) {
	if dbtest.Engine() != db.Postgres {
		t.Skip("several nodes share a PostgreSQL database; one SQLite file has one server")
	}
	t.Parallel()
	nodes, clk := newTestNodes(t, 2, withLog(io.Discard))
	a, b := nodes[0], nodes[1]
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
	for i, s := range nodes { // both nodes know both, as running nodes do
		for _, p := range []string{phone, tablet} {
			if err := check(s, p); err != nil {
				t.Fatalf("node %d: %v", i, err)
			}
		}
	}
	laptop, _ := create()
	if err := check(b, laptop); err != nil {
		t.Errorf("node 1: the app password made on node 0 since: %v", err)
	}
	if err := a.RevokeAppPassword(ctx, testAdmin, m.ID, phoneID, cl); err != nil {
		t.Fatal(err)
	}
	for i, s := range nodes {
		if err := check(s, phone); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("node %d: the app password revoked on node 0: %v, want ErrBadCredentials", i, err)
		}
		if err := check(s, tablet); err != nil {
			t.Errorf("node %d: the app password not revoked: %v", i, err)
		}
	}
	if err := a.SetState(ctx, testAdmin, m.ID, StateSuspended, cl); err != nil {
		t.Fatal(err)
	}
	for i, s := range nodes {
		if err := check(s, tablet); err == nil {
			t.Errorf("node %d: an app password of the account suspended on node 0 still opens mail", i)
		}
	}
}
