package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/mailimport"
	"github.com/caucus-org/caucus/mail/mailimport/importweb"
)

// Imports is what the console's page of mail imports uses of
// mail/mailimport (*mailimport.Importer): the same jobs the members'
// page and `caucus admin import …` show.
type Imports interface {
	importweb.Lister
	Report(ctx context.Context, jobID int64) (mailimport.Report, error)
	Cancel(ctx context.Context, jobID int64, actor string) error
	StartCSV(ctx context.Context, actor string, rows []mailimport.CSVRow, account func(ctx context.Context, login string) (int64, error)) []mailimport.CSVResult
}

// maxImportRows bounds the jobs the page lists, newest first (each
// finished job's counts are read from its items).
const maxImportRows = 200

// importsView is the page of every member's mail imports.
type importsView struct {
	Jobs   []importRow
	Fresh  bool  // the admin's step-up is fresh: the CSV form may be sent
	PollMS int64 // how often the page's script asks for progress
}

// importRow is a job with the member it is for.
type importRow struct {
	importweb.JobView
	Member string
}

// importRoutes are the routes of the imports page, for admins only:
//
//	GET  /admin/imports                     every job with its progress
//	GET  /admin/imports.json                the same for the page's script
//	POST /admin/imports/csv                 start jobs for many members from a CSV
//	POST /admin/imports/{id}/cancel         stop a job
//	GET  /admin/imports/{id}/report.txt     a job's report, as a file
//	GET  /admin/imports/sample.csv          a CSV to fill in
func (h *Handler) importRoutes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /admin/imports":                 h.importsPage,
		"GET /admin/imports.json":            h.importsJSON,
		"POST /admin/imports/csv":            h.importsCSV,
		"POST /admin/imports/{id}/cancel":    h.action(h.cancelImport),
		"GET /admin/imports/{id}/report.txt": h.importReport,
		"GET /admin/imports/sample.csv":      h.importsSample,
	}
}

// importRows lists the jobs with their members' logins; live: for the
// page's script (importweb.LiveViews).
func (h *Handler) importRows(r *http.Request, live bool) ([]importRow, error) {
	views := importweb.Views
	if live {
		views = importweb.LiveViews
	}
	jobs, err := views(r.Context(), h.loc(r), h.d.Imports, 0, maxImportRows)
	if err != nil {
		return nil, err
	}
	accts, err := h.svc.Accounts(r.Context())
	if err != nil {
		return nil, err
	}
	logins := make(map[int64]string, len(accts))
	for _, a := range accts {
		logins[a.ID] = a.Login
	}
	out := make([]importRow, len(jobs))
	for i, j := range jobs {
		out[i] = importRow{JobView: j, Member: logins[j.AccountID]}
	}
	return out, nil
}

func (h *Handler) importsPage(w http.ResponseWriter, r *http.Request) {
	rows, err := h.importRows(r, false)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	sess, _ := sessionFrom(r)
	v := &importsView{Jobs: rows, Fresh: h.svc.FreshWebAuthn(sess), PollMS: 2000}
	w.Header().Set("Cache-Control", "no-store")
	h.render(w, r, http.StatusOK, "imports", page{Base: h.base(r, h.loc(r).T("console.imports.title")), Imports: v})
}

