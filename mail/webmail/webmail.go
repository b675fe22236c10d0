// Package webmail serves caucus's mail in the browser under /mail/: the
// mailbox list with unread counts, message lists paged by UID range,
// conversations by References and In-Reply-To (RFC 5322 section 3.6.4),
// reading a message, search over the store's full-text index, the usual
// actions (read, flag, move, archive, Trash, Junk), writing, replying
// and forwarding with attachments and drafts kept as IMAP drafts (\Draft
// in Drafts, RFC 6154), live updates as server-sent events, and a
// one-click phishing report to the party's postmaster. Every word the
// pages show comes from internal/i18n's catalogue (the [webmail] tables),
// in the member's language (login.Handler.Localizer); the phishing report
// to the admins is written in the party's.
//
// Safety: every page needs a full session (login.Handler.Require); every
// read goes through the store's account-scoped readers (mail/store's
// webmail.go), so any id of another account in any URL answers 404, as a
// missing one does; every change is a POST carrying the session's CSRF
// token, answered by a redirect (Post/Redirect/Get). Message HTML is
// sanitized by mail/msgview and shown only in a frame served as its own
// response under a sandboxing Content-Security-Policy, so it runs no
// script and loads nothing but the message's own cid: images, from URLs
// signed for the session (inline.go); attachments download as attachments under the
// same sandbox as file downloads. Mail leaves only through mail/submit,
// with the same send-as rules, limits and signing as SMTP submission. The
// live-update stream is registered with the revocation bus like every
// other long connection, so revoking the session ends it at once.
package webmail

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/message"
	"github.com/caucus-org/caucus/mail/msgauth"
	"github.com/caucus-org/caucus/mail/phish"
	"github.com/caucus-org/caucus/mail/store"
	"github.com/caucus-org/caucus/mail/submit"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Limits.
const (
	PageSize       = 50       // messages per page of a list
	MaxCompose     = 32 << 20 // request body of one compose form, attachments included
	MaxSelect      = 1000     // messages one action may name
	MaxMessageView = 64 << 20 // bytes of a message read for display

	// AutosaveEvery is how often the compose page saves a draft that
	// changed, as an IMAP draft the member's phone sees too.
	AutosaveEvery = 30 * time.Second
)

// Store is what webmail reads and changes of the message store
// (*store.Store). Reads of ids that come from a URL use the account-scoped
// readers; the methods keyed by a mailbox id alone are called only with a
// mailbox that an account-scoped reader returned for the signed-in account.
type Store interface {
	EnsureAccount(ctx context.Context, accountID int64) error
	Mailboxes(ctx context.Context, accountID int64) ([]store.Mailbox, error)
	Mailbox(ctx context.Context, accountID int64, name string) (store.Mailbox, error)
	AccountMailbox(ctx context.Context, accountID, mailboxID int64) (store.Mailbox, error)
	AccountMessage(ctx context.Context, accountID, mailboxID int64, uid imap.UID) (store.Message, error)
	AccountMessages(ctx context.Context, accountID, mailboxID int64, uids []imap.UID) ([]store.Message, error)
	MessagePage(ctx context.Context, accountID, mailboxID int64, before imap.UID, limit int) ([]store.Message, error)
	AccountSearch(ctx context.Context, accountID, mailboxID int64, c *imap.SearchCriteria) ([]imap.UID, error)
	OpenBody(ref blob.Ref) (io.ReadSeekCloser, error)
	UIDs(ctx context.Context, mailboxID int64) ([]imap.UID, error)
	StoreFlags(ctx context.Context, mailboxID int64, uids []imap.UID, op imap.StoreFlagsOp, flags []imap.Flag, unchangedSince uint64) ([]imap.UID, [][]imap.Flag, error)
	Move(ctx context.Context, srcMailboxID int64, uids []imap.UID, accountID int64, dest string) (store.Mailbox, []imap.UID, []imap.UID, error)
	Expunge(ctx context.Context, mailboxID int64, uids []imap.UID) ([]imap.UID, error)
	Append(ctx context.Context, accountID int64, mailbox string, r io.Reader, flags []imap.Flag, date time.Time) (store.Mailbox, imap.UID, error)
	Signature(ctx context.Context, accountID int64) (string, error)
	SetSignature(ctx context.Context, accountID int64, sig string) error
}

