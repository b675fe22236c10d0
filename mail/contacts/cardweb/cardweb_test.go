package cardweb_test

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/auth/login"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/contacts"
	"github.com/caucus-org/caucus/mail/contacts/cardweb"
)

type env struct {
	a     *authtest.Env
	store *contacts.Store
	ts    *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	a := authtest.New(t, auth.Config{}, contacts.Component())
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	st := contacts.New(a.DB, contacts.Deps{Auth: a.Auth, Now: a.Clock.Now})
	pages, err := login.New(a.Auth, log)
	if err != nil {
		t.Fatal(err)
	}
	h, err := cardweb.New(st, pages, log)
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
	return &env{a: a, store: st, ts: ts}
}

type response struct {
	code int
	loc  string
	body string
}

func (e *env) do(t *testing.T, u *authtest.User, method, target, ctype string, body io.Reader) response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, e.ts.URL+target, body)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Origin", e.ts.URL)
	req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: u.Session})
	cl := e.ts.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header.Get("Location"), string(b)}
}

func (e *env) post(t *testing.T, u *authtest.User, target string, form url.Values) response {
	t.Helper()
	return e.do(t, u, "POST", target, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
}

func (e *env) csrf(t *testing.T, u *authtest.User) string {
	t.Helper()
	s, err := e.a.Auth.Session(t.Context(), u.Session)
	if err != nil {
		t.Fatal(err)
	}
	return s.CSRF
}

var editLink = regexp.MustCompile(`href="/mail/contacts/edit\?book=contacts&amp;name=([^"]+)"`)

func TestContactsPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.a.User(t, "alice@example.org", auth.RoleMember)
	csrf := e.csrf(t, alice)

	page := e.do(t, alice, "GET", "/mail/contacts/", "", nil)
	for _, want := range []string{"My contacts", "Party directory", `id="addcontact"`, `id="nocards"`} {
		if page.code != 200 || !strings.Contains(page.body, want) {
			t.Fatalf("contacts page (%d) lacks %q:\n%s", page.code, want, page.body)
		}
	}
	// Add.
	r := e.post(t, alice, "/mail/contacts/save", url.Values{"csrf": {csrf}, "book": {"contacts"}, "fn": {"Ada <Lovelace>"}, "email": {"ada@example.net"}, "tel": {"+39 06 1234"}})
	if r.code != http.StatusSeeOther || r.loc != "/mail/contacts/?book=contacts&n=saved" {
		t.Fatalf("save: %d %s %s", r.code, r.loc, r.body)
	}
	page = e.do(t, alice, "GET", r.loc, "", nil)
	if !strings.Contains(page.body, "Contact saved.") || !strings.Contains(page.body, "Ada &lt;Lovelace&gt;") || !strings.Contains(page.body, "ada@example.net") {
		t.Fatalf("after saving:\n%s", page.body)
	}
	m := editLink.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatal("no edit link")
	}
	m0 := contacts.MemberOf(alice.Account)
	c, err := e.store.Card(t.Context(), m0, "contacts", m[1])
	if err != nil {
		t.Fatal(err)
	}
	// Edit with the card's ETag; a stale one is refused.
	if r := e.post(t, alice, "/mail/contacts/save", url.Values{"csrf": {csrf}, "book": {"contacts"}, "name": {c.Name}, "etag": {"stale"}, "fn": {"Ada Stale"}}); r.code != http.StatusConflict {
		t.Errorf("stale edit: %d", r.code)
	}
	if r := e.post(t, alice, "/mail/contacts/save", url.Values{"csrf": {csrf}, "book": {"contacts"}, "name": {c.Name}, "etag": {c.ETag}, "fn": {"Ada King"}, "email": {"ada@example.net"}}); r.code != http.StatusSeeOther {
		t.Errorf("edit: %d %s", r.code, r.body)
	}
	c2, _ := e.store.Card(t.Context(), m0, "contacts", c.Name)
	// The emptied phone number is gone; the rest is kept.
	if !strings.Contains(string(c2.Data), "FN:Ada King") || strings.Contains(string(c2.Data), "TEL") || !strings.Contains(string(c2.Data), "EMAIL:ada@example.net") {
		t.Errorf("after the edit: %q", c2.Data)
	}
	// Without the CSRF token: refused, nothing changes.
	if r := e.post(t, alice, "/mail/contacts/delete", url.Values{"book": {"contacts"}, "name": {c.Name}, "etag": {c2.ETag}}); r.code != http.StatusForbidden {
		t.Errorf("delete without CSRF: %d", r.code)
	}
	if r := e.post(t, alice, "/mail/contacts/delete", url.Values{"csrf": {csrf}, "book": {"contacts"}, "name": {c.Name}, "etag": {c2.ETag}}); r.code != http.StatusSeeOther {
		t.Errorf("delete: %d %s", r.code, r.body)
	}
	if cs, _ := e.store.Cards(t.Context(), m0, "contacts"); len(cs) != 0 {
		t.Errorf("%d cards after delete", len(cs))
	}
	// The directory is read-only: no forms, writes refused.
	dir := e.do(t, alice, "GET", "/mail/contacts/?book=directory", "", nil)
	if !strings.Contains(dir.body, "alice@example.org") || strings.Contains(dir.body, `id="addcontact"`) || !strings.Contains(dir.body, `id="readonly"`) {
		t.Errorf("directory page:\n%s", dir.body)
	}
	if r := e.post(t, alice, "/mail/contacts/save", url.Values{"csrf": {csrf}, "book": {"directory"}, "fn": {"Impostor"}}); r.code != http.StatusForbidden {
		t.Errorf("save into the directory: %d", r.code)
	}
	// Another member's book, or a group alice is not in: 404.
	if r := e.do(t, alice, "GET", "/mail/contacts/?book=group-board", "", nil); r.code != http.StatusNotFound {
		t.Errorf("a group's book alice is not in: %d", r.code)
	}
}

func TestImportPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.a.User(t, "alice@example.org", auth.RoleMember)
	csrf := e.csrf(t, alice)
	upload := func(data string) response {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.WriteField("csrf", csrf)
		mw.WriteField("book", "contacts")
		fw, _ := mw.CreateFormFile("file", "export.vcf")
		io.WriteString(fw, data)
		mw.Close()
		return e.do(t, alice, "POST", "/mail/contacts/import", mw.FormDataContentType(), &b)
	}
	var file strings.Builder
	for i := range 3 {
		fmt.Fprintf(&file, "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:imp-%d\r\nFN:Imported %d\r\nEND:VCARD\r\n", i, i)
	}
	if r := upload(file.String()); r.code != http.StatusSeeOther || !strings.HasSuffix(r.loc, "n=imported") {
		t.Fatalf("import: %d %s %s", r.code, r.loc, r.body)
	}
	m := contacts.MemberOf(alice.Account)
	if cs, _ := e.store.Cards(t.Context(), m, "contacts"); len(cs) != 3 {
		t.Fatalf("%d cards imported", len(cs))
	}
	for name, bad := range map[string]string{
		"latin-1":     "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:Jos\xe9\r\nEND:VCARD\r\n",
		"not a vcard": "hello",
	} {
		if r := upload(bad); r.code != http.StatusBadRequest {
			t.Errorf("%s: %d", name, r.code)
		}
	}
	if cs, _ := e.store.Cards(t.Context(), m, "contacts"); len(cs) != 3 {
		t.Errorf("%d cards after refused imports", len(cs))
	}
	// Google Contacts and Outlook export cards without a UID: they get one.
	if r := upload("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:No Uid\r\nEND:VCARD\r\n"); r.code != http.StatusSeeOther {
		t.Errorf("a card without UID: %d", r.code)
	}
	if cs, _ := e.store.Cards(t.Context(), m, "contacts"); len(cs) != 4 {
		t.Errorf("%d cards after a card without UID", len(cs))
	}
}

