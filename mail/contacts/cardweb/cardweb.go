// Package cardweb is the contacts page in the browser, under
// /mail/contacts/: the member's own address book, their groups' and the
// party directory (package contacts), with adding, editing and deleting
// a contact and importing a .vcf file (RFC 6350; several cards, as phones
// and Google export them). The pages are plain forms with no script,
// under the layout's Content-Security-Policy, behind the web sign-in;
// every change carries the session's CSRF token, uses the card's ETag as
// its If-Match (an edit never overwrites a change made meanwhile on a
// phone) and ends in a redirect with a one-time notice.
package cardweb

import (
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/emersion/go-vcard"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/contacts"
	"github.com/caucus-org/caucus/mail/msgview"
)

// Limits.
const (
	MaxImport = 5 << 20 // bytes of an imported .vcf file
	MaxShown  = 500     // contacts listed on one page; search finds the others
	maxForm   = 64 << 10
	maxField  = 1000 // bytes of one form field
)

//go:embed templates/*.html
var templateFS embed.FS

// Handler serves the contacts pages. Build it with New.
type Handler struct {
	store *contacts.Store
	login *login.Handler
	pages *ui.Pages
	log   *slog.Logger
}

// New returns the pages over store, signed in through lp.
func New(store *contacts.Store, lp *login.Handler, log *slog.Logger) (*Handler, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, err := ui.Parse(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p.SetParty(lp.Party())
	return &Handler{store: store, login: lp, pages: p, log: log}, nil
}

// Register adds the routes to mux, all behind sign-in.
func (h *Handler) Register(mux *http.ServeMux) {
	get := func(pattern string, fn func(http.ResponseWriter, *http.Request, auth.Session)) {
		mux.Handle(pattern, h.login.Require(h.session(fn, false)))
	}
	post := func(pattern string, fn func(http.ResponseWriter, *http.Request, auth.Session), max int64) {
		mux.Handle(pattern, iweb.WithMaxBody(h.login.Require(h.session(fn, true)), max))
	}
	get("GET /mail/contacts/{$}", h.list)
	get("GET /mail/contacts/edit", h.edit)
	post("POST /mail/contacts/save", h.save, maxForm)
	post("POST /mail/contacts/delete", h.remove, maxForm)
	post("POST /mail/contacts/import", h.importFile, MaxImport+maxForm)
	mux.Handle("GET /mail/contacts", http.RedirectHandler("/mail/contacts/", http.StatusMovedPermanently))
}

// session hands fn the session Require put in the context; for a POST,
// only with the session's CSRF token.
func (h *Handler) session(fn func(http.ResponseWriter, *http.Request, auth.Session), post bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, ok := login.SessionFrom(r.Context())
		if !ok || sess.Stage != auth.StageFull {
			iweb.Error(w, r, http.StatusForbidden)
			return
		}
		if post && !login.ValidCSRF(sess, r.FormValue("csrf")) {
			iweb.Error(w, r, http.StatusForbidden)
			return
		}
		fn(w, r, sess)
	})
}

// notices are the one-time notices a redirect names (?n=).
var notices = map[string]string{
	"saved":    i18n.Key("contacts.notice.saved"),
	"deleted":  i18n.Key("contacts.notice.deleted"),
	"imported": i18n.Key("contacts.notice.imported"),
}

func base(r *http.Request, sess auth.Session, l *i18n.Localizer) ui.Base {
	b := ui.Base{Title: l.T("contacts.title"), CSRF: sess.CSRF, UserName: sess.Account.DisplayName, IsAdmin: sess.Account.IsAdmin(), L: l}
	if k, ok := notices[r.URL.Query().Get("n")]; ok {
		b.Notice = l.T(k) // i18n:keyed
	}
	return b
}

// bookView is one book in the page's list of books.
type bookView struct {
	Slug, Label string
	Current     bool
}

// cardView is one contact as the list shows it.
type cardView struct {
	Name, ETag, FN, Org, Note string
	Emails, Phones            []string
}

// listPage is the data of the contacts page.
type listPage struct {
	ui.Base
	Books    []bookView
	Book     bookView
	Writable bool
	Query    string
	Cards    []cardView
	More     bool
	Max      int
}

