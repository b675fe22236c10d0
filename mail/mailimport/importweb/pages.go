package importweb

import (
	"context"
	"encoding/json"
	"net/http"
	"path"
	"strings"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
	"github.com/caucus-org/caucus/mail/mailimport"
)

// pageData is what the import page shows.
type pageData struct {
	ui.Base
	Providers []provider
	Jobs      []JobView
	PollMS    int64
	Upload    *uploadForm // nil: no upload
	Report    *mailimport.Report
	ReportJob JobView
}

// JobView is a job as the pages (the member's, the console's) and their
// script show it.
type JobView struct {
	ID         int64  `json:"id"`
	Kind       string `json:"kind"`
	Source     string `json:"source"`
	Login      string `json:"login"`
	State      string `json:"state"`
	StateText  string `json:"state_text"`
	Message    string `json:"message"`
	Active     bool   `json:"active"`
	AccountID  int64  `json:"-"`
	Copied     int64  `json:"copied"`
	Duplicates int64  `json:"duplicates"`
	Failed     int64  `json:"failed"`
	Bytes      string `json:"bytes"`
	Folders    string `json:"folders"`
	Current    string `json:"current"`
	Percent    int    `json:"percent"` // of the source's bytes, when known; -1 if not
	Created    string `json:"created"`
	Until      string `json:"until"` // when a paused job goes on
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
func view(l *i18n.Localizer, j mailimport.Job, p mailimport.Progress) JobView {
	v := JobView{
		ID: j.ID, AccountID: j.AccountID, Kind: j.Kind, Source: j.Source, Login: j.Login, State: p.State, StateText: stateText(l, p.State),
		Message: p.Message, Active: active(p.State), Copied: p.Copied, Duplicates: p.Duplicates, Failed: p.Failed,
		Bytes: l.Size(p.Bytes), Current: p.Current, Percent: -1, Created: l.DateTime(j.Created),
	}
	if v.State == "" {
		v.State, v.StateText, v.Active, v.Message = j.State, stateText(l, j.State), active(j.State), j.Message
	}
	if v.State == mailimport.StateDone || v.State == mailimport.StateCancelled {
		// The importer's summary is in English; the state and the counts
		// say it in the reader's words.
		v.Message = ""
	}
	if v.State == mailimport.StateWaiting && !p.NotBefore.IsZero() {
		v.Until = l.T("importweb.jobs.until", "when", l.DateTime(p.NotBefore))
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

// Lister lists jobs and their progress (*mailimport.Importer).
type Lister interface {
	Jobs(ctx context.Context, accountID int64) ([]mailimport.Job, error)
	Progress(ctx context.Context, jobID int64) (mailimport.Progress, <-chan struct{}, error)
}

// Views lists the account's jobs (0: every account's), newest first, at
// most limit of them, with their progress in l's words.
func Views(ctx context.Context, l *i18n.Localizer, imp Lister, accountID int64, limit int) ([]JobView, error) {
	return views(ctx, l, imp, accountID, limit, false)
}

// LiveViews is Views for the pages' script, which polls while a job is
// active: the jobs that have ended are listed without their counts (the
// script reloads the page when a job ends), so that a poll does not
// count the items of every finished job again.
func LiveViews(ctx context.Context, l *i18n.Localizer, imp Lister, accountID int64, limit int) ([]JobView, error) {
	return views(ctx, l, imp, accountID, limit, true)
}

func views(ctx context.Context, l *i18n.Localizer, imp Lister, accountID int64, limit int, live bool) ([]JobView, error) {
	jobs, err := imp.Jobs(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if len(jobs) > limit {
		jobs = jobs[:limit]
	}
	out := make([]JobView, 0, len(jobs))
	for _, j := range jobs {
		if live && !active(j.State) {
			out = append(out, JobView{ID: j.ID, AccountID: j.AccountID, State: j.State, StateText: stateText(l, j.State), Percent: -1})
			continue
		}
		p, _, err := imp.Progress(ctx, j.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, view(l, j, p))
	}
	return out, nil
}

// memberViews are the member's jobs as their page shows them: a file's
// job names the file, not where the server keeps it.
func (h *Handler) memberViews(ctx context.Context, l *i18n.Localizer, accountID int64, live bool) ([]JobView, error) {
	jobs, err := views(ctx, l, h.d.Imports, accountID, maxJobs, live)
	for i := range jobs {
		jobs[i] = fileSource(jobs[i])
	}
	return jobs, err
}

// fileSource names a file job's source by the file's name alone.
func fileSource(v JobView) JobView {
	if v.Kind != mailimport.KindIMAP && v.Source != "" {
		v.Source = path.Base(strings.Trim(v.Source, "[]"))
	}
	return v
}

// page shows the form, the jobs and the upload.
func (h *Handler) page(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	h.renderPage(w, r, sess, http.StatusOK, "")
}

// renderPage writes the page with an error, if any.
func (h *Handler) renderPage(w http.ResponseWriter, r *http.Request, sess auth.Session, code int, errText string) {
	l := h.d.Login.Localizer(r)
	jobs, err := h.memberViews(r.Context(), l, sess.Account.ID, false)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d := pageData{Base: h.base(r, sess, l, l.T("importweb.title")), Providers: providers, Jobs: jobs, PollMS: h.d.Poll.Milliseconds()}
	d.Error = errText
	if h.d.Uploads != nil {
		if d.Upload, err = h.uploadForm(r, sess); err != nil {
			h.fail(w, r, err)
			return
		}
	}
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
	jobs, err := h.memberViews(r.Context(), h.d.Login.Localizer(r), sess.Account.ID, true)
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
	d := pageData{Base: h.base(r, sess, l, l.T("importweb.report.title", "n", id)), Report: &rep, ReportJob: fileSource(view(l, rep.Job, p))}
	w.Header().Set("Cache-Control", "no-store")
	if err := h.pages.Render(w, http.StatusOK, "report", d); err != nil {
		h.fail(w, r, err)
	}
}
