package importweb

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caucus-org/caucus/mail/mailimport"
)

// TestStartRefusesPrivate: the member's form refuses a source server
// whose name or address leads to loopback, a private or link-local
// network or the server itself, and records no job.
func TestStartRefusesPrivate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.member(t, "anna")
	for _, server := range []string{"loop.test", "loop.test:143", "127.0.0.1:993", "[::1]:993", "10.0.0.5", "192.168.1.1:993",
		"169.254.169.254:993", "[fe80::1]:993", ownAddr.String()} {
		res := m.post(t, "/mail/import/imap", url.Values{"provider": {"other"}, "server": {server}, "login": {"anna@old.example"}, "password": {"app-secret"}})
		if res.code != http.StatusBadRequest || !strings.Contains(res.body, "not on the public internet") {
			t.Errorf("%s: %d, want 400 with the refusal; body has %q", server, res.code, firstError(res.body))
		}
		if strings.Contains(res.body, "app-secret") {
			t.Errorf("%s: the page shows the app password", server)
		}
	}
	if jobs := m.jobs(t); len(jobs) != 0 {
		t.Errorf("jobs recorded: %+v", jobs)
	}
}

// firstError is the page's error box, for failure messages.
func firstError(body string) string {
	i := strings.Index(body, `class="error"`)
	if i < 0 {
		return ""
	}
	return body[i:min(len(body), i+200)]
}

// TestStartGmail: a member starts a move from Gmail; the job is theirs,
// marked as a member's (its connection goes through the Dialer), and the
// audit log names them.
func TestStartGmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.member(t, "anna")
	res := m.post(t, "/mail/import/imap", url.Values{"provider": {"gmail"}, "login": {"anna@gmail.example"}, "password": {"abcd efgh"}})
	if res.code != http.StatusSeeOther || res.loc != "/mail/import?n=started" {
		t.Fatalf("start: %d %s %s", res.code, res.loc, firstError(res.body))
	}
	jobs, err := e.im.Jobs(t.Context(), m.u.Account.ID)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("jobs: %v %v", jobs, err)
	}
	j := jobs[0]
	if j.Source != "imap.gmail.com:993" || j.Login != "anna@gmail.example" || j.StartedBy != m.u.Account.Login || j.Kind != mailimport.KindIMAP {
		t.Errorf("job %+v", j)
	}
	page := m.get(t, "/mail/import?n=started")
	if page.code != 200 || !strings.Contains(page.body, "imap.gmail.com:993") || !strings.Contains(page.body, "Your mail is on its way") {
		t.Errorf("page: %d", page.code)
	}
	if strings.Contains(page.body, "abcd efgh") {
		t.Error("the page shows the app password")
	}
	for _, bad := range []url.Values{
		{"provider": {"gmail"}, "login": {""}, "password": {"x"}},
		{"provider": {"gmail"}, "login": {"a@b"}, "password": {""}},
		{"provider": {"nope"}, "login": {"a@b"}, "password": {"x"}},
		{"provider": {"other"}, "server": {""}, "login": {"a@b"}, "password": {"x"}},
		{"provider": {"other"}, "server": {"imap.example.org:99999"}, "login": {"a@b"}, "password": {"x"}},
		{"provider": {"gmail"}, "login": {strings.Repeat("a", 400)}, "password": {"x"}},
		{"provider": {"gmail"}, "login": {"a@b"}, "password": {strings.Repeat("p", 2000)}},
	} {
		if res := m.post(t, "/mail/import/imap", bad); res.code != http.StatusBadRequest {
			t.Errorf("%v: %d, want 400", bad, res.code)
		}
	}
	if jobs, _ := e.im.Jobs(t.Context(), m.u.Account.ID); len(jobs) != 1 {
		t.Errorf("%d jobs after bad forms, want 1", len(jobs))
	}
}