func label(l *i18n.Localizer, b contacts.Book) string {
	switch b.Kind {
	case contacts.KindGroup:
		return l.T("contacts.book.group", "group", b.Group)
	case contacts.KindDirectory:
		return l.T("contacts.book.directory")
	}
	return l.T("contacts.book.personal")
}

// list shows the books and the contacts of one (?book=, the member's own
// by default), those matching ?q= if given.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l := h.login.Localizer(r)
	m := contacts.MemberOf(sess.Account)
	books, err := h.store.Books(r.Context(), m)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	slug := r.URL.Query().Get("book")
	if slug == "" {
		slug = contacts.SlugPersonal
	}
	p := listPage{Base: base(r, sess, l), Query: strings.TrimSpace(r.URL.Query().Get("q")), Max: MaxShown}
	var cur *contacts.Book
	for i, b := range books {
		v := bookView{Slug: b.Slug, Label: label(l, b), Current: b.Slug == slug}
		if v.Current {
			cur, p.Book = &books[i], v
		}
		p.Books = append(p.Books, v)
	}
	if cur == nil {
		iweb.Error(w, r, http.StatusNotFound)
		return
	}
	p.Writable = cur.Writable
	cards, err := h.store.Cards(r.Context(), m, slug)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, c := range cards {
		v, ok := view(c)
		if !ok || !v.matches(p.Query) {
			continue
		}
		if len(p.Cards) == MaxShown {
			p.More = true
			break
		}
		p.Cards = append(p.Cards, v)
	}
	h.render(w, r, http.StatusOK, "contacts", p)
}

// view reads a stored card for the page.
func view(c contacts.Card) (cardView, bool) {
	card, err := contacts.Parse(c.Data)
	if err != nil {
		return cardView{}, false
	}
	v := cardView{Name: c.Name, ETag: c.ETag, FN: card.PreferredValue(vcard.FieldFormattedName),
		Org: card.PreferredValue(vcard.FieldOrganization), Note: card.PreferredValue(vcard.FieldNote),
		Emails: card.Values(vcard.FieldEmail), Phones: card.Values(vcard.FieldTelephone)}
	if v.FN == "" && len(v.Emails) > 0 {
		v.FN = v.Emails[0]
	}
	return v, true
}

// matches reports whether the query's words are each in the name, an
// address, a number or the organisation, in any case.
func (v cardView) matches(q string) bool {
	hay := strings.ToLower(v.FN + " " + v.Org + " " + strings.Join(v.Emails, " ") + " " + strings.Join(v.Phones, " "))
	for word := range strings.FieldsSeq(strings.ToLower(q)) {
		if !strings.Contains(hay, word) {
			return false
		}
	}
	return true
}

// editPage is the data of the contact form.
type editPage struct {
	ui.Base
	Book         bookView
	Card         cardView
	New          bool
	Email, Phone string
	MaxField     int
}

// edit shows the form of a contact (?book=&name=), or of a new one.
func (h *Handler) edit(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l := h.login.Localizer(r)
	q := r.URL.Query()
	b, err := h.store.Book(r.Context(), contacts.MemberOf(sess.Account), q.Get("book"))
	if err != nil || !b.Writable {
		iweb.Error(w, r, http.StatusNotFound)
		return
	}
	p := editPage{Base: base(r, sess, l), Book: bookView{Slug: b.Slug, Label: label(l, b)}, New: q.Get("name") == "", MaxField: maxField}
	p.Title = l.T("contacts.edit_title")
	if !p.New {
		c, err := h.store.CardIn(r.Context(), b, q.Get("name"))
		if err != nil {
			h.storeError(w, r, err)
			return
		}
		v, ok := view(c)
		if !ok {
			h.fail(w, r, errors.New("cardweb: stored card does not parse"))
			return
		}
		p.Card = v
		if len(v.Emails) > 0 {
			p.Email = v.Emails[0]
		}
		if len(v.Phones) > 0 {
			p.Phone = v.Phones[0]
		}
	}
	h.render(w, r, http.StatusOK, "edit", p)
}

