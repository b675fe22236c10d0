package console

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/web"
)

// A console action needs a fresh passkey or security key (the step-up
// window). When it has passed, the action is not lost: its form is kept
// here, on the server, the admin confirms with their key, and then sees
// the action as they filled it in, one press away from being done. (The
// way back cannot come from the Referer header: caucus's own
// Referrer-Policy: no-referrer stops browsers from sending it.)

// Bounds of the pending actions.
const (
	pendingTTL        = 15 * time.Minute // how long one is kept
	pendingMax        = 1024             // at most this many, all admins together
	pendingPerSession = 8                // at most this many per session
	pendingMaxBytes   = admin.MaxCSVBytes + 64<<10
)

// pendingAction is a console form that waits for the admin's step-up.
type pendingAction struct {
	session int64 // the admin's session: nobody else sees it
	path    string
	form    url.Values // without the CSRF token
	at      time.Time
}

// pendingStore holds pending actions by token, in memory: a restart
// forgets them, and the admin is then told so.
type pendingStore struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]pendingAction
}

func newPendingStore(now func() time.Time) *pendingStore {
	return &pendingStore{now: now, m: map[string]pendingAction{}}
}

// put keeps p and returns its token. The oldest action goes when the
// session or the store holds too many.
func (s *pendingStore) put(p pendingAction) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	p.at = now
	mine := 0
	oldest, oldestMine := "", ""
	for tok, q := range s.m {
		if now.Sub(q.at) > pendingTTL {
			delete(s.m, tok)
			continue
		}
		if oldest == "" || q.at.Before(s.m[oldest].at) {
			oldest = tok
		}
		if q.session == p.session {
			mine++
			if oldestMine == "" || q.at.Before(s.m[oldestMine].at) {
				oldestMine = tok
			}
		}
	}
	switch {
	case mine >= pendingPerSession:
		delete(s.m, oldestMine)
	case len(s.m) >= pendingMax:
		delete(s.m, oldest)
	}
	tok := web.RandomToken(16)
	s.m[tok] = p
	return tok
}

// get returns the pending action tok of session, if it is still kept.
func (s *pendingStore) get(tok string, session int64) (pendingAction, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.m[tok]
	if !ok || p.session != session || s.now().Sub(p.at) > pendingTTL {
		return pendingAction{}, false
	}
	return p, true
}

// pendingForm is what the pending page shows: the action, the fields as
// filled in (Shown), and all of them for the form that sends it (Fields).
type pendingForm struct {
	Path   string
	What   string
	Shown  []pendingField
	Fields []pendingField
}

type pendingField struct{ Name, Label, Value string }

// keep stores the form of r, a console action refused for want of a
// step-up, and sends the browser to confirm with its key, then to the
// pending page.
func (h *Handler) keep(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	form, err := actionForm(r)
	if err != nil {
		web.Error(w, r, http.StatusRequestEntityTooLarge)
		return
	}
	tok := h.pending.put(pendingAction{session: sess.ID, path: r.URL.Path, form: form})
	http.Redirect(w, r, "/reauth?next="+url.QueryEscape("/admin/pending/"+tok), http.StatusSeeOther)
}

// actionForm is the form of a console action without its CSRF token; an
// uploaded CSV file becomes the "csv" field the import reads too.
func actionForm(r *http.Request) (url.Values, error) {
	form := url.Values{}
	size := 0
	for k, vs := range r.PostForm {
		if k == "csrf" {
			continue
		}
		for _, v := range vs {
			size += len(k) + len(v)
		}
		form[k] = vs
	}
	if f, _, err := r.FormFile("file"); err == nil {
		b, err := io.ReadAll(io.LimitReader(f, admin.MaxCSVBytes+1))
		f.Close()
		if err != nil {
			return nil, err
		}
		size += len(b)
		form.Set("csv", string(b))
	}
	if size > pendingMaxBytes {
		return nil, errors.New("console: form too big to keep")
	}
	return form, nil
}

// fieldLabels are the message keys of the words for the fields of the
// console's forms.
var fieldLabels = map[string]string{
	"login": i18n.Key("console.field.login"), "name": i18n.Key("console.field.name"), "role": i18n.Key("console.field.role"),
	"groups": i18n.Key("console.field.groups"), "expires": i18n.Key("console.field.expires"),
	"mail_to": i18n.Key("console.field.mail_to"), "to": i18n.Key("console.field.to"), "quota_mb": i18n.Key("console.field.quota_mb"),
	"successor": i18n.Key("console.field.successor"), "links": i18n.Key("console.field.links"),
	"forward": i18n.Key("console.field.forward"), "autoreply": i18n.Key("console.field.autoreply"),
	"retain": i18n.Key("console.field.retain"), "export": i18n.Key("console.field.export"), "read": i18n.Key("console.field.read"),
	"on": i18n.Key("console.incident.title"), "csv": i18n.Key("console.field.csv"), "commit": i18n.Key("console.field.commit"),
	"sponsor": i18n.Key("console.cohorts.sponsor"), "last_day": i18n.Key("console.cohorts.last_day"), "people": i18n.Key("console.cohorts.volunteers"),
	"subject": i18n.Key("console.incident.subject"), "body": i18n.Key("console.incident.body"), "lang": i18n.Key("console.field.lang"),
	"item": i18n.Key("console.field.item"),
}

