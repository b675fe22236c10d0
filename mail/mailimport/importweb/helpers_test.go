package importweb

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/upload"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/mailimport"
	"github.com/caucus-org/caucus/mail/store"
)

const domain = "example.org"

// publicIP is where the fake DNS sends the providers' names.
const publicIP = "142.250.27.108"

// env is the import page over a real auth service, message store and
// importer on a temporary database, served over TLS on 127.0.0.1. The
// fake DNS knows the providers (public), and loop.test (127.0.0.1).
type env struct {
	a    *authtest.Env
	st   *store.Store
	im   *mailimport.Importer
	dial *Dialer
	h    *Handler
	ts   *httptest.Server
	dir  string
	run  sync.Once
}

// envOption changes the env's parts before they are built.
type envOption func(*envConfig)

type envConfig struct {
	opts  mailimport.Options
	dial  *Dialer
	hdeps func(*Deps)
}

func newEnv(t testing.TB, options ...envOption) *env {
	t.Helper()
	dir := t.TempDir()
	a := authtest.New(t, auth.Config{}, store.Component(), mailimport.Component(), upload.Component())
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(a.DB, blobs, log, store.Options{})
	mock := &dns.Mock{IP: map[string][]net.IPAddr{
		"imap.gmail.com":        ipAddrs(publicIP),
		"outlook.office365.com": ipAddrs("52.97.1.1"),
		"loop.test":             ipAddrs("127.0.0.1"),
	}}
	cfg := envConfig{dial: &Dialer{Resolver: mock, Own: func(context.Context) ([]netip.Addr, error) { return []netip.Addr{ownAddr}, nil }, Timeout: 5 * time.Second}}
	cfg.opts = mailimport.Options{DB: a.DB, Store: st, Key: make([]byte, 32), Audit: a.Audit, Log: log, Now: a.Clock.Now, Rate: -1}
	for _, o := range options {
		o(&cfg)
	}
	cfg.opts.PublicDial = cfg.dial.DialContext
	im, err := mailimport.New(cfg.opts)
	if err != nil {
		t.Fatal(err)
	}
	pages, err := login.New(a.Auth, log)
	if err != nil {
		t.Fatal(err)
	}
	spool, err := upload.Open(a.DB, filepath.Join(dir, "uploads"), a.Clock.Now, log)
	if err != nil {
		t.Fatal(err)
	}
	d := Deps{Imports: im, Login: pages, Check: cfg.dial, Log: log, Now: a.Clock.Now,
		Uploads: spool, Kinds: Kinds{KindMbox: StartKind(im, mailimport.KindMbox)}, Quota: st.Usage}
	if cfg.hdeps != nil {
		cfg.hdeps(&d)
	}
	h, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	pages.Register(mux)
	h.Register(mux)
	ts := httptest.NewUnstartedServer(iweb.Secure(mux, 1<<20))
	ts.Config.ConnContext = iweb.ConnContext
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return &env{a: a, st: st, im: im, dial: cfg.dial, h: h, ts: ts, dir: dir}
}

// start runs the importer until the test ends.
func (e *env) start(t testing.TB) {
	e.run.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); e.im.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	})
}

// member is a signed-in person.
type member struct {
	e *env
	u *authtest.User
}

func (e *env) member(t testing.TB, local string) *member {
	t.Helper()
	u := e.a.User(t, local+"@"+domain, auth.RoleMember)
	if err := e.st.EnsureAccount(t.Context(), u.Account.ID); err != nil {
		t.Fatal(err)
	}
	return &member{e: e, u: u}
}

// response is what a test reads of an answer.
type response struct {
	code int
	loc  string
	hdr  http.Header
	body string
}

func (m *member) do(t testing.TB, req *http.Request) response {
	t.Helper()
	req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: m.u.Session})
	cl := m.e.ts.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header.Get("Location"), res.Header, string(b)}
}

func (m *member) get(t testing.TB, path string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", m.e.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m.do(t, req)
}

// csrf is the member's session's CSRF token.
func (m *member) csrf(t testing.TB) string {
	t.Helper()
	s, err := m.e.a.Auth.Session(t.Context(), m.u.Session)
	if err != nil {
		t.Fatal(err)
	}
	return s.CSRF
}

// post sends a form with the session's CSRF token, unless form has a
// "csrf" of its own already.
func (m *member) post(t testing.TB, path string, form url.Values) response {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", m.csrf(t))
	}
	req, err := http.NewRequestWithContext(t.Context(), "POST", m.e.ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return m.do(t, req)
}

// jobs reads the member's jobs.json.
func (m *member) jobs(t testing.TB) []JobView {
	t.Helper()
	res := m.get(t, "/mail/import/jobs.json")
	if res.code != http.StatusOK {
		t.Fatalf("jobs.json: %d %s", res.code, res.body)
	}
	var out struct{ Jobs []JobView }
	if err := json.Unmarshal([]byte(res.body), &out); err != nil {
		t.Fatal(err)
	}
	return out.Jobs
}

// waitJob polls jobs.json as the page's script does until job id is no
// longer active, and returns it.
func (m *member) waitJob(t testing.TB, id int64) JobView {
	defer func() {
		if t.Failed() {
			t.Logf("jobs: %+v", m.jobs(t))
		}
	}()
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // a guard against a hang, not a timing check
	for time.Now().Before(deadline) {
		for _, j := range m.jobs(t) {
			if j.ID == id && !j.Active {
				// Ended: the page (not the script's JSON) shows its counts.
				full, err := m.e.h.memberViews(t.Context(), i18n.Builtin().Localizer("en", time.UTC), m.u.Account.ID, false)
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range full {
					if f.ID == id {
						return f
					}
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("job %d did not end", id)
	return JobView{}
}
