package server

// The screenshots in docs/screenshots, made by the whole server in dev
// mode and headless Chromium: a party of thirty people, a member's INBOX
// with mail in Italian and English, files and a folder; every main page
// at desktop (1280×800) and phone (360×740) size, in English and Italian,
// some in dark mode. Run only when asked, so that CI never rewrites them:
//
//	CAUCUS_SCREENSHOTS=docs/screenshots go test ./cmd/caucus/server -run TestScreenshots
//
// A relative directory is taken from the module's root. There is one
// browser per language (--lang, and LANGUAGE for Chromium's own words,
// which need the chromium-l10n package). Every page shot is also checked:
// the language asked for is the page's, and the page had no
// Content-Security-Policy violation and requested nothing from a host but
// the server.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/internal/testtool/browsertest"
	"github.com/caucus-org/caucus/mail/calendar"
	"github.com/caucus-org/caucus/mail/contacts"
)

// shot is one screenshot: a page in a language, at a size, light or dark.
type shot struct {
	page  string // name of the page, first part of the file name
	lang  string // en, it
	phone bool   // 360×740 mobile, else 1280×800 desktop
	dark  bool   // prefers-color-scheme: dark
}

func (s shot) file() string {
	size := "desktop"
	if s.phone {
		size = "phone"
	}
	name := s.page + "-" + s.lang + "-" + size
	if s.dark {
		name += "-dark"
	}
	return name + ".png"
}

// screenshotSet is the set made: every page in English on a desktop and
// in Italian on a phone, some the other way round, a few dark.
func screenshotSet() []shot {
	pages := []string{"signin", "webmail-inbox", "webmail-message", "webmail-compose", "files", "calendar", "contacts", "import", "admin-dashboard", "admin-people", "account"}
	var set []shot
	for _, p := range pages {
		set = append(set, shot{page: p, lang: "en"}, shot{page: p, lang: "it", phone: true})
	}
	set = append(set,
		shot{page: "signin", lang: "it"},
		shot{page: "webmail-inbox", lang: "it"},
		shot{page: "admin-people", lang: "it"},
		shot{page: "webmail-inbox", lang: "en", phone: true},
		shot{page: "files", lang: "en", phone: true},
		shot{page: "signin", lang: "en", dark: true},
		shot{page: "webmail-inbox", lang: "en", dark: true},
		shot{page: "webmail-message", lang: "it", phone: true, dark: true},
		shot{page: "files", lang: "it", dark: true},
		shot{page: "admin-dashboard", lang: "en", phone: true, dark: true},
	)
	return set
}