// save stores the form's contact: a new card, or the named one changed
// (its other properties, those the form does not show, kept) if it is
// still the version the form was made from.
func (h *Handler) save(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	ctx := r.Context()
	m := contacts.MemberOf(sess.Account)
	slug, name := r.PostFormValue("book"), r.PostFormValue("name")
	fn := strings.TrimSpace(r.PostFormValue("fn"))
	if fn == "" || tooLong(r, "fn", "email", "tel", "org", "note") {
		h.badRequest(w, r, sess, i18n.Key("contacts.error.invalid"))
		return
	}
	card, cond := vcard.Card{}, contacts.Cond{IfNoneMatch: "*"}
	if name == "" {
		name = randomHex() + ".vcf"
		card.SetValue(vcard.FieldVersion, "4.0")
		card.SetValue(vcard.FieldUID, "urn:uuid:"+uuid())
	} else {
		b, err := h.store.Book(ctx, m, slug)
		if err != nil {
			h.storeError(w, r, err)
			return
		}
		c, err := h.store.CardIn(ctx, b, name)
		if err != nil {
			h.storeError(w, r, err)
			return
		}
		if card, err = contacts.Parse(c.Data); err != nil {
			h.fail(w, r, err)
			return
		}
		cond = contacts.Cond{IfMatch: `"` + r.PostFormValue("etag") + `"`}
	}
	card.SetValue(vcard.FieldFormattedName, fn)
	card.SetName(&vcard.Name{FamilyName: fn})
	setFirst(card, vcard.FieldEmail, strings.TrimSpace(r.PostFormValue("email")))
	setFirst(card, vcard.FieldTelephone, strings.TrimSpace(r.PostFormValue("tel")))
	setFirst(card, vcard.FieldOrganization, strings.TrimSpace(r.PostFormValue("org")))
	setFirst(card, vcard.FieldNote, strings.TrimSpace(r.PostFormValue("note")))
	if _, _, err := h.store.Put(ctx, m, slug, name, card, cond); err != nil {
		h.writeError(w, r, sess, err)
		return
	}
	http.Redirect(w, r, bookURL(slug)+"&n=saved", http.StatusSeeOther)
}

// setFirst replaces the first value of the property k (keeping its
// parameters), adds it if there is none, or removes it when v is empty.
func setFirst(card vcard.Card, k, v string) {
	fs := card[k]
	switch {
	case v == "" && len(fs) > 0:
		if fs = fs[1:]; len(fs) == 0 {
			delete(card, k)
		} else {
			card[k] = fs
		}
	case v == "":
	case len(fs) > 0:
		fs[0].Value = v
	default:
		card.Add(k, &vcard.Field{Value: v})
	}
}

func tooLong(r *http.Request, keys ...string) bool {
	for _, k := range keys {
		if len(r.PostFormValue(k)) > maxField {
			return true
		}
	}
	return false
}

// remove deletes the named contact if it is still the version shown.
func (h *Handler) remove(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	slug := r.PostFormValue("book")
	err := h.store.Delete(r.Context(), contacts.MemberOf(sess.Account), slug, r.PostFormValue("name"), contacts.Cond{IfMatch: `"` + r.PostFormValue("etag") + `"`})
	if err != nil {
		h.writeError(w, r, sess, err)
		return
	}
	http.Redirect(w, r, bookURL(slug)+"&n=deleted", http.StatusSeeOther)
}

// importFile adds the cards of an uploaded .vcf file to a book, in one
// transaction: a contact already there (same UID) is updated.
func (h *Handler) importFile(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	slug := r.FormValue("book")
	f, _, err := r.FormFile("file")
	if err != nil {
		h.badRequest(w, r, sess, i18n.Key("contacts.error.file"))
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxImport+1))
	if err != nil || len(data) > MaxImport {
		h.badRequest(w, r, sess, i18n.Key("contacts.error.file"))
		return
	}
	cards, err := contacts.ParseAll(data, contacts.MaxImport)
	if err != nil || len(cards) == 0 {
		l := h.login.Localizer(r)
		h.render(w, r, http.StatusBadRequest, "message", messagePage{Base: base(r, sess, l), Message: refusal(l, err)})
		return
	}
	if _, err := h.store.Import(r.Context(), contacts.MemberOf(sess.Account), slug, cards); err != nil {
		h.writeError(w, r, sess, err)
		return
	}
	http.Redirect(w, r, bookURL(slug)+"&n=imported", http.StatusSeeOther)
}

