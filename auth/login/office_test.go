package login

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// TestOfficeEnrolsAtOnce: a party's office (one address) enrols its people
// at once; meanwhile other people there mistype their addresses or
// passwords, more often than an address is allowed to fail. The people who
// enrolled sign out and in again, all at once: none is told "Too many
// failed attempts", since none of them failed (issue 16 bug 7).
func TestOfficeEnrolsAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const people, typos = 12, 30
	type person struct {
		b *browser
		m *member
	}
	var mu sync.Mutex
	var all []person
	var wg sync.WaitGroup
	for i := range people {
		wg.Go(func() {
			b, m := e.enrol(t, fmt.Sprintf("p%d@example.org", i))
			mu.Lock()
			all = append(all, person{b, m})
			mu.Unlock()
		})
	}
	wg.Wait()
	for i := range typos { // others at the office, mistyping
		r := e.browser(t).post("/login", url.Values{"login": {fmt.Sprintf("typo%d@example.org", i%10)}, "password": {fmt.Sprintf("wrong-%d", i)}})
		if r.code != 401 && r.code != 429 {
			t.Fatalf("a wrong password: %d", r.code)
		}
	}
	for _, p := range all {
		p.b.post("/logout", url.Values{"csrf": {p.b.get("/account").csrf()}}).redirect("/login")
	}
	for _, p := range all {
		wg.Go(func() {
			r := p.b.post("/login", url.Values{"login": {p.m.login}, "password": {p.m.password}})
			if r.code != 303 || strings.Contains(r.body, "Too many failed attempts") {
				t.Errorf("%s signing in again: %d, want on to the second step:\n%s", p.m.login, r.code, r.body)
			}
		})
	}
	wg.Wait()
	// Someone at the office on a new browser is held up with the office
	// while guessing goes on there, and told so truthfully.
	r := e.browser(t).post("/login", url.Values{"login": {"p0@example.org"}, "password": {testPassword}})
	if r.code != 429 || strings.Contains(r.body, "Too many failed attempts") || !strings.Contains(r.body, "from your network") {
		t.Errorf("a new browser at a throttled address is told %q, want the network named", r.body)
	}
}
