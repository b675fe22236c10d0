package contacts_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-vcard"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/mail/contacts"
)

func TestPersonalBook(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice := e.member(t, "alice@example.org", auth.RoleMember)
	bob := e.member(t, "bob@example.org", auth.RoleMember)

	c, created, err := e.store.Put(ctx, alice, contacts.SlugPersonal, "a.vcf", card("u1", "Ada"), contacts.Cond{IfNoneMatch: "*"})
	if err != nil || !created {
		t.Fatalf("put: %v, created %v", err, created)
	}
	if c.ETag != contacts.ETag(c.Data) {
		t.Errorf("etag %q is not the hash of the data", c.ETag)
	}
	// Bob's book of the same name is his own.
	if got, err := e.store.Cards(ctx, bob, contacts.SlugPersonal); err != nil || len(got) != 0 {
		t.Fatalf("bob sees %d cards (%v), want 0", len(got), err)
	}
	if _, err := e.store.Card(ctx, bob, contacts.SlugPersonal, "a.vcf"); !errors.Is(err, contacts.ErrNotFound) {
		t.Errorf("bob reads alice's card: %v", err)
	}
	got, err := e.store.Card(ctx, alice, contacts.SlugPersonal, "a.vcf")
	if err != nil || got.ETag != c.ETag || got.UID != "u1" {
		t.Fatalf("card: %+v, %v", got, err)
	}
	// Same UID under another name: no-uid-conflict.
	if _, _, err := e.store.Put(ctx, alice, contacts.SlugPersonal, "b.vcf", card("u1", "Ada again"), contacts.Cond{}); !errors.Is(err, contacts.ErrUIDConflict) {
		t.Errorf("second card with the same UID: %v", err)
	}
	// Unknown books.
	for _, slug := range []string{"", "other", "group-nobody", "../contacts"} {
		if _, err := e.store.Cards(ctx, alice, slug); !errors.Is(err, contacts.ErrNotFound) {
			t.Errorf("book %q: %v, want ErrNotFound", slug, err)
		}
	}
}