// Submitter sends a member's message (*submit.Service): the only way
// webmail sends.
type Submitter interface {
	Mail(ctx context.Context, who submit.Sender, from string) (*submit.Envelope, error)
	Rcpt(ctx context.Context, who submit.Sender, env *submit.Envelope, to string) error
	Submit(ctx context.Context, who submit.Sender, env *submit.Envelope, h *message.Header, msg []byte, rcv submit.Received) error
	OwnDomains() []string
}

// Accounts gives the party's members and groups, for address completion
// and send-as, and registers long requests with the revocation bus
// (*auth.Service).
type Accounts interface {
	Accounts(ctx context.Context) ([]auth.Account, error)
	Groups(ctx context.Context) ([]auth.Group, error)
	GroupsOf(ctx context.Context, accountID int64) ([]string, error)
	ConnectSession(parent context.Context, sess auth.Session) (context.Context, func())
	// Sessions lists an account's sessions: an inline image's URL
	// serves while the session that opened the message lives.
	Sessions(ctx context.Context, accountID int64) ([]auth.Session, error)
}

// Aliases gives an account's aliases (*route.Directory).
type Aliases interface {
	Aliases(ctx context.Context, accountID int64) ([]string, error)
}

// Auditor records security-relevant events (*audit.Log).
type Auditor interface {
	Record(ctx context.Context, e audit.Event) error
}

// PhishReports keeps what members report as phishing (mail/phish).
type PhishReports interface {
	Record(ctx context.Context, r phish.Report) error
}

// Guard lets through requests with a full session and says which
// language a request's pages are written in, and the party's, for mail to
// its admins (*login.Handler).
type Guard interface {
	Require(next http.Handler) http.Handler
	Localizer(r *http.Request) *i18n.Localizer
	Party() ui.Party
}

// Deps are what webmail works with.
type Deps struct {
	Store    Store
	Submit   Submitter
	Accounts Accounts
	Aliases  Aliases // nil: no aliases
	// Directory says who the party's members are and which domains are
	// its own, for the findings banner (*route.Directory); nil: only
	// what the MX wrote in the message is shown.
	Directory msgauth.Directory
	Changes   store.Changes // the store's change bus, for live updates
	Audit     Auditor       // nil: phishing reports are not recorded (tests only)
	// Reports keeps phishing reports for the admins' console
	// (*phish.Service); nil: they go by mail only.
	Reports PhishReports
	// Shared, if set, adds the role mailboxes a member was granted to
	// their folder list (shared.go); ReadAudit records their reads.
	Shared    Shared
	ReadAudit ReadAuditor
	Login     Guard
	Log       *slog.Logger
	Now       func() time.Time
	Hostname  string // our name, in Message-IDs and Received fields
	// Heartbeat is how often the live-update stream sends a comment so
	// that proxies keep it open; default 25 s.
	Heartbeat time.Duration
	// InlineKey signs the URLs of inline (cid:) images, 32 bytes; nil:
	// New makes a random one (URLs then serve on this process only).
	InlineKey []byte
}

// Handler serves the webmail pages.
type Handler struct {
	d      Deps
	log    *slog.Logger
	pages  *ui.Pages
	bodies *bodyCache // sanitized bodies, from the page to its frame
	// inlineKey signs inline image URLs (Deps.InlineKey).
	inlineKey []byte
	// autosave is how often the compose page's script saves a changed
	// draft; AutosaveEvery, shorter in tests.
	autosave time.Duration
}

