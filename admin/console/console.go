// Package console is the web console of caucus's admins, under /admin:
// the people and their invites (one, or many from a CSV file), groups,
// offboarding of departed staff with a report of every step, suspension,
// the dashboard (factors, last sign-in, expiry, storage, mail queue,
// certificate, backup and DNS checks), the audit log with its chain check,
// the mbox exports, role mailboxes (press@, info@), the cohorts of campaign
// volunteers, incident mode with its prepared message and checklist, the
// mailing lists (posts waiting for approval, subscribers with their consent
// and bounces), and the "set up your phone" page. Every action needs a
// recent step-up with a passkey or security key and is written to the audit
// log with the admin's name.
//
// The pages are HTTP only: each action calls the plain function of package
// admin that `caucus admin` (package admin/ctl) calls too.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
	"github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/dnsrec"
	"github.com/caucus-org/caucus/mail/queue"
)

//go:embed templates/*.html
var templateFS embed.FS

// Queue is what the dashboard reads of the outbound mail queue
// (*queue.Queue).
type Queue interface {
	List(ctx context.Context) ([]queue.Item, error)
}

// Deps are what the console is built on. Ops and Login are required.
type Deps struct {
	Ops        *admin.Ops
	Login      *login.Handler
	Queue      Queue                     // nil: no queue figures
	CertExpiry func() (time.Time, error) // the web certificate's NotAfter; nil: not shown
	// LastBackup is when the last successful backup finished and its size
	// (backup.LastSuccess); a zero time means none yet. nil: not shown.
	LastBackup func(ctx context.Context) (time.Time, int64, error)
	DNS        dns.Resolver    // nil: no DNS checks
	Imports    Imports         // nil: no page of mail imports
	Records    []dnsrec.Record // what should be published (dnsrec.Records)
	Phish      Phish           // nil: no phishing reports page
	Messages   Messages        // nil: "Who had this?" finds no messages
	Diaries    GroupDiaries    // nil: no switch of group calendars and address books
	Lists      Lists           // nil: no mailing lists pages
	Log        *slog.Logger
}

// Handler serves the console under /admin.
type Handler struct {
	d       Deps
	ops     *admin.Ops
	od      admin.OpsDeps // what ops works with, shown by the pages
	svc     *auth.Service
	mail    admin.MailStore // nil: no mail section
	login   *login.Handler
	baseURL string // public URL, for invite links
	log     *slog.Logger
	pages   *ui.Pages
	pending *pendingStore // actions waiting for a step-up
	notices *notices      // actions' outcomes waiting for the next page
}

