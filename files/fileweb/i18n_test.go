package fileweb

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/ui"
)

// getIn is a GET with the browser's Accept-Language set to lang.
func (c *agent) getIn(t *testing.T, path, lang string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", c.e.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Language", lang)
	return c.do(t, req)
}

// TestPublicPagesParty: the pages of a public link and a file drop are in
// the visitor's language (else the party's), say the party's name instead
// of "caucus", and name the member who shared by their name, never by
// their internal address.
func TestPublicPagesParty(t *testing.T) {
	t.Parallel()
	party := ui.Party{Name: "Partito Esempio", Language: "it", TimeZone: time.UTC}
	e := newEnvLogin(t, files.Options{}, 4<<20, nil, []login.Option{login.WithParty(party)})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	want(t, "upload", anna.upload(t, "/files/upload/Home", anna.csrf(t), false, [2]string{"volantino.pdf", "%PDF"}), http.StatusSeeOther)
	want(t, "mkdir", anna.post(t, "/files/mkdir/Home", url.Values{"name": {"Posta"}}), http.StatusSeeOther)
	file := makeLink(t, anna, "Home/volantino.pdf", url.Values{"days": {"7"}})
	drop := makeLink(t, anna, "Home/Posta", url.Values{"days": {"7"}, "kind": {"drop"}})
	v := e.agent(nil)

	for _, tc := range []struct {
		path, accept string
		lang         string
		want         []string
	}{
		{"/s/" + file, "", "it", []string{"<title>volantino.pdf · Partito Esempio</title>", "condiviso da Test member", "Scarica", "Questo link funziona fino al"}},
		{"/s/" + file, "fr-FR,fr;q=0.8", "fr", []string{"partagé par Test member", "Télécharger", "Partito Esempio</a>"}},
		{"/s/" + drop, "de", "de", []string{"Dateien an Test member senden", "<title>Dateien senden · Partito Esempio</title>", `data-msg-choose="Wähle zuerst eine oder mehrere Dateien."`}},
		{"/s/" + drop, "es", "es", []string{"Enviar archivos a Test member", "Cada archivo puede ocupar hasta"}},
		{"/s/nosuchlinktoken", "it", "it", []string{"Link inesistente"}},
	} {
		r := v.getIn(t, tc.path, tc.accept)
		if !strings.Contains(r.body, `<html lang="`+tc.lang+`" dir="ltr">`) {
			t.Errorf("%s (%s): not in %s:\n%.400s", tc.path, tc.accept, tc.lang, r.body)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.body, w) {
				t.Errorf("%s (%s): lacks %q:\n%s", tc.path, tc.accept, w, r.body)
			}
		}
		if strings.Contains(r.body, "anna@example.org") || regexp.MustCompile(`>\s*caucus\s*<|· caucus<`).MatchString(r.body) {
			t.Errorf("%s: shows the member's address or caucus's name:\n%s", tc.path, r.body)
		}
	}
	// A sent file is thanked in the sender's language, with the count.
	r := v.upload(t, "/s/"+drop+"/upload", "", false, [2]string{"a.txt", "a"}, [2]string{"b.txt", "b"})
	want(t, "drop upload", r, http.StatusOK)
	if !strings.Contains(r.body, "2 file ricevuti.") {
		t.Errorf("drop thanks:\n%s", r.body)
	}
}

// TestFilePagesTranslated: the signed-in file pages are in the browser's
// language, with numbers, sizes and plurals written its way.
func TestFilePagesTranslated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{TrashRetention: 24 * time.Hour})
	anna := e.user(t, "anna@example.org", auth.RoleMember)
	want(t, "upload", anna.upload(t, "/files/upload/Home", anna.csrf(t), false, [2]string{"big.txt", strings.Repeat("x", 1500)}), http.StatusSeeOther)
	for _, tc := range []struct {
		path, lang string
		want       []string
	}{
		{"/files/p/Home", "it", []string{"Carica", "1,5 kB", "Nuova cartella", "I miei file"}},
		{"/files/p/Home", "en", []string{"Upload", "1.5 kB"}},
		{"/files/trash", "fr", []string{"Les éléments supprimés restent ici 1 jour,", "La corbeille est vide."}},
		{"/files/trash", "de", []string{"Gelöschtes bleibt 1 Tag hier", "Der Papierkorb ist leer."}},
		{"/files/item/Home/big.txt", "es", []string{"Compartir con gente del partido", "Enlace público"}},
	} {
		r := anna.getIn(t, tc.path, tc.lang)
		want(t, tc.path, r, http.StatusOK)
		if !strings.Contains(r.body, `<html lang="`+tc.lang+`"`) {
			t.Errorf("%s: not in %s", tc.path, tc.lang)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.body, w) {
				t.Errorf("%s in %s lacks %q:\n%s", tc.path, tc.lang, w, r.body)
			}
		}
	}
	// A refused form says why in the page's language.
	req := url.Values{"days": {"0"}, "csrf": {anna.csrf(t)}}
	r := anna.post(t, "/files/link/Home/big.txt", req)
	want(t, "bad link form", r, http.StatusBadRequest)
	if !strings.Contains(r.body, "The link must expire after 1 to 90 days.") {
		t.Errorf("refused link form:\n%s", r.body)
	}
	// A form without its token is refused with words, not a bare status.
	r = anna.post(t, "/files/mkdir/Home", url.Values{"name": {"x"}, "csrf": {"forged"}})
	want(t, "forged form", r, http.StatusForbidden)
	if !strings.Contains(r.body, "This form is out of date.") || !strings.Contains(r.body, `<html lang="en"`) {
		t.Errorf("forged form:\n%s", r.body)
	}
}