// New builds the webmail pages.
func New(d Deps) (*Handler, error) {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Heartbeat <= 0 {
		d.Heartbeat = 25 * time.Second
	}
	if d.Hostname == "" {
		d.Hostname = "localhost"
	}
	p, err := ui.Parse(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p.SetParty(d.Login.Party()) // the party's name and look, as on the sign-in pages
	if d.Shared != nil {
		d.Store = sharedStore{Store: d.Store, shared: d.Shared}
	}
	key := d.InlineKey
	if key == nil {
		key = make([]byte, inlineKeyLen)
		rand.Read(key)
	} else if len(key) < inlineKeyLen {
		return nil, fmt.Errorf("webmail: an inline image key of %d bytes or more is needed", inlineKeyLen)
	}
	return &Handler{d: d, log: d.Log, pages: p, bodies: newBodyCache(), inlineKey: key, autosave: AutosaveEvery}, nil
}

// Register adds the routes to mux, all behind sign-in.
func (h *Handler) Register(mux *http.ServeMux) {
	user := func(pattern string, fn func(http.ResponseWriter, *http.Request, auth.Session)) {
		mux.Handle(pattern, h.d.Login.Require(login.WithSession(fn)))
	}
	post := func(pattern string, fn func(http.ResponseWriter, *http.Request, auth.Session)) {
		mux.Handle(pattern, h.d.Login.Require(login.Action(fn)))
	}
	static, _ := fs.Sub(staticFS, "static")
	assets := http.StripPrefix("/mail/static/", http.FileServerFS(static))
	mux.HandleFunc("GET /mail/static/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		assets.ServeHTTP(w, r)
	})

	// Inline images carry their authority in the URL: the sandboxed
	// frame that asks for them sends no cookie (inline.go).
	mux.HandleFunc("GET /mail/inline/{mb}/{uid}/{tok}/{part}", h.inline)
	user("GET /mail/{$}", h.home)
	user("GET /mail/box/{mb}", h.list)
	user("GET /mail/msg/{mb}/{uid}", h.read)
	user("GET /mail/msg/{mb}/{uid}/frame", h.frame)
	user("GET /mail/msg/{mb}/{uid}/part/{part}", h.part)
	user("GET /mail/msg/{mb}/{uid}/preview/{part}", h.preview)
	user("GET /mail/search", h.search)
	user("GET /mail/compose", h.compose)
	user("GET /mail/complete", h.complete)
	user("GET /mail/events", h.events)
	user("GET /mail/settings", h.settings)
	post("POST /mail/settings", h.saveSettings)
	post("POST /mail/act", h.act)
	post("POST /mail/box/{mb}/empty", h.empty)
	post("POST /mail/msg/{mb}/{uid}/phish", h.phish)
	mux.Handle("POST /mail/send", iweb.WithMaxBody(h.d.Login.Require(http.HandlerFunc(h.send)), MaxCompose))
}

// base is the layout's data for a page of the session in l's language.
func base(sess auth.Session, l *i18n.Localizer, title string) ui.Base {
	return ui.Base{Title: title, CSRF: sess.CSRF, UserName: sess.Account.DisplayName, IsAdmin: sess.Account.IsAdmin(), L: l}
}

// mailboxParam returns the mailbox named by the URL's {mb} if it is the
// account's; otherwise it answers 404 and returns false.
func (h *Handler) mailboxParam(w http.ResponseWriter, r *http.Request, sess auth.Session, v string) (store.Mailbox, bool) {
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		h.notFound(w, r)
		return store.Mailbox{}, false
	}
	mb, err := h.d.Store.AccountMailbox(r.Context(), sess.Account.ID, id)
	if err != nil {
		h.storeError(w, r, err)
		return store.Mailbox{}, false
	}
	return mb, true
}