// TestImportRefusals: a .vcf file the import refuses is answered with the
// reason in the member's words, naming the card by its number in the
// file and its name, for each kind of refusal ParseAll has: not a vCard
// file, a card with lines that are not properties (or lines after the
// last card), a card with an empty UID, a card that cannot be stored
// otherwise, more cards than an import takes, a file that stops being
// vCard (cut off). Before, every one was the same "This file cannot be imported".
func TestImportRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.a.User(t, "alice@example.org", auth.RoleMember)
	csrf := e.csrf(t, alice)
	upload := func(data string) response {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.WriteField("csrf", csrf)
		mw.WriteField("book", "contacts")
		fw, _ := mw.CreateFormFile("file", "export.vcf")
		io.WriteString(fw, data)
		mw.Close()
		return e.do(t, alice, "POST", "/mail/contacts/import", mw.FormDataContentType(), &b)
	}
	card := func(uid, fn, extra string) string {
		return "BEGIN:VCARD\r\nVERSION:3.0\r\n" + uid + "FN:" + fn + "\r\n" + extra + "END:VCARD\r\n"
	}
	var many strings.Builder
	for i := range contacts.MaxImport + 1 {
		fmt.Fprintf(&many, "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:%d\r\nFN:n\r\nEND:VCARD\r\n", i)
	}
	for _, c := range []struct{ name, file, want string }{
		{"not a vCard file", "hello, world\r\n", "This is not a contacts file: choose a .vcf (vCard) file in UTF-8"},
		{"a calendar", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "This is not a contacts file"},
		{"latin-1", card("UID:a\r\n", "Jos\xe9", ""), "This is not a contacts file"},
		{"lines that are not properties", card("UID:a\r\n", "Ada", "") + card("UID:c\r\n", "Cleo", "NOTE;X=\"a:b\r\n"),
			"Nothing was imported: in the file, contact 2 (“Cleo”) has lines that are not vCard properties."},
		{"an empty UID", card("UID:a\r\n", "Ada", "") + card("UID:b\r\n", "Bea", "") + card("UID: \r\n", "Dan", ""),
			"Nothing was imported: in the file, contact 3 (“Dan”) has an empty UID, or more than one."},
		{"two UIDs, no name", card("UID:a\r\nUID:b\r\n", "", ""), "Nothing was imported: in the file, contact 1 has an empty UID, or more than one."},
		{"vCard 2.1", card("UID:a\r\n", "Ada", "") + strings.Replace(card("UID:b\r\n", "Old \u202eFone", ""), "3.0", "2.1", 1),
			"Nothing was imported: in the file, contact 2 (“Old Fone”) cannot be stored. A contact must be vCard 3.0 or 4.0"},
		{"too many cards", many.String(), "Nothing was imported: the file holds more than 10,000 contacts."},
		{"cut off", card("UID:a\r\n", "Ada", "") + "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:B\r\n", "Nothing was imported: the file stops being vCard at contact 2; it may be cut off."},
		{"a line after the last card", card("UID:a\r\n", "Ada", "") + "garbage\r\n", "Nothing was imported: some lines of the file are not part of any contact."},
	} {
		r := upload(c.file)
		if r.code != http.StatusBadRequest || !strings.Contains(html.UnescapeString(r.body), c.want) {
			t.Errorf("%s: %d, want 400 with %q:\n%s", c.name, r.code, c.want, r.body)
		}
	}
	if cs, _ := e.store.Cards(t.Context(), contacts.MemberOf(alice.Account), "contacts"); len(cs) != 0 {
		t.Errorf("%d cards after refused imports", len(cs))
	}
	// In the member's language.
	if err := e.a.Auth.SetLanguage(t.Context(), alice.Account.ID, "de"); err != nil {
		t.Fatal(err)
	}
	r := upload(card("UID:a\r\n", "Ada", "") + card("UID:c\r\n", "Cleo", "NOTE;X=\"a:b\r\n"))
	if want := "Nichts wurde importiert: In der Datei hat Kontakt 2 („Cleo“) Zeilen, die keine vCard-Eigenschaften sind."; !strings.Contains(html.UnescapeString(r.body), want) {
		t.Errorf("in German: %d, want %q:\n%s", r.code, want, r.body)
	}
}
