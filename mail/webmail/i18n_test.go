package webmail

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
)

// getIn is a GET with the browser's Accept-Language set to lang.
func (m *member) getIn(t *testing.T, path, lang string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", m.e.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Language", lang)
	return m.do(t, req)
}

// pageIs checks that a page is in lang, has every text of want and none
// of the English texts of notEnglish.
func pageIs(t *testing.T, name string, res response, lang string, want, notEnglish []string) {
	t.Helper()
	if res.code != http.StatusOK && res.code != http.StatusUnprocessableEntity {
		t.Fatalf("%s: status %d", name, res.code)
	}
	if !strings.Contains(res.body, `<html lang="`+lang+`" dir="ltr">`) {
		t.Errorf("%s: not in %s:\n%.400s", name, lang, res.body)
	}
	for _, w := range want {
		if !strings.Contains(res.body, w) {
			t.Errorf("%s: lacks %q", name, w)
		}
	}
	for _, w := range notEnglish {
		if strings.Contains(res.body, w) {
			t.Errorf("%s: still says %q in English", name, w)
		}
	}
}

// TestPagesInItalian: a member whose browser asks for Italian gets the
// INBOX list, a message, the compose page and its refusals in Italian:
// words, plurals, dates, folder names and the script's messages.
func TestPagesInItalian(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	anna.put(t, "INBOX", strings.Replace(mail("x@outside.example", "anna@"+domain, "volantini", "ciao"), "Mon, 1 Jun 2026", "Mon, 2 Mar 2026", 1))
	uid := anna.put(t, "INBOX", mail("y@outside.example", "anna@"+domain, "riunione", "ciao"))
	in := anna.box(t, "INBOX")
	it := i18n.Builtin().Localizer("it", nil)
	day := it.Date(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	if day != "2 mar 2026" {
		t.Fatalf("Italian date %q", day)
	}

	list := anna.getIn(t, boxHref(in.ID), "it-IT,it;q=0.9,en;q=0.5")
	pageIs(t, "list", list, "it", []string{
		"<title>Posta in arrivo · ", "2 messaggi, 2 non letti", "Cestino</span>", "Bozze</span>",
		"Archivia", "Segna come letto", "Cerca nella posta", ">Scrivi</a>", "Impostazioni della posta",
		`aria-label="Azioni sui messaggi selezionati"`, "<time>" + day + "</time>",
	}, []string{"Inbox", "Mark read", "Search mail", ">Write<", "messages,", "Mar 2026"})

	read := anna.getIn(t, msgHref(in.ID, uid), "it")
	pageIs(t, "read", read, "it", []string{"Rispondi a tutti", "Inoltra", "Segnala phishing", "<dt>Da</dt>", "il mittente non è stato verificato"},
		[]string{"Reply all", "Report phishing", "<dt>From</dt>", "was not checked"})

	compose := anna.getIn(t, "/mail/compose", "it")
	pageIs(t, "compose", compose, "it", []string{
		"<title>Scrivi · ", `<label for="to">A</label>`, `<label for="subject">Oggetto</label>`, "Salva bozza", ">Invia</button>",
		"Cc e Ccn", `data-msg-sending="Invio di {done} su {total}…"`, `data-msg-remove="Togli"`,
	}, []string{"Save draft", ">Send<", "Subject", "Attach files"})

	// A reply quotes, and a forward introduces, the message in Italian.
	ref := ref2(in, uid)
	reply := anna.getIn(t, "/mail/compose?reply="+ref, "it")
	pageIs(t, "reply", reply, "it", []string{"Il 1 giu 2026, 09:00 UTC, y@outside.example ha scritto:"}, []string{"wrote:"})
	fwd := anna.getIn(t, "/mail/compose?forward="+ref, "it")
	pageIs(t, "forward", fwd, "it", []string{"---------- Messaggio inoltrato ----------\nDa: y@outside.example\nData: 1 giu 2026, 09:00 UTC\nOggetto: riunione\nA: anna@example.org\n"},
		[]string{"Forwarded message", "Subject:"})

	// Search takes a folder by its Italian name.
	anna.put(t, "Sent", mail("anna@"+domain, "z@outside.example", "bilancio", "numeri"))
	found := anna.getIn(t, "/mail/search?q="+url.QueryEscape("in:Inviati bilancio"), "it")
	pageIs(t, "search", found, "it", []string{"<title>Ricerca · ", `<span class="subject">bilancio</span>`, "in:Inviati o in:all"}, []string{"No messages"})

	// A refusal of the form reads in Italian too, and so does the notice
	// after an action.
	refused := anna.postMultipart(t, "/mail/send", url.Values{"do": {"send"}, "from": {"anna@" + domain}, "to": {"ben@@" + domain}}, nil, "Accept-Language", "it")
	pageIs(t, "refused", refused, "it", []string{"Il campo «A» contiene un indirizzo non valido."}, []string{"not valid"})
	none := anna.postMultipart(t, "/mail/send", url.Values{"do": {"send"}, "from": {"anna@" + domain}}, nil, "Accept-Language", "it")
	pageIs(t, "no recipient", none, "it", []string{"Aggiungi almeno un destinatario in A, Cc o Ccn."}, []string{"recipient"})
	notice := anna.getIn(t, withNotice(boxHref(in.ID), "read"), "it")
	pageIs(t, "notice", notice, "it", []string{"Segnato come letto."}, []string{"Marked as read."})
}

// TestPagesInEveryLanguage: the list and compose pages follow the
// browser's language for each catalogue, and a language caucus has no
// catalogue for gets the party's default (English here).
func TestPagesInEveryLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.member(t, "anna")
	in := anna.box(t, "INBOX")
	for _, tc := range []struct{ accept, lang, inbox, send string }{
		{"fr-CH, fr;q=0.9", "fr", "Boîte de réception", "Envoyer"},
		{"de-AT", "de", "Posteingang", "Senden"},
		{"es-419,es;q=0.8", "es", "Bandeja de entrada", "Enviar"},
		{"pl", "en", "Inbox", "Send"},
	} {
		list := anna.getIn(t, boxHref(in.ID), tc.accept)
		pageIs(t, tc.accept+" list", list, tc.lang, []string{"<title>" + tc.inbox + " · "}, nil)
		compose := anna.getIn(t, "/mail/compose", tc.accept)
		pageIs(t, tc.accept+" compose", compose, tc.lang, []string{`id="sendbtn">` + tc.send + "</button>"}, nil)
	}
}

