package console

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/auth/login"
)

// getIn gets path as u with a browser asking for lang (Accept-Language).
func (c *console) getIn(t *testing.T, u *authtest.User, path, lang string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, c.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Language", lang)
	req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: u.Session})
	res, err := c.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s in %s: %d\n%s", path, lang, res.StatusCode, b)
	}
	return string(b)
}

// TestConsoleInFrench: an admin whose browser asks for French gets the
// people page, the dashboard, the groups, the audit log (with its kinds
// in words), an offboarding plan (with its steps' names) and the phone
// setup in French, words from Go (filters, columns, the attention lists)
// as well as from the templates, with lang="fr"; the same admin's English
// browser gets them in English.
func TestConsoleInFrench(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	admin := c.admin(t, "boss@example.org")
	party(t, c.env, 12)
	leaver, err := c.env.Auth.AccountByLogin(t.Context(), "p0011@example.org")
	if err != nil {
		t.Fatal(err)
	}
	plan := "/admin/people/" + itoa(leaver.ID) + "/offboard?plan=1&links=revoke&retain=30&forward=1&autoreply=Gone&read=1&export=1&successor=" + itoa(admin.Account.ID)
	pages := []struct {
		path   string
		fr, en []string
	}{
		{"/admin/people", []string{
			`<h1>Personnes</h1>`, `Tableau de bord`, `Rechercher par nom, adresse ou groupe`,
			`>Suspendus (5)<`, `>Sans second facteur (5)<`, `>Dernière connexion</a>`, `<th>Second facteur</th>`,
			`>suspendu<`, `Inviter quelqu&#39;un`, `Créer le lien d&#39;invitation`,
		}, []string{`<h1>People</h1>`, `>Suspended (5)<`, `>suspended<`, `Create invite link`}},
		{"/admin", []string{
			`<h1>Tableau de bord</h1>`, `À traiter`, `Actifs sans second facteur : 5`, `Invités, pas encore inscrits`,
			`5 suspendus`, `Tout le monde (13)`, `Mode incident`, `Activer le mode incident`,
		}, []string{`<h1>Dashboard</h1>`, `Needs attention`, `Active without a second factor: 5`, `5 suspended`, `Start incident mode`}},
		{"/admin/groups", []string{`<h2>press</h2>`, `Nouveau groupe`, `Ajouter un membre`, `Renommer`},
			[]string{`New group`, `Add a member`}},
		{"/admin/audit", []string{`<h1>Journal d&#39;audit</h1>`, `invité <span class="muted">invite.create</span>`, `Exporter en CSV`},
			[]string{`invited <span class="muted">invite.create</span>`, `Export CSV`}},
		{plan, []string{`<h1>Départ de Person 0011</h1>`, `<strong>accès révoqué</strong>: sessions : 0,`,
			`<strong>connexion désactivée</strong>: p0011@example.org ne peut plus se connecter`,
			`<strong>facteurs supprimés</strong>: 1 clé d&#39;accès`, `<strong>retiré des groupes</strong>: aucun`,
			`<strong>fichiers</strong>: tout ce qui lui appartient est transféré à boss@example.org ; partages et liens révoqués`,
			`<strong>courriel transféré</strong>: vers boss@example.org`, `<strong>réponse automatique</strong>: répond au courriel`,
			`<strong>boîte conservée</strong>: conservée 30 jours, jusqu&#39;au `, `puis exportée en mbox et supprimée`,
			`<strong>lecture par le successeur</strong>: boss@example.org en reçoit une copie`, `Enregistrer le départ maintenant`},
			[]string{`<strong>access revoked</strong>`, `<strong>factors removed</strong>`, `live connections closed`, `kept 30 days`, `Offboard now`}},
		{"/setup/phone", []string{`Configurer votre téléphone`, `Créer un mot de passe d&#39;application`, `Plus tard`},
			[]string{`Set up your phone`, `Make an app password`}},
	}
	for _, p := range pages {
		fr := c.getIn(t, admin, p.path, "fr-CH, fr;q=0.9, en;q=0.5")
		if !strings.Contains(fr, `lang="fr"`) {
			t.Errorf("%s in French: no lang=\"fr\"", p.path)
		}
		for _, w := range p.fr {
			if !strings.Contains(fr, w) {
				t.Errorf("%s in French lacks %q", p.path, w)
			}
		}
		for _, w := range p.en {
			if strings.Contains(fr, w) {
				t.Errorf("%s in French still says %q", p.path, w)
			}
		}
		en := c.getIn(t, admin, p.path, "en")
		if !strings.Contains(en, `lang="en"`) {
			t.Errorf("%s in English: no lang=\"en\"", p.path)
		}
		for _, w := range p.en {
			if !strings.Contains(en, w) {
				t.Errorf("%s in English lacks %q", p.path, w)
			}
		}
	}
}
