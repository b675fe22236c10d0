package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// Issue 12 item 5: anyone could lock a member out of everything. One
// failure counter per account covered web sign-in, IMAP, SMTP and WebDAV
// and was checked before the credential.

// TestGuesserCannotLockOutAppPassword: someone guesses a member's password
// (web) and app password (IMAP) from another address, 10 times a second;
// the member's phone signs in with its correct app password all along.
func TestGuesserCannotLockOutAppPassword(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "mia@example.org")
	secret, _, err := s.CreateAppPassword(ctx, mustSession(t, s, m.Token), "phone", ScopeMail, cl)
	if err != nil {
		t.Fatal(err)
	}
	guesser := Client{Addr: netip.MustParseAddr("203.0.113.66")}
	phone := Client{Addr: netip.MustParseAddr("198.51.100.20")}
	ok := 0
	for i := range 58 {
		s.PasswordSignIn(ctx, m.Login, fmt.Sprintf("guess-%d", i), guesser)
		s.AppPassword(ctx, m.Login, fmt.Sprintf("guess-%d", i), ScopeMail, guesser)
		clk.Advance(100 * time.Millisecond)
		if _, err := s.AppPassword(ctx, m.Login, secret, ScopeMail, phone); err != nil {
			t.Logf("good login %d: %v", i+1, err)
		} else {
			ok++
		}
	}
	if ok != 58 {
		t.Errorf("%d of 58 good app-password logins succeeded while another address guessed, want all", ok)
	}
	// The guesser's own wrong guesses are slowed down.
	if _, err := s.AppPassword(ctx, m.Login, "guess-again", ScopeMail, guesser); !errors.Is(err, ErrThrottled) {
		t.Errorf("guesser's next wrong app password = %v, want ErrThrottled", err)
	}
	if _, _, err := s.PasswordSignIn(ctx, m.Login, "guess-again", guesser); !errors.Is(err, ErrThrottled) {
		t.Errorf("guesser's next password = %v, want ErrThrottled", err)
	}
}

// TestStalePhoneBehindNAT: a phone with a revoked app password retries from
// an office address; everyone else behind that address still signs in with
// their own app passwords.
func TestStalePhoneBehindNAT(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	office := Client{Addr: netip.MustParseAddr("192.0.2.200")}
	stale := enrolMember(t, s, clk, "old@example.org")
	staleSecret, info, err := s.CreateAppPassword(ctx, mustSession(t, s, stale.Token), "old phone", ScopeMail, cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAppPassword(ctx, stale.Login, stale.ID, info.ID, cl); err != nil {
		t.Fatal(err)
	}
	var others []string
	var logins []string
	for _, l := range []string{"ada@example.org", "ben@example.org", "cyd@example.org"} {
		m := enrolMember(t, s, clk, l)
		sec, _, err := s.CreateAppPassword(ctx, mustSession(t, s, m.Token), "phone", ScopeMail, cl)
		if err != nil {
			t.Fatal(err)
		}
		others, logins = append(others, sec), append(logins, l)
	}
	for range 6 {
		if _, err := s.AppPassword(ctx, stale.Login, staleSecret, ScopeMail, office); err == nil {
			t.Fatal("a revoked app password worked")
		}
	}
	for i, sec := range others {
		if _, err := s.AppPassword(ctx, logins[i], sec, ScopeMail, office); err != nil {
			t.Errorf("%s behind the same address: %v, want signed in", logins[i], err)
		}
	}
	// Many more stale retries (a phone retries for days) change nothing.
	for range 200 {
		s.AppPassword(ctx, stale.Login, staleSecret, ScopeMail, office)
		clk.Advance(time.Minute)
	}
	for i, sec := range others {
		if _, err := s.AppPassword(ctx, logins[i], sec, ScopeMail, office); err != nil {
			t.Errorf("%s after 200 stale retries: %v, want signed in", logins[i], err)
		}
	}
}

// TestSecondFactorNotLockedByPasswordGuesses: a member has passed the
// password step; meanwhile someone else guesses her password from another
// address until the password is throttled. Her correct TOTP code is still
// taken.
func TestSecondFactorNotLockedByPasswordGuesses(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "zoe@example.org")
	code := m.code(t, clk) // moves the clock past the step enrolment used, now
	tok, _, err := s.PasswordSignIn(ctx, m.Login, m.Password, cl)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		s.PasswordSignIn(ctx, m.Login, fmt.Sprintf("guess-%d", i), clOther)
	}
	if _, _, err := s.PasswordSignIn(ctx, m.Login, "guess-x", clOther); !errors.Is(err, ErrThrottled) {
		t.Fatalf("password after 10 wrong guesses = %v, want ErrThrottled", err)
	}
	if _, err := s.VerifyTOTP(ctx, mustSession(t, s, tok), code, cl); err != nil {
		t.Errorf("correct TOTP while someone else's password guesses are throttled: %v, want signed in", err)
	}
}