func TestScreenshots(t *testing.T) {
	out := os.Getenv("CAUCUS_SCREENSHOTS")
	if out == "" {
		t.Skip("writes docs/screenshots; run with CAUCUS_SCREENSHOTS=docs/screenshots")
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(moduleRoot(t), out)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	testtool.Need(t, "chromium")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	srv, _ := startTestServer(t, ctx)

	// The member shown is an admin (admins must have a passkey): she
	// enrols in the browser, with its virtual authenticator.
	const login = "giulia.rossi@localhost"
	token, err := srv.auth.CreateInvite(ctx, "admin@localhost", auth.NewAccount{Login: login, DisplayName: "Giulia Rossi", Role: auth.RoleAdmin}, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	party(t, ctx, srv)
	paths := map[string]string{
		"signin":          "/login",
		"webmail-inbox":   "/mail/box/" + strconv.FormatInt(fillInbox(t, ctx, srv, login), 10),
		"webmail-compose": "/mail/compose",
		"files":           "/files/p/Home",
		"admin-dashboard": "/admin",
		"admin-people":    "/admin/people",
		"account":         "/account",
		"calendar":        "/mail/calendar",
		"contacts":        "/mail/contacts/",
		"import":          "/mail/import",
	}
	fillFiles(t, ctx, srv, login)
	fillCalendar(t, ctx, srv, login)
	fillContacts(t, ctx, srv, login)

	// One browser per language, set up as a person's would be (--lang):
	// the page's language comes from its Accept-Language, and the
	// browser's own words (a file chooser's) are in it too.
	tabs := map[string]*shooter{"en": newShooter(t, ctx, srv, "en-US"), "it": newShooter(t, ctx, srv, "it-IT")}
	b := tabs["en"]
	b.checkDetectsCSP()
	set := screenshotSet()
	for _, s := range set { // signed out
		if s.page == "signin" {
			tabs[s.lang].take(s, paths[s.page], "#passkey", out)
		}
	}
	b.emulate(shot{lang: "en"})
	b.AddAuthenticator(browsertest.PlatformPasskey())
	b.acceptInvite(srv.url+"/enrol/"+token, "ulivo-tramonto-scheda-2741")
	b.register("#addpasskey", "Laptop")
	b.recoveryCodes()
	b.Click("#done")
	b.WaitPage("/setup/phone", "#later")
	b.Click("#later")
	b.WaitPage("/account", "#factors")
	tabs["it"].copyCookies(b)
	paths["webmail-message"] = b.messageHref(paths["webmail-inbox"], "Richiesta di incontro")
	ready := map[string]string{ // what each page shows when it is ready
		"webmail-inbox":   "#rows",
		"webmail-message": "#banner.outside",
		"webmail-compose": "#body",
		"files":           "#entries",
		"admin-dashboard": "#members",
		"admin-people":    "#people",
		"account":         "#factors",
		"calendar":        "#month",
		"contacts":        "#books",
		"import":          "#provider",
	}
	for _, s := range set {
		if s.page != "signin" {
			tabs[s.lang].take(s, paths[s.page], ready[s.page], out)
		}
	}
}

// moduleRoot is the directory of go.mod above the test's directory.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// party invites the example party: thirty people in three groups, most of
// them enrolled, the rest with their invitation open.
func party(t *testing.T, ctx context.Context, srv *Server) {
	t.Helper()
	names := []string{
		"Marco Bianchi", "Francesca Romano", "Luca Colombo", "Chiara Ricci", "Alessandro Marino",
		"Sara Greco", "Matteo Bruno", "Elena Gallo", "Davide Conti", "Valentina De Luca",
		"Simone Mancini", "Martina Costa", "Andrea Giordano", "Federica Rizzo", "Stefano Lombardi",
		"Paola Moretti", "Giorgio Barbieri", "Laura Fontana", "Nicola Santoro", "Alessia Mariani",
		"Roberto Rinaldi", "Silvia Caruso", "Fabio Ferrara", "Anna Galli", "Paolo Martini",
		"Claudia Leone", "Emma Schmidt", "Jean Dupont", "Tommaso Villa",
	}
	groups := []string{"campagna", "tesoreria", "comunicazione"}
	for _, g := range groups {
		if err := srv.auth.CreateGroup(ctx, "admin@localhost", g); err != nil {
			t.Fatal(err)
		}
	}
	for i, name := range names {
		login := strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@localhost"
		na := auth.NewAccount{Login: login, DisplayName: name, Role: auth.RoleMember, Groups: []string{groups[i%len(groups)]}}
		if i%7 == 3 {
			na.ExpiresAt = time.Now().AddDate(0, 2, 0)
		}
		token, err := srv.auth.CreateInvite(ctx, "admin@localhost", na, auth.Client{})
		if err != nil {
			t.Fatal(err)
		}
		if i%5 == 4 { // every fifth has not answered yet
			continue
		}
		id := acceptWithTOTP(t, ctx, srv, token, "bosco-lampione-"+strconv.Itoa(i)+"-urna-4821")
		if i == 11 {
			if _, err := srv.ops.Suspend(ctx, admin.Actor{Login: "admin@localhost"}, id); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// acceptWithTOTP answers an invitation with a password and an
// authenticator app, as a member does, and returns the account's id.
func acceptWithTOTP(t *testing.T, ctx context.Context, srv *Server, token, pw string) int64 {
	t.Helper()
	stok, err := srv.auth.AcceptInvite(ctx, token, pw, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := srv.auth.Session(ctx, stok)
	if err != nil {
		t.Fatal(err)
	}
	key, err := srv.auth.BeginTOTP(ctx, sess)
	if err != nil {
		t.Fatal(err)
	}
	if sess, err = srv.auth.Session(ctx, stok); err != nil { // with the TOTP in progress
		t.Fatal(err)
	}
	code, err := totp.GenerateCode(key.Secret(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.auth.FinishTOTP(ctx, sess, code, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	return sess.Account.ID
}

// fillInbox delivers the example mail to login through the server's
// submit path and returns the INBOX's id. One message comes from outside
// the party: its header is what caucus's MX writes for mail that passed
// SPF, DKIM and DMARC (an Authentication-Results of this host at the top),
// so the message page shows the "from outside the party" banner.
func fillInbox(t *testing.T, ctx context.Context, srv *Server, login string) int64 {
	t.Helper()
	now := time.Now()
	msgs := []struct {
		from, subject, body string
		ago                 time.Duration
		outside             bool
	}{
		{"Marco Bianchi <marco.bianchi@localhost>", "Volantini per sabato", "Ciao Giulia,\r\ni volantini sono arrivati in sede: 2.000 copie. Chi passa a prenderli venerdì sera?\r\n", 52 * time.Hour, false},
		{"Francesca Romano <francesca.romano@localhost>", "Ordine del giorno assemblea 14 dicembre", "Ecco la bozza dell'ordine del giorno. Commenti entro giovedì, grazie.\r\n", 30 * time.Hour, false},
		{"Emma Schmidt <emma.schmidt@localhost>", "Minutes of the European coordination call", "Hi all,\r\nthe minutes of Tuesday's call are in the shared folder. Next call on 8 January.\r\n", 26 * time.Hour, false},
		{"Ufficio Stampa Comune di Bologna <stampa@comune-bologna.example>", "Richiesta di incontro sul piano mobilità", "Gentile Giulia Rossi,\r\nl'assessore sarebbe lieto di incontrare una vostra delegazione la prossima settimana.\r\nCordiali saluti,\r\nUfficio Stampa\r\n", 20 * time.Hour, true},
		{"Luca Colombo <luca.colombo@localhost>", "Re: Banchetto al mercato", "Confermo: sabato dalle 9 alle 13, porto io il gazebo.\r\n", 5 * time.Hour, false},
		{"Jean Dupont <jean.dupont@localhost>", "Joint statement on the climate law", "Dear Giulia,\r\nhere is the draft of the joint statement. Could your party sign by Friday?\r\n", 3 * time.Hour, false},
		{"Chiara Ricci <chiara.ricci@localhost>", "Rendiconto spese novembre", "In allegato il rendiconto di novembre. Mancano due scontrini del banchetto.\r\n", 40 * time.Minute, false},
	}
	for i, m := range msgs {
		var h strings.Builder
		if m.outside {
			fmt.Fprintf(&h, "Authentication-Results: %s;\r\n\tspf=pass smtp.mailfrom=comune-bologna.example;\r\n\tdkim=pass header.d=comune-bologna.example header.s=s1;\r\n\tdmarc=pass (p=reject) header.from=comune-bologna.example\r\n", srv.cfg.Hostname)
		}
		fmt.Fprintf(&h, "From: %s\r\nTo: Giulia Rossi <%s>\r\nSubject: %s\r\nMessage-ID: <shot-%d@localhost>\r\nDate: %s\r\n"+
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s",
			m.from, login, m.subject, i, now.Add(-m.ago).Format(time.RFC1123Z), m.body)
		if err := srv.submit.DeliverLocal(ctx, login, strings.NewReader(h.String())); err != nil {
			t.Fatal(err)
		}
	}
	acct, err := srv.auth.AccountByLogin(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := srv.mail.Mailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return inbox.ID
}

// fillFiles puts a folder and a few files in login's Home.
func fillFiles(t *testing.T, ctx context.Context, srv *Server, login string) {
	t.Helper()
	acct, err := srv.auth.AccountByLogin(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	owner := files.Actor{ID: acct.ID, Login: acct.Login}
	home := mustStat(t, srv, owner, "/Home")
	if _, err := srv.files.Mkdir(ctx, owner, home.ID, "Campagna 2027"); err != nil {
		t.Fatal(err)
	}
	for name, size := range map[string]int{
		"Volantino elezioni.pdf":        184_320,
		"Verbale assemblea 2026-11.odt": 23_552,
		"Bilancio preventivo 2027.ods":  41_984,
		"Press kit (English).pdf":       512_000,
		"Indirizzi sezioni locali.csv":  3_072,
	} {
		body := strings.Repeat("caucus ", size/7)
		if _, err := srv.files.Put(ctx, owner, home.ID, name, strings.NewReader(body), int64(len(body))); err != nil {
			t.Fatal(err)
		}
	}
}

// shooter is a headless Chromium that records every request its tab makes
// and every Content-Security-Policy violation its pages report.
type shooter struct {
	*browser
	mu  sync.Mutex
	csp []string // the browser's log lines about CSP, of every frame
}

// cspWatch runs in every document before the page's own scripts and keeps
// the page's CSP violations (the securitypolicyviolation event).
const cspWatch = `window.__csp = [];
document.addEventListener("securitypolicyviolation", e => window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline")), true);`

func newShooter(t *testing.T, ctx context.Context, srv *Server, lang string) *shooter {
	t.Helper()
	spki, err := browsertest.SPKIHashFile(srv.cfg.TLS.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	s := &shooter{}
	keepCSP := func(ev any) {
		if ev, ok := ev.(*cdplog.EventEntryAdded); ok && strings.Contains(ev.Entry.Text, "Content Security Policy") {
			s.mu.Lock()
			s.csp = append(s.csp, ev.Entry.Text)
			s.mu.Unlock()
		}
	}
	s.browser = &browser{browsertest.Start(t, ctx, browsertest.Options{
		URL: srv.url, SPKI: spki, Lang: lang, StepTimeout: pageTimeout,
		Flags: map[string]any{"hide-scrollbars": true},
		// Chromium on Linux takes its own words' language from the
		// environment, not --lang (its locales are in chromium-l10n).
		Env:    []string{"LANGUAGE=" + strings.ReplaceAll(lang, "-", "_")},
		Record: true, Listener: keepCSP,
	})}
	if _, err := chromedp.Call(s.Ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("Log.enable: %v", err)
	}
	if _, err := chromedp.Call(s.Ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch}); err != nil {
		t.Fatalf("Page.addScriptToEvaluateOnNewDocument: %v", err)
	}
	return s
}

// checkDetectsCSP proves the CSP checks can fail: a script element the
// page did not have, inserted in the sign-in page, is refused by its
// policy and must be reported, both to the page and in the browser's log.
func (s *shooter) checkDetectsCSP() {
	s.T.Helper()
	s.Navigate("/login")
	s.waitFor("/login", "#passkey")
	s.Do("insert an inline script", chromedp.Evaluate[chromedp.Void](`(() => { const e = document.createElement("script"); e.textContent = "window.__ran = 1"; document.head.append(e); })()`))
	ctx, cancel := context.WithTimeout(s.Ctx, pageTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.__csp.length > 0 && window.__ran === undefined`, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		s.T.Fatalf("an inline script the CSP must refuse went unreported to the page: %v", err)
	}
	for s.cspLogged(0) == nil {
		select {
		case <-ctx.Done():
			s.T.Fatal("an inline script the CSP must refuse went unreported in the browser's log")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// cspLogged returns the browser's log lines about CSP since mark.
func (s *shooter) cspLogged(mark int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.csp[mark:]...)
}

// offsite returns the requests since mark to any host but the loopback
// ones.
func (s *shooter) offsite(mark int) []string {
	return browsertest.NotLoopback(s.Requests()[mark:])
}

// mark returns where the request and CSP records stand now.
func (s *shooter) mark() (reqs, csp int) {
	n := len(s.Requests())
	s.mu.Lock()
	defer s.mu.Unlock()
	return n, len(s.csp)
}

// waitFor waits until the tab shows a path starting with prefix and an
// element matching sel, with its fonts loaded.
func (s *shooter) waitFor(prefix, sel string) {
	s.T.Helper()
	ctx, cancel := context.WithTimeout(s.Ctx, pageTimeout)
	defer cancel()
	q := fmt.Sprintf(`location.pathname.startsWith(%q) && document.readyState === "complete" && document.querySelector(%q) !== null`, prefix, sel)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](q, chromedp.WithPollingTimeout(pageTimeout))); err != nil {
		s.T.Fatalf("waiting for %s with %s: %v (page: %s)", prefix, sel, err, s.Describe())
	}
	s.Do("wait for fonts", chromedp.Evaluate[chromedp.Void](`document.fonts.ready.then(() => true)`, chromedp.EvalAwaitPromise))
}

// copyCookies signs s in with the session of from.
func (s *shooter) copyCookies(from *shooter) {
	s.T.Helper()
	res, err := chromedp.Call(from.Ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{from.URL + "/"}})
	if err != nil || len(res.Cookies) == 0 {
		s.T.Fatalf("Network.getCookies: %d cookies, %v", len(res.Cookies), err)
	}
	var set []*network.CookieParam
	for _, c := range res.Cookies {
		set = append(set, &network.CookieParam{Name: c.Name, Value: c.Value, URL: s.URL + "/", Path: c.Path, Secure: c.Secure, HTTPOnly: c.HTTPOnly, SameSite: c.SameSite})
	}
	if _, err := chromedp.Call(s.Ctx, network.SetCookies, network.SetCookiesParams{Cookies: set}); err != nil {
		s.T.Fatalf("Network.setCookies: %v", err)
	}
}

// emulate sets the tab's screen and colour scheme for sh.
func (s *shooter) emulate(sh shot) {
	s.T.Helper()
	w, h, mobile := int64(1280), int64(800), false
	if sh.phone {
		w, h, mobile = 360, 740, true
	}
	scheme := "light"
	if sh.dark {
		scheme = "dark"
	}
	if _, err := chromedp.Call(s.Ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
		s.T.Fatalf("Emulation.setEmulatedMedia: %v", err)
	}
	opts := []chromedp.EmulateViewportOption{chromedp.EmulatePortrait}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile)
	}
	s.Do("viewport", chromedp.EmulateViewport(w, h, opts...))
}

// take opens path as sh says, waits for sel, checks the page and writes
// its viewport as a PNG in dir.
func (s *shooter) take(sh shot, path, sel, dir string) {
	s.T.Helper()
	s.emulate(sh)
	reqMark, cspMark := s.mark()
	s.Navigate(path)
	s.waitFor(path, sel)
	lang, err := chromedp.Run(s.Ctx, chromedp.Evaluate[string]("document.documentElement.lang"))
	if err != nil || lang != sh.lang {
		s.T.Errorf("%s: <html lang=%q> (%v), want %q", sh.file(), lang, err, sh.lang)
	}
	csp, err := chromedp.Run(s.Ctx, chromedp.Evaluate[[]string]("window.__csp"))
	if err != nil || len(csp) > 0 {
		s.T.Errorf("%s: CSP violations %q (%v)", sh.file(), csp, err)
	}
	png, err := chromedp.Run(s.Ctx, chromedp.CaptureScreenshot())
	if err != nil {
		s.T.Fatalf("%s: %v", sh.file(), err)
	}
	if logged := s.cspLogged(cspMark); len(logged) > 0 {
		s.T.Errorf("%s: the browser logged CSP violations: %q", sh.file(), logged)
	}
	if off := s.offsite(reqMark); len(off) > 0 {
		s.T.Errorf("%s: requests to other hosts: %q", sh.file(), off)
	}
	if err := os.WriteFile(filepath.Join(dir, sh.file()), png, 0o644); err != nil {
		s.T.Fatal(err)
	}
}

// fillCalendar puts this month's campaign events in the member's
// calendar and in the group calendar of the party's "campagna" group.
func fillCalendar(t *testing.T, ctx context.Context, srv *Server, login string) {
	t.Helper()
	acct, err := srv.auth.AccountByLogin(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	cals := calendar.New(srv.db, srv.auth, srv.audit, srv.deps.Now, srv.log)
	m := calendar.Member{ID: acct.ID, Login: acct.Login}
	month := time.Now().UTC()
	day := func(d, h int) time.Time {
		return time.Date(month.Year(), month.Month(), d, h, 0, 0, 0, time.UTC)
	}
	for i, ev := range []struct {
		title string
		start time.Time
		hours int
	}{
		{"Volantinaggio al mercato", day(5, 8), 3},
		{"Riunione del direttivo", day(9, 17), 2},
		{"Conferenza stampa", day(12, 10), 1},
		{"Dibattito in TV", day(18, 19), 2},
		{"Porta a porta\\, quartiere Navile", day(21, 15), 3},
		{"Cena di raccolta fondi", day(26, 19), 3},
	} {
		ics := fmt.Sprintf("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//caucus//screenshots//EN\r\nBEGIN:VEVENT\r\nUID:shot-%d@localhost\r\nDTSTAMP:%s\r\nDTSTART:%s\r\nDTEND:%s\r\nSUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
			i, ev.start.Format("20060102T150405Z"), ev.start.Format("20060102T150405Z"), ev.start.Add(time.Duration(ev.hours)*time.Hour).Format("20060102T150405Z"), ev.title)
		o, err := calendar.Parse([]byte(ics))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := cals.Put(ctx, m, calendar.PersonalSlug, fmt.Sprintf("shot-%d.ics", i), o, calendar.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
}

// fillContacts puts a few press and partner contacts in the member's own
// address book.
func fillContacts(t *testing.T, ctx context.Context, srv *Server, login string) {
	t.Helper()
	acct, err := srv.auth.AccountByLogin(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	var vcf strings.Builder
	for _, c := range [][3]string{
		{"Redazione Corriere di Bologna", "redazione@corriere-bo.example", "+39 051 000 0001"},
		{"Marco Ferri (Radio Città)", "marco.ferri@radiocitta.example", "+39 333 000 0002"},
		{"Sala Borsa, prenotazioni", "eventi@salaborsa.example", "+39 051 000 0003"},
		{"Tipografia Emiliana", "ordini@tipografia.example", "+39 051 000 0004"},
	} {
		fmt.Fprintf(&vcf, "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:%s\r\nEMAIL:%s\r\nTEL:%s\r\nEND:VCARD\r\n", c[0], c[1], c[2])
	}
	cards, err := contacts.ParseAll([]byte(vcf.String()), 10)
	if err != nil {
		t.Fatal(err)
	}
	books := contacts.New(srv.db, contacts.Deps{Auth: srv.auth, Log: srv.log, Now: srv.deps.Now})
	if _, err := books.Import(ctx, contacts.MemberOf(acct), contacts.SlugPersonal, cards); err != nil {
		t.Fatal(err)
	}
}
