package auth

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/caucus-org/caucus/auth/password"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// fakeClock is the service's clock in tests: it moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// testEpoch is where every fake clock starts: a whole TOTP step, so that
// step arithmetic in tests is exact.
var testEpoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func newFakeClock() *fakeClock { return &fakeClock{t: testEpoch} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// cheapParams make argon2id fast enough for tests; production cost is
// measured by BenchmarkPasswordVerifyDefault.
var cheapParams = password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

type testOptions struct {
	logOut io.Writer
	params password.Params
	cfg    func(*Config)
	revs   Revocations
}

type testOption func(*testOptions)

// withLog sends the service's and the audit log's slog output to w.
func withLog(w io.Writer) testOption { return func(o *testOptions) { o.logOut = w } }

// withRevocations makes the service register and revoke through r.
func withRevocations(r Revocations) testOption { return func(o *testOptions) { o.revs = r } }

// withHasher makes the service hash passwords with p.
func withHasher(p password.Params) testOption { return func(o *testOptions) { o.params = p } }

// newTestService builds a Service on a fresh database in t.TempDir(), with a
// fake clock, cheap password hashing and logs to t.
func newTestService(t testing.TB, opts ...testOption) (*Service, *fakeClock) {
	t.Helper()
	o := testOptions{logOut: t.Output(), params: cheapParams}
	for _, f := range opts {
		f(&o)
	}
	d := dbtest.Open(t)
	if err := d.Migrate(context.Background(), audit.Component(), Component()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	material := make([]byte, 64)
	rand.Read(material)
	clk := newFakeClock()
	return newNode(t, d, material, clk, o), clk
}

// newTestNodes builds n Services on one fresh database, each through a
// *db.DB of its own, as n caucus nodes of one party would be (with the
// same key material and clock).
func newTestNodes(t testing.TB, n int, opts ...testOption) ([]*Service, *fakeClock) {
	t.Helper()
	o := testOptions{logOut: t.Output(), params: cheapParams}
	for _, f := range opts {
		f(&o)
	}
	d := dbtest.Create(t)
	material := make([]byte, 64)
	rand.Read(material)
	clk := newFakeClock()
	var nodes []*Service
	for i := range n {
		conn := d.Open(t)
		if i == 0 {
			if err := conn.Migrate(context.Background(), audit.Component(), Component()); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
		}
		nodes = append(nodes, newNode(t, conn, material, clk, o))
	}
	return nodes, clk
}

// newNode builds the Service of one node on d.
func newNode(t testing.TB, d *db.DB, material []byte, clk *fakeClock, o testOptions) *Service {
	t.Helper()
	log := slog.New(slog.NewTextHandler(o.logOut, nil))
	keys, err := NewKeys(material)
	if err != nil {
		t.Fatalf("NewKeys: %v", err)
	}
	cfg := Config{RPID: "localhost", Origins: []string{"https://localhost:8443"}, AdminsNeedWebAuthn: true}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	s, err := New(cfg, Deps{
		DB:     d,
		Audit:  audit.New(d, clk.Now, log),
		Log:    log,
		Now:    clk.Now,
		Keys:   keys,
		Hasher: password.NewHasher(o.params, 0),

		Revocations: o.revs,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// Clients used in tests.
var (
	cl      = Client{Addr: netip.MustParseAddr("192.0.2.10"), UserAgent: "test-browser/1.0"}
	clOther = Client{Addr: netip.MustParseAddr("198.51.100.7"), UserAgent: "other-browser/2.0"}
)

const (
	testAdmin    = "admin@example.org"
	testPassword = "violet-kettle-orbit-9182"
)

// member is an account that finished enrolment with TOTP.
type member struct {
	ID       int64
	Login    string
	Password string
	Secret   string // TOTP secret
	Token    string // a full session's token
	lastStep int64  // newest TOTP step used
}

// invite creates an account and accepts its invite with testPassword,
// returning the account id and the enrolment session's token.
func invite(t testing.TB, s *Service, login string, role Role) (int64, string) {
	t.Helper()
	ctx := context.Background()
	tok, err := s.CreateInvite(ctx, testAdmin, NewAccount{Login: login, DisplayName: "Test Person", Role: role}, cl)
	if err != nil {
		t.Fatalf("CreateInvite(%s): %v", login, err)
	}
	enrol, err := s.AcceptInvite(ctx, tok, testPassword, cl)
	if err != nil {
		t.Fatalf("AcceptInvite(%s): %v", login, err)
	}
	a, err := s.AccountByLogin(ctx, login)
	if err != nil {
		t.Fatalf("AccountByLogin(%s): %v", login, err)
	}
	return a.ID, enrol
}

// enrolMember creates a member who enrolled a TOTP app, and returns it with
// the full session that enrolment produced.
func enrolMember(t testing.TB, s *Service, clk *fakeClock, login string) *member {
	t.Helper()
	ctx := context.Background()
	id, enrol := invite(t, s, login, RoleMember)
	sess := mustSession(t, s, enrol)
	key, err := s.BeginTOTP(ctx, sess)
	if err != nil {
		t.Fatalf("BeginTOTP: %v", err)
	}
	sess = mustSession(t, s, enrol) // the page's next request sees the ceremony
	m := &member{ID: id, Login: login, Password: testPassword, Secret: key.Secret()}
	full, err := s.FinishTOTP(ctx, sess, m.code(t, clk), cl)
	if err != nil {
		t.Fatalf("FinishTOTP: %v", err)
	}
	m.Token = full
	return m
}

// code returns a TOTP code that the service has not seen yet: if the
// current step was used, the clock moves on to the next step.
func (m *member) code(t testing.TB, clk *fakeClock) string {
	t.Helper()
	now := clk.Now()
	step := now.Unix() / totpPeriod
	if step <= m.lastStep {
		clk.Advance(time.Duration((m.lastStep+1)*totpPeriod-now.Unix()) * time.Second)
		now = clk.Now()
		step = now.Unix() / totpPeriod
	}
	m.lastStep = step
	return totpCode(t, m.Secret, now)
}

func totpCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatalf("GenerateCode: %v", err)
	}
	return c
}

// signIn does a full web sign-in (password, then TOTP) and returns the
// full session's token.
func (m *member) signIn(t testing.TB, s *Service, clk *fakeClock) string {
	t.Helper()
	ctx := context.Background()
	tok, st, err := s.PasswordSignIn(ctx, m.Login, m.Password, cl)
	if err != nil || st != StageSecond {
		t.Fatalf("PasswordSignIn(%s) = %v, %v; want StageSecond", m.Login, st, err)
	}
	full, err := s.VerifyTOTP(ctx, mustSession(t, s, tok), m.code(t, clk), cl)
	if err != nil || full == "" {
		t.Fatalf("VerifyTOTP(%s) = %q, %v", m.Login, full, err)
	}
	return full
}

func mustSession(t testing.TB, s *Service, token string) Session {
	t.Helper()
	sess, err := s.Session(context.Background(), token)
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	return sess
}

// forgetFailures clears the throttle keys of every credential kind for
// login and c, so that a test can go on failing.
func forgetFailures(s *Service, login string, c Client) {
	for _, cred := range []string{credPassword, credCode, credWebAuthn, credApp} {
		k := s.keysFor(cred, login, c)
		s.throttle.Succeed(k.acct...)
		s.addrThrottle.Succeed(k.addr...)
	}
}