func TestPreconditions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice := e.member(t, "alice@example.org", auth.RoleMember)
	c, _, err := e.store.Put(ctx, alice, contacts.SlugPersonal, "a.vcf", card("u1", "Ada"), contacts.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	q := `"` + c.ETag + `"`
	tests := []struct {
		name string
		cond contacts.Cond
		ok   bool
	}{
		{"if-none-match star on existing", contacts.Cond{IfNoneMatch: "*"}, false},
		{"if-match stale", contacts.Cond{IfMatch: `"0000"`}, false},
		{"if-match unquoted", contacts.Cond{IfMatch: c.ETag}, false},
		{"if-none-match current", contacts.Cond{IfNoneMatch: q}, false},
		{"if-match current", contacts.Cond{IfMatch: q}, true},
	}
	for i, tc := range tests {
		_, _, err := e.store.Put(ctx, alice, contacts.SlugPersonal, "a.vcf", card("u1", "Ada "+strings.Repeat("x", i+1)), tc.cond)
		if tc.ok != (err == nil) || !tc.ok && !errors.Is(err, contacts.ErrPrecondition) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	cur, _ := e.store.Card(ctx, alice, contacts.SlugPersonal, "a.vcf")
	if err := e.store.Delete(ctx, alice, contacts.SlugPersonal, "a.vcf", contacts.Cond{IfMatch: q}); !errors.Is(err, contacts.ErrPrecondition) {
		t.Errorf("delete with a stale If-Match: %v", err)
	}
	if err := e.store.Delete(ctx, alice, contacts.SlugPersonal, "a.vcf", contacts.Cond{IfMatch: `W/"` + cur.ETag + `"`}); err != nil {
		t.Errorf("delete with the current If-Match: %v", err)
	}
	if _, _, err := e.store.Put(ctx, alice, contacts.SlugPersonal, "n.vcf", card("u2", "New"), contacts.Cond{IfMatch: "*"}); !errors.Is(err, contacts.ErrPrecondition) {
		t.Errorf("If-Match * on a missing resource: %v", err)
	}
}

func TestGroupBook(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice := e.member(t, "alice@example.org", auth.RoleMember)
	bob := e.member(t, "bob@example.org", auth.RoleMember)
	carol := e.member(t, "carol@example.org", auth.RoleMember)
	admin := e.member(t, "root@example.org", auth.RoleAdmin)
	for _, m := range []contacts.Member{alice, bob, admin} {
		if err := e.Auth.AddToGroup(ctx, "", "press", m.ID); err != nil {
			t.Fatal(err)
		}
	}
	slug := contacts.GroupPrefix + "press"
	if _, _, err := e.store.Put(ctx, alice, slug, "j.vcf", card("j1", "Journalist"), contacts.Cond{}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.store.Cards(ctx, bob, slug); err != nil || len(got) != 1 {
		t.Fatalf("bob sees %d cards of the group (%v)", len(got), err)
	}
	if _, err := e.store.Cards(ctx, carol, slug); !errors.Is(err, contacts.ErrNotFound) {
		t.Errorf("carol, not in the group: %v", err)
	}
	books, err := e.store.Books(ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	var slugs []string
	for _, b := range books {
		slugs = append(slugs, b.Slug)
	}
	if !slices.Equal(slugs, []string{"contacts", "group-press", "directory"}) {
		t.Errorf("bob's books %v", slugs)
	}

	// Read-only: members may not write, admins may.
	if err := e.store.SetGroupReadOnly(ctx, "press", true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.Put(ctx, bob, slug, "k.vcf", card("k1", "K"), contacts.Cond{}); !errors.Is(err, contacts.ErrReadOnly) {
		t.Errorf("write to a read-only group book: %v", err)
	}
	if err := e.store.Delete(ctx, bob, slug, "j.vcf", contacts.Cond{}); !errors.Is(err, contacts.ErrReadOnly) {
		t.Errorf("delete in a read-only group book: %v", err)
	}
	if _, _, err := e.store.Put(ctx, admin, slug, "k.vcf", card("k1", "K"), contacts.Cond{}); err != nil {
		t.Errorf("admin writes a read-only group book: %v", err)
	}

	// Leaving the group loses the book at once.
	if err := e.Auth.RemoveFromGroup(ctx, "", "press", bob.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Cards(ctx, bob, slug); !errors.Is(err, contacts.ErrNotFound) {
		t.Errorf("bob after leaving the group: %v", err)
	}
}

func TestDirectory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice := e.member(t, "alice@example.org", auth.RoleMember)
	bob := e.member(t, "bob@example.org", auth.RoleMember)
	if err := e.Auth.AddToGroup(ctx, "", "board", bob.ID); err != nil {
		t.Fatal(err)
	}
	names := func() map[string]vcard.Card {
		t.Helper()
		cs, err := e.store.Cards(ctx, alice, contacts.SlugDirectory)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]vcard.Card{}
		for _, c := range cs {
			vc, err := contacts.Parse(c.Data)
			if err != nil {
				t.Fatalf("directory card %s: %v", c.Name, err)
			}
			out[vc.Value(vcard.FieldEmail)] = vc
		}
		return out
	}
	d1, _ := e.store.Book(ctx, alice, contacts.SlugDirectory)
	got := names()
	if len(got) != 2 || got["bob@example.org"] == nil {
		t.Fatalf("directory %v", got)
	}
	if cats := got["bob@example.org"].Values(vcard.FieldCategories); !slices.Equal(cats, []string{"board"}) {
		t.Errorf("bob's groups %v", cats)
	}
	d2, _ := e.store.Book(ctx, alice, contacts.SlugDirectory)
	if d1.Token != d2.Token {
		t.Errorf("token changed with no change: %s → %s", d1.Token, d2.Token)
	}
	if _, _, err := e.store.Put(ctx, alice, contacts.SlugDirectory, "x.vcf", card("x", "X"), contacts.Cond{}); !errors.Is(err, contacts.ErrReadOnly) {
		t.Errorf("write to the directory: %v", err)
	}

	// Suspending Bob removes him at once, with a new token.
	if err := e.Auth.SetState(ctx, "", bob.ID, auth.StateSuspended, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if got := names(); len(got) != 1 || got["bob@example.org"] != nil {
		t.Fatalf("directory after suspension: %v", got)
	}
	ch, err := e.store.Changes(ctx, alice, contacts.SlugDirectory, d2.Token, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Token == d2.Token || len(ch.Deleted) != 1 || len(ch.Updated) != 0 {
		t.Errorf("changes after suspension: %+v", ch)
	}
	// An account past its end of access is gone too.
	end := e.Clock.Now().Add(time.Hour)
	if err := e.Auth.ChangeAccount(ctx, "", alice.ID, auth.AccountChange{Expires: &end}, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if got := names(); got["alice@example.org"] == nil {
		t.Errorf("alice missing before her end of access: %v", got)
	}
	e.Clock.Advance(2 * time.Hour)
	if got := names(); len(got) != 0 {
		t.Errorf("directory after alice's end of access: %v", got)
	}
}

func TestChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice := e.member(t, "alice@example.org", auth.RoleMember)
	bob := e.member(t, "bob@example.org", auth.RoleMember)
	put := func(name, uid string) {
		t.Helper()
		if _, _, err := e.store.Put(ctx, alice, contacts.SlugPersonal, name, card(uid, "N "+name), contacts.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	put("a.vcf", "a")
	put("b.vcf", "b")
	first, err := e.store.Changes(ctx, alice, contacts.SlugPersonal, "", 0)
	if err != nil || len(first.Updated) != 2 || len(first.Deleted) != 0 {
		t.Fatalf("initial: %+v, %v", first, err)
	}
	none, err := e.store.Changes(ctx, alice, contacts.SlugPersonal, first.Token, 0)
	if err != nil || len(none.Updated)+len(none.Deleted) != 0 || none.Token != first.Token {
		t.Fatalf("no change: %+v, %v", none, err)
	}
	put("c.vcf", "c")
	if err := e.store.Delete(ctx, alice, contacts.SlugPersonal, "a.vcf", contacts.Cond{}); err != nil {
		t.Fatal(err)
	}
	ch, err := e.store.Changes(ctx, alice, contacts.SlugPersonal, first.Token, 0)
	if err != nil || len(ch.Updated) != 1 || ch.Updated[0].Name != "c.vcf" || !slices.Equal(ch.Deleted, []string{"a.vcf"}) {
		t.Fatalf("changes: %+v, %v", ch, err)
	}
	// Limited: one at a time, in order, then nothing.
	tok, seen := first.Token, []string{}
	for range 5 {
		ch, err := e.store.Changes(ctx, alice, contacts.SlugPersonal, tok, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range ch.Updated {
			seen = append(seen, c.Name)
		}
		seen = append(seen, ch.Deleted...)
		tok = ch.Token
		if !ch.More {
			break
		}
	}
	if !slices.Equal(seen, []string{"c.vcf", "a.vcf"}) {
		t.Errorf("limited changes %v", seen)
	}
	// Tokens of another book, from the future, or garbage.
	bobs, _ := e.store.Book(ctx, bob, contacts.SlugPersonal)
	for _, tok := range []string{bobs.Token, ch.Token + "9", "urn:x-caucus:contacts:1:-1", "garbage"} {
		if _, err := e.store.Changes(ctx, alice, contacts.SlugPersonal, tok, 0); !errors.Is(err, contacts.ErrBadToken) {
			t.Errorf("token %q: %v", tok, err)
		}
	}
}

func TestImport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice := e.member(t, "alice@example.org", auth.RoleMember)
	if _, _, err := e.store.Put(ctx, alice, contacts.SlugPersonal, "mine.vcf", card("u1", "Old"), contacts.Cond{}); err != nil {
		t.Fatal(err)
	}
	n, err := e.store.Import(ctx, alice, contacts.SlugPersonal, []vcard.Card{card("u1", "New"), card("u2", "Two"), card("u3", "Three")})
	if err != nil || n != 3 {
		t.Fatalf("import: %d, %v", n, err)
	}
	cs, _ := e.store.Cards(ctx, alice, contacts.SlugPersonal)
	if len(cs) != 3 {
		t.Fatalf("%d cards", len(cs))
	}
	c, _ := e.store.Card(ctx, alice, contacts.SlugPersonal, "mine.vcf")
	if !strings.Contains(string(c.Data), "FN:New") {
		t.Errorf("the card with the same UID was not replaced in place: %q", c.Data)
	}
	// Again: nothing changes.
	if n, err := e.store.Import(ctx, alice, contacts.SlugPersonal, []vcard.Card{card("u2", "Two")}); err != nil || n != 0 {
		t.Errorf("import again: %d, %v", n, err)
	}
	// One bad card: nothing imported.
	bad := card("u9", "Bad")
	bad.SetValue(vcard.FieldVersion, "2.1")
	if _, err := e.store.Import(ctx, alice, contacts.SlugPersonal, []vcard.Card{card("u8", "Fine"), bad}); !errors.Is(err, contacts.ErrInvalid) {
		t.Errorf("import with a bad card: %v", err)
	}
	if cs, _ := e.store.Cards(ctx, alice, contacts.SlugPersonal); len(cs) != 3 {
		t.Errorf("%d cards after a refused import", len(cs))
	}
	if _, err := e.store.Import(ctx, alice, contacts.SlugDirectory, []vcard.Card{card("u8", "Fine")}); !errors.Is(err, contacts.ErrReadOnly) {
		t.Errorf("import into the directory: %v", err)
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	e := authtest.New(t, auth.Config{}, contacts.Component())
	st := contacts.New(e.DB, contacts.Deps{Auth: e.Auth, Now: e.Clock.Now, MaxCards: 3, MaxGone: 2})
	ctx := t.Context()
	alice := contacts.MemberOf(e.User(t, "alice@example.org", auth.RoleMember).Account)
	put := func(name string) error {
		_, _, err := st.Put(ctx, alice, contacts.SlugPersonal, name, card(name, "N"), contacts.Cond{})
		return err
	}
	for _, n := range []string{"a", "b", "c"} {
		if err := put(n); err != nil {
			t.Fatal(err)
		}
	}
	if err := put("d"); !errors.Is(err, contacts.ErrFull) {
		t.Errorf("fourth card: %v, want ErrFull", err)
	}
	if _, err := st.Import(ctx, alice, contacts.SlugPersonal, []vcard.Card{card("e", "E")}); !errors.Is(err, contacts.ErrFull) {
		t.Errorf("import into a full book: %v, want ErrFull", err)
	}
	if _, _, err := st.Put(ctx, alice, contacts.SlugPersonal, "a", card("a", "changed"), contacts.Cond{}); err != nil {
		t.Errorf("changing a card of a full book: %v", err)
	}
	// Deletions remembered: two; a token from before the forgotten one
	// is refused, a later one still works.
	b0, _ := st.Book(ctx, alice, contacts.SlugPersonal)
	for _, n := range []string{"a", "b"} {
		if err := st.Delete(ctx, alice, contacts.SlugPersonal, n, contacts.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	b1, _ := st.Book(ctx, alice, contacts.SlugPersonal)
	if ch, err := st.Changes(ctx, alice, contacts.SlugPersonal, b0.Token, 0); err != nil || len(ch.Deleted) != 2 {
		t.Fatalf("two deletions: %+v, %v", ch, err)
	}
	if err := st.Delete(ctx, alice, contacts.SlugPersonal, "c", contacts.Cond{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Changes(ctx, alice, contacts.SlugPersonal, b0.Token, 0); !errors.Is(err, contacts.ErrBadToken) {
		t.Errorf("token from before a forgotten deletion: %v, want ErrBadToken", err)
	}
	if ch, err := st.Changes(ctx, alice, contacts.SlugPersonal, b1.Token, 0); err != nil || !slices.Equal(ch.Deleted, []string{"c"}) {
		t.Errorf("token after the forgotten deletion: %+v, %v", ch, err)
	}
}

// TestDirectoryHiddenFromVolunteers: a volunteer (auth.RoleVolunteer)
// is not shown the party directory: it is not among their books and
// asking for it by name finds nothing; they keep their own book.
func TestDirectoryHiddenFromVolunteers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	e.member(t, "alice@example.org", auth.RoleMember)
	vol := e.member(t, "vol@example.org", auth.RoleVolunteer)
	books, err := e.store.Books(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range books {
		if b.Kind == contacts.KindDirectory {
			t.Errorf("a volunteer's books include the directory: %+v", books)
		}
	}
	if len(books) != 1 || books[0].Slug != contacts.SlugPersonal {
		t.Errorf("a volunteer's books: %+v, want their own only", books)
	}
	if _, err := e.store.Cards(ctx, vol, contacts.SlugDirectory); !errors.Is(err, contacts.ErrNotFound) {
		t.Errorf("a volunteer reading the directory: %v, want ErrNotFound", err)
	}
}

// TestImportWithoutUIDs: a Google Contacts export has no UIDs; ParseAll
// gives each card one made from its content, the same on a second
// import, so importing the file twice adds nothing the second time.
func TestImportWithoutUIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice := e.member(t, "alice@example.org", auth.RoleMember)
	export := []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Press Office\r\nN:;Press Office;;;\r\nEMAIL;TYPE=INTERNET:press@paper.example\r\nEND:VCARD\r\n" +
		"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Maria Bianchi\r\nN:Bianchi;Maria;;;\r\nTEL;TYPE=CELL:+39 333 000000\r\nEND:VCARD\r\n")
	for round, want := range []int{2, 0} {
		cards, err := contacts.ParseAll(export, contacts.MaxImport)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if cards[0].Value(vcard.FieldUID) == "" || cards[0].Value(vcard.FieldUID) == cards[1].Value(vcard.FieldUID) {
			t.Fatalf("UIDs %q %q", cards[0].Value(vcard.FieldUID), cards[1].Value(vcard.FieldUID))
		}
		if n, err := e.store.Import(ctx, alice, contacts.SlugPersonal, cards); err != nil || n != want {
			t.Errorf("round %d: imported %d, %v; want %d", round, n, err, want)
		}
	}
}
