package contacts_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
	"github.com/caucus-org/caucus/mail/contacts"
)

// party is an Auth of n active members in 20 groups, without a database:
// the directory's cost is the store's, not auth's.
type party struct {
	accts  []auth.Account
	groups []auth.Group
}

func newParty(n int) *party {
	p := &party{}
	for g := range 20 {
		p.groups = append(p.groups, auth.Group{ID: int64(g + 1), Name: fmt.Sprintf("ward-%02d", g)})
	}
	for i := range n {
		a := auth.Account{ID: int64(i + 1), Login: fmt.Sprintf("m%05d@example-party.org", i), DisplayName: fmt.Sprintf("Member %d Rossi", i), State: auth.StateActive}
		p.accts = append(p.accts, a)
		g := &p.groups[i%20]
		g.Members = append(g.Members, a.Login)
	}
	return p
}

func (p *party) AccountGroups(ctx context.Context, id int64) ([]auth.Group, error) { return nil, nil }
func (p *party) Accounts(ctx context.Context) ([]auth.Account, error)              { return p.accts, nil }
func (p *party) Groups(ctx context.Context) ([]auth.Group, error)                  { return p.groups, nil }
func (p *party) GroupID(ctx context.Context, name string) (int64, error)           { return 0, auth.ErrNotFound }

// BenchmarkDirectory5000 is what reading the directory of a party of
// 5,000 members costs when nothing changed: made from the accounts and
// compared with the stored copy at every request.
func BenchmarkDirectory5000(b *testing.B) {
	d := dbtest.Open(b)
	if err := d.Migrate(b.Context(), contacts.Component()); err != nil {
		b.Fatal(err)
	}
	st := contacts.New(d, contacts.Deps{Auth: newParty(5000)})
	m := contacts.Member{ID: 1, Login: "m00000@example-party.org"}
	first, err := st.Book(b.Context(), m, contacts.SlugDirectory)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		bk, err := st.Book(b.Context(), m, contacts.SlugDirectory)
		if err != nil || bk.Token != first.Token {
			b.Fatalf("%v, token %s → %s", err, first.Token, bk.Token)
		}
	}
}

// TestDirectoryTwoStores: a store that made the directory from some
// accounts does not trust its memory once another store (another node)
// changed the book: when the accounts come back to what they were, it
// writes the directory again.
func TestDirectoryTwoStores(t *testing.T) {
	t.Parallel()
	d := dbtest.Open(t)
	if err := d.Migrate(t.Context(), contacts.Component()); err != nil {
		t.Fatal(err)
	}
	full, fewer := newParty(3), newParty(3)
	fewer.accts = fewer.accts[:2]
	a := contacts.New(d, contacts.Deps{Auth: full})
	b := contacts.New(d, contacts.Deps{Auth: fewer})
	m := contacts.Member{ID: 1, Login: "m00000@example-party.org"}
	count := func(st *contacts.Store) int {
		t.Helper()
		cs, err := st.Cards(t.Context(), m, contacts.SlugDirectory)
		if err != nil {
			t.Fatal(err)
		}
		return len(cs)
	}
	if n := count(a); n != 3 {
		t.Fatalf("a: %d cards", n)
	}
	if n := count(b); n != 2 {
		t.Fatalf("b: %d cards", n)
	}
	if n := count(a); n != 3 {
		t.Errorf("a after b's change: %d cards, want 3", n)
	}
}

// members is an Auth whose active members change under the test: the
// first n of a party.
type members struct {
	p  *party
	mu sync.Mutex
	n  int
}

func (m *members) set(n int) { m.mu.Lock(); m.n = n; m.mu.Unlock() }

func (m *members) Accounts(ctx context.Context) ([]auth.Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.p.accts[:m.n], nil
}

func (m *members) AccountGroups(ctx context.Context, id int64) ([]auth.Group, error) {
	return nil, nil
}
func (m *members) Groups(ctx context.Context) ([]auth.Group, error) { return nil, nil }
func (m *members) GroupID(ctx context.Context, name string) (int64, error) {
	return 0, auth.ErrNotFound
}

// TestDirectoryFromTwoNodes: two nodes (two database handles, two
// stores) bring the directory up to date at once after members came or
// went, as two requests through a load balancer do: both answer, and the
// book holds the members once. A node that compared the stored cards
// with the members before the other node changed them must not fail on
// a card the other already removed.
func TestDirectoryFromTwoNodes(t *testing.T) {
	t.Parallel()
	d := dbtest.Create(t)
	who := &members{p: newParty(40), n: 40}
	var nodes []*contacts.Store
	for range 2 {
		h := d.Open(t)
		if err := h.Migrate(t.Context(), contacts.Component()); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, contacts.New(h, contacts.Deps{Auth: who}))
	}
	m := contacts.Member{ID: 1, Login: "m00000@example-party.org"}
	for r := range 20 {
		n := 40 - 20*(r%2) // alternately 20 members leave and come back
		who.set(n)
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			books [2]contacts.Book
			errs  [2]error
		)
		for i, st := range nodes {
			wg.Go(func() {
				<-start
				books[i], errs[i] = st.Book(t.Context(), m, contacts.SlugDirectory)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d (%d members): node %d: %v", r, n, i, err)
			}
		}
		cs, err := nodes[r%2].Cards(t.Context(), m, contacts.SlugDirectory)
		if err != nil || len(cs) != n {
			t.Fatalf("round %d: the directory holds %d cards (%v), want %d", r, len(cs), err, n)
		}
	}
}
