package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/i18n"
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
		h.refusePerson(w, r, a, h.loc(r).T("console.msg.nothing_changed", "why", strings.TrimSuffix(admin.Explain(h.loc(r), err), ".")))
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
		h.refusePerson(w, r, a, h.loc(r).T("admin.err.withdraw_accepted"))
	case err != nil:
		h.fail(w, r, err)
	default:
		h.toPerson(w, r, a, h.loc(r).T("console.msg.withdrawn"), "")
	}
}

// factorRow is a sign-in factor as the person page shows it.
type factorRow struct{ auth.Factor }

// auditWords are the message keys of the audit log's kinds in people's
// words.
var auditWords = map[string]string{
	"account.expiry":       i18n.Key("console.auditkind.account_expiry"),
	"role.create":          i18n.Key("console.auditkind.role_create"),
	"role.grant":           i18n.Key("console.auditkind.role_grant"),
	"role.revoke":          i18n.Key("console.auditkind.role_revoke"),
	"role.open":            i18n.Key("console.auditkind.role_open"),
	"role.read":            i18n.Key("console.auditkind.role_read"),
	"role.send":            i18n.Key("console.auditkind.role_send"),
	"account.name":         i18n.Key("console.auditkind.account_name"),
	"account.role":         i18n.Key("console.auditkind.account_role"),
	"account.state":        i18n.Key("console.auditkind.account_state"),
	"admin.expire":         i18n.Key("console.auditkind.admin_expire"),
	"admin.incident.off":   i18n.Key("console.auditkind.admin_incident_off"),
	"admin.incident.on":    i18n.Key("console.auditkind.admin_incident_on"),
	"admin.offboard":       i18n.Key("console.auditkind.admin_offboard"),
	"admin.offboard.step":  i18n.Key("console.auditkind.admin_offboard_step"),
	"admin.suspend":        i18n.Key("console.auditkind.admin_suspend"),
	"apppassword.create":   i18n.Key("console.auditkind.apppassword_create"),
	"apppassword.revoke":   i18n.Key("console.auditkind.apppassword_revoke"),
	"backup.create":        i18n.Key("console.auditkind.backup_create"),
	"ctl.connect":          i18n.Key("console.auditkind.ctl_connect"),
	"enrol.complete":       i18n.Key("console.auditkind.enrol_complete"),
	"factor.add":           i18n.Key("console.auditkind.factor_add"),
	"list.approve":         i18n.Key("console.auditkind.list_approve"),
	"list.create":          i18n.Key("console.auditkind.list_create"),
	"list.forget":          i18n.Key("console.auditkind.list_forget"),
	"list.moderators":      i18n.Key("console.auditkind.list_moderators"),
	"list.reject":          i18n.Key("console.auditkind.list_reject"),
	"list.subscribe":       i18n.Key("console.auditkind.list_subscribe"),
	"list.suspend":         i18n.Key("console.auditkind.list_suspend"),
	"list.unsubscribe":     i18n.Key("console.auditkind.list_unsubscribe"),
	"password.change":      i18n.Key("console.auditkind.password_change"),
	"mail.phish-report":    i18n.Key("console.auditkind.mail_phish_report"),
	"phish.remove":         i18n.Key("console.auditkind.phish_remove"),
	"phish.dismiss":        i18n.Key("console.auditkind.phish_dismiss"),
	"phish.block":          i18n.Key("console.auditkind.phish_block"),
	"phish.unblock":        i18n.Key("console.auditkind.phish_unblock"),
	"mailimport.start":     i18n.Key("console.auditkind.mailimport_start"),
	"mailimport.cancel":    i18n.Key("console.auditkind.mailimport_cancel"),
	"mailimport.done":      i18n.Key("console.auditkind.mailimport_done"),
	"factor.clone-warning": i18n.Key("console.auditkind.factor_clone_warning"),
	"factor.remove":        i18n.Key("console.auditkind.factor_remove"),
	"factor.remove-all":    i18n.Key("console.auditkind.factor_remove_all"),
	"factor.rename":        i18n.Key("console.auditkind.factor_rename"),
	"factor.totp.add":      i18n.Key("console.auditkind.factor_totp_add"),
	"files.delete":         i18n.Key("console.auditkind.files_delete"),
	"files.group_handover": i18n.Key("console.groups.delete.audit_files"),
	"files.drop":           i18n.Key("console.auditkind.files_drop"),
	"files.link.create":    i18n.Key("console.auditkind.files_link_create"),
	"files.link.password":  i18n.Key("console.auditkind.files_link_password"),
	"files.link.resume":    i18n.Key("console.auditkind.files_link_resume"),
	"files.link.revoke":    i18n.Key("console.auditkind.files_link_revoke"),
	"files.link.suspend":   i18n.Key("console.auditkind.files_link_suspend"),
	"files.move":           i18n.Key("console.auditkind.files_move"),
	"files.purge":          i18n.Key("console.auditkind.files_purge"),
	"files.quota":          i18n.Key("console.auditkind.files_quota"),
	"files.restore":        i18n.Key("console.auditkind.files_restore"),
	"files.share":          i18n.Key("console.auditkind.files_share"),
	"files.read":           i18n.Key("console.auditkind.files_read"),
	"calendar.group":       i18n.Key("console.auditkind.calendar_group"),
	"files.transfer":       i18n.Key("console.auditkind.files_transfer"),
	"files.unshare":        i18n.Key("console.auditkind.files_unshare"),
	"files.versions":       i18n.Key("console.auditkind.files_versions"),
	"group.add":            i18n.Key("console.auditkind.group_add"),
	"group.create":         i18n.Key("console.auditkind.group_create"),
	"group.delete":         i18n.Key("console.groups.delete.audit"),
	"group.remove":         i18n.Key("console.auditkind.group_remove"),
	"group.rename":         i18n.Key("console.auditkind.group_rename"),
	"incident.off":         i18n.Key("console.auditkind.incident_off"),
	"incident.on":          i18n.Key("console.auditkind.incident_on"),
	"invite.accept":        i18n.Key("console.auditkind.invite_accept"),
	"invite.create":        i18n.Key("console.auditkind.invite_create"),
	"invite.import":        i18n.Key("console.auditkind.invite_import"),
	"invite.mail":          i18n.Key("console.auditkind.invite_mail"),
	"invite.reissue":       i18n.Key("console.auditkind.invite_reissue"),
	"invite.withdraw":      i18n.Key("console.auditkind.invite_withdraw"),
	"login.apppassword":    i18n.Key("console.auditkind.login_apppassword"),
	"login.passkey":        i18n.Key("console.auditkind.login_passkey"),
	"login.password":       i18n.Key("console.auditkind.login_password"),
	"login.recovery":       i18n.Key("console.auditkind.login_recovery"),
	"login.totp":           i18n.Key("console.auditkind.login_totp"),
	"login.webauthn":       i18n.Key("console.auditkind.login_webauthn"),
	"mail.alias.add":       i18n.Key("console.auditkind.mail_alias_add"),
	"mail.autoreply":       i18n.Key("console.auditkind.mail_autoreply"),
	"mail.export.download": i18n.Key("console.auditkind.mail_export_download"),
	"mail.forward":         i18n.Key("console.auditkind.mail_forward"),
	"mail.mobileconfig":    i18n.Key("console.auditkind.mail_mobileconfig"),
	"mail.quota":           i18n.Key("console.auditkind.mail_quota"),
	"mail.retention":       i18n.Key("console.auditkind.mail_retention"),
	"mail.retention.end":   i18n.Key("console.auditkind.mail_retention_end"),
	"mail.successor":       i18n.Key("console.auditkind.mail_successor"),
	"recovery.generate":    i18n.Key("console.auditkind.recovery_generate"),
	"session.revoke":       i18n.Key("console.auditkind.session_revoke"),
	"session.signout":      i18n.Key("console.auditkind.session_signout"),
	"smtp.rate-limited":    i18n.Key("console.auditkind.smtp_rate_limited"),
	"smtp.sender-refused":  i18n.Key("console.auditkind.smtp_sender_refused"),
	"stepup.passkey":       i18n.Key("console.auditkind.stepup_passkey"),
	"stepup.webauthn":      i18n.Key("console.auditkind.stepup_webauthn"),
	"stepup.totp":          i18n.Key("console.auditkind.stepup_totp"),
	"admin.cohort.create":  i18n.Key("console.auditkind.cohort_create"), "admin.cohort.extend": i18n.Key("console.auditkind.cohort_extend"),
	"admin.cohort.reminder": i18n.Key("console.auditkind.cohort_reminder"), "admin.cohort.end": i18n.Key("console.auditkind.cohort_end"),
	"admin.cohort.end.step": i18n.Key("console.auditkind.cohort_end_step"), "admin.incident.message": i18n.Key("console.auditkind.incident_message"),
	"admin.incident.check": i18n.Key("console.auditkind.incident_check"),
}

// auditRow is an audit record as the audit page shows it.
type auditRow struct {
	audit.Record
	What string // the record's kind in the reader's words; "" when there are none
	// The outcome, reason and detail in the reader's words (words.go);
	// Report is the id of the report a detail names, 0 for none.
	OutcomeWords, ReasonWords, DetailWords string
	Report                                 int64
}

// newAuditRow is rec with its kind in l's words.
func newAuditRow(l *i18n.Localizer, rec audit.Record) auditRow {
	row := auditRow{Record: rec}
	if key, ok := auditWords[rec.Kind]; ok {
		row.What = l.T(key) // i18n:keyed
	}
	auditWordsOf(l, &row)
	return row
}