// TestPasswordLimitNIST: NIST SP 800-63B section 5.2.2 limits consecutive
// failed attempts on one account to 100: waiting out the growing delays
// gave a guesser (from ever new addresses) one more try every 5 minutes
// for ever. After 100 failures in a row the password is refused unchecked
// until the failures are forgotten (a day without one) or the member signs
// in by another way.
func TestPasswordLimitNIST(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "nia@example.org")
	guess := func(i int) error {
		_, _, err := s.PasswordSignIn(ctx, m.Login, fmt.Sprintf("guess-%d", i), Client{Addr: netip.AddrFrom4([4]byte{203, 0, byte(i / 256), byte(i)})})
		return err
	}
	for fails, i := 0, 0; fails < 100; i++ {
		var te *ThrottledError
		switch err := guess(i); {
		case errors.Is(err, ErrBadCredentials):
			fails++
		case errors.As(err, &te) && te.Wait <= 5*time.Minute:
			clk.Advance(te.Wait)
		default:
			t.Fatalf("after %d failures: %v", fails, err)
		}
	}
	clk.Advance(5 * time.Minute)
	var te *ThrottledError
	if err := guess(1000); !errors.As(err, &te) || te.Wait < 23*time.Hour {
		t.Fatalf("101st guess, 5 minutes after the 100th: %v, want refused for about a day", err)
	}
	clk.Advance(12 * time.Hour)
	if _, _, err := s.PasswordSignIn(ctx, m.Login, m.Password, cl); !errors.Is(err, ErrThrottled) {
		t.Errorf("the right password during the lock: %v, want ErrThrottled (unchecked)", err)
	}
	clk.Advance(12 * time.Hour)
	if _, _, err := s.PasswordSignIn(ctx, m.Login, m.Password, cl); err != nil {
		t.Errorf("the right password a day after the last failure: %v", err)
	}
}

// TestParallelSignIns: members signing in at once from one address (an
// office) are not told "Too many failed attempts" when none failed.
func TestParallelSignIns(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	var ms []*member
	for i := range 12 {
		ms = append(ms, enrolMember(t, s, clk, fmt.Sprintf("p%d@example.org", i)))
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 3*len(ms))
	for _, m := range ms {
		for range 3 { // three tabs each
			wg.Go(func() {
				<-start
				_, _, err := s.PasswordSignIn(ctx, m.Login, m.Password, cl)
				errs <- err
			})
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("parallel correct sign-in: %v, want none refused", err)
		}
	}
}

// TestDeviceToken: a device token is valid only for its login, unaltered,
// and for deviceTTL.
func TestDeviceToken(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	tok := s.DeviceToken("Kim@example.org")
	if _, ok := s.validDevice("kim@example.org", tok); !ok {
		t.Fatal("a fresh token is not valid")
	}
	for _, bad := range []string{"", tok + "x", "1" + tok, tok[:len(tok)-2], "x.y", "."} {
		if _, ok := s.validDevice("kim@example.org", bad); ok {
			t.Errorf("token %q accepted", bad)
		}
	}
	if _, ok := s.validDevice("lou@example.org", tok); ok {
		t.Error("a token of another login accepted")
	}
	clk.Advance(deviceTTL + time.Second)
	if _, ok := s.validDevice("kim@example.org", tok); ok {
		t.Error("an expired token accepted")
	}
}

// TestGate: attempts over the in-flight bound wait for their turn; one
// that cannot wait (its request has ended) is told ErrBusy, never that
// attempts failed.
func TestGate(t *testing.T) {
	t.Parallel()
	g := newGate()
	k := keys{acct: []string{"pw:a:x@example.org"}}
	release, err := g.enter(t.Context(), k)
	if err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := g.enter(done, k); !errors.Is(err, ErrBusy) {
		t.Fatalf("a second attempt for one account that cannot wait = %v, want ErrBusy", err)
	}
	other := keys{acct: []string{"pw:a:y@example.org"}}
	if r, err := g.enter(done, other); err != nil {
		t.Errorf("another account = %v, want admitted at once", err)
	} else {
		r()
	}
	second := make(chan error, 1)
	go func() {
		r, err := g.enter(t.Context(), k)
		if err == nil {
			r()
		}
		second <- err
	}()
	release()
	if err := <-second; err != nil {
		t.Errorf("a waiting attempt after the first ended = %v, want admitted", err)
	}
	// Four per address, then wait.
	addr := keys{addr: []string{"pw:n:192.0.2.1"}}
	for range inflightPerAddr {
		if _, err := g.enter(t.Context(), addr); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := g.enter(done, addr); !errors.Is(err, ErrBusy) {
		t.Errorf("attempt %d from one address that cannot wait = %v, want ErrBusy", inflightPerAddr+1, err)
	}
}