// TestPhishReportInPartyLanguage: a phishing report is written to the
// admins in the party's language, whatever the language of the member
// who sends it, whose own page answers in theirs.
func TestPhishReportInPartyLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, login.WithParty(ui.Party{Name: "Partito Esempio", Language: "it", TimeZone: time.UTC}))
	anna := e.member(t, "anna")
	admin := &member{e: e, u: e.a.User(t, "admin@"+domain, auth.RoleAdmin)}
	if err := e.st.EnsureAccount(t.Context(), admin.u.Account.ID); err != nil {
		t.Fatal(err)
	}
	uid := anna.put(t, "INBOX", mail("Leader <leader@lookalike.example>", "anna@"+domain, "Urgent", "Send it now."))
	in := anna.box(t, "INBOX")
	form := url.Values{"csrf": {anna.csrf(t)}}
	req, err := http.NewRequestWithContext(t.Context(), "POST", e.ts.URL+"/mail/msg/"+ref2(in, uid)+"/phish", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Language", "de")
	if res := anna.do(t, req); res.code != http.StatusSeeOther {
		t.Fatalf("report: %d %s", res.code, res.body)
	}
	got := admin.messages(t, "INBOX")
	if len(got) != 1 || got[0].Envelope.Subject != "Segnalazione di phishing: Urgent" {
		t.Fatalf("the admins got %+v", got)
	}
	if raw := admin.raw(t, got[0]); !strings.Contains(raw, "Segnalato dalla webmail da anna@"+domain) {
		t.Errorf("the report is not in Italian:\n%s", raw)
	}
	page := anna.getIn(t, withNotice(boxHref(anna.box(t, "Junk").ID), "reported"), "de")
	pageIs(t, "notice", page, "de", []string{"Den Admins der Partei als Phishing gemeldet"}, nil)
}