// pendingPage shows a kept action after the step-up, as it was filled in,
// with the button that sends it; or says that it is gone.
func (h *Handler) pendingPage(w http.ResponseWriter, r *http.Request) {
	sess, _ := login.SessionFrom(r.Context())
	p, ok := h.pending.get(r.PathValue("token"), sess.ID)
	if !ok {
		pg := page{Base: h.base(r, h.loc(r).T("console.title.not_kept"))}
		pg.Error = h.loc(r).T("console.msg.not_kept", "n", int(pendingTTL/time.Minute))
		h.render(w, r, http.StatusNotFound, "pending", pg)
		return
	}
	l := h.loc(r)
	f := &pendingForm{Path: p.path, What: h.describe(r, l, p.path)}
	keys := make([]string, 0, len(p.form))
	for k := range p.form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range p.form[k] {
			fl := pendingField{Name: k, Value: v}
			f.Fields = append(f.Fields, fl)
			key, ok := fieldLabels[k]
			if !ok || v == "" {
				continue
			}
			fl.Label = l.T(key) // i18n:keyed
			switch k {
			case "csv", "people", "body":
				fl.Value = l.T("console.pending.lines", "n", strings.Count(strings.TrimSpace(v), "\n")+1)
			case "on":
				fl.Value = l.T("console.pending.lift")
				if v == "1" {
					fl.Value = l.T("console.pending.switch_on")
				}
			case "forward", "export", "read", "commit":
				fl.Value = l.T("console.pending.yes")
			}
			f.Shown = append(f.Shown, fl)
		}
	}
	pg := page{Base: h.base(r, h.loc(r).T("console.title.pending")), Pending: f}
	pg.Notice = h.loc(r).T("console.msg.pending")
	h.render(w, r, http.StatusOK, "pending", pg)
}

// describe says in words what the action at path does.
func (h *Handler) describe(r *http.Request, l *i18n.Localizer, path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	last := parts[len(parts)-1]
	switch {
	case path == "/admin/invites":
		return l.T("console.do.invite")
	case path == "/admin/invites/csv":
		return l.T("console.do.import")
	case path == "/admin/incident":
		return l.T("console.do.incident")
	case path == "/admin/groups":
		return l.T("console.do.group_create")
	case len(parts) > 2 && parts[1] == "groups":
		switch last {
		case "rename":
			return l.T("console.do.group_rename", "group", parts[2])
		case "members":
			return l.T("console.do.group_add", "group", parts[2])
		case "remove":
			return l.T("console.do.group_remove", "group", parts[2])
		case "delete":
			return l.T("console.groups.delete.do", "group", parts[2])
		}
	case len(parts) > 2 && parts[1] == "imports":
		return l.T("console.imports.do_cancel", "job", parts[2])
	case len(parts) > 1 && parts[1] == "exports":
		return l.T("console.do.export", "file", last)
	case len(parts) > 2 && parts[1] == "people":
		return h.describePerson(r, l, parts)
	case len(parts) > 1 && (parts[1] == "cohorts" || parts[1] == "incident"):
		return h.describeCohort(r, l, parts)
	}
	return path
}

// describePerson says in words what an action on a person does; parts
// is the path /admin/people/{id}/….
func (h *Handler) describePerson(r *http.Request, l *i18n.Localizer, parts []string) string {
	who := ""
	if id, err := strconv.ParseInt(parts[2], 10, 64); err == nil {
		if a, err := h.svc.Account(r.Context(), id); err == nil {
			who = a.DisplayName + " (" + a.Login + ")"
		}
	}
	if len(parts) > 4 && parts[3] == "app-passwords" {
		return l.T("console.do.apppw", "who", who)
	}
	switch parts[len(parts)-1] {
	case "suspend":
		return l.T("console.do.suspend", "who", who)
	case "reactivate":
		return l.T("console.do.reactivate", "who", who)
	case "revoke":
		return l.T("console.do.revoke", "who", who)
	case "reenrol":
		return l.T("console.do.reenrol", "who", who)
	case "quota":
		return l.T("console.do.quota", "who", who)
	case "offboard":
		return l.T("console.do.offboard", "who", who)
	}
	return who
}
