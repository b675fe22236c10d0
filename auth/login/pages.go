package login

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"image/png"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/web"
)

// Sign-in: password, then second factor.

func (h *Handler) getLogin(w http.ResponseWriter, r *http.Request) {
	if sess, err := h.session(r); err == nil {
		h.redirectFor(w, r, sess.Stage)
		return
	}
	l := h.Localizer(r)
	p := page{Title: l.T("login.title"), Next: r.URL.Query().Get("next")}
	if r.URL.Query().Get("signedout") == SignedOutIncident {
		p.Notice = l.T("login.signedout.incident")
	}
	h.render(w, r, http.StatusOK, "login", p)
}

func (h *Handler) postLogin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.formError(w, r, err)
		return
	}
	login, pw, next := r.PostFormValue("login"), r.PostFormValue("password"), r.PostFormValue("next")
	token, st, err := h.svc.PasswordSignIn(r.Context(), login, pw, h.client(r))
	if err != nil {
		l := h.Localizer(r)
		msg := userMessage(l, err)
		if msg == "" {
			h.fail(w, r, err)
			return
		}
		h.render(w, r, status(w, err, http.StatusUnauthorized), "login", page{Title: l.T("login.title"), Error: msg, Login: login, Next: next})
		return
	}
	h.setSession(w, token)
	if st == auth.StageSecond {
		http.Redirect(w, r, "/login/second?next="+urlQuery(localNext(next)), http.StatusSeeOther)
		return
	}
	h.redirectFor(w, r, st)
}

func (h *Handler) secondPage(w http.ResponseWriter, r *http.Request, code int, errMsg string) {
	sess, _ := SessionFrom(r.Context())
	factors, err := h.svc.Factors(r.Context(), sess.Account.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	l := h.Localizer(r)
	p := page{Title: l.T("second.title"), Error: errMsg, Next: localNext(r.FormValue("next")), StepUp: sess.Stage == auth.StageFull}
	for _, f := range factors {
		p.HasTOTP = p.HasTOTP || f.Kind == auth.KindTOTP
		p.HasWebAuthn = p.HasWebAuthn || f.Kind != auth.KindTOTP
	}
	if p.StepUp {
		p.Title = l.T("second.title_stepup")
	}
	h.render(w, r, code, "second", p)
}

func (h *Handler) getSecond(w http.ResponseWriter, r *http.Request) {
	h.secondPage(w, r, http.StatusOK, "")
}

func (h *Handler) getReauth(w http.ResponseWriter, r *http.Request) {
	h.secondPage(w, r, http.StatusOK, "")
}

// signedIn finishes a successful second step: a new session cookie after a
// sign-in, then on to the destination.
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request, newToken string) {
	if newToken != "" {
		h.setSession(w, newToken)
		h.rememberDevice(w, r, newToken)
	}
	http.Redirect(w, r, localNext(r.FormValue("next")), http.StatusSeeOther)
}

func (h *Handler) postTOTP(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	tok, err := h.svc.VerifyTOTP(r.Context(), sess, r.PostFormValue("code"), h.client(r))
	if err != nil {
		if msg := userMessage(h.Localizer(r), err); msg != "" {
			h.secondPage(w, r, status(w, err, http.StatusUnauthorized), msg)
			return
		}
		h.fail(w, r, err)
		return
	}
	h.signedIn(w, r, tok)
}

func (h *Handler) postRecovery(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	tok, err := h.svc.VerifyRecoveryCode(r.Context(), sess, r.PostFormValue("code"), h.client(r))
	if err != nil {
		if msg := userMessage(h.Localizer(r), err); msg != "" {
			h.secondPage(w, r, status(w, err, http.StatusUnauthorized), msg)
			return
		}
		h.fail(w, r, err)
		return
	}
	h.setSession(w, tok)
	h.rememberDevice(w, r, tok)
	left, _ := h.svc.RecoveryCodesLeft(r.Context(), sess.Account.ID)
	l := h.Localizer(r)
	h.message(w, r, http.StatusOK, l.T("recovery.used.title"), l.T("recovery.used.text", "n", left), "/account")
}

func (h *Handler) webauthnBegin(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	opts, err := h.svc.BeginWebAuthn(r.Context(), sess)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, opts)
}

func readBody(r *http.Request) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r.Body, auth.MaxWebAuthnBody))
}

