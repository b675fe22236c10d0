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

// fieldLabels are the words for the fields of the console's forms.
var fieldLabels = map[string]string{
	"login": "Address", "name": "Name", "role": "Role", "groups": "Groups", "expires": "Last day of access",
	"mail_to": "Personal address", "to": "New name", "quota_mb": "Mail quota (MB)", "successor": "Successor",
	"links": "Shares and links", "forward": "Forward mail", "autoreply": "Auto-reply", "retain": "Keep the mailbox (days)",
	"export": "Export the mailbox", "read": "Successor may read the mailbox", "on": "Incident mode", "csv": "CSV file",
	"commit": "Create the invites",
}

// pendingPage shows a kept action after the step-up, as it was filled in,
// with the button that sends it; or says that it is gone.
func (h *Handler) pendingPage(w http.ResponseWriter, r *http.Request) {
	sess, _ := login.SessionFrom(r.Context())
	p, ok := h.pending.get(r.PathValue("token"), sess.ID)
	if !ok {
		pg := page{Base: h.base(r, "Action not kept")}
		pg.Error = "The action you started before confirming with your key was not kept (after " + strconv.Itoa(int(pendingTTL/time.Minute)) + " minutes, or when the server restarted): nothing was done. Please do it again."
		h.render(w, r, http.StatusNotFound, "pending", pg)
		return
	}
	f := &pendingForm{Path: p.path, What: h.describe(r, p.path)}
	keys := make([]string, 0, len(p.form))
	for k := range p.form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range p.form[k] {
			fl := pendingField{Name: k, Label: fieldLabels[k], Value: v}
			f.Fields = append(f.Fields, fl)
			if fl.Label == "" || v == "" {
				continue
			}
			switch k {
			case "csv":
				fl.Value = strconv.Itoa(strings.Count(strings.TrimSpace(v), "\n")+1) + " lines"
			case "on":
				fl.Value = map[string]string{"1": "switch on", "0": "lift"}[v]
			case "forward", "export", "read", "commit":
				fl.Value = "yes"
			}
			f.Shown = append(f.Shown, fl)
		}
	}
	pg := page{Base: h.base(r, "Finish what you started"), Pending: f}
	pg.Notice = "Confirmed. Nothing was done yet: check the action below and press the button to do it."
	h.render(w, r, http.StatusOK, "pending", pg)
}

// describe says in words what the action at path does.
func (h *Handler) describe(r *http.Request, path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	who := func() string {
		if len(parts) < 3 {
			return ""
		}
		id, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil {
			return ""
		}
		a, err := h.svc.Account(r.Context(), id)
		if err != nil {
			return ""
		}
		return a.DisplayName + " (" + a.Login + ")"
	}
	last := parts[len(parts)-1]
	switch {
	case path == "/admin/invites":
		return "Invite a person"
	case path == "/admin/invites/csv":
		return "Invite people from a CSV file"
	case path == "/admin/incident":
		return "Switch incident mode"
	case path == "/admin/groups":
		return "Create a group"
	case len(parts) > 1 && parts[1] == "groups":
		return map[string]string{"rename": "Rename the group ", "members": "Add a member to the group ", "remove": "Remove a member from the group "}[last] + parts[2]
	case len(parts) > 1 && parts[1] == "exports":
		return "Download the mail export " + last
	case len(parts) > 2 && parts[1] == "people":
		verb := map[string]string{"suspend": "Suspend", "reactivate": "Reactivate", "revoke": "Revoke all access of", "reenrol": "Make a new enrolment link for",
			"quota": "Set the mail quota of", "offboard": "Offboard"}[last]
		if len(parts) > 4 && parts[3] == "app-passwords" {
			verb = "Revoke an app password of"
		}
		return strings.TrimSpace(verb + " " + who())
	}
	return path
}
