package console

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
)

// cohortsView is the data of the cohort pages: the list with the form of
// a new cohort, or one cohort.
type cohortsView struct {
	List    []admin.Cohort
	Cohort  admin.Cohort
	Form    cohortForm
	Members []auth.Account // who may sponsor: active members who are not volunteers
}

// cohortForm is what the admin typed, shown again after a refusal.
type cohortForm struct {
	Name, Sponsor, LastDay, Groups, People string
}

func (h *Handler) cohortRoutes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /admin/cohorts":              h.cohortsPage,
		"POST /admin/cohorts":             h.action(h.createCohort),
		"GET /admin/cohorts/{id}":         h.cohortPage,
		"POST /admin/cohorts/{id}/extend": h.action(h.extendCohort),
		"POST /admin/cohorts/{id}/end":    h.action(h.endCohort),
	}
}

func (h *Handler) cohortsPage(w http.ResponseWriter, r *http.Request) {
	h.renderCohorts(w, r, http.StatusOK, cohortForm{}, "")
}

// renderCohorts shows the list of cohorts and the form of a new one,
// filled with f, and the error why when a cohort was refused.
func (h *Handler) renderCohorts(w http.ResponseWriter, r *http.Request, code int, f cohortForm, why string) {
	ctx := r.Context()
	list, err := h.ops.Cohorts(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	accts, err := h.svc.Accounts(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := &cohortsView{List: list, Form: f}
	for _, a := range accts {
		if a.State == auth.StateActive && a.Role != auth.RoleVolunteer {
			v.Members = append(v.Members, a)
		}
	}
	p := page{Base: h.base(r, h.loc(r).T("console.cohorts.title")), Cohorts: v}
	p.Base.Error = why
	h.render(w, r, code, "cohorts", p)
}

func (h *Handler) createCohort(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l := h.loc(r)
	f := cohortForm{Name: r.PostFormValue("name"), Sponsor: r.PostFormValue("sponsor"), LastDay: r.PostFormValue("last_day"),
		Groups: r.PostFormValue("groups"), People: r.PostFormValue("people")}
	req := admin.CohortRequest{Name: f.Name, Sponsor: f.Sponsor}
	for _, g := range strings.Split(f.Groups, ",") {
		if g = strings.TrimSpace(g); g != "" {
			req.Groups = append(req.Groups, g)
		}
	}
	var err error
	if req.Ends, err = admin.ParseLastDay(f.LastDay, h.od.TimeZone); err == nil {
		req.People, err = admin.ParseCohortPeople(f.People)
	}
	var res admin.CohortResult
	if err == nil {
		res, err = h.ops.CreateCohort(r.Context(), actor(r, sess), req)
	}
	var pe *admin.PersonError
	switch {
	case errors.As(err, &pe):
		h.renderCohorts(w, r, http.StatusBadRequest, f, l.T("console.cohorts.line", "line", pe.Line, "addr", pe.Login, "why", admin.Explain(l, pe.Err)))
		return
	case errors.Is(err, auth.ErrInvalid), errors.Is(err, auth.ErrExists), errors.Is(err, admin.ErrCSVTooBig), errors.Is(err, admin.ErrNotAvailable):
		h.renderCohorts(w, r, http.StatusBadRequest, f, admin.Explain(l, err))
		return
	case err != nil && res.Cohort.ID == 0:
		h.fail(w, r, err)
		return
	}
	// The links are shown once, as after an invite: a volunteer
	// without a personal address gets theirs from the admin.
	var links strings.Builder
	mailed := 0
	for _, in := range res.Invites {
		if in.Mailed {
			mailed++
		}
		links.WriteString(in.Account.Login + "  " + in.Link + "\n")
	}
	n := notice{Text: l.T("console.cohorts.created", "n", len(res.Invites), "mailed", mailed), Report: links.String()}
	if len(res.Failed) > 0 || err != nil {
		var bad []string
		for _, f := range res.Failed {
			bad = append(bad, f.Login)
		}
		n.Error = l.T("console.cohorts.some_failed", "who", strings.Join(bad, ", "))
	}
	h.done(w, r, "/admin/cohorts/"+strconv.FormatInt(res.Cohort.ID, 10), n)
}

// cohort reads the cohort of the request's path; false (with the answer
// sent) when there is none.
func (h *Handler) cohort(w http.ResponseWriter, r *http.Request) (admin.Cohort, bool) {
	return byPathID(h, w, r, h.ops.Cohort, auth.ErrNotFound)
}

func (h *Handler) cohortPage(w http.ResponseWriter, r *http.Request) {
	c, ok := h.cohort(w, r)
	if !ok {
		return
	}
	p := page{Base: h.base(r, c.Name), Cohorts: &cohortsView{Cohort: c}}
	h.render(w, r, http.StatusOK, "cohort", p)
}

func (h *Handler) extendCohort(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	c, ok := h.cohort(w, r)
	if !ok {
		return
	}
	l, to := h.loc(r), "/admin/cohorts/"+strconv.FormatInt(c.ID, 10)
	ends, err := admin.ParseLastDay(r.PostFormValue("last_day"), h.od.TimeZone)
	if err == nil {
		c, err = h.ops.ExtendCohort(r.Context(), actor(r, sess), c.ID, ends)
	}
	switch {
	case errors.Is(err, admin.ErrCohortEnded):
		h.done(w, r, to, notice{Error: l.T("console.cohorts.ended_already")})
	case errors.Is(err, auth.ErrInvalid):
		h.done(w, r, to, notice{Error: admin.Explain(l, err)})
	case err != nil:
		h.fail(w, r, err)
	default:
		h.done(w, r, to, notice{Text: l.T("console.cohorts.extended", "day", c.LastDay(), "n", len(c.People))})
	}
}

func (h *Handler) endCohort(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	c, ok := h.cohort(w, r)
	if !ok {
		return
	}
	l := h.loc(r)
	rep, err := h.ops.EndCohort(r.Context(), actor(r, sess), c.ID)
	switch {
	case errors.Is(err, admin.ErrCohortEnded):
		h.done(w, r, "/admin/cohorts/"+strconv.FormatInt(c.ID, 10), notice{Error: l.T("console.cohorts.ended_already")})
	case err != nil && rep.Kind == "":
		h.fail(w, r, err)
	case err != nil:
		h.toReport(w, r, rep, notice{Error: l.T("console.cohorts.end_incomplete")})
	default:
		h.toReport(w, r, rep, notice{Text: l.T("console.cohorts.ended", "n", len(c.People))})
	}
}

// describeCohort says in words what a kept action of the cohort or
// incident pages does; parts is its path, /admin/cohorts/… or
// /admin/incident/….
func (h *Handler) describeCohort(r *http.Request, l *i18n.Localizer, parts []string) string {
	if parts[1] == "incident" {
		if parts[len(parts)-1] == "check" {
			return l.T("console.do.incident_check")
		}
		return l.T("console.do.incident_message")
	}
	if len(parts) < 4 {
		return l.T("console.do.cohort_create")
	}
	name := parts[2]
	if id, err := strconv.ParseInt(parts[2], 10, 64); err == nil {
		if c, err := h.ops.Cohort(r.Context(), id); err == nil {
			name = c.Name
		}
	}
	if parts[3] == "end" {
		return l.T("console.do.cohort_end", "name", name)
	}
	return l.T("console.do.cohort_extend", "name", name)
}
