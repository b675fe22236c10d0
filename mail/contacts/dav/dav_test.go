package dav_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-vcard"
	"github.com/emersion/go-webdav"
	"github.com/emersion/go-webdav/carddav"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/contacts"
	"github.com/caucus-org/caucus/mail/contacts/dav"
)

type env struct {
	*authtest.Env
	store *contacts.Store
	srv   *httptest.Server
}

func newEnv(t testing.TB) *env { return newEnvWith(t, contacts.Deps{}) }

// newEnvWith is newEnv with the store's limits of deps.
func newEnvWith(t testing.TB, deps contacts.Deps) *env {
	t.Helper()
	e := authtest.New(t, auth.Config{}, contacts.Component())
	deps.Auth, deps.Now = e.Auth, e.Clock.Now
	store := contacts.New(e.DB, deps)
	mux := http.NewServeMux()
	h := dav.New(store, e.Auth, nil, slog.New(slog.NewTextHandler(t.Output(), nil)), "")
	h.Register(mux)
	srv := httptest.NewUnstartedServer(nil) // 127.0.0.1:0
	srv.Config = web.NewServer(mux, nil)    // the server's deadlines and resets
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(h.Shutdown)
	return &env{Env: e, store: store, srv: srv}
}

// person is a member with a calendar app password.
type person struct {
	*authtest.User
	secret string
}

func (e *env) person(t testing.TB, login string, role auth.Role, groups ...string) *person {
	t.Helper()
	u := e.User(t, login, role)
	for _, g := range groups {
		if err := e.Auth.AddToGroup(t.Context(), "", g, u.Account.ID); err != nil {
			t.Fatal(err)
		}
	}
	return &person{User: u, secret: e.AppPassword(t, u, "phone", auth.ScopeCalendar)}
}

func (p *person) login() string { return p.Account.Login }

func (p *person) book(slug string) string { return "/carddav/" + p.login() + "/books/" + slug + "/" }