// New builds the console.
func New(d Deps) (*Handler, error) {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Ops == nil || d.Login == nil {
		return nil, errors.New("admin/console: needs Ops and Login")
	}
	pages, err := ui.Parse(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages.SetParty(d.Login.Party()) // the party's name and look, as on the sign-in pages
	od := d.Ops.Deps()
	return &Handler{d: d, ops: d.Ops, od: od, svc: od.Auth, mail: od.Mail, login: d.Login, baseURL: od.BaseURL, log: d.Log, pages: pages,
		pending: newPendingStore(od.Now), notices: newNotices(od.Now)}, nil
}

// Register adds the console's routes to mux. Only admins reach them, except
// the "set up your phone" page (/setup/phone) for every signed-in person.
func (h *Handler) Register(mux *http.ServeMux) {
	handle := func(pattern string, fn http.HandlerFunc) {
		mux.Handle(pattern, h.login.RequireAdmin(h.incidentGuard(fn)))
	}
	for pattern, fn := range h.routes() {
		handle(pattern, fn)
	}
	for pattern, fn := range h.phishRoutes() {
		handle(pattern, fn)
	}
	for pattern, fn := range h.roleRoutes() {
		handle(pattern, fn)
	}
	for pattern, fn := range h.cohortRoutes() {
		handle(pattern, fn)
	}
	for pattern, fn := range h.incidentRoutes() {
		handle(pattern, fn)
	}
	if h.d.Lists != nil {
		for pattern, fn := range h.listRoutes() {
			handle(pattern, fn)
		}
	}
	if h.d.Imports != nil {
		for pattern, fn := range h.importRoutes() {
			handle(pattern, fn)
		}
	}
	h.registerSetup(mux)
}

// routes are the console's routes; every one is for admins only.
func (h *Handler) routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /admin":                                        h.dashboard,
		"GET /admin/dns":                                    h.dnsPage,
		"GET /admin/people":                                 h.people,
		"POST /admin/invites":                               h.action(h.invite),
		"POST /admin/invites/csv":                           h.action(h.importCSV),
		"GET /admin/invites/sample.csv":                     h.csvSample,
		"GET /admin/invites/link":                           h.linkShown,
		"GET /admin/invites/imported":                       h.imported,
		"POST /admin/invites/links.csv":                     h.downloadLinks,
		"GET /admin/people/{id}":                            h.person,
		"POST /admin/people/{id}/suspend":                   h.action(h.suspend),
		"POST /admin/people/{id}/reactivate":                h.action(h.reactivate),
		"POST /admin/people/{id}/revoke":                    h.action(h.revoke),
		"POST /admin/people/{id}/reenrol":                   h.action(h.reenrol),
		"POST /admin/people/{id}/app-passwords/{ap}/revoke": h.action(h.revokeAppPassword),
		"POST /admin/people/{id}/quota":                     h.action(h.setQuota),
		"POST /admin/people/{id}/edit":                      h.action(h.editPerson),
		"POST /admin/people/{id}/invite/resend":             h.action(h.resendInvite),
		"POST /admin/people/{id}/invite/withdraw":           h.action(h.withdrawInvite),
		"GET /admin/people/{id}/offboard":                   h.offboardPage,
		"POST /admin/people/{id}/offboard":                  h.action(h.offboard),
		"GET /admin/reports/{id}":                           h.report,
		"GET /admin/groups":                                 h.groups,
		"POST /admin/groups":                                h.action(h.createGroup),
		"POST /admin/groups/{name}/rename":                  h.action(h.renameGroup),
		"POST /admin/groups/{name}/members":                 h.action(h.addMember),
		"POST /admin/groups/{name}/members/{id}/remove":     h.action(h.removeMember),
		"POST /admin/groups/{name}/delete":                  h.action(h.deleteGroup),
		"POST /admin/groups/{name}/diary":                   h.action(h.setGroupDiary),
		"GET /admin/audit":                                  h.auditPage,
		"GET /admin/audit.csv":                              h.auditCSV,
		"GET /admin/trace":                                  h.tracePage,
		"POST /admin/incident":                              h.action(h.incident),
		"GET /admin/exports":                                h.exportsPage,
		"GET /admin/pending/{token}":                        h.pendingPage,
		"POST /admin/exports/{name}":                        h.action(h.downloadExport),
	}
}

// page is the data of every console page; each template reads its part.
type page struct {
	ui.Base
	List     *peopleView
	Person   personRow
	Groups   []string
	AppPass  []auth.AppPasswordInfo
	Sessions []auth.Session
	Link     string
	Report   string
	Form     inviteForm
	Mail     *mailUsage

	Invite    *admin.InviteResult // a created invite
	QR        template.URL        // its link as a QR code (data: URL of a PNG)
	CSV       *admin.CSVPreview   // an import's preview or outcome
	CSVText   string              // the file, carried to the commit
	LinksCSV  string              // the created invites' links, for download
	Dash      *dashboard
	DNS       []dnsRow
	Exports   []exportRow
	Plan      *admin.OffboardPlan
	Offboard  offboardForm
	Others    []auth.Account // successor choices
	Rep       *admin.Report
	AllGroups []groupRow
	Audit     *auditView
	Incident  admin.IncidentState
	Pending   *pendingForm // an action kept during a step-up
	Phish     *phishView
	Trace     *traceView
	Imports   *importsView  // the mail imports
	Roles     *rolesView    // the role mailboxes (roles.go)
	Cohorts   *cohortsView  // the campaign cohorts
	Emergency *incidentView // incident mode's page
	Lists     *listsView    // the mailing lists
}

type mailUsage struct {
	Used, Quota int64   // bytes
	QuotaMB     float64 // the quota as the form shows it
}

type personRow struct {
	auth.Account
	Factors []factorRow
	zone    *time.Location // the party's (OpsDeps.TimeZone)
}

// LastDay is the last day of the person's access, in the party's time
// zone; zero for none.
func (p personRow) LastDay() time.Time { return admin.LastDay(p.ExpiresAt, p.zone) }

type inviteForm struct {
	Login, Name, Role, Groups, Expires, MailTo string
}