// TestMemberJobDialsThroughGuard: a member's job reaches its server only
// through the Dialer. A member's job whose server name leads to
// 127.0.0.1 (as a name that rebound after the form's check would) is
// refused at the dial: nothing connects to the listener and the job
// stops at once. With the tests' explicit Allow option the same job
// connects; an admin's job connects without it.
func TestMemberJobDialsThroughGuard(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, allow := range []bool{false, true} {
		e := newEnv(t, func(c *envConfig) {
			c.opts.MaxAttempts = 1
			if allow {
				c.dial.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
			}
		})
		m := e.member(t, "anna")
		before := accepted.Load()
		id, err := e.im.Start(t.Context(), mailimport.Request{AccountID: m.u.Account.ID, Actor: m.u.Account.Login, Subject: m.u.Account.Login,
			Source: mailimport.SourceSpec{Kind: mailimport.KindIMAP, Addr: net.JoinHostPort("loop.test", strconv.Itoa(port)), Login: "x", Password: "y", Public: true}})
		if err != nil {
			t.Fatal(err)
		}
		e.start(t)
		j := m.waitJob(t, id)
		got := accepted.Load() - before
		if !allow && (got != 0 || j.State != mailimport.StateFailed || !strings.Contains(j.Message, "not on the public internet")) {
			t.Errorf("without Allow: %d connections, job %s %q", got, j.State, j.Message)
		}
		if allow && got == 0 {
			t.Errorf("with Allow: no connection (job %s %q)", j.State, j.Message)
		}
		if allow {
			continue
		}
		// The admin's job (the command line, the console's CSV) is not a
		// member's: it reaches any address, loopback included.
		before = accepted.Load()
		id, err = e.im.Start(t.Context(), mailimport.Request{AccountID: m.u.Account.ID, Actor: "cli:root", Subject: m.u.Account.Login,
			Source: mailimport.SourceSpec{Kind: mailimport.KindIMAP, Addr: ln.Addr().String(), Login: "x", Password: "y"}})
		if err != nil {
			t.Fatal(err)
		}
		m.waitJob(t, id)
		if accepted.Load() == before {
			t.Error("the admin's job did not connect to 127.0.0.1")
		}
	}
}

// TestPageInItalian: the page, its refusals and the script's words come
// in the reader's language.
func TestPageInItalian(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.member(t, "anna")
	req, err := http.NewRequestWithContext(t.Context(), "GET", e.ts.URL+"/mail/import", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Language", "it")
	page := m.do(t, req)
	for _, want := range []string{`lang="it"`, "Porta qui la tua posta", "Password per app", "Carica e importa", "inviati"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the Italian page lacks %q", want)
		}
	}
	form := url.Values{"provider": {"other"}, "server": {"10.0.0.1"}, "login": {"a@b"}, "password": {"x"}, "csrf": {m.csrf(t)}}
	req, _ = http.NewRequestWithContext(t.Context(), "POST", e.ts.URL+"/mail/import/imap", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Language", "it")
	if res := m.do(t, req); !strings.Contains(res.body, "non è su Internet pubblico") {
		t.Errorf("the refusal is not in Italian: %s", firstError(res.body))
	}
}

// TestWaitingSaysWhen: a job that could not reach its server waits, and
// the page says when it goes on.
func TestWaitingSaysWhen(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	e := newEnv(t, func(c *envConfig) { c.dial.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} })
	m := e.member(t, "anna")
	id, err := e.im.Start(t.Context(), mailimport.Request{AccountID: m.u.Account.ID, Actor: m.u.Account.Login, Subject: m.u.Account.Login,
		Source: mailimport.SourceSpec{Kind: mailimport.KindIMAP, Addr: ln.Addr().String(), Login: "x", Password: "y", Public: true}})
	if err != nil {
		t.Fatal(err)
	}
	e.start(t)
	var j JobView
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if j = m.jobs(t)[0]; j.ID == id && j.State == mailimport.StateWaiting {
			break
		}
	}
	if j.State != mailimport.StateWaiting || j.Until != "Goes on at 1 Jun 2026, 10:01 UTC." {
		t.Errorf("job %+v, want waiting until 10:01", j)
	}
}