func (h *Handler) importsJSON(w http.ResponseWriter, r *http.Request) {
	rows, err := h.importRows(r, true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	jobs := make([]importweb.JobView, len(rows))
	for i, row := range rows {
		jobs[i] = row.JobView
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{"jobs": jobs})
}

// importsCSV starts one job per row of the uploaded CSV (address,
// source server, source login, app password). The file carries app
// passwords, so it is never kept for a step-up as other actions' forms
// are: without a fresh passkey or security key the admin confirms first
// and sends the file again.
func (h *Handler) importsCSV(w http.ResponseWriter, r *http.Request) {
	sess, _ := login.SessionFrom(r.Context())
	if !login.ValidCSRF(sess, r.PostFormValue("csrf")) {
		web.Error(w, r, http.StatusForbidden)
		return
	}
	if !h.svc.FreshWebAuthn(sess) {
		http.Redirect(w, r, "/reauth?next="+url.QueryEscape("/admin/imports"), http.StatusSeeOther)
		return
	}
	l := h.loc(r)
	text, err := csvUpload(r)
	var rows []mailimport.CSVRow
	if err == nil {
		rows, err = mailimport.ParseCSV(strings.NewReader(text))
	}
	if err != nil || len(rows) == 0 {
		why := l.T("console.imports.csv_empty")
		if err != nil {
			why = strings.TrimPrefix(err.Error(), "mailimport: ")
		}
		h.done(w, r, "/admin/imports", notice{Error: l.T("console.imports.csv_bad", "why", why)})
		return
	}
	account := func(ctx context.Context, login string) (int64, error) {
		a, err := h.svc.AccountByLogin(ctx, login)
		return a.ID, err
	}
	res := h.d.Imports.StartCSV(r.Context(), sess.Account.Login, rows, account)
	var rep strings.Builder
	started := 0
	for _, x := range res {
		if x.Err != "" {
			fmt.Fprintln(&rep, l.T("console.imports.row_failed", "line", x.Line, "login", x.Login, "why", x.Err))
			continue
		}
		started++
		fmt.Fprintln(&rep, l.T("console.imports.row_started", "line", x.Line, "login", x.Login, "job", x.Job))
	}
	h.done(w, r, "/admin/imports", notice{Text: l.T("console.imports.started", "n", started), Report: rep.String()})
}

// csvUpload is the CSV of the form: its file, else its text field.
func csvUpload(r *http.Request) (string, error) {
	f, _, err := r.FormFile("file")
	if errors.Is(err, http.ErrMissingFile) || errors.Is(err, http.ErrNotMultipart) {
		return r.PostFormValue("csv"), nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	return string(b), err
}

// importJob returns the job {id} of the URL; else it answers 404.
func (h *Handler) importJob(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		web.Error(w, r, http.StatusNotFound)
		return 0, false
	}
	_, _, err = h.d.Imports.Progress(r.Context(), id)
	if errors.Is(err, mailimport.ErrNoJob) {
		web.Error(w, r, http.StatusNotFound)
		return 0, false
	}
	if err != nil {
		h.fail(w, r, err)
		return 0, false
	}
	return id, true
}

func (h *Handler) cancelImport(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	id, ok := h.importJob(w, r)
	if !ok {
		return
	}
	l := h.loc(r)
	switch err := h.d.Imports.Cancel(r.Context(), id, sess.Account.Login); {
	case errors.Is(err, mailimport.ErrFinished):
		h.done(w, r, "/admin/imports", notice{Error: l.T("console.imports.had_ended", "job", id)})
	case err != nil:
		h.fail(w, r, err)
	default:
		h.done(w, r, "/admin/imports", notice{Text: l.T("console.imports.cancelled", "job", id)})
	}
}

// importReport downloads a job's report as text: what was copied, where,
// and every message that was not, with why.
func (h *Handler) importReport(w http.ResponseWriter, r *http.Request) {
	id, ok := h.importJob(w, r)
	if !ok {
		return
	}
	rep, err := h.d.Imports.Report(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	name := fmt.Sprintf("import-%d.txt", id)
	if a, err := h.svc.Account(r.Context(), rep.Job.AccountID); err == nil {
		name = fmt.Sprintf("import-%s-%d.txt", strings.ReplaceAll(a.Login, "@", "-at-"), id)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	w.Header().Set("Cache-Control", "no-store")
	rep.WriteText(w)
}

// importsSample is a CSV to fill in: its header, which the import skips,
// and one row for a member moving from Gmail.
func (h *Handler) importsSample(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="caucus-mail-imports.csv"`)
	fmt.Fprintf(w, "address,server,login,app password\r\nanna@%s,imap.gmail.com:993,anna.rossi@gmail.com,abcdefghijklmnop\r\n", h.domain())
}
