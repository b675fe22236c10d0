package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
)

// editPerson saves a person's name, role, last day of access and groups.
func (h *Handler) editPerson(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	a, ok := h.account(w, r)
	if !ok {
		return
	}
	e := admin.PersonEdit{Name: strings.TrimSpace(r.PostFormValue("name")), Role: auth.Role(r.PostFormValue("role")),
		LastDay: strings.TrimSpace(r.PostFormValue("expires"))}
	for g := range strings.SplitSeq(r.PostFormValue("groups"), ",") {
		if g = strings.TrimSpace(g); g != "" {
			e.Groups = append(e.Groups, g)
		}
	}
	err := h.ops.EditPerson(r.Context(), actor(r, sess), a.ID, e)
	switch {
	case errors.Is(err, admin.ErrSelf):
		h.refusePerson(w, r, a, h.loc(r).T("console.msg.own_role"))
	case errors.Is(err, admin.ErrLastAdmin):
		h.refusePerson(w, r, a, h.loc(r).T("console.msg.last_admin"))
	case errors.Is(err, auth.ErrInvalid) || errors.Is(err, auth.ErrNeedWebAuthn):
		h.refusePerson(w, r, a, h.loc(r).T("console.msg.nothing_changed", "why", admin.HumanError(err)))
	case err != nil:
		h.fail(w, r, err)
	default:
		h.toPerson(w, r, a, h.loc(r).T("console.msg.saved"), "")
	}
}

// resendInvite makes a new enrolment link for an invited person (the
// older ones stop working) and shows it once.
func (h *Handler) resendInvite(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	a, ok := h.account(w, r)
	if !ok {
		return
	}
	if a.State != auth.StateInvited {
		h.refusePerson(w, r, a, h.loc(r).T("console.msg.not_invited"))
		return
	}
	token, err := h.svc.NewEnrolmentLink(r.Context(), sess.Account.Login, a.ID, client(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.showLink(w, r, linkPage{Title: h.loc(r).T("console.title.invite_link"), Link: h.baseURL + "/enrol/" + token, Form: inviteForm{Login: a.Login, Name: a.DisplayName}},
		notice{Text: h.loc(r).T("console.msg.new_link")})
}

// withdrawInvite ends an invite that was not accepted.
func (h *Handler) withdrawInvite(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	a, ok := h.account(w, r)
	if !ok {
		return
	}
	err := h.svc.WithdrawInvite(r.Context(), sess.Account.Login, a.ID, client(r))
	switch {
	case errors.Is(err, auth.ErrInvalid):
		h.refusePerson(w, r, a, admin.HumanError(err)+".")
	case err != nil:
		h.fail(w, r, err)
	default:
		h.toPerson(w, r, a, h.loc(r).T("console.msg.withdrawn"), "")
	}
}

// factorRow is a sign-in factor as the person page shows it.
type factorRow struct{ auth.Factor }

// auditWords are the audit log's kinds in people's words.
var auditWords = map[string]string{
	"account.expiry": "last day of access changed", "account.name": "name changed", "account.role": "role changed", "account.state": "state changed",
	"admin.expire": "access ended (last day passed)", "admin.incident.off": "incident mode lifted", "admin.incident.on": "incident mode started",
	"admin.offboard": "offboarded", "admin.offboard.step": "offboarding step", "admin.suspend": "suspended",
	"apppassword.create": "app password made", "apppassword.revoke": "app password revoked", "backup.create": "backup made",
	"ctl.connect": "command line used", "enrol.complete": "enrolment finished", "factor.add": "sign-in factor added",
	"factor.clone-warning": "possible copy of a security key", "factor.remove": "sign-in factor removed",
	"factor.remove-all": "all sign-in factors removed", "factor.rename": "sign-in factor renamed", "factor.totp.add": "authenticator app added",
	"files.delete": "file deleted", "files.drop": "file dropped off", "files.link.create": "public link made",
	"files.link.password": "public link password set", "files.link.resume": "public links resumed", "files.link.revoke": "public link revoked",
	"files.link.suspend": "public links suspended", "files.move": "file moved", "files.purge": "trash emptied", "files.quota": "file quota set",
	"files.restore": "file restored", "files.share": "shared", "files.transfer": "files handed over", "files.unshare": "sharing ended",
	"files.versions": "file versions", "group.add": "added to a group", "group.create": "group made", "group.remove": "removed from a group",
	"group.rename": "group renamed", "incident.off": "incident mode lifted", "incident.on": "incident mode started",
	"invite.accept": "invite accepted", "invite.create": "invited", "invite.import": "people invited from a file",
	"invite.mail": "invite mailed", "invite.reissue": "new enrolment link", "invite.withdraw": "invite withdrawn",
	"login.apppassword": "signed in with an app password", "login.passkey": "signed in with a passkey",
	"login.password": "password entered", "login.recovery": "signed in with a recovery code",
	"login.totp": "signed in with an authenticator app", "login.webauthn": "signed in with a security key",
	"mail.alias.add": "mail alias added", "mail.autoreply": "auto-reply set", "mail.export.download": "mail export downloaded",
	"mail.forward": "mail forwarded", "mail.mobileconfig": "phone settings downloaded", "mail.quota": "mail quota set",
	"mail.retention": "mailbox kept until", "mail.retention.end": "kept mailbox deleted", "mail.successor": "mailbox given to successor",
	"recovery.generate": "recovery codes made", "session.revoke": "signed out elsewhere", "session.signout": "signed out",
	"smtp.rate-limited": "mail sending slowed down", "smtp.sender-refused": "mail sender refused",
	"stepup.passkey": "confirmed with a passkey", "stepup.webauthn": "confirmed with a security key", "stepup.totp": "confirmed with an authenticator app",
}

// auditRow is an audit record as the audit page shows it.
type auditRow struct{ audit.Record }

// What is the record's kind in people's words, "" when there are none.
func (r auditRow) What() string { return auditWords[r.Kind] }
