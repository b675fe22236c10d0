package auth

import (
	"errors"
	"io"
	"sync"
	"testing"
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