func (h *Handler) base(r *http.Request, title string) ui.Base {
	sess, _ := login.SessionFrom(r.Context())
	return ui.Base{Title: title, CSRF: sess.CSRF, UserName: sess.Account.DisplayName, IsAdmin: true, L: h.login.Localizer(r)}
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	st, err := h.ops.IncidentState(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p.Incident = st
	if p.Base.L == nil {
		p.Base.L = h.login.Localizer(r)
	}
	if sess, ok := sessionFrom(r); ok && r.Method == http.MethodGet {
		if n, ok := h.notices.take(sess.ID); ok {
			p.Base.Notice = strings.TrimSpace(n.Text + " " + p.Base.Notice)
			p.Base.Error = strings.TrimSpace(n.Error + " " + p.Base.Error)
			if p.Report == "" {
				p.Report = n.Report
			}
		}
	}
	if st.On {
		banner := p.Base.L.T("console.incident.banner", "when", p.Base.L.DateTime(st.Since), "by", st.By)
		p.Base.Error = strings.TrimSpace(banner + " " + p.Base.Error)
	}
	if err = h.pages.Render(w, code, name, p); err != nil {
		h.log.Error("render page", "page", name, "err", err)
		web.Error(w, r, http.StatusInternalServerError)
	}
}

func sessionFrom(r *http.Request) (auth.Session, bool) { return login.SessionFrom(r.Context()) }

func client(r *http.Request) auth.Client {
	return auth.Client{Addr: web.ClientAddr(r), UserAgent: r.UserAgent()}
}

// actor is the signed-in admin doing a request, for the operations.
func actor(r *http.Request, sess auth.Session) admin.Actor {
	return admin.Actor{Login: sess.Account.Login, AccountID: sess.Account.ID, Addr: web.ClientAddr(r), UserAgent: r.UserAgent()}
}

// action guards a state-changing console request: the form's CSRF token,
// and a sign-in within the step-up window (else the admin confirms first).
func (h *Handler) action(fn func(w http.ResponseWriter, r *http.Request, sess auth.Session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, _ := login.SessionFrom(r.Context())
		if !login.ValidCSRF(sess, r.PostFormValue("csrf")) {
			web.Error(w, r, http.StatusForbidden)
			return
		}
		// Every console action needs a passkey or security key within the
		// step-up window: a TOTP code can be phished, a WebAuthn assertion
		// cannot.
		// The action is kept meanwhile, never lost (pending.go).
		if !h.svc.FreshWebAuthn(sess) {
			h.keep(w, r, sess)
			return
		}
		fn(w, r, sess)
	}
}

func (h *Handler) row(ctx context.Context, a auth.Account) (personRow, error) {
	f, err := h.svc.Factors(ctx, a.ID)
	if err != nil {
		return personRow{}, err
	}
	var rows []factorRow
	for _, x := range f {
		rows = append(rows, factorRow{x})
	}
	return personRow{Account: a, Factors: rows, zone: h.od.TimeZone}, nil
}

func (h *Handler) invite(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	f := inviteForm{
		Login: strings.TrimSpace(r.PostFormValue("login")), Name: strings.TrimSpace(r.PostFormValue("name")),
		Role: r.PostFormValue("role"), Groups: r.PostFormValue("groups"), Expires: r.PostFormValue("expires"),
		MailTo: strings.TrimSpace(r.PostFormValue("mail_to")),
	}
	in := admin.InviteRequest{Login: f.Login, Name: f.Name, Role: auth.Role(f.Role), MailTo: f.MailTo}
	for _, g := range strings.Split(f.Groups, ",") {
		if g = strings.TrimSpace(g); g != "" {
			in.Groups = append(in.Groups, g)
		}
	}
	if f.Expires != "" {
		t, err := admin.ParseLastDay(f.Expires, h.od.TimeZone)
		if err != nil {
			h.peoplePage(w, r, http.StatusBadRequest, page{Base: ui.Base{Error: admin.Explain(h.loc(r), err)}, Form: f})
			return
		}
		in.Expires = t
	}
	res, err := h.ops.Invite(r.Context(), actor(r, sess), in)
	if res.Link == "" {
		if errors.Is(err, auth.ErrExists) {
			h.peoplePage(w, r, http.StatusBadRequest, page{Base: ui.Base{Error: h.loc(r).T("admin.csv.exists", "addr", auth.NormalizeLogin(in.Login))}, Form: f})
			return
		}
		if errors.Is(err, auth.ErrInvalid) || errors.Is(err, admin.ErrNotAvailable) {
			h.peoplePage(w, r, http.StatusBadRequest, page{Base: ui.Base{Error: admin.Explain(h.loc(r), err)}, Form: f})
			return
		}
		h.fail(w, r, err)
		return
	}
	var n notice
	if err != nil {
		n.Error = h.loc(r).T("console.msg.mail_failed")
		h.log.Warn("mail invite", "login", res.Account.Login, "err", err)
	}
	h.showLink(w, r, linkPage{Title: h.loc(r).T("console.title.invite_created"), Link: res.Link, Form: f, Invite: &res}, n)
}

func (h *Handler) account(w http.ResponseWriter, r *http.Request) (auth.Account, bool) {
	return byPathID(h, w, r, h.svc.Account, auth.ErrNotFound)
}

// byPathID reads with get the item whose id is the request path's {id};
// false, with the answer sent, when the id is not a number or names no
// item (get's notFound error: 404), or when the read failed (500).
func byPathID[T any](h *Handler, w http.ResponseWriter, r *http.Request, get func(context.Context, int64) (T, error), notFound error) (T, bool) {
	var zero T
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		web.Error(w, r, http.StatusNotFound)
		return zero, false
	}
	v, err := get(r.Context(), id)
	switch {
	case errors.Is(err, notFound):
		web.Error(w, r, http.StatusNotFound)
		return zero, false
	case err != nil:
		h.fail(w, r, err)
		return zero, false
	}
	return v, true
}

