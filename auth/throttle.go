package auth

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caucus-org/caucus/auth/throttle"
	"github.com/caucus-org/caucus/internal/audit"
)

// Throttling of sign-ins: the policy.
//
// Guessing must be slow, yet nobody may lock another person out of their
// correct credentials (DESIGN.md rule 3). So failures count per kind of
// credential, and only a guessable secret is ever refused unchecked:
//
//   - The account password is guessable. Its failures count against the
//     account (NIST SP 800-63B section 5.2.2: growing delays and at most
//     100 failures in a row, [throttle.Config.Limit]) and against the
//     source address, which is refused unchecked while either waits (told
//     apart when only the address waits: [ThrottledError.Shared]). A
//     browser that has completed a sign-in to the account, or its
//     enrolment, before holds a
//     device cookie ([Service.DeviceToken], OWASP's "device cookies"):
//     its attempts are limited per device instead, so a guesser elsewhere
//     cannot hold up the member's own password on the member's own
//     devices. A member whose password is under attack can also always
//     sign in with a passkey.
//   - TOTP and recovery codes are guessable but asked only after the
//     password: their failures count against the account's codes alone,
//     never against its password, and password guesses never hold them up.
//   - App passwords (136 random bits) and WebAuthn assertions cannot be
//     guessed: they are always checked, and a correct one is never refused
//     for anyone's failures. Wrong ones count against the source address
//     (WebAuthn) or the address and login together (app passwords: a stale
//     phone behind an office's shared address slows down only itself),
//     and are answered "throttled" when those wait, to slow down scripts.
//
// Address keys live in a limiter of their own with more free failures,
// since many people may share one address.

// Credential kinds, the first part of every throttle key.
const (
	credPassword = "pw"
	credCode     = "code"
	credWebAuthn = "wa"
	credApp      = "app"
)

// Defaults of the throttles (see [throttle.Config]).
const (
	// passwordLimit is NIST SP 800-63B's bound on consecutive failures
	// per account.
	passwordLimit = 100
	// addrFree is how many failures an address has before any delay.
	addrFree = 20
	// gateWait bounds how long an attempt waits for its turn behind
	// others in flight for the same account or address.
	gateWait = 10 * time.Second
)

// ErrBusy reports that a sign-in waited too long for its turn behind others
// in flight for the same account or address. Nothing failed.
var ErrBusy = fmt.Errorf("auth: too many sign-ins at once, try again in a moment")

// ThrottledError is ErrThrottled with the time to wait. Shared is true
// when the attempt waits for failures at its source address alone, not
// at its account or device: others' failures there, perhaps, behind an
// office's shared address, which the person should be told.
type ThrottledError struct {
	Wait   time.Duration
	Shared bool
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%v (%s)", ErrThrottled, e.Wait.Round(time.Second))
}

// Unwrap makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Unwrap() error { return ErrThrottled }

func acctKey(cred, login string) string { return cred + ":" + throttle.AccountKey(login) }

func addrKey(cred string, a netip.Addr) string { return cred + ":" + throttle.AddrKey(a) }

func pairKey(cred, login string, a netip.Addr) string {
	return cred + ":" + throttle.AddrKey(a) + ":" + throttle.AccountKey(login)
}

// keys are the throttle keys one attempt counts against, in the account
// limiter and in the address limiter, and the keys its failures count
// against without holding it up.
type keys struct {
	acct []string
	addr []string
	also []string
}

// keysFor returns the keys of an attempt with credential cred. An attempt
// without a source address (a test, a local tool) has no address keys.
func (s *Service) keysFor(cred, login string, c Client) keys {
	var k keys
	login = NormalizeLogin(login)
	switch cred {
	case credPassword:
		if issued, ok := s.validDevice(login, c.Device); ok {
			// A known device: limited on its own (its failures still
			// count against the account).
			k.acct = append(k.acct, cred+":d:"+issued+":"+throttle.AccountKey(login))
			k.also = append(k.also, acctKey(cred, login))
			return k
		}
		if login != "" {
			k.acct = append(k.acct, acctKey(cred, login))
		}
	case credCode:
		k.acct = append(k.acct, acctKey(cred, login))
		return k
	case credApp:
		k.acct = append(k.acct, pairKey(cred, login, c.Addr))
	}
	if c.Addr.IsValid() {
		k.addr = append(k.addr, addrKey(cred, c.Addr))
	}
	return k
}

// wait is how long an attempt with k must wait, and whether only its
// address keys make it wait.
func (s *Service) wait(k keys) (w time.Duration, shared bool) {
	acct, addr := s.throttle.Wait(k.acct...), s.addrThrottle.Wait(k.addr...)
	return max(acct, addr), acct == 0 && addr > 0
}

// throttled refuses an attempt with a guessable credential while its keys
// wait, before anything is checked.
func (s *Service) throttled(ctx context.Context, kind, cred, login string, c Client) error {
	if w, shared := s.wait(s.keysFor(cred, login, c)); w > 0 {
		return s.refuse(ctx, kind, login, c, &ThrottledError{Wait: w, Shared: shared})
	}
	return nil
}

func (s *Service) refuse(ctx context.Context, kind, login string, c Client, te *ThrottledError) error {
	reason := "throttled"
	if te.Shared {
		reason = "throttled-address"
	}
	s.countWeb(kind, false)
	s.audit.RecordFailure(ctx, audit.Event{Subject: NormalizeLogin(login), Kind: kind, Outcome: audit.Fail, Reason: reason, Addr: c.addr(), UserAgent: c.UserAgent})
	return te
}

