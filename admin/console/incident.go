package console

import (
	"errors"
	"net/http"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
)

// incidentView is the data of incident mode's page: the message prepared
// for members in each of caucus's languages, and during incident mode the
// checklist.
type incidentView struct {
	Messages  []messageForm
	Checklist []checkRow
}

// messageForm is the prepared message in one language.
type messageForm struct {
	admin.IncidentMessage
	Name string // the language's own name
}

// checkRow is one item of the checklist in the reader's words.
type checkRow struct {
	admin.CheckItem
	Text string
}

func (h *Handler) incidentRoutes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /admin/incident":          h.incidentPage,
		"POST /admin/incident/message": h.action(h.setIncidentMessage),
		"POST /admin/incident/check":   h.action(h.tickIncident),
	}
}

func (h *Handler) incidentPage(w http.ResponseWriter, r *http.Request) {
	ctx, l := r.Context(), h.loc(r)
	ms, err := h.ops.IncidentMessages(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	have := map[string]admin.IncidentMessage{}
	for _, m := range ms {
		have[m.Lang] = m
	}
	v := &incidentView{}
	b := i18n.Builtin()
	for _, code := range b.Languages() {
		m := have[code]
		m.Lang = code
		v.Messages = append(v.Messages, messageForm{IncidentMessage: m, Name: b.Catalogue(code).Name})
	}
	items, err := h.ops.IncidentChecklist(ctx)
	if err != nil && !errors.Is(err, admin.ErrNoIncident) {
		h.fail(w, r, err)
		return
	}
	for _, it := range items {
		v.Checklist = append(v.Checklist, checkRow{CheckItem: it, Text: it.Words.In(l)})
	}
	h.render(w, r, http.StatusOK, "incident", page{Base: h.base(r, l.T("console.incident.title")), Emergency: v})
}

func (h *Handler) setIncidentMessage(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l := h.loc(r)
	err := h.ops.SetIncidentMessage(r.Context(), actor(r, sess), r.PostFormValue("lang"), r.PostFormValue("subject"), r.PostFormValue("body"))
	switch {
	case errors.Is(err, auth.ErrInvalid):
		h.done(w, r, "/admin/incident", notice{Error: admin.Explain(l, err)})
	case err != nil:
		h.fail(w, r, err)
	default:
		h.done(w, r, "/admin/incident#message-"+r.PostFormValue("lang"), notice{Text: l.T("console.incident.message_saved")})
	}
}

func (h *Handler) tickIncident(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l := h.loc(r)
	err := h.ops.TickIncidentItem(r.Context(), actor(r, sess), r.PostFormValue("item"), r.PostFormValue("done") == "1")
	switch {
	case errors.Is(err, admin.ErrNoIncident):
		h.done(w, r, "/admin/incident", notice{Error: l.T("console.incident.not_on")})
	case errors.Is(err, auth.ErrNotFound):
		h.done(w, r, "/admin/incident", notice{Error: l.T("console.incident.no_item")})
	case err != nil:
		h.fail(w, r, err)
	default:
		h.done(w, r, "/admin/incident#checklist", notice{Text: l.T("console.incident.ticked")})
	}
}
