package importweb

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
	"github.com/caucus-org/caucus/mail/mailimport"
)

// pageData is what the import page shows.
type pageData struct {
	ui.Base
	Providers []provider
	Jobs      []jobView
	PollMS    int64
	Report    *mailimport.Report
	ReportJob jobView
}

// jobView is a job as the page and its script show it.
type jobView struct {
	ID          int64  `json:"id"`
	Kind        string `json:"kind"`
	Source      string `json:"source"`
	Login       string `json:"login"`
	State       string `json:"state"`
	StateText   string `json:"state_text"`
	Message     string `json:"message"`
	Active      bool   `json:"active"`
	Copied      int64  `json:"copied"`
	Duplicates  int64  `json:"duplicates"`
	Failed      int64  `json:"failed"`
	Bytes       string `json:"bytes"`
	Folders     string `json:"folders"`
	Current     string `json:"current"`
	Percent     int    `json:"percent"` // of the source's bytes, when known; -1 if not
	Created     string `json:"created"`
	createdTime time.Time
}

// notices are the one-time notices a redirect names (?n=name).
var notices = map[string]string{
	"started":   i18n.Key("importweb.notice.started"),
	"cancelled": i18n.Key("importweb.notice.cancelled"),
	"finished":  i18n.Key("importweb.notice.finished"),
}

// stateText is a job's state in the reader's words.
func stateText(l *i18n.Localizer, state string) string {
	switch state {
	case mailimport.StateQueued:
		return l.T("importweb.state.queued")
	case mailimport.StateRunning:
		return l.T("importweb.state.running")
	case mailimport.StateWaiting:
		return l.T("importweb.state.waiting")
	case mailimport.StateDone:
		return l.T("importweb.state.done")
	case mailimport.StateFailed:
		return l.T("importweb.state.failed")
	case mailimport.StateCancelled:
		return l.T("importweb.state.cancelled")
	}
	return state
}

// active says whether a job in state may still change.
func active(state string) bool {
	return state == mailimport.StateQueued || state == mailimport.StateRunning || state == mailimport.StateWaiting
}

// view makes a job's view from its listing and its progress.
func view(l *i18n.Localizer, j mailimport.Job, p mailimport.Progress) jobView {
	v := jobView{
		ID: j.ID, Kind: j.Kind, Source: j.Source, Login: j.Login, State: p.State, StateText: stateText(l, p.State),
		Message: p.Message, Active: active(p.State), Copied: p.Copied, Duplicates: p.Duplicates, Failed: p.Failed,
		Bytes: l.Size(p.Bytes), Current: p.Current, Percent: -1, Created: l.DateTime(j.Created), createdTime: j.Created,
	}
	if v.State == "" {
		v.State, v.StateText, v.Active, v.Message = j.State, stateText(l, j.State), active(j.State), j.Message
	}
	if p.Folders > 0 {
		v.Folders = l.T("importweb.jobs.folders_of", "done", p.FoldersDone, "total", p.Folders)
	}
	if p.TotalBytes > 0 {
		v.Percent = int(min(100, p.Bytes*100/p.TotalBytes))
	}
	if v.State == mailimport.StateDone {
		v.Percent = 100
	}
	return v
}

// views lists the account's jobs (0: every account) with their progress.
func views(r *http.Request, l *i18n.Localizer, imp Importer, accountID int64) ([]jobView, error) {
	jobs, err := imp.Jobs(r.Context(), accountID)
	if err != nil {
		return nil, err
	}
	if len(jobs) > maxJobs && accountID != 0 {
		jobs = jobs[:maxJobs]
	}
	out := make([]jobView, 0, len(jobs))
	for _, j := range jobs {
		p, _, err := imp.Progress(r.Context(), j.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, view(l, j, p))
	}
	return out, nil
}

// page shows the form, the jobs and the upload.
func (h *Handler) page(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	h.renderPage(w, r, sess, http.StatusOK, "")
}

// renderPage writes the page with an error, if any.
func (h *Handler) renderPage(w http.ResponseWriter, r *http.Request, sess auth.Session, code int, errText string) {
	l := h.d.Login.Localizer(r)
	jobs, err := views(r, l, h.d.Imports, sess.Account.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d := pageData{Base: h.base(r, sess, l, l.T("importweb.title")), Providers: providers, Jobs: jobs, PollMS: h.d.Poll.Milliseconds()}
	d.Error = errText
	w.Header().Set("Cache-Control", "no-store")
	if err := h.pages.Render(w, code, "import", d); err != nil {
		h.fail(w, r, err)
	}
}

// base is the layout's data, with the notice the URL names.
func (h *Handler) base(r *http.Request, sess auth.Session, l *i18n.Localizer, title string) ui.Base {
	b := ui.Base{Title: title, CSRF: sess.CSRF, UserName: sess.Account.DisplayName, IsAdmin: sess.Account.IsAdmin(), L: l}
	if key, ok := notices[r.URL.Query().Get("n")]; ok {
		b.Notice = l.T(key) // i18n:keyed
	}
	return b
}

// jobsJSON answers the page's script: the member's jobs and their progress.
func (h *Handler) jobsJSON(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	jobs, err := views(r, h.d.Login.Localizer(r), h.d.Imports, sess.Account.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": jobs})
}

// writeJSON answers v as JSON, never cached.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// maxShownProblems bounds the problems a report page lists.
const maxShownProblems = 500

// report shows one of the member's jobs' report.
func (h *Handler) report(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	id, ok := h.ownJob(w, r, sess)
	if !ok {
		return
	}
	rep, err := h.d.Imports.Report(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	l := h.d.Login.Localizer(r)
	p, _, err := h.d.Imports.Progress(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if len(rep.Problems) > maxShownProblems {
		rep.MoreProblems += int64(len(rep.Problems) - maxShownProblems)
		rep.Problems = rep.Problems[:maxShownProblems]
	}
	d := pageData{Base: h.base(r, sess, l, l.T("importweb.report.title", "n", id)), Report: &rep, ReportJob: view(l, rep.Job, p)}
	w.Header().Set("Cache-Control", "no-store")
	if err := h.pages.Render(w, http.StatusOK, "report", d); err != nil {
		h.fail(w, r, err)
	}
}
