// Package listweb serves the mailing lists' pages under /mail/lists: the
// one-click unsubscription of RFC 8058 (a POST to the link of the
// List-Unsubscribe field, no sign-in: the link's signature is the
// authority; a GET shows a button that makes the same POST, since a GET
// must never unsubscribe), the confirmation of a subscription request
// (double opt-in), a list's help page with the subscription form of an
// open list, and its archive, which only the list's members read after
// signing in, from the index of their lists at /mail/lists/.
package listweb

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/lists"
	"github.com/caucus-org/caucus/mail/msgview"
)

//go:embed templates/*.html
var templateFS embed.FS

// Limits.
const (
	MaxForm        = 8 << 10 // request body of a form
	ArchiveShown   = 200     // posts the archive page lists
	RequestsPerDay = 10      // subscription requests one address (an IPv6 /64) may make a day
)

// Lists is what the pages use of the lists (*lists.Service).
type Lists interface {
	Get(ctx context.Context, id int64) (lists.List, error)
	All(ctx context.Context) ([]lists.List, error)
	ValidUnsubscribe(listID int64, address, token string) bool
	Unsubscribe(ctx context.Context, listID int64, address, token, from string) error
	Confirm(ctx context.Context, listID int64, address, token, from string) error
	RequestSubscription(ctx context.Context, listID int64, address, from, lang string) error
	IsMember(ctx context.Context, l lists.List, a auth.Account) (bool, error)
	Posts(ctx context.Context, listID int64, state string, limit int) ([]lists.Post, error)
	Post(ctx context.Context, listID, postID int64) (lists.Post, error)
}

// Guard lets through requests with a full session and says which
// language a request's pages are written in (*login.Handler).
type Guard interface {
	Require(next http.Handler) http.Handler
	Localizer(r *http.Request) *i18n.Localizer
	Party() ui.Party
}

// Deps are what the pages work with.
type Deps struct {
	Lists Lists
	Login Guard
	Log   *slog.Logger
	Now   func() time.Time
}

// Handler serves the pages.
type Handler struct {
	d     Deps
	log   *slog.Logger
	pages *ui.Pages

	mu       sync.Mutex
	requests map[netip.Prefix][]time.Time // subscription requests per sender
}

// New builds the pages.
func New(d Deps) (*Handler, error) {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	p, err := ui.Parse(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p.SetParty(d.Login.Party())
	return &Handler{d: d, log: d.Log, pages: p, requests: map[netip.Prefix][]time.Time{}}, nil
}

// Register adds the routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	public := func(pattern string, fn http.HandlerFunc) {
		mux.Handle(pattern, iweb.WithMaxBody(fn, MaxForm))
	}
	public("GET /mail/lists/unsubscribe", h.unsubscribePage)
	public("POST /mail/lists/unsubscribe", h.unsubscribe)
	public("GET /mail/lists/confirm", h.confirmPage)
	public("POST /mail/lists/confirm", h.confirm)
	public("GET /mail/lists/{id}/help", h.help)
	public("POST /mail/lists/{id}/subscribe", h.subscribe)
	member := func(pattern string, fn login.SessionHandler) {
		mux.Handle(pattern, h.d.Login.Require(login.WithSession(fn)))
	}
	member("GET /mail/lists/{$}", h.index)
	member("GET /mail/lists/{id}/{$}", h.archive)
	member("GET /mail/lists/{id}/{post}", h.post)
}

// page is the data of every page.
type page struct {
	ui.Base
	List    lists.List
	Address string
	Action  template.URL // the form's action: the signed link, rebuilt from its checked values
	Done    bool
	Posts   []lists.Post
	Post    *shownPost
	Lists   []lists.List // the member's lists
}

// shownPost is an archived post as the page shows it.
type shownPost struct {
	lists.Post
	From, Date string
	Text       string
}

