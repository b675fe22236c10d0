package console

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/store"
)

// The role mailboxes page (/admin/roles): the party's role mailboxes
// (press@, info@), who may read each and who may also send as it; an
// admin makes one, gives and removes access. Each action is a step-up
// action (Handler.action), audited by package admin's plain function,
// which `caucus admin role …` calls too.

// rolesView is the data of the role mailboxes page.
type rolesView struct {
	Roles   []admin.RoleMailbox
	Members []auth.Account // who may be given access: active and invited
}

func (h *Handler) roleRoutes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /admin/roles":                        h.rolesPage,
		"POST /admin/roles":                       h.action(h.createRole),
		"POST /admin/roles/{id}/grant":            h.action(h.grantRole),
		"POST /admin/roles/{id}/revoke/{account}": h.action(h.revokeRole),
	}
}

func (h *Handler) rolesPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	roles, err := h.ops.RoleMailboxes(ctx)
	if errors.Is(err, admin.ErrNotAvailable) {
		web.Error(w, r, http.StatusNotFound)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	accts, err := h.svc.Accounts(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := &rolesView{Roles: roles}
	for _, a := range accts {
		if a.State == auth.StateActive || a.State == auth.StateInvited {
			v.Members = append(v.Members, a)
		}
	}
	slices.SortFunc(v.Members, func(a, b auth.Account) int {
		if a.Login < b.Login {
			return -1
		}
		if a.Login > b.Login {
			return 1
		}
		return 0
	})
	h.render(w, r, http.StatusOK, "roles", page{Base: h.base(r, h.loc(r).T("console.roles.title")), Roles: v})
}

// createRole makes a role mailbox.
func (h *Handler) createRole(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	ro, err := h.ops.CreateRole(r.Context(), actor(r, sess), r.PostFormValue("address"), r.PostFormValue("name"))
	switch {
	case errors.Is(err, admin.ErrRoleAddress):
		h.done(w, r, "/admin/roles", notice{Error: admin.Explain(h.loc(r), err)})
	case err != nil:
		h.fail(w, r, err)
	default:
		h.done(w, r, "/admin/roles", notice{Text: h.loc(r).T("console.roles.created", "addr", ro.Address)})
	}
}

// roleAndMember reads the role id from the path and the member's id from
// the path value or form field name.
func roleAndMember(r *http.Request, member string) (roleID, accountID int64, ok bool) {
	roleID, err1 := strconv.ParseInt(r.PathValue("id"), 10, 64)
	v := r.PathValue(member)
	if v == "" {
		v = r.PostFormValue(member)
	}
	accountID, err2 := strconv.ParseInt(v, 10, 64)
	return roleID, accountID, err1 == nil && err2 == nil && roleID > 0 && accountID > 0
}

// grantRole gives a member access: read, or read and send as.
func (h *Handler) grantRole(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	roleID, accountID, ok := roleAndMember(r, "account")
	if !ok {
		h.done(w, r, "/admin/roles", notice{Error: h.loc(r).T("console.roles.no_member")})
		return
	}
	err := h.ops.GrantRole(r.Context(), actor(r, sess), roleID, accountID, r.PostFormValue("access") == "send")
	h.roleDone(w, r, roleID, accountID, err, false)
}

// revokeRole removes a member's access.
func (h *Handler) revokeRole(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	roleID, accountID, ok := roleAndMember(r, "account")
	if !ok {
		web.Error(w, r, http.StatusNotFound)
		return
	}
	err := h.ops.RevokeRole(r.Context(), actor(r, sess), roleID, accountID)
	h.roleDone(w, r, roleID, accountID, err, true)
}

// roleDone ends a grant or revocation with its notice.
func (h *Handler) roleDone(w http.ResponseWriter, r *http.Request, roleID, accountID int64, err error, revoked bool) {
	l := h.loc(r)
	switch {
	case errors.Is(err, store.ErrNoRole):
		h.done(w, r, "/admin/roles", notice{Error: l.T("console.roles.no_role")})
		return
	case errors.Is(err, admin.ErrRoleMember):
		h.done(w, r, "/admin/roles", notice{Error: admin.Explain(l, err)})
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	addr, login := "", ""
	if ro, err := h.od.Roles.RoleByID(r.Context(), roleID); err == nil {
		addr = ro.Address
	}
	if a, err := h.svc.Account(r.Context(), accountID); err == nil {
		login = a.Login
	}
	text := l.T("console.roles.granted", "login", login, "addr", addr)
	if revoked {
		text = l.T("console.roles.revoked", "login", login, "addr", addr)
	}
	h.done(w, r, "/admin/roles", notice{Text: text})
}

// roleList names grants in l's words: "press@… (Read and send as)".
func roleList(l *i18n.Localizer, gs []store.Grant) string {
	names := make([]string, len(gs))
	for i, g := range gs {
		level := l.T("console.roles.read")
		if g.SendAs {
			level = l.T("console.roles.send_as")
		}
		names[i] = g.Role.Address + " (" + level + ")"
	}
	return strings.Join(names, ", ")
}