func (h *Handler) webauthnFinish(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	body, err := readBody(r)
	if err != nil {
		web.JSON(w, http.StatusBadRequest, map[string]string{"error": h.Localizer(r).T("error.unreadable_answer")})
		return
	}
	tok, err := h.svc.FinishWebAuthn(r.Context(), sess, body, h.client(r))
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	if tok != "" {
		h.setSession(w, tok)
		h.rememberDevice(w, r, tok)
	}
	web.JSON(w, http.StatusOK, map[string]string{"next": localNext(r.URL.Query().Get("next"))})
}

func (h *Handler) passkeyBegin(w http.ResponseWriter, r *http.Request) {
	opts, token, err := h.svc.BeginPasskeySignIn(r.Context())
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	setCookie(w, CeremonyCookie, token, 0)
	web.JSON(w, http.StatusOK, opts)
}

func (h *Handler) passkeyFinish(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(CeremonyCookie)
	if err != nil {
		web.JSON(w, http.StatusBadRequest, map[string]string{"error": h.Localizer(r).T("error.invalid.timed_out")})
		return
	}
	clearCookie(w, CeremonyCookie)
	body, err := readBody(r)
	if err != nil {
		web.JSON(w, http.StatusBadRequest, map[string]string{"error": h.Localizer(r).T("error.unreadable_answer")})
		return
	}
	tok, err := h.svc.FinishPasskeySignIn(r.Context(), c.Value, body, h.client(r))
	if err != nil {
		if errors.Is(err, auth.ErrBadCredentials) {
			web.JSON(w, http.StatusUnauthorized, map[string]string{"error": h.Localizer(r).T("error.passkey_refused")})
			return
		}
		h.apiFail(w, r, err)
		return
	}
	h.setSession(w, tok)
	h.rememberDevice(w, r, tok)
	web.JSON(w, http.StatusOK, map[string]string{"next": localNext(r.URL.Query().Get("next"))})
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	c, _ := r.Cookie(SessionCookie)
	if c != nil {
		if err := h.svc.SignOut(r.Context(), c.Value, h.client(r)); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	clearCookie(w, SessionCookie)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// Enrolment: invite → password → factor → recovery codes.

func (h *Handler) getInvite(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	inv, err := h.svc.PeekInvite(r.Context(), token)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "invite", page{Title: h.Localizer(r).T("invite.title"), Invite: inv, Token: token})
}

func (h *Handler) postInvite(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	inv, err := h.svc.PeekInvite(r.Context(), token)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	l := h.Localizer(r)
	pw, pw2 := r.PostFormValue("password"), r.PostFormValue("password2")
	if pw != pw2 {
		h.render(w, r, http.StatusBadRequest, "invite", page{Title: l.T("invite.title"), Invite: inv, Token: token, Error: l.T("error.passwords_differ")})
		return
	}
	sessTok, err := h.svc.AcceptInvite(r.Context(), token, pw, h.client(r))
	if err != nil {
		msg := userMessage(l, err)
		if msg == "" {
			msg = policyMessage(l, err)
		}
		if msg == "" {
			h.fail(w, r, err)
			return
		}
		h.render(w, r, http.StatusBadRequest, "invite", page{Title: l.T("invite.title"), Invite: inv, Token: token, Error: msg})
		return
	}
	h.setSession(w, sessTok)
	http.Redirect(w, r, "/enrol", http.StatusSeeOther)
}

func (h *Handler) getEnrol(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	if sess.Stage == auth.StageFull && !h.svc.Fresh(sess) {
		http.Redirect(w, r, "/reauth?next=/enrol", http.StatusSeeOther)
		return
	}
	enrolling := sess.Stage == auth.StageEnrol
	need := h.svc.KeysRequired(sess.Account)
	totpAllowed := !(enrolling && need > 0)
	var keys int
	if enrolling && need > 1 {
		// An officer enrols with two keys: say how many are in.
		factors, err := h.svc.Factors(r.Context(), sess.Account.ID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		for _, f := range factors {
			if f.Kind != auth.KindTOTP {
				keys++
			}
		}
	}
	if !enrolling {
		factors, err := h.svc.Factors(r.Context(), sess.Account.ID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		for _, f := range factors {
			totpAllowed = totpAllowed && f.Kind != auth.KindTOTP
		}
	}
	h.render(w, r, http.StatusOK, "enrol", page{Title: h.Localizer(r).T("enrol.page_title"), Enrolling: enrolling, TOTPAllowed: totpAllowed, KeysNeed: need, KeysHave: keys})
}

func (h *Handler) totpStart(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	if _, err := h.svc.BeginTOTP(r.Context(), sess); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/enrol/totp", http.StatusSeeOther)
}

func (h *Handler) totpPage(w http.ResponseWriter, r *http.Request, code int, errMsg string) {
	sess, _ := SessionFrom(r.Context())
	key, err := h.svc.PendingTOTP(sess)
	if err != nil {
		http.Redirect(w, r, "/enrol", http.StatusSeeOther)
		return
	}
	h.render(w, r, code, "totp", page{Title: h.Localizer(r).T("second.totp.heading"), Secret: groupFours(key.Secret()),
		// Built by the otp library from our own key, issuer and login; typed
		// so html/template lets the otpauth scheme through.
		OTPAuth: template.URL(key.URL()), Error: errMsg})
}

// groupFours writes a key in groups of four characters, as people read it
// aloud and type it: "ABCD EFGH IJ". Authenticator apps ignore the spaces.
func groupFours(key string) string {
	var b strings.Builder
	for i, c := range key {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (h *Handler) getTOTP(w http.ResponseWriter, r *http.Request) {
	h.totpPage(w, r, http.StatusOK, "")
}

func (h *Handler) totpQR(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	key, err := h.svc.PendingTOTP(sess)
	if err != nil {
		web.Error(w, r, http.StatusNotFound)
		return
	}
	img, err := key.Image(256, 256)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}

func (h *Handler) totpFinish(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	tok, err := h.svc.FinishTOTP(r.Context(), sess, r.PostFormValue("code"), h.client(r))
	if err != nil {
		if errors.Is(err, auth.ErrBadCode) {
			h.totpPage(w, r, http.StatusBadRequest, h.Localizer(r).T("error.totp_setup_code"))
			return
		}
		h.fail(w, r, err)
		return
	}
	h.afterFactor(w, r, tok)
}

// afterFactor goes on after a factor was added: a new member saves recovery
// codes next; others return to their account page.
func (h *Handler) afterFactor(w http.ResponseWriter, r *http.Request, newToken string) {
	if newToken != "" {
		h.setSession(w, newToken)
		h.rememberDevice(w, r, newToken)
		http.Redirect(w, r, "/enrol/recovery", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

type registerRequest struct {
	Kind string `json:"kind"`
}

func (h *Handler) registerBegin(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	var req registerRequest
	if err := decodeJSON(r, &req); err != nil {
		web.JSON(w, http.StatusBadRequest, map[string]string{"error": h.Localizer(r).T("error.bad_request")})
		return
	}
	opts, err := h.svc.BeginRegistration(r.Context(), sess, auth.FactorKind(req.Kind))
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, opts)
}

func (h *Handler) registerFinish(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	body, err := readBody(r)
	if err != nil {
		web.JSON(w, http.StatusBadRequest, map[string]string{"error": h.Localizer(r).T("error.unreadable_answer")})
		return
	}
	tok, err := h.svc.FinishRegistration(r.Context(), sess, r.URL.Query().Get("name"), body, h.client(r))
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	next := "/account"
	if sess.Stage == auth.StageEnrol {
		next = "/enrol" // an officer's second key is still to come
	}
	if tok != "" {
		// Enrolment is done: this browser is the member's own device from
		// now on (its password sign-ins are limited per device).
		h.setSession(w, tok)
		h.rememberDevice(w, r, tok)
		next = "/enrol/recovery"
	}
	web.JSON(w, http.StatusOK, map[string]string{"next": next})
}

func (h *Handler) getRecovery(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	left, err := h.svc.RecoveryCodesLeft(r.Context(), sess.Account.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if left == 0 && sameSiteNavigation(r) {
		// Right after enrolment, or with every code used up: the codes at
		// once, without a click on "Show my recovery codes".
		h.postRecoveryCodes(w, r)
		return
	}
	h.render(w, r, http.StatusOK, "recovery", page{Title: h.Localizer(r).T("recovery.title"), Left: left})
}

// sameSiteNavigation reports whether r comes from caucus's own pages or
// from the address bar (Sec-Fetch-Site, Fetch Metadata), or from a client
// that does not say: no other site can have a member's codes made.
func sameSiteNavigation(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

// recoveryCodeRe is a recovery code as auth makes them.
var recoveryCodeRe = regexp.MustCompile(`^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`)

// downloadRecoveryCodes sends back the codes the recovery page just showed
// as a text file to keep (Content-Disposition: attachment, RFC 6266). It
// takes a full set of codes and nothing else, so it cannot be made to
// serve other content from caucus's address.
func (h *Handler) downloadRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	codes := r.PostForm["code"]
	if len(codes) != auth.RecoveryCodeCount || !all(codes, recoveryCodeRe.MatchString) {
		web.Error(w, r, http.StatusBadRequest)
		return
	}
	sess, _ := SessionFrom(r.Context())
	l := h.Localizer(r)
	var b strings.Builder
	b.WriteString(l.T("pages.recovery.file_heading", "party", h.party.DisplayName(), "login", sess.Account.Login) + "\n\n")
	b.WriteString(strings.Join(codes, "\n") + "\n\n")
	b.WriteString(l.T("pages.recovery.file_note") + "\n")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="recovery-codes.txt"`)
	io.WriteString(w, b.String())
}

// all reports whether ok holds for every element of s.
func all(s []string, ok func(string) bool) bool {
	for _, x := range s {
		if !ok(x) {
			return false
		}
	}
	return true
}

func (h *Handler) postRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	codes, err := h.svc.NewRecoveryCodes(r.Context(), sess, h.client(r))
	if err != nil {
		if errors.Is(err, auth.ErrStepUp) {
			http.Redirect(w, r, "/reauth?next=/enrol/recovery", http.StatusSeeOther)
			return
		}
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "recovery", page{Title: h.Localizer(r).T("recovery.title"), Codes: codes})
}

// The account security page.

// KeptDevice returns the device name that the Apple profile form (on the
// account page and the phone set-up page) passes back through a step-up
// in the query parameter "device", or "" when there is none or it is not a
// name the form would take (the template escapes it in any case).
func KeptDevice(r *http.Request) string {
	d := strings.TrimSpace(r.URL.Query().Get("device"))
	if len(d) > 64 || strings.ContainsFunc(d, unicode.IsControl) {
		return ""
	}
	return d
}

func (h *Handler) getAccount(w http.ResponseWriter, r *http.Request) {
	h.accountPage(w, r, http.StatusOK, "")
}

// accountPage shows the account page with status code and, when a form on
// it was refused, errMsg.
func (h *Handler) accountPage(w http.ResponseWriter, r *http.Request, code int, errMsg string) {
	sess, _ := SessionFrom(r.Context())
	ctx := r.Context()
	l := h.Localizer(r)
	p := page{L: l, Title: l.T("account.title"), Notice: noticeText(l, r.URL.Query().Get("done")), Error: errMsg, Languages: h.languages(sess.Account.Language),
		Device: KeptDevice(r)}
	var err error
	if p.Factors, err = h.svc.Factors(ctx, sess.Account.ID); err == nil {
		if p.RecoveryLeft, err = h.svc.RecoveryCodesLeft(ctx, sess.Account.ID); err == nil {
			if p.AppPasswords, err = h.svc.AppPasswords(ctx, sess.Account.ID); err == nil {
				if p.Sessions, err = h.svc.Sessions(ctx, sess.Account.ID); err == nil {
					p.ShareMail, err = h.svc.ShareMail(ctx, sess.Account.ID)
				}
			}
		}
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, code, "account", p)
}

// changePassword sets the member's new password: the old one, the new one
// twice, the policy's checks; outside the step-up window, a fresh sign-in
// first.
func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	l := h.Localizer(r)
	newPW := r.PostFormValue("new")
	if newPW != r.PostFormValue("new2") {
		h.accountPage(w, r, http.StatusBadRequest, l.T("error.passwords_differ"))
		return
	}
	err := h.svc.ChangePassword(r.Context(), sess, r.PostFormValue("old"), newPW, h.client(r))
	switch {
	case err == nil:
		http.Redirect(w, r, "/account?done=password", http.StatusSeeOther)
	case errors.Is(err, auth.ErrBadCredentials):
		h.accountPage(w, r, http.StatusBadRequest, l.T("pages.account.wrong_password"))
	case policyMessage(l, err) != "":
		h.accountPage(w, r, http.StatusBadRequest, policyMessage(l, err))
	default:
		h.fail(w, r, err)
	}
}

// changeName sets the member's display name.
func (h *Handler) changeName(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	err := h.svc.SetDisplayName(r.Context(), sess, strings.TrimSpace(r.PostFormValue("name")), h.client(r))
	if errors.Is(err, auth.ErrInvalid) {
		h.accountPage(w, r, http.StatusBadRequest, userMessage(h.Localizer(r), err))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account?done=name", http.StatusSeeOther)
}

func noticeText(l *i18n.Localizer, done string) string {
	switch done {
	case "renamed":
		return l.T("account.notice.renamed")
	case "removed":
		return l.T("account.notice.removed")
	case "revoked":
		return l.T("account.notice.revoked")
	case "signedout":
		return l.T("account.notice.signedout")
	case "language":
		return l.T("account.notice.language")
	case "password":
		return l.T("pages.account.password_changed")
	case "name":
		return l.T("pages.account.name_changed")
	case "sharemail":
		return l.T("notice.account.saved")
	}
	return ""
}

// languages is the account page's language menu: each catalogue under
// its own name.
func (h *Handler) languages(current string) []language {
	b := i18n.Builtin()
	var out []language
	for _, code := range b.Languages() {
		out = append(out, language{Code: code, Name: b.Catalogue(code).Name, Selected: code == current})
	}
	return out
}

// setLanguage keeps the member's choice of language ("" for the
// browser's); only a language caucus has is taken.
func (h *Handler) setLanguage(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	lang := r.PostFormValue("language")
	if lang != "" && !i18n.Builtin().Supported(lang) {
		h.fail(w, r, fmt.Errorf("%w: language %q", auth.ErrInvalid, lang))
		return
	}
	if err := h.svc.SetLanguage(r.Context(), sess.Account.ID, lang); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account?done=language", http.StatusSeeOther)
}

// setShareMail turns the member's mails about shares (auth/notice) on
// or off: on when the form's box is ticked.
func (h *Handler) setShareMail(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	if err := h.svc.SetShareMail(r.Context(), sess.Account.ID, r.PostFormValue("on") == "1"); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account?done=sharemail#sharemail", http.StatusSeeOther)
}

func pathID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id >= 0
}

func (h *Handler) renameFactor(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	id, ok := pathID(r)
	if !ok {
		web.Error(w, r, http.StatusNotFound)
		return
	}
	if err := h.svc.RenameFactor(r.Context(), sess, id, r.PostFormValue("name"), h.client(r)); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account?done=renamed", http.StatusSeeOther)
}

func (h *Handler) removeFactor(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	id, ok := pathID(r)
	if !ok {
		web.Error(w, r, http.StatusNotFound)
		return
	}
	if err := h.svc.RemoveFactor(r.Context(), sess, id, h.client(r)); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account?done=removed", http.StatusSeeOther)
}

func (h *Handler) createAppPassword(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	scope, err := auth.ParseScope(r.PostFormValue("scope"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	secret, info, err := h.svc.CreateAppPassword(r.Context(), sess, r.PostFormValue("name"), scope, h.client(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "apppassword", page{Title: h.Localizer(r).T("apppw.page_title"), Secret: secret, AppPassword: info})
}

func (h *Handler) revokeAppPassword(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	id, ok := pathID(r)
	if !ok {
		web.Error(w, r, http.StatusNotFound)
		return
	}
	if !h.svc.Fresh(sess) {
		h.fail(w, r, auth.ErrStepUp) // removing an app password needs a recent sign-in, like adding one
		return
	}
	if err := h.svc.RevokeAppPassword(r.Context(), sess.Account.Login, sess.Account.ID, id, h.client(r)); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account?done=revoked", http.StatusSeeOther)
}

func (h *Handler) endSession(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	id, ok := pathID(r)
	if !ok || id == 0 {
		web.Error(w, r, http.StatusNotFound)
		return
	}
	if _, err := h.svc.EndSession(r.Context(), sess.Account.Login, sess.Account.ID, id, h.client(r)); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account?done=signedout", http.StatusSeeOther)
}

func (h *Handler) endAllSessions(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	if _, err := h.svc.EndSession(r.Context(), sess.Account.Login, sess.Account.ID, 0, h.client(r)); err != nil {
		h.fail(w, r, err)
		return
	}
	clearCookie(w, SessionCookie)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