func (h *Handler) base(r *http.Request, title string) (ui.Base, *i18n.Localizer) {
	l := h.d.Login.Localizer(r)
	return ui.Base{Title: l.T(title), L: l}, l // i18n:keyed
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	w.Header().Set("Cache-Control", "no-store")
	// The signed links must not leak to other sites through Referer.
	w.Header().Set("Referrer-Policy", "no-referrer")
	if err := h.pages.Render(w, code, name, p); err != nil {
		h.log.Error("listweb: render", "page", name, "err", err)
	}
}

// message shows a page with a title and one sentence.
func (h *Handler) message(w http.ResponseWriter, r *http.Request, code int, title, text string) {
	b, l := h.base(r, title)
	b.Notice = l.T(text) // i18n:keyed
	h.render(w, r, code, "message", page{Base: b})
}

// signedURL is a signed link's path with its query encoded anew from its
// values (the page's form posts to it): html/template would escape a
// query taken as it came as one opaque component.
func signedURL(path string, listID int64, addr, tok string) template.URL {
	v := url.Values{"l": {strconv.FormatInt(listID, 10)}, "a": {addr}, "t": {tok}}
	return template.URL(path + "?" + v.Encode())
}

// signed reads a signed link's list and address.
func (h *Handler) signed(r *http.Request) (lists.List, string, string, bool) {
	q := r.URL.Query()
	id, err := strconv.ParseInt(q.Get("l"), 10, 64)
	if err != nil {
		return lists.List{}, "", "", false
	}
	l, err := h.d.Lists.Get(r.Context(), id)
	if err != nil {
		return lists.List{}, "", "", false
	}
	return l, q.Get("a"), q.Get("t"), true
}

func (h *Handler) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	l, addr, tok, ok := h.signed(r)
	if !ok || !h.d.Lists.ValidUnsubscribe(l.ID, addr, tok) {
		h.message(w, r, http.StatusNotFound, i18n.Key("lists.web.badlink.title"), i18n.Key("lists.web.badlink.text"))
		return
	}
	b, _ := h.base(r, i18n.Key("lists.web.unsub.title"))
	h.render(w, r, http.StatusOK, "unsubscribe", page{Base: b, List: l, Address: addr, Action: signedURL("/mail/lists/unsubscribe", l.ID, addr, tok)})
}

// unsubscribe is the one-click POST of RFC 8058 section 3.2: the
// receiver's mail system (or the button of unsubscribePage) posts
// "List-Unsubscribe=One-Click" to the link; no cookie, no sign-in.
func (h *Handler) unsubscribe(w http.ResponseWriter, r *http.Request) {
	l, addr, tok, ok := h.signed(r)
	if !ok {
		h.message(w, r, http.StatusNotFound, i18n.Key("lists.web.badlink.title"), i18n.Key("lists.web.badlink.text"))
		return
	}
	err := h.d.Lists.Unsubscribe(r.Context(), l.ID, addr, tok, iweb.ClientAddr(r).String())
	switch {
	case errors.Is(err, lists.ErrBadToken):
		h.message(w, r, http.StatusNotFound, i18n.Key("lists.web.badlink.title"), i18n.Key("lists.web.badlink.text"))
	case err != nil:
		h.log.Error("listweb: unsubscribe", "err", err)
		iweb.Error(w, r, http.StatusInternalServerError)
	default:
		b, _ := h.base(r, i18n.Key("lists.web.unsub.title"))
		h.render(w, r, http.StatusOK, "unsubscribe", page{Base: b, List: l, Address: addr, Done: true})
	}
}

func (h *Handler) confirmPage(w http.ResponseWriter, r *http.Request) {
	l, addr, tok, ok := h.signed(r)
	if !ok {
		h.message(w, r, http.StatusNotFound, i18n.Key("lists.web.badlink.title"), i18n.Key("lists.web.badlink.text"))
		return
	}
	b, _ := h.base(r, i18n.Key("lists.web.confirm.title"))
	h.render(w, r, http.StatusOK, "confirm", page{Base: b, List: l, Address: addr, Action: signedURL("/mail/lists/confirm", l.ID, addr, tok)})
}