// messageParam returns the message named by {mb} and {uid} if it is in a
// mailbox of the account; otherwise it answers 404.
func (h *Handler) messageParam(w http.ResponseWriter, r *http.Request, sess auth.Session) (store.Mailbox, store.Message, bool) {
	mb, ok := h.mailboxParam(w, r, sess, r.PathValue("mb"))
	if !ok {
		return mb, store.Message{}, false
	}
	uid, err := strconv.ParseUint(r.PathValue("uid"), 10, 32)
	if err != nil || uid == 0 {
		h.notFound(w, r)
		return mb, store.Message{}, false
	}
	m, err := h.d.Store.AccountMessage(r.Context(), sess.Account.ID, mb.ID, imap.UID(uid))
	if err != nil {
		h.storeError(w, r, err)
		return mb, m, false
	}
	return mb, m, true
}

// storeError answers a store error: 404 for what does not exist (or is
// another account's), 500 (logged) for the rest.
func (h *Handler) storeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrNoMailbox) || errors.Is(err, store.ErrNoMessage) {
		h.notFound(w, r)
		return
	}
	h.fail(w, r, err)
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	iweb.Error(w, r, http.StatusNotFound)
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() == nil {
		h.log.Error("webmail", "path", r.URL.Path, "err", err)
	}
	iweb.Error(w, r, http.StatusInternalServerError)
}

// render writes a page; a template error is logged.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, name string, data any) {
	if err := h.pages.Render(w, http.StatusOK, name, data); err != nil {
		h.fail(w, r, err)
	}
}

// sender is who submits, and from where, for mail/submit's checks and audit records.
func (h *Handler) sender(r *http.Request, sess auth.Session) submit.Sender {
	return submit.Sender{Account: sess.Account, Addr: iweb.ClientAddr(r).String(), UserAgent: "webmail"}
}

// notices are the one-time notices a redirect after an action names
// (?n=name): the page shows the message of the catalogue, and nothing a
// link could inject.
var notices = map[string]string{
	"sent":     i18n.Key("webmail.notice.sent"),
	"draft":    i18n.Key("webmail.notice.draft"),
	"read":     i18n.Key("webmail.notice.read"),
	"unread":   i18n.Key("webmail.notice.unread"),
	"flag":     i18n.Key("webmail.notice.flag"),
	"unflag":   i18n.Key("webmail.notice.unflag"),
	"moved":    i18n.Key("webmail.notice.moved"),
	"archived": i18n.Key("webmail.notice.archived"),
	"trashed":  i18n.Key("webmail.notice.trashed"),
	"deleted":  i18n.Key("webmail.notice.deleted"),
	"junk":     i18n.Key("webmail.notice.junk"),
	"notjunk":  i18n.Key("webmail.notice.notjunk"),
	"emptied":  i18n.Key("webmail.notice.emptied"),
	"reported": i18n.Key("webmail.notice.reported"),
	"settings": i18n.Key("webmail.notice.settings"),
}

// ui is the layout's data for a page of the session in l's language,
// with the notice that the URL names, if any.
func (h *Handler) ui(r *http.Request, sess auth.Session, l *i18n.Localizer, title string) ui.Base {
	b := base(sess, l, title)
	if key, ok := notices[r.URL.Query().Get("n")]; ok {
		b.Notice = l.T(key) // i18n:keyed
	}
	return b
}

// withNotice adds the notice key to a local URL.
func withNotice(u, key string) string {
	if strings.Contains(u, "?") {
		return u + "&n=" + key
	}
	return u + "?n=" + key
}

// localBack returns back if it is a path of webmail, else fallback: a
// form's return address is never an open redirect.
func localBack(back, fallback string) string {
	if !strings.HasPrefix(back, "/mail/") || strings.ContainsAny(back, "\\\r\n") || len(back) > 2000 {
		return fallback
	}
	if i := strings.Index(back, "n="); i > 0 && (back[i-1] == '?' || back[i-1] == '&') {
		back = strings.TrimRight(back[:i-1], "?&")
	}
	return back
}