func (h *Handler) person(w http.ResponseWriter, r *http.Request) {
	a, ok := h.account(w, r)
	if !ok {
		return
	}
	h.personPage(w, r, a, "", "")
}

// toPerson ends an action on a person: their page shows its outcome.
func (h *Handler) toPerson(w http.ResponseWriter, r *http.Request, a auth.Account, text, report string) {
	h.done(w, r, "/admin/people/"+strconv.FormatInt(a.ID, 10), notice{Text: text, Report: report})
}

// refusePerson ends a refused action on a person: their page says why.
func (h *Handler) refusePerson(w http.ResponseWriter, r *http.Request, a auth.Account, why string) {
	h.done(w, r, "/admin/people/"+strconv.FormatInt(a.ID, 10), notice{Error: why})
}

func (h *Handler) personPage(w http.ResponseWriter, r *http.Request, a auth.Account, notice, report string) {
	ctx := r.Context()
	row, err := h.row(ctx, a)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := page{Base: h.base(r, a.DisplayName), Person: row, Report: report}
	p.Notice = notice
	if p.Groups, err = h.svc.GroupsOf(ctx, a.ID); err == nil {
		if p.AppPass, err = h.svc.AppPasswords(ctx, a.ID); err == nil {
			p.Sessions, err = h.svc.Sessions(ctx, a.ID)
		}
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if h.mail != nil {
		used, quota, err := h.mail.Usage(ctx, a.ID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		p.Mail = &mailUsage{Used: used, Quota: quota, QuotaMB: float64(quota) / 1e6}
	}
	h.render(w, r, http.StatusOK, "person", p)
}

// setQuota sets an account's mail storage quota, in megabytes (0: none).
func (h *Handler) setQuota(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	a, ok := h.account(w, r)
	if !ok || h.mail == nil {
		if ok {
			web.Error(w, r, http.StatusNotFound)
		}
		return
	}
	mb, err := strconv.ParseFloat(strings.TrimSpace(r.PostFormValue("quota_mb")), 64)
	if err != nil || mb < 0 || mb > 1e7 {
		h.refusePerson(w, r, a, h.loc(r).T("console.msg.quota_invalid"))
		return
	}
	if err := h.mail.SetQuota(r.Context(), a.ID, int64(mb*1e6)); err != nil {
		h.fail(w, r, err)
		return
	}
	h.svc.Audit().Record(r.Context(), audit.Event{Actor: sess.Account.Login, Subject: a.Login, Kind: "mail.quota", Detail: fmt.Sprintf("quota_mb=%g", mb), Addr: web.ClientAddr(r).String(), UserAgent: r.UserAgent()})
	h.toPerson(w, r, a, h.loc(r).T("console.msg.quota_saved"), "")
}

func (h *Handler) suspend(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	a, ok := h.account(w, r)
	if !ok {
		return
	}
	rep, err := h.ops.Suspend(r.Context(), actor(r, sess), a.ID)
	switch {
	case errors.Is(err, admin.ErrSelf):
		h.refusePerson(w, r, a, h.loc(r).T("console.msg.suspend_self"))
		return
	case errors.Is(err, admin.ErrLastAdmin):
		h.refusePerson(w, r, a, h.loc(r).T("console.msg.last_admin"))
		return
	case errors.Is(err, admin.ErrState):
		h.refusePerson(w, r, a, h.loc(r).T("console.msg.suspend_state"))
		return
	case err != nil && rep.Kind == "":
		h.fail(w, r, err)
		return
	}
	a, _ = h.svc.Account(r.Context(), a.ID)
	notice := h.loc(r).T("console.msg.suspended")
	if err != nil {
		notice = h.loc(r).T("console.msg.suspend_incomplete")
	}
	h.toPerson(w, r, a, notice, stepsText(h.loc(r), rep.Steps))
}

func (h *Handler) reactivate(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	a, ok := h.account(w, r)
	if !ok {
		return
	}
	_, err := h.ops.Resume(r.Context(), actor(r, sess), a.ID)
	switch {
	case errors.Is(err, auth.ErrNeedsFactor):
		h.refusePerson(w, r, a, h.loc(r).T("console.msg.no_factor"))
		return
	case errors.Is(err, admin.ErrState):
		h.refusePerson(w, r, a, admin.Explain(h.loc(r), err))
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	a.State = auth.StateActive
	h.toPerson(w, r, a, h.loc(r).T("console.msg.reactivated"), "")
}

func (h *Handler) revoke(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	a, ok := h.account(w, r)
	if !ok {
		return
	}
	rep, err := h.svc.Revoke(r.Context(), sess.Account.Login, a.ID, client(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	l := h.loc(r)
	h.toPerson(w, r, a, l.T("console.msg.revoked"),
		l.T("console.msg.revoke_counts", "sessions", rep.Sessions, "apppw", rep.AppPasswords, "conns", rep.Connections))
}

func (h *Handler) reenrol(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	a, ok := h.account(w, r)
	if !ok {
		return
	}
	if a.ID == sess.Account.ID {
		h.refusePerson(w, r, a, h.loc(r).T("console.msg.own_factors"))
		return
	}
	ctx := r.Context()
	// Lost factors are removed at once (a found phone must not still work);
	// the person then chooses a password and factors anew. An admin never
	// sets a password for anyone.
	if err := h.svc.RemoveAllFactors(ctx, sess.Account.Login, a.ID, client(r)); err != nil {
		h.fail(w, r, err)
		return
	}
	token, err := h.svc.NewEnrolmentLink(ctx, sess.Account.Login, a.ID, client(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.showLink(w, r, linkPage{Title: h.loc(r).T("console.title.enrolment_link"), Link: h.baseURL + "/enrol/" + token, Form: inviteForm{Login: a.Login, Name: a.DisplayName}}, notice{})
}

func (h *Handler) revokeAppPassword(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	a, ok := h.account(w, r)
	if !ok {
		return
	}
	ap, err := strconv.ParseInt(r.PathValue("ap"), 10, 64)
	if err != nil {
		web.Error(w, r, http.StatusNotFound)
		return
	}
	if err := h.svc.RevokeAppPassword(r.Context(), sess.Account.Login, a.ID, ap, client(r)); err != nil {
		h.fail(w, r, err)
		return
	}
	h.toPerson(w, r, a, h.loc(r).T("console.msg.apppw_revoked"), "")
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Error("admin request failed", "path", r.URL.Path, "err", err)
	web.Error(w, r, http.StatusInternalServerError)
}

// incidentGuard lets an admin use the console during incident mode only in
// a session that proved a passkey or security key: incident mode ended every
// session, and a TOTP code or recovery code alone, which a phisher may have,
// is not enough then.
func (h *Handler) incidentGuard(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		st, err := h.ops.IncidentState(ctx)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		sess, _ := login.SessionFrom(ctx)
		if !st.On || (sess.Method == auth.MethodPasskey || sess.Method == auth.MethodWebAuthn) && sess.CreatedAt.After(st.Since.Add(-time.Second)) {
			next(w, r)
			return
		}
		p := page{Base: h.base(r, h.loc(r).T("console.incident.title"))}
		p.Base.Error = p.Base.L.T("console.msg.incident_confirm")
		next := r.URL.RequestURI()
		if r.Method != http.MethodGet {
			// A form sent in this session is kept for after the key, as
			// after the step-up window (pending.go); a forged one is not.
			next = "/admin"
			if login.ValidCSRF(sess, r.PostFormValue("csrf")) {
				form, err := actionForm(r)
				if err != nil {
					web.Error(w, r, http.StatusRequestEntityTooLarge)
					return
				}
				next = "/admin/pending/" + h.pending.put(pendingAction{session: sess.ID, path: r.URL.Path, form: form})
				p.Base.Error += " " + p.Base.L.T("console.msg.kept")
			}
		}
		p.Link = "/reauth?next=" + url.QueryEscape(next)
		h.render(w, r, http.StatusForbidden, "webauthn", p)
	}
}

// loc is the request's localizer: the admin's language setting, else the
// browser's, else the party's.
func (h *Handler) loc(r *http.Request) *i18n.Localizer { return h.login.Localizer(r) }