func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	l, addr, tok, ok := h.signed(r)
	if !ok {
		h.message(w, r, http.StatusNotFound, i18n.Key("lists.web.badlink.title"), i18n.Key("lists.web.badlink.text"))
		return
	}
	err := h.d.Lists.Confirm(r.Context(), l.ID, addr, tok, iweb.ClientAddr(r).String())
	switch {
	case errors.Is(err, lists.ErrBadToken):
		h.message(w, r, http.StatusNotFound, i18n.Key("lists.web.badlink.title"), i18n.Key("lists.web.badlink.text"))
	case err != nil:
		h.log.Error("listweb: confirm", "err", err)
		iweb.Error(w, r, http.StatusInternalServerError)
	default:
		b, _ := h.base(r, i18n.Key("lists.web.confirm.title"))
		h.render(w, r, http.StatusOK, "confirm", page{Base: b, List: l, Address: addr, Done: true})
	}
}

// listOf reads the {id} of the path.
func (h *Handler) listOf(r *http.Request) (lists.List, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return lists.List{}, false
	}
	l, err := h.d.Lists.Get(r.Context(), id)
	return l, err == nil
}

// help is an open list's public page: what it is, how to leave, and the
// subscription form. A list that is not open to subscription answers 404
// as an id that does not exist does: the page is public, and trying ids
// must not reveal the names of the party's closed lists (its posts carry
// no List-Help field, see mail/lists' listFields).
func (h *Handler) help(w http.ResponseWriter, r *http.Request) {
	l, ok := h.listOf(r)
	if !ok || !l.Open {
		iweb.Error(w, r, http.StatusNotFound)
		return
	}
	b, loc := h.base(r, i18n.Key("lists.web.help.title"))
	if r.URL.Query().Get("n") == "asked" {
		b.Notice = loc.T("lists.web.help.asked")
	}
	h.render(w, r, http.StatusOK, "help", page{Base: b, List: l})
}

// subscribe takes an open list's subscription form: the address gets a
// confirmation link by mail. A sender may ask RequestsPerDay times a day;
// the answer does not say whether the address was on the list.
func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request) {
	l, ok := h.listOf(r)
	if !ok || !l.Open {
		iweb.Error(w, r, http.StatusNotFound)
		return
	}
	from := iweb.ClientAddr(r)
	if !h.allow(from) {
		w.Header().Set("Retry-After", "3600")
		h.message(w, r, http.StatusTooManyRequests, i18n.Key("lists.web.help.title"), i18n.Key("lists.web.help.toomany"))
		return
	}
	err := h.d.Lists.RequestSubscription(r.Context(), l.ID, r.PostFormValue("address"), from.String(), h.d.Login.Localizer(r).Lang())
	switch {
	case errors.Is(err, lists.ErrBadList):
		b, loc := h.base(r, i18n.Key("lists.web.help.title"))
		b.Error = loc.T("lists.web.help.bad")
		h.render(w, r, http.StatusBadRequest, "help", page{Base: b, List: l})
		return
	case err != nil && !errors.Is(err, lists.ErrTooSoon):
		h.log.Error("listweb: subscription request", "err", err)
		iweb.Error(w, r, http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, "/mail/lists/"+strconv.FormatInt(l.ID, 10)+"/help?n=asked", http.StatusSeeOther)
}

// allow counts a subscription request from addr (its /64 for IPv6).
func (h *Handler) allow(addr netip.Addr) bool {
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, _ := addr.Prefix(bits)
	now := h.d.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.requests) > 10000 {
		clear(h.requests) // a flood from many addresses: start again
	}
	times := h.requests[p]
	i := 0
	for i < len(times) && now.Sub(times[i]) >= 24*time.Hour {
		i++
	}
	times = times[i:]
	if len(times) >= RequestsPerDay {
		h.requests[p] = times
		return false
	}
	h.requests[p] = append(times, now)
	return true
}