func (e *env) client(t testing.TB, p *person) *carddav.Client {
	t.Helper()
	c, err := carddav.NewClient(webdav.HTTPClientWithBasicAuth(e.srv.Client(), p.login(), p.secret), e.srv.URL+"/carddav/")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// do sends a raw request as p and returns the status and body.
func (e *env) do(t testing.TB, p *person, method, path string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if p != nil {
		req.SetBasicAuth(p.login(), p.secret)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func vcf(uid, fn string) string {
	return fmt.Sprintf("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:%s\r\nFN:%s\r\nN:%s;;;;\r\nEMAIL:%s@example.net\r\nEND:VCARD\r\n", uid, fn, fn, uid)
}

func card(uid, fn string) vcard.Card {
	c, err := contacts.Parse([]byte(vcf(uid, fn)))
	if err != nil {
		panic(err)
	}
	return c
}

var vcardType = map[string]string{"Content-Type": "text/vcard; charset=utf-8"}

func with(h map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range h {
		out[a] = b
	}
	return out
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice@example.org", auth.RoleMember, "press")
	for _, p := range []string{"/.well-known/carddav", "/.well-known/carddav/"} {
		req, _ := http.NewRequest("PROPFIND", e.srv.URL+p, nil)
		resp, err := e.srv.Client().Transport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/carddav/" {
			t.Errorf("%s: %d → %q", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	ctx := t.Context()
	c := e.client(t, alice)
	wc, _ := webdav.NewClient(webdav.HTTPClientWithBasicAuth(e.srv.Client(), alice.login(), alice.secret), e.srv.URL+"/carddav/")
	princ, err := wc.FindCurrentUserPrincipal(ctx)
	if err != nil || princ != "/carddav/alice@example.org/" {
		t.Fatalf("principal %q, %v", princ, err)
	}
	homeSet, err := c.FindAddressBookHomeSet(ctx, princ)
	if err != nil || homeSet != "/carddav/alice@example.org/books/" {
		t.Fatalf("home set %q, %v", homeSet, err)
	}
	books, err := c.FindAddressBooks(ctx, homeSet)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, b := range books {
		paths = append(paths, b.Path)
	}
	want := []string{alice.book("contacts"), alice.book("group-press"), alice.book("directory")}
	if !slices.Equal(paths, want) {
		t.Errorf("books %v, want %v", paths, want)
	}
	// The sync token and the reports are on the book.
	code, body := e.do(t, alice, "PROPFIND", alice.book("contacts"), map[string]string{"Depth": "0", "Content-Type": "application/xml"},
		`<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:sync-token/><d:supported-report-set/></d:prop></d:propfind>`)
	if code != http.StatusMultiStatus || !strings.Contains(body, "urn:x-caucus:contacts:") || !strings.Contains(body, "sync-collection") {
		t.Errorf("book properties: %d %s", code, body)
	}
}

func TestCardsRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice@example.org", auth.RoleMember)
	ctx := t.Context()
	c := e.client(t, alice)
	book := alice.book("contacts")
	for i, fn := range []string{"Ada Lovelace", "Grace Hopper", "Alan Turing"} {
		if _, err := c.PutAddressObject(ctx, book+fmt.Sprintf("c%d.vcf", i), card(fmt.Sprintf("u%d", i), fn)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.GetAddressObject(ctx, book+"c1.vcf")
	if err != nil || got.Card.PreferredValue(vcard.FieldFormattedName) != "Grace Hopper" || got.ETag == "" {
		t.Fatalf("get: %+v, %v", got, err)
	}
	q := &carddav.AddressBookQuery{
		DataRequest: carddav.AddressDataRequest{AllProp: true},
		PropFilters: []carddav.PropFilter{{Name: vcard.FieldFormattedName, TextMatches: []carddav.TextMatch{{Text: "Turing"}}}},
	}
	found, err := c.QueryAddressBook(ctx, book, q)
	if err != nil || len(found) != 1 || found[0].Path != book+"c2.vcf" {
		t.Fatalf("query: %+v, %v", found, err)
	}
	mg, err := c.MultiGetAddressBook(ctx, book, &carddav.AddressBookMultiGet{Paths: []string{book + "c0.vcf", book + "c2.vcf"}, DataRequest: carddav.AddressDataRequest{AllProp: true}})
	if err != nil || len(mg) != 2 || mg[0].Card.PreferredValue(vcard.FieldFormattedName) != "Ada Lovelace" {
		t.Fatalf("multiget: %+v, %v", mg, err)
	}
}

func TestConditionalWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice@example.org", auth.RoleMember)
	p := alice.book("contacts") + "a.vcf"
	if code, body := e.do(t, alice, "PUT", p, with(vcardType, "If-None-Match", "*"), vcf("a", "Ada")); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, _ := e.do(t, alice, "PUT", p, with(vcardType, "If-None-Match", "*"), vcf("a", "Ada 2")); code != http.StatusPreconditionFailed {
		t.Errorf("second create: %d, want 412", code)
	}
	if code, _ := e.do(t, alice, "PUT", p, with(vcardType, "If-Match", `"stale"`), vcf("a", "Ada 3")); code != http.StatusPreconditionFailed {
		t.Errorf("stale If-Match: %d, want 412", code)
	}
	if code, _ := e.do(t, alice, "DELETE", p, map[string]string{"If-Match": `"stale"`}, ""); code != http.StatusPreconditionFailed {
		t.Errorf("DELETE with a stale If-Match: %d, want 412", code)
	}
	cur, err := e.store.Card(t.Context(), contacts.MemberOf(alice.Account), "contacts", "a.vcf")
	if err != nil || !strings.Contains(string(cur.Data), "FN:Ada\r\n") {
		t.Fatalf("card changed by refused writes: %q, %v", cur.Data, err)
	}
	if code, _ := e.do(t, alice, "DELETE", p, map[string]string{"If-Match": `"` + cur.ETag + `"`}, ""); code != http.StatusNoContent {
		t.Errorf("DELETE with the current If-Match: %d, want 204", code)
	}
	if code, _ := e.do(t, alice, "DELETE", p, nil, ""); code != http.StatusNotFound {
		t.Errorf("DELETE of a deleted card: %d, want 404", code)
	}
	// UID conflict (RFC 6352 section 6.3.2.1).
	e.do(t, alice, "PUT", alice.book("contacts")+"x.vcf", vcardType, vcf("dup", "X"))
	code, body := e.do(t, alice, "PUT", alice.book("contacts")+"y.vcf", vcardType, vcf("dup", "Y"))
	if code != http.StatusConflict || !strings.Contains(body, "no-uid-conflict") {
		t.Errorf("UID conflict: %d %s", code, body)
	}
}

func TestSyncCollection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice@example.org", auth.RoleMember)
	ctx := t.Context()
	c := e.client(t, alice)
	book := alice.book("contacts")
	for i := range 3 {
		if _, err := c.PutAddressObject(ctx, book+fmt.Sprintf("c%d.vcf", i), card(fmt.Sprintf("u%d", i), "N")); err != nil {
			t.Fatal(err)
		}
	}
	first, err := c.SyncCollection(ctx, book, &carddav.SyncQuery{})
	if err != nil || len(first.Updated) != 3 || first.SyncToken == "" {
		t.Fatalf("initial sync: %+v, %v", first, err)
	}
	none, err := c.SyncCollection(ctx, book, &carddav.SyncQuery{SyncToken: first.SyncToken})
	if err != nil || len(none.Updated)+len(none.Deleted) != 0 || none.SyncToken != first.SyncToken {
		t.Fatalf("sync with no change: %+v, %v", none, err)
	}
	if _, err := c.PutAddressObject(ctx, book+"c1.vcf", card("u1", "Changed")); err != nil {
		t.Fatal(err)
	}
	if code, _ := e.do(t, alice, "DELETE", book+"c2.vcf", nil, ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	ch, err := c.SyncCollection(ctx, book, &carddav.SyncQuery{SyncToken: first.SyncToken})
	if err != nil || len(ch.Updated) != 1 || ch.Updated[0].Path != book+"c1.vcf" || !slices.Equal(ch.Deleted, []string{book + "c2.vcf"}) {
		t.Fatalf("sync: %+v, %v", ch, err)
	}
	// RFC 6578 section 3.2: an unknown token is 403 valid-sync-token.
	report := func(tok, extra string) (int, string) {
		return e.do(t, alice, "REPORT", book, map[string]string{"Content-Type": "application/xml", "Depth": "0"},
			`<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>`+tok+`</d:sync-token><d:sync-level>1</d:sync-level>`+extra+`<d:prop><d:getetag/></d:prop></d:sync-collection>`)
	}
	if code, body := report("urn:x-caucus:contacts:999:1", ""); code != http.StatusForbidden || !strings.Contains(body, "valid-sync-token") {
		t.Errorf("unknown token: %d %s", code, body)
	}
	// Section 3.6: a limit is answered with 507 for the collection and a
	// token that goes on from there.
	code, body := report("", "<d:limit><d:nresults>1</d:nresults></d:limit>")
	if code != http.StatusMultiStatus || strings.Count(body, ".vcf") != 1 || !strings.Contains(body, "507") || !strings.Contains(body, "number-of-matches-within-limits") {
		t.Errorf("limited sync: %d %s", code, body)
	}
}

func TestOtherMembersBooks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice@example.org", auth.RoleMember, "board")
	bob := e.person(t, "bob@example.org", auth.RoleMember, "press")
	if code, _ := e.do(t, bob, "PUT", bob.book("contacts")+"secret.vcf", vcardType, vcf("s", "Source")); code != http.StatusCreated {
		t.Fatal(code)
	}
	if code, _ := e.do(t, bob, "PUT", bob.book("group-press")+"j.vcf", vcardType, vcf("j", "Journalist")); code != http.StatusCreated {
		t.Fatal(code)
	}
	xml := map[string]string{"Content-Type": "application/xml", "Depth": "1"}
	propfind := `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>`
	tricks := []struct{ method, path, body string }{
		{"GET", bob.book("contacts") + "secret.vcf", ""},
		{"PROPFIND", bob.book("contacts"), propfind},
		{"PROPFIND", "/carddav/bob@example.org/books/", propfind},
		{"GET", alice.book("contacts") + "../../../bob@example.org/books/contacts/secret.vcf", ""},
		{"GET", "/carddav/BOB@example.org/books/contacts/secret.vcf", ""},
		{"GET", alice.book("group-press") + "j.vcf", ""},
		{"PROPFIND", alice.book("group-press"), propfind},
		{"PUT", bob.book("contacts") + "secret.vcf", vcf("s", "Overwritten")},
		{"DELETE", bob.book("contacts") + "secret.vcf", ""},
		{"PUT", alice.book("group-press") + "k.vcf", vcf("k", "K")},
	}
	for _, tc := range tricks {
		h := xml
		if tc.method == "PUT" {
			h = vcardType
		}
		code, body := e.do(t, alice, tc.method, tc.path, h, tc.body)
		if code != http.StatusNotFound && code != http.StatusForbidden || strings.Contains(body, "Source") || strings.Contains(body, "Journalist") {
			t.Errorf("%s %s as alice: %d %s", tc.method, tc.path, code, body)
		}
	}
	// A multiget with bob's href in alice's book.
	code, body := e.do(t, alice, "REPORT", alice.book("contacts"), map[string]string{"Content-Type": "application/xml", "Depth": "1"},
		`<?xml version="1.0"?><c:addressbook-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><c:address-data/></d:prop><d:href>`+bob.book("contacts")+`secret.vcf</d:href></c:addressbook-multiget>`)
	if strings.Contains(body, "Source") || !strings.Contains(body, "404") {
		t.Errorf("multiget of bob's card: %d %s", code, body)
	}
	// Bob's card is unchanged.
	c, err := e.store.Card(t.Context(), contacts.MemberOf(bob.Account), "contacts", "secret.vcf")
	if err != nil || !strings.Contains(string(c.Data), "FN:Source") {
		t.Errorf("bob's card: %q, %v", c.Data, err)
	}
}

func TestReadOnlyBooks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice@example.org", auth.RoleMember, "press")
	if err := e.store.SetGroupReadOnly(t.Context(), "press", true); err != nil {
		t.Fatal(err)
	}
	for _, slug := range []string{"directory", "group-press"} {
		if code, _ := e.do(t, alice, "PUT", alice.book(slug)+"x.vcf", vcardType, vcf("x", "X")); code != http.StatusForbidden {
			t.Errorf("PUT in %s: %d, want 403", slug, code)
		}
	}
	dirCards, _ := e.store.Cards(t.Context(), contacts.MemberOf(alice.Account), "directory")
	if len(dirCards) != 1 {
		t.Fatalf("directory has %d cards", len(dirCards))
	}
	if code, _ := e.do(t, alice, "DELETE", alice.book("directory")+dirCards[0].Name, nil, ""); code != http.StatusForbidden {
		t.Errorf("DELETE in the directory: %d, want 403", code)
	}
	for _, p := range []string{alice.book("directory"), alice.book("contacts"), alice.book("new")} {
		if code, _ := e.do(t, alice, "DELETE", p, nil, ""); code != http.StatusForbidden {
			t.Errorf("DELETE %s: %d, want 403", p, code)
		}
		if code, _ := e.do(t, alice, "MKCOL", p, nil, ""); code != http.StatusForbidden {
			t.Errorf("MKCOL %s: %d, want 403", p, code)
		}
	}
}

func TestHostileInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice@example.org", auth.RoleMember)
	book := alice.book("contacts")
	if code, _ := e.do(t, alice, "PUT", book+"a.vcf", vcardType, vcf("a", "Ada")); code != http.StatusCreated {
		t.Fatal(code)
	}
	before, _ := e.store.Changes(t.Context(), contacts.MemberOf(alice.Account), "contacts", "", 0)
	photo := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nFN:Ada\r\nPHOTO;ENCODING=b;TYPE=JPEG:" + strings.Repeat("QUFB", contacts.MaxCardBytes/4) + "\r\nEND:VCARD\r\n"
	tests := []struct {
		name string
		hdr  map[string]string
		body string
		want int
	}{
		{"photo over 1 MiB", vcardType, photo, http.StatusRequestEntityTooLarge},
		{"latin-1", vcardType, "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nFN:Jos\xe9\r\nEND:VCARD\r\n", http.StatusBadRequest},
		{"no uid", vcardType, "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\nEND:VCARD\r\n", http.StatusBadRequest},
		{"two cards", vcardType, vcf("a", "A") + vcf("b", "B"), http.StatusBadRequest},
		{"not a vcard", vcardType, "<html>", http.StatusBadRequest},
		{"control characters", vcardType, "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nFN:a\x07\r\nEND:VCARD\r\n", http.StatusBadRequest},
		{"wrong type", map[string]string{"Content-Type": "text/plain"}, vcf("a", "Other"), http.StatusBadRequest},
	}
	for _, tc := range tests {
		code, body := e.do(t, alice, "PUT", book+"a.vcf", tc.hdr, tc.body)
		if code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	// A body with no Content-Length (chunked) over the cap.
	req, _ := http.NewRequestWithContext(t.Context(), "PUT", e.srv.URL+book+"big.vcf", io.MultiReader(strings.NewReader(photo)))
	req.SetBasicAuth(alice.login(), alice.secret)
	req.Header.Set("Content-Type", "text/vcard")
	req.ContentLength = -1
	if resp, err := e.srv.Client().Do(req); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked over the cap: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	after, _ := e.store.Changes(t.Context(), contacts.MemberOf(alice.Account), "contacts", "", 0)
	if after.Token != before.Token || len(after.Updated) != 1 || string(after.Updated[0].Data) != string(before.Updated[0].Data) {
		t.Errorf("book changed by refused writes: %+v", after)
	}
	// Unbounded PROPFIND.
	for _, d := range []string{"", "infinity"} {
		h := map[string]string{"Content-Type": "application/xml"}
		if d != "" {
			h["Depth"] = d
		}
		if code, body := e.do(t, alice, "PROPFIND", "/carddav/", h, ""); code != http.StatusForbidden || !strings.Contains(body, "propfind-finite-depth") {
			t.Errorf("PROPFIND Depth %q: %d %s", d, code, body)
		}
	}
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice@example.org", auth.RoleMember)
	mail := &person{User: alice.User, secret: e.AppPassword(t, alice.User, "mail", auth.ScopeMail)}
	all := &person{User: alice.User, secret: e.AppPassword(t, alice.User, "all", auth.ScopeAll)}
	pw := &person{User: alice.User, secret: alice.Password}
	h := map[string]string{"Depth": "0"}
	for name, p := range map[string]*person{"no credentials": nil, "mail scope": mail, "account password": pw} {
		if code, _ := e.do(t, p, "PROPFIND", "/carddav/", h, ""); code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
	for name, p := range map[string]*person{"calendar scope": alice, "all": all} {
		if code, _ := e.do(t, p, "PROPFIND", "/carddav/", h, ""); code != http.StatusMultiStatus {
			t.Errorf("%s: %d, want 207", name, code)
		}
	}
	// Offboarding: the next request is refused.
	if _, err := e.Auth.Revoke(t.Context(), "", alice.Account.ID, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if code, _ := e.do(t, alice, "PROPFIND", "/carddav/", h, ""); code != http.StatusUnauthorized {
		t.Errorf("after revocation: %d, want 401", code)
	}
}

// TestServedBytesAreHashed: GET and address-data serve the card as
// stored, the bytes its ETag hashes, the same at every request (go-vcard's
// encoder wrote a property's parameters in map order: a card with two
// parameters on one line came back in either order).
func TestServedBytesAreHashed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice@example.org", auth.RoleMember)
	p := alice.book("contacts") + "p.vcf"
	in := "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:p\r\nFN:Params\r\nEMAIL;TYPE=work;PREF=1;LABEL=x:p@example.net\r\nTEL;TYPE=cell;PREF=2;VALUE=uri:tel:+39-06-1\r\nEND:VCARD\r\n"
	if code, body := e.do(t, alice, "PUT", p, vcardType, in); code != http.StatusCreated {
		t.Fatalf("put: %d %s", code, body)
	}
	c, err := e.store.Card(t.Context(), contacts.MemberOf(alice.Account), "contacts", "p.vcf")
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		code, body := e.do(t, alice, "GET", p, nil, "")
		if code != http.StatusOK || body != string(c.Data) || contacts.ETag([]byte(body)) != c.ETag {
			t.Fatalf("GET gave %q, stored %q (ETag %s)", body, c.Data, c.ETag)
		}
	}
	mg, err := e.client(t, alice).MultiGetAddressBook(t.Context(), alice.book("contacts"), &carddav.AddressBookMultiGet{Paths: []string{p}, DataRequest: carddav.AddressDataRequest{AllProp: true}})
	if err != nil || len(mg) != 1 || mg[0].Card.PreferredValue(vcard.FieldEmail) != "p@example.net" {
		t.Fatalf("multiget: %+v, %v", mg, err)
	}
}

// TestBookNamesTranslated: the books' display names are in the member's
// language (rule 10: phones show them as they are).
func TestBookNamesTranslated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice@example.org", auth.RoleMember, "press")
	if err := e.Auth.SetLanguage(t.Context(), alice.Account.ID, "it"); err != nil {
		t.Fatal(err)
	}
	books, err := e.client(t, alice).FindAddressBooks(t.Context(), "/carddav/alice@example.org/books/")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range books {
		names = append(names, b.Name)
	}
	if !slices.Equal(names, []string{"I miei contatti", "Gruppo press", "Elenco del partito"}) {
		t.Errorf("book names %q", names)
	}
}

// TestFullBook: a PUT of a new card into a full book is 507 (RFC 4918
// section 11.5); changing a card of it is not refused.
func TestFullBook(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, contacts.Deps{MaxCards: 1})
	alice := e.person(t, "alice@example.org", auth.RoleMember)
	book := alice.book("contacts")
	if code, _ := e.do(t, alice, "PUT", book+"a.vcf", vcardType, vcf("a", "A")); code != http.StatusCreated {
		t.Fatalf("first card: %d", code)
	}
	if code, _ := e.do(t, alice, "PUT", book+"b.vcf", vcardType, vcf("b", "B")); code != http.StatusInsufficientStorage {
		t.Errorf("second card: %d, want 507", code)
	}
	if code, _ := e.do(t, alice, "PUT", book+"a.vcf", vcardType, vcf("a", "A changed")); code >= 300 {
		t.Errorf("changing the card: %d", code)
	}
}
