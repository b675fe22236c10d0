package console

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/ui"
	"github.com/caucus-org/caucus/internal/web"
)

// phonePage is the "set up your phone" page.
type phonePage struct {
	ui.Base
	Login       string
	Secret      string       // a new app password, shown once
	Device      string       // its name
	AppleDevice string       // the Apple profile form's device name, kept through a step-up
	QR          template.URL // the app password as a QR code
}

// registerSetup adds the "set up your phone" page, which every signed-in
// person may use (a new member lands there after enrolment): links to the
// Apple configuration profile and the Thunderbird/K-9 autoconfiguration
// (mail/autoconfig), and an app password made for that phone, with a QR
// code so that it need not be typed.
func (h *Handler) registerSetup(mux *http.ServeMux) {
	mux.Handle("GET /setup/phone", h.login.Require(http.HandlerFunc(h.phone)))
	mux.Handle("POST /setup/phone", h.login.Require(http.HandlerFunc(h.phoneAppPassword)))
}

func (h *Handler) phoneBase(r *http.Request) (auth.Session, ui.Base) {
	sess, _ := login.SessionFrom(r.Context())
	l := h.loc(r)
	return sess, ui.Base{Title: l.T("console.phone.title"), L: l, CSRF: sess.CSRF, UserName: sess.Account.DisplayName, IsAdmin: sess.Account.IsAdmin()}
}

// phone shows the page; with kept=TOKEN (after a step-up) the device
// name typed before it, kept for this session (keepPhone).
func (h *Handler) phone(w http.ResponseWriter, r *http.Request) {
	sess, b := h.phoneBase(r)
	p := phonePage{Base: b, Login: sess.Account.Login, AppleDevice: login.KeptDevice(r)}
	if tok := r.URL.Query().Get("kept"); tok != "" {
		if kept, ok := h.pending.get(tok, sess.ID); ok && kept.path == "/setup/phone" {
			p.Device, p.Notice = kept.form.Get("name"), b.L.T("console.msg.pending")
		} else {
			p.Error = b.L.T("console.msg.not_kept", "n", int(pendingTTL/time.Minute))
		}
	}
	h.renderPhone(w, r, http.StatusOK, p)
}

// keepPhone keeps the device name of a request refused for want of a
// step-up (the pending actions' store, for this session only) and sends
// the browser to confirm, then back to the page with the name filled in.
func (h *Handler) keepPhone(w http.ResponseWriter, r *http.Request, sess auth.Session, device string) {
	tok := h.pending.put(pendingAction{session: sess.ID, path: "/setup/phone", form: url.Values{"name": {device}}})
	http.Redirect(w, r, "/reauth?next="+url.QueryEscape("/setup/phone?kept="+tok), http.StatusSeeOther)
}

func (h *Handler) renderPhone(w http.ResponseWriter, r *http.Request, code int, p phonePage) {
	if err := h.pages.Render(w, code, "phone", p); err != nil {
		h.fail(w, r, err)
	}
}

func (h *Handler) phoneAppPassword(w http.ResponseWriter, r *http.Request) {
	sess, b := h.phoneBase(r)
	if !login.ValidCSRF(sess, r.PostFormValue("csrf")) {
		web.Error(w, r, http.StatusForbidden)
		return
	}
	p := phonePage{Base: b, Login: sess.Account.Login, Device: strings.TrimSpace(r.PostFormValue("name"))}
	secret, _, err := h.svc.CreateAppPassword(r.Context(), sess, p.Device, auth.ScopeMail, client(r))
	switch {
	case errors.Is(err, auth.ErrStepUp):
		h.keepPhone(w, r, sess, p.Device)
		return
	case errors.Is(err, auth.ErrInvalid):
		p.Error = h.loc(r).T("admin.err.device_name")
		h.renderPhone(w, r, http.StatusBadRequest, p)
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	p.Secret = secret
	if p.QR, err = qrDataURL(secret); err != nil {
		h.fail(w, r, err)
		return
	}
	h.renderPhone(w, r, http.StatusOK, p)
}