// member reads {id} and answers 403 unless the session's account is a
// member of the list.
func (h *Handler) member(w http.ResponseWriter, r *http.Request, sess auth.Session) (lists.List, bool) {
	l, ok := h.listOf(r)
	if !ok {
		iweb.Error(w, r, http.StatusNotFound)
		return lists.List{}, false
	}
	member, err := h.d.Lists.IsMember(r.Context(), l, sess.Account)
	if err != nil {
		h.log.Error("listweb: membership", "err", err)
		iweb.Error(w, r, http.StatusInternalServerError)
		return lists.List{}, false
	}
	if !member {
		h.message(w, r, http.StatusForbidden, i18n.Key("lists.web.archive.title"), i18n.Key("lists.web.archive.notmember"))
		return lists.List{}, false
	}
	return l, true
}

func (h *Handler) sessionBase(r *http.Request, sess auth.Session, title string) ui.Base {
	b, _ := h.base(r, title)
	b.UserName, b.IsAdmin, b.CSRF = sess.Account.DisplayName, sess.Account.IsAdmin(), sess.CSRF
	return b
}

// index lists the lists the member reads.
func (h *Handler) index(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	all, err := h.d.Lists.All(r.Context())
	if err != nil {
		h.log.Error("listweb: lists", "err", err)
		iweb.Error(w, r, http.StatusInternalServerError)
		return
	}
	var mine []lists.List
	for _, l := range all {
		ok, err := h.d.Lists.IsMember(r.Context(), l, sess.Account)
		if err != nil {
			h.log.Error("listweb: membership", "err", err)
			iweb.Error(w, r, http.StatusInternalServerError)
			return
		}
		if ok {
			mine = append(mine, l)
		}
	}
	h.render(w, r, http.StatusOK, "index", page{Base: h.sessionBase(r, sess, i18n.Key("lists.web.index.title")), Lists: mine})
}

// archive lists the list's sent posts, newest first.
func (h *Handler) archive(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l, ok := h.member(w, r, sess)
	if !ok {
		return
	}
	posts, err := h.d.Lists.Posts(r.Context(), l.ID, lists.PostSent, ArchiveShown)
	if err != nil {
		h.log.Error("listweb: archive", "err", err)
		iweb.Error(w, r, http.StatusInternalServerError)
		return
	}
	h.render(w, r, http.StatusOK, "archive", page{Base: h.sessionBase(r, sess, i18n.Key("lists.web.archive.title")), List: l, Posts: posts})
}

// post shows one archived post as text.
func (h *Handler) post(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l, ok := h.member(w, r, sess)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("post"), 10, 64)
	var p lists.Post
	if err == nil {
		p, err = h.d.Lists.Post(r.Context(), l.ID, id)
	}
	if err != nil || p.State != lists.PostSent {
		iweb.Error(w, r, http.StatusNotFound)
		return
	}
	shown, err := show(p)
	if err != nil {
		h.log.Warn("listweb: an archived post does not parse", "post", p.ID, "err", err)
	}
	h.render(w, r, http.StatusOK, "post", page{Base: h.sessionBase(r, sess, i18n.Key("lists.web.archive.title")), List: l, Post: shown})
}

// show reads a post's header and its text (an HTML body made text), the
// way webmail reads mail (mail/msgview).
func show(p lists.Post) (*shownPost, error) {
	s := &shownPost{Post: p}
	v, err := msgview.ParseBytes(p.Raw, msgview.Options{})
	if err != nil {
		return s, err
	}
	if len(v.Header.From) > 0 {
		s.From = v.Header.From[0].String()
	}
	var b strings.Builder
	err = v.BodyText(&b)
	s.Text = b.String()
	return s, err
}