// refusal says in the member's words why ParseAll refused a file (nil:
// a file without a card): which card, by its number in the file and its
// name, and what is wrong with it.
func refusal(l *i18n.Localizer, err error) string {
	ie, ok := errors.AsType[*contacts.ImportError](err)
	if !ok || ie.Kind == contacts.NotVCard {
		return l.T("contacts.error.not_vcard")
	}
	if ie.Kind == contacts.TooMany {
		return l.T("contacts.error.too_many", "max", contacts.MaxImport)
	}
	if ie.Kind == contacts.Unreadable {
		return l.T("contacts.error.unreadable", "card", ie.Card)
	}
	if ie.Card == 0 {
		return l.T("contacts.error.lines_file")
	}
	card := l.T("contacts.error.contact_nameless", "card", ie.Card)
	if name := cleanName(ie.Name); name != "" {
		card = l.T("contacts.error.contact", "card", ie.Card, "name", name)
	}
	switch ie.Kind {
	case contacts.NotProperties:
		return l.T("contacts.error.lines", "contact", card)
	case contacts.BadUID:
		return l.T("contacts.error.uid", "contact", card)
	}
	return l.T("contacts.error.card", "contact", card)
}

// cleanName is a card's name as a page shows it in a sentence: as
// [msgview.CleanText] shows untrusted text, at most 80 characters.
func cleanName(s string) string {
	s = msgview.CleanText(s)
	if r := []rune(s); len(r) > 80 {
		s = string(r[:80]) + "…"
	}
	return s
}

func bookURL(slug string) string {
	return "/mail/contacts/?book=" + strings.NewReplacer("&", "%26", "#", "%23", "?", "%3F", "+", "%2B", " ", "%20").Replace(slug)
}

// writeError answers a failed change in words the member understands.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, sess auth.Session, err error) {
	switch {
	case errors.Is(err, contacts.ErrNotFound):
		iweb.Error(w, r, http.StatusNotFound)
	case errors.Is(err, contacts.ErrReadOnly):
		h.message(w, r, sess, http.StatusForbidden, i18n.Key("contacts.readonly"))
	case errors.Is(err, contacts.ErrFull):
		h.message(w, r, sess, http.StatusInsufficientStorage, i18n.Key("contacts.error.full"))
	case errors.Is(err, contacts.ErrPrecondition):
		h.message(w, r, sess, http.StatusConflict, i18n.Key("contacts.error.changed"))
	case errors.Is(err, contacts.ErrUIDConflict), errors.Is(err, contacts.ErrInvalid), errors.Is(err, contacts.ErrTooLarge):
		h.badRequest(w, r, sess, i18n.Key("contacts.error.invalid"))
	default:
		h.fail(w, r, err)
	}
}

func (h *Handler) storeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, contacts.ErrNotFound) {
		iweb.Error(w, r, http.StatusNotFound)
		return
	}
	h.fail(w, r, err)
}

// messagePage is a page that only says something.
type messagePage struct {
	ui.Base
	Message string
}

func (h *Handler) badRequest(w http.ResponseWriter, r *http.Request, sess auth.Session, key string) {
	h.message(w, r, sess, http.StatusBadRequest, key)
}

func (h *Handler) message(w http.ResponseWriter, r *http.Request, sess auth.Session, code int, key string) {
	l := h.login.Localizer(r)
	h.render(w, r, code, "message", messagePage{Base: base(r, sess, l), Message: l.T(key)}) // i18n:keyed
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() == nil {
		h.log.Error("contacts web", "path", r.URL.Path, "err", err)
	}
	iweb.Error(w, r, http.StatusInternalServerError)
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, name string, data any) {
	if err := h.pages.Render(w, code, name, data); err != nil {
		h.fail(w, r, err)
	}
}

func randomHex() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// uuid is a random (version 4) UUID, RFC 9562 section 5.4.
func uuid() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
