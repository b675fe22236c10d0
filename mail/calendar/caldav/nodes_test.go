package caldav_test

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/auth/password"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
	"github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/calendar"
	"github.com/caucus-org/caucus/mail/calendar/caldav"
)

// newNodes builds n caucus nodes on one database: each has its own
// database handle (its own pool of connections, as another process
// would), auth service and CalDAV server; they share the database, the
// auth keys (so an app password made on one signs in on the others) and
// the clock.
func newNodes(t *testing.T, n int) []*env {
	t.Helper()
	d := dbtest.Create(t)
	material := make([]byte, 64)
	rand.Read(material)
	clk := testtool.NewClock(time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC))
	var nodes []*env
	for i := range n {
		h := d.Open(t)
		if err := h.Migrate(t.Context(), audit.Component(), auth.Component(), calendar.Component()); err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.NewTextHandler(t.Output(), nil)).With("node", i)
		keys, err := auth.NewKeys(material)
		if err != nil {
			t.Fatal(err)
		}
		al := audit.New(h, clk.Now, log)
		svc, err := auth.New(auth.Config{RPID: "localhost", Origins: []string{"https://localhost"}}, auth.Deps{
			DB: h, Audit: al, Log: log, Now: clk.Now, Keys: keys,
			Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}, 0),
		})
		if err != nil {
			t.Fatal(err)
		}
		ae := &authtest.Env{DB: h, Audit: al, Auth: svc, Clock: clk}
		nodes = append(nodes, serveCalDAV(t, ae, log))
	}
	return nodes
}

// serveCalDAV starts a CalDAV server on ae's database.
func serveCalDAV(t *testing.T, ae *authtest.Env, log *slog.Logger) *env {
	st := calendar.New(ae.DB, ae.Auth, ae.Audit, ae.Clock.Now, log)
	mux := http.NewServeMux()
	h := caldav.New(st, ae.Auth, nil, log)
	h.Register(mux)
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = web.NewServer(mux, nil)
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(h.Shutdown)
	return &env{Env: ae, store: st, srv: srv}
}

// put sends a PUT with If-Match from any goroutine: it reports the
// status instead of failing the test.
func (e *env) put(p person, path, body, ifMatch string) (int, error) {
	req, err := http.NewRequest("PUT", e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(p.login, p.secret)
	req.Header.Set("Content-Type", "text/calendar; charset=utf-8")
	req.Header.Set("If-Match", ifMatch)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// TestIfMatchFromTwoNodes: two nodes PUT the same event at once, each
// with If-Match of the version both read (a phone and a laptop syncing
// through two nodes behind a load balancer): one write wins, the other
// is answered 412 Precondition Failed (RFC 9110 section 13.1.1) and
// nothing is lost silently; the calendar's change number, which the sync
// token and the ctag carry (RFC 6578), advances once per write. On
// PostgreSQL this is the cluster-wide write lock of db.Tx at work: the
// entity tag is compared and the event written under it.
func TestIfMatchFromTwoNodes(t *testing.T) {
	t.Parallel()
	nodes := newNodes(t, 2)
	alice := nodes[0].person(t, "alice", auth.ScopeCalendar)
	m := storeMember(alice)
	u := alice.home() + "personal/rally.ics"
	if code, _, _ := nodes[0].do(t, alice, "PUT", u, event("rally", "20260610T090000Z", "20260610T100000Z", ""), "If-None-Match", "*"); code != http.StatusCreated {
		t.Fatalf("PUT: %d", code)
	}
	const rounds = 30
	for r := range rounds {
		_, _, h := nodes[1].do(t, alice, "GET", u, "")
		etag := h.Get("ETag")
		before, err := nodes[1].store.Calendar(t.Context(), m, calendar.PersonalSlug)
		if err != nil {
			t.Fatal(err)
		}
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			codes [2]int
			errs  [2]error
		)
		for i, n := range nodes {
			wg.Go(func() {
				body := event("rally", "20260610T090000Z", "20260610T100000Z", fmt.Sprintf("DESCRIPTION:node %d round %d\r\n", i, r))
				<-start
				codes[i], errs[i] = n.put(alice, u, body, etag)
			})
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		won := -1
		for i, c := range codes {
			switch c {
			case http.StatusCreated, http.StatusNoContent:
				if won >= 0 {
					t.Fatalf("round %d: both nodes' writes with If-Match %s succeeded (%v): one is lost", r, etag, codes)
				}
				won = i
			case http.StatusPreconditionFailed:
			default:
				t.Fatalf("round %d: node %d's PUT: %d", r, i, c)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: neither write succeeded: %v", r, codes)
		}
		_, got, _ := nodes[1-won].do(t, alice, "GET", u, "")
		if want := fmt.Sprintf("node %d round %d", won, r); !strings.Contains(got, want) {
			t.Fatalf("round %d: node %d won, but the event read through the other node lacks %q:\n%s", r, won, want, got)
		}
		after, err := nodes[0].store.Calendar(t.Context(), m, calendar.PersonalSlug)
		if err != nil {
			t.Fatal(err)
		}
		if after.Seq != before.Seq+1 {
			t.Fatalf("round %d: change number %d → %d for one write", r, before.Seq, after.Seq)
		}
		ch, err := nodes[0].store.ChangesSince(t.Context(), m, calendar.PersonalSlug, before.Seq)
		if err != nil || len(ch.Updated) != 1 || !strings.Contains(string(ch.Updated[0].Data), fmt.Sprintf("node %d round %d", won, r)) {
			t.Fatalf("round %d: changes since %d: %+v, %v", r, before.Seq, ch, err)
		}
	}
}