// failed records a failed attempt: the throttle keys of its credential kind
// and an audit record (aggregated: an outsider can make as many as they
// like).
func (s *Service) failed(ctx context.Context, kind, cred, login, reason string, c Client) {
	k := s.keysFor(cred, login, c)
	s.throttle.Fail(append(k.acct, k.also...)...)
	s.addrThrottle.Fail(k.addr...)
	s.countWeb(kind, false)
	s.audit.RecordFailure(ctx, audit.Event{Subject: NormalizeLogin(login), Kind: kind, Outcome: audit.Fail, Reason: reason, Addr: c.addr(), UserAgent: c.UserAgent})
}

// failedUnguessable records a wrong unguessable credential (app password,
// WebAuthn) and returns err, or a [*ThrottledError] if its keys were
// already waiting after earlier failures.
func (s *Service) failedUnguessable(ctx context.Context, kind, cred, login, reason string, c Client, err error) error {
	w, shared := s.wait(s.keysFor(cred, login, c))
	s.failed(ctx, kind, cred, login, reason, c)
	if w > 0 {
		return &ThrottledError{Wait: w, Shared: shared}
	}
	return err
}

// succeeded clears the account's keys after a full sign-in: its password
// and code failures, and those of the device it was made on, start again
// from zero. Address keys are not cleared: one success from an address must
// not reset the count of guesses made there at other accounts.
func (s *Service) succeeded(login string, c Client) {
	s.throttle.Succeed(append(s.keysFor(credPassword, login, c).acct, acctKey(credPassword, login), acctKey(credCode, login))...)
}

// Attempts in flight at once: one per account, a few per address. Without
// this bound, a burst of parallel guesses would all pass the throttle before
// the first of them was counted as a failure. An attempt over the bound
// waits for its turn (at most gateWait); it is not refused.
const (
	inflightPerAccount = 1
	inflightPerAddr    = 4
)

// gate bounds the sign-in attempts in flight per key.
type gate struct {
	mu   sync.Mutex
	n    map[string]int
	wake map[string]chan struct{} // closed when a key's count goes down
}

func newGate() *gate {
	return &gate{n: map[string]int{}, wake: map[string]chan struct{}{}}
}

// enter waits until every key of k is below its bound, counts the attempt
// in, and returns the function that counts it out.
func (g *gate) enter(ctx context.Context, k keys) (release func(), err error) {
	timer := time.NewTimer(gateWait)
	defer timer.Stop()
	for {
		wait := g.tryEnter(k)
		if wait == nil {
			return func() { g.leave(k) }, nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ErrBusy
		case <-timer.C:
			return nil, ErrBusy
		}
	}
}

// tryEnter counts the attempt in, or returns a channel that is closed when
// the key that is full has room again.
func (g *gate) tryEnter(k keys) <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, set := range []struct {
		keys  []string
		limit int
	}{{k.acct, inflightPerAccount}, {k.addr, inflightPerAddr}} {
		for _, key := range set.keys {
			if g.n[key] >= set.limit {
				ch, ok := g.wake[key]
				if !ok {
					ch = make(chan struct{})
					g.wake[key] = ch
				}
				return ch
			}
		}
	}
	for _, key := range append(k.acct[:len(k.acct):len(k.acct)], k.addr...) {
		g.n[key]++
	}
	return nil
}

func (g *gate) leave(k keys) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, key := range append(k.acct[:len(k.acct):len(k.acct)], k.addr...) {
		if g.n[key]--; g.n[key] <= 0 {
			delete(g.n, key)
		}
		if ch, ok := g.wake[key]; ok {
			close(ch)
			delete(g.wake, key)
		}
	}
}

// attempt admits one attempt with a guessable credential: it waits for its
// turn behind attempts in flight for the same keys, then refuses while the
// keys wait after failures. release must be called when the attempt's
// outcome has been recorded.
func (s *Service) attempt(ctx context.Context, kind, cred, login string, c Client) (release func(), err error) {
	release, err = s.gate.enter(ctx, s.keysFor(cred, login, c))
	if err != nil {
		return nil, err
	}
	if err := s.throttled(ctx, kind, cred, login, c); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// deviceTTL is how long a device cookie is honoured after the sign-in that
// issued it.
const deviceTTL = 90 * 24 * time.Hour

// DeviceToken returns the value of a device cookie for login: proof that
// this browser has completed a full sign-in to the account, so that its
// later password sign-ins are limited per device rather than per account
// (see the throttling policy above). It is a MAC under the service's key
// of the login and the time of issue; it opens nothing by itself.
func (s *Service) DeviceToken(login string) string {
	issued := strconv.FormatInt(s.now().Unix(), 10)
	mac := s.keys.hash("device", NormalizeLogin(login)+"\x00"+issued)
	return issued + "." + base64.RawURLEncoding.EncodeToString(mac[:])
}

// validDevice reports whether tok is a device token of login issued less
// than deviceTTL ago, and returns its time of issue.
func (s *Service) validDevice(login, tok string) (issued string, ok bool) {
	issued, sig, found := strings.Cut(tok, ".")
	if !found || login == "" || len(tok) > 100 {
		return "", false
	}
	n, err := strconv.ParseInt(issued, 10, 64)
	if err != nil {
		return "", false
	}
	if age := s.now().Sub(time.Unix(n, 0)); age < 0 || age > deviceTTL {
		return "", false
	}
	// Strict: a last character that differs only in its unused bits is
	// another token, not an alias of this one.
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	want := s.keys.hash("device", login+"\x00"+issued)
	if err != nil || !hmac.Equal(got, want[:]) {
		return "", false
	}
	return issued, true
}
