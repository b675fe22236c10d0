package console

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"html/template"
	"image/png"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/web"
)

// qrDataURL draws s as a QR code (medium error correction) in a PNG and
// returns it as a data: URL, which the content security policy allows for
// images.
func qrDataURL(s string) (template.URL, error) {
	code, err := qr.Encode(s, qr.M, qr.Auto)
	if err != nil {
		return "", fmt.Errorf("admin: qr code: %w", err)
	}
	if code, err = barcode.Scale(code, 256, 256); err != nil {
		return "", fmt.Errorf("admin: qr code: %w", err)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, code); err != nil {
		return "", err
	}
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes())), nil
}

// importCSV previews a CSV upload (a file, or the text carried from the
// preview) and, with commit set, creates the invites.
func (h *Handler) importCSV(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	var text string
	if f, _, err := r.FormFile("file"); err == nil {
		b, err := io.ReadAll(io.LimitReader(f, admin.MaxCSVBytes+1))
		f.Close()
		if err != nil {
			h.fail(w, r, err)
			return
		}
		text = string(b)
	} else {
		text = r.PostFormValue("csv")
	}
	commit := r.PostFormValue("commit") == "1"
	pv, err := h.ops.ImportCSV(r.Context(), actor(r, sess), strings.NewReader(text), commit)
	localizeCSV(h.loc(r), &pv)
	p := page{Base: h.base(r, h.loc(r).T("console.csv.people")), CSV: &pv, CSVText: text}
	code := http.StatusOK
	switch {
	case errors.Is(err, admin.ErrCSVTooBig):
		p.Error = h.loc(r).T("console.msg.csv_too_big", "rows", admin.MaxCSVRows, "kb", admin.MaxCSVBytes>>10)
		p.CSVText, code = "", http.StatusBadRequest
	case errors.Is(err, admin.ErrCSVInvalid) && pv.Rows == nil:
		p.Error = h.loc(r).T("console.msg.csv_invalid", "why", admin.Explain(h.loc(r), err))
		p.CSVText, code = "", http.StatusBadRequest
	case errors.Is(err, admin.ErrCSVInvalid):
		p.Error = h.loc(r).T("console.msg.csv_rows_bad")
		code = http.StatusBadRequest
	case err != nil && pv.Created == 0:
		h.fail(w, r, err)
		return
	case err != nil:
		p.Error = h.loc(r).T("console.msg.csv_partly", "n", pv.Created)
	case commit:
		p.Notice = h.loc(r).T("console.msg.csv_created", "n", pv.Created)
	case pv.Errors > 0:
		p.Error = h.loc(r).T("console.msg.csv_errors", "n", pv.Errors)
	case len(pv.Rows) > 0:
		p.Notice = h.loc(r).T("console.msg.csv_ok", "n", len(pv.Rows))
	}
	if pv.Created > 0 {
		// The links are shown once, on the page the browser is sent to.
		h.done(w, r, "/admin/invites/imported", notice{Text: p.Notice, Error: p.Error, Import: &pv})
		return
	}
	h.render(w, r, code, "csv", p)
}

// imported shows an import's outcome and links, once.
func (h *Handler) imported(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r)
	n, ok := h.notices.take(sess.ID)
	if !ok || n.Import == nil {
		p := page{Base: h.base(r, h.loc(r).T("console.title.links_once"))}
		p.Error = h.loc(r).T("console.msg.links_once")
		h.render(w, r, http.StatusNotFound, "pending", p)
		return
	}
	p := page{Base: h.base(r, h.loc(r).T("console.csv.people")), CSV: n.Import, LinksCSV: linksCSV(*n.Import)}
	p.Notice, p.Error = n.Text, n.Error
	h.render(w, r, http.StatusOK, "csv", p)
}

// linksCSV is the links of an import's invites as a CSV file: address,
// name, link, and whether it was mailed.
func linksCSV(pv admin.CSVPreview) string {
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Write([]string{"address", "name", "link", "mailed"})
	for _, row := range pv.Rows {
		if row.Link == "" {
			continue
		}
		w.Write([]string{row.Request.Login, row.Request.Name, row.Link, strconv.FormatBool(row.Mailed)})
	}
	w.Flush()
	return b.String()
}

// defuse makes a cell that a spreadsheet would take for a formula start
// with an apostrophe (OWASP, CSV injection).
func defuse(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// maxLinksCSV bounds the links file sent back for download.
const maxLinksCSV = 2 * admin.MaxCSVBytes

// downloadLinks sends back, as a file, the links of an import that the
// import's page carries: the server keeps no enrolment link (only their
// hashes), so the page that showed them once is where they come from.
func (h *Handler) downloadLinks(w http.ResponseWriter, r *http.Request) {
	sess, _ := login.SessionFrom(r.Context())
	r.Body = http.MaxBytesReader(w, r.Body, maxLinksCSV+4096)
	if !login.ValidCSRF(sess, r.PostFormValue("csrf")) {
		web.Error(w, r, http.StatusForbidden)
		return
	}
	recs, err := csv.NewReader(strings.NewReader(r.PostFormValue("links"))).ReadAll()
	if err != nil || len(recs) == 0 {
		web.Error(w, r, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="caucus-invite-links.csv"`)
	cw := csv.NewWriter(w)
	for _, rec := range recs {
		for i := range rec {
			rec[i] = defuse(rec[i])
		}
		cw.Write(rec)
	}
	cw.Flush()
}

// csvSample sends a CSV file to start an import from.
func (h *Handler) csvSample(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="caucus-people.csv"`)
	io.WriteString(w, admin.CSVSample(h.domain()))
}

// domain is the party's mail domain (admin.Ops.Domain).
func (h *Handler) domain() string { return cmp.Or(h.ops.Domain(), "example.org") }

// certWarnDays is how many days before its end the dashboard warns about
// the web certificate; ACME renews it earlier (tlsacme.DefaultRenewBefore).
const certWarnDays = 14

// dashboard is what the dashboard shows.
type dashboard struct {
	Counts    map[string]int // people by filter (admin.Filters)
	Attention []attention    // what needs the admin, most urgent first

	HasQueue    bool
	QueueItems  int
	QueueRcpts  int
	QueueOldest time.Time
	QueueErr    string

	HasCert  bool
	CertEnds time.Time
	CertDays int
	CertErr  string
	CertWarn int // days: a certificate ending sooner is flagged (certWarnDays)
	HasDNS   bool

	// The windows of the warnings above, in days (admin.IdleAfter,
	// admin.ExpiringWithin), so that the page says what the code does.
	IdleDays, ExpiringDays int

	IncidentReport int64 // the newest report of incident mode switched on; 0: none

	HasBackup   bool
	BackupAt    time.Time // zero: never
	BackupBytes int64
	BackupDays  int
	BackupErr   string
}

func (h *Handler) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := h.od.Now()
	l := h.login.Localizer(r)
	d := &dashboard{HasDNS: h.d.DNS != nil, CertWarn: certWarnDays,
		IdleDays: int(admin.IdleAfter / (24 * time.Hour)), ExpiringDays: int(admin.ExpiringWithin / (24 * time.Hour))}
	var err error
	if d.Counts, d.Attention, err = h.attentionLists(ctx, l, d.IdleDays, d.ExpiringDays); err != nil {
		h.fail(w, r, err)
		return
	}
	if h.d.Queue != nil {
		d.HasQueue = true
		items, err := h.d.Queue.List(ctx)
		if err != nil {
			d.QueueErr = l.T("console.dash.queue_err")
			h.log.Error("dashboard: queue", "err", err)
		}
		d.QueueItems = len(items)
		for _, it := range items {
			d.QueueRcpts += len(it.Rcpts)
			if d.QueueOldest.IsZero() || it.Created.Before(d.QueueOldest) {
				d.QueueOldest = it.Created
			}
		}
	}
	if h.d.CertExpiry != nil {
		d.HasCert = true
		end, err := h.d.CertExpiry()
		if err != nil {
			d.CertErr = l.T("admin.err.cert")
			h.log.Error("dashboard: certificate", "err", err)
		} else {
			d.CertEnds, d.CertDays = end, int(end.Sub(now).Hours()/24)
		}
	}
	if h.d.LastBackup != nil {
		d.HasBackup = true
		at, size, err := h.d.LastBackup(ctx)
		switch {
		case err != nil:
			d.BackupErr = l.T("console.dash.backup_err")
			h.log.Error("dashboard: last backup", "err", err)
		case !at.IsZero():
			d.BackupAt, d.BackupBytes, d.BackupDays = at, size, int(now.Sub(at).Hours()/24)
		}
	}
	if d.IncidentReport, err = h.ops.LastReport(ctx, "incident.on"); err != nil {
		h.fail(w, r, err)
		return
	}
	p := page{Base: h.base(r, l.T("console.nav.dashboard")), Dash: d}
	if d.HasCert && d.CertErr == "" && d.CertDays < certWarnDays {
		p.Notice = l.T("console.dash.cert_notice", "n", d.CertDays)
	}
	h.render(w, r, http.StatusOK, "dashboard", p)
}

// attention is one list of the dashboard's "needs attention": the first
// few people, and the link to all of them on the people page.
type attention struct {
	ID, Title, Why string
	Warn           bool
	People         []personSummary
	Count          int
	All            template.URL
}

// attentionShown is how many people each attention list shows.
const attentionShown = 10

// attentionLists counts people by filter and lists those that need the
// admin: security first (no second factor), then access ending, then
// idle accounts and invites not yet accepted.
func (h *Handler) attentionLists(ctx context.Context, l *i18n.Localizer, idleDays, expiringDays int) (map[string]int, []attention, error) {
	lists := []attention{
		{ID: admin.FilterNoFactor, Title: l.T("console.attention.nofactor"), Warn: true, Why: l.T("console.attention.nofactor_why")},
		{ID: admin.FilterExpiring, Title: l.T("console.attention.expiring", "n", expiringDays), Why: l.T("console.attention.expiring_why")},
		{ID: admin.FilterIdle, Title: l.T("console.attention.idle", "n", idleDays), Why: l.T("console.attention.idle_why")},
		{ID: admin.FilterInvited, Title: l.T("console.attention.invited"), Why: l.T("console.attention.invited_why")},
	}
	counts, err := h.ops.Counts(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out []attention
	for _, l := range lists {
		if l.Count = counts[l.ID]; l.Count == 0 {
			continue
		}
		q := admin.PeopleQuery{Filter: l.ID, Sort: "name"}
		if l.ID == admin.FilterExpiring {
			q.Sort = "expires"
		}
		people, err := h.ops.FirstPeople(ctx, q.Filter, q.Sort, attentionShown)
		if err != nil {
			return nil, nil, err
		}
		for _, p := range people {
			l.People = append(l.People, personSummary{p})
		}
		l.All = peopleURL(q, func(*admin.PeopleQuery) {})
		out = append(out, l)
	}
	return counts, out, nil
}

// personSummary is a person as the dashboard shows them.
type personSummary struct{ admin.PersonSummary }

func (h *Handler) dnsPage(w http.ResponseWriter, r *http.Request) {
	if h.d.DNS == nil {
		web.Error(w, r, http.StatusNotFound)
		return
	}
	checks := admin.CheckDNS(r.Context(), h.d.DNS, h.d.Records)
	p := page{Base: h.base(r, h.loc(r).T("console.dns.title")), DNS: dnsRows(h.loc(r), checks)}
	bad := 0
	for _, c := range checks {
		if !c.OK {
			bad++
		}
	}
	if bad == 0 {
		p.Notice = h.loc(r).T("console.msg.dns_ok")
	}
	h.render(w, r, http.StatusOK, "dns", p)
}

// offboardForm is the offboarding page's form.
type offboardForm struct {
	Successor  int64
	Links      string // "move" or "revoke"
	Forward    bool
	AutoReply  string
	RetainDays int
	Export     bool
	Read       bool
}

// options are the form's choices for the operations.
func (f offboardForm) options() admin.OffboardOptions {
	o := admin.OffboardOptions{Successor: f.Successor, Forward: f.Forward, AutoReply: f.AutoReply, RetainDays: f.RetainDays, Export: f.Export, SuccessorRead: f.Read}
	if f.Links == "revoke" {
		o.Links = files.LinksRevoke
	}
	return o
}

func parseOffboardForm(r *http.Request) (offboardForm, error) {
	f := offboardForm{Links: r.FormValue("links"), Forward: r.FormValue("forward") == "1", AutoReply: strings.TrimSpace(r.FormValue("autoreply")),
		Export: r.FormValue("export") == "1", Read: r.FormValue("read") == "1", RetainDays: admin.DefaultRetentionDays}
	if f.Links == "" {
		f.Links = "move"
	}
	if f.Links != "move" && f.Links != "revoke" {
		return f, &admin.Problem{Words: admin.Say(i18n.Key("admin.err.links")), Err: admin.ErrBadOptions}
	}
	if s := r.FormValue("successor"); s != "" && s != "0" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return f, admin.ErrSuccessor
		}
		f.Successor = id
	}
	if s := strings.TrimSpace(r.FormValue("retain")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return f, &admin.Problem{Words: admin.Say(i18n.Key("admin.err.retention_number")), Err: admin.ErrBadOptions}
		}
		f.RetainDays = n
	}
	return f, nil
}

// offboardPage shows the options and, once chosen (plan=1), exactly what
// will happen, with the button that does it.
func (h *Handler) offboardPage(w http.ResponseWriter, r *http.Request) {
	a, ok := h.account(w, r)
	if !ok {
		return
	}
	f, ferr := parseOffboardForm(r)
	p := page{Base: h.base(r, h.loc(r).T("console.offboard.title", "name", a.DisplayName)), Person: personRow{Account: a, zone: h.od.TimeZone}, Offboard: f}
	others, err := h.successors(r.Context(), a.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p.Others = others
	code := http.StatusOK
	if r.FormValue("plan") == "1" || ferr != nil {
		plan, err := h.ops.PlanOffboard(r.Context(), a.ID, f.options())
		if ferr != nil {
			err = ferr
		}
		if err != nil {
			if msg, ok := offboardRefusal(h.loc(r), err); ok {
				p.Error, code = msg, http.StatusBadRequest
			} else {
				h.fail(w, r, err)
				return
			}
		} else {
			plan.Steps = planSteps(h.loc(r), plan)
			p.Plan = &plan
		}
	}
	h.render(w, r, code, "offboard", p)
}

func offboardRefusal(l *i18n.Localizer, err error) (string, bool) {
	switch {
	case errors.Is(err, admin.ErrLastAdmin):
		return l.T("console.msg.last_admin"), true
	case errors.Is(err, admin.ErrSelf):
		return l.T("console.msg.offboard_self"), true
	case errors.Is(err, admin.ErrSuccessor):
		return l.T("console.msg.successor"), true
	case errors.Is(err, admin.ErrState):
		return l.T("console.msg.already_offboarded"), true
	case errors.Is(err, admin.ErrBadOptions):
		return admin.Explain(l, err), true
	}
	return "", false
}

// successors lists the accounts that may take over: active, not the one
// leaving.
func (h *Handler) successors(ctx context.Context, leaving int64) ([]auth.Account, error) {
	accts, err := h.svc.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(accts, func(a auth.Account) bool { return a.ID == leaving || a.State != auth.StateActive }), nil
}

func (h *Handler) offboard(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	a, ok := h.account(w, r)
	if !ok {
		return
	}
	f, err := parseOffboardForm(r)
	var plan admin.OffboardPlan
	if err == nil {
		plan, err = h.ops.PlanOffboard(r.Context(), a.ID, f.options())
	}
	var rep admin.Report
	if err == nil {
		rep, err = h.ops.Offboard(r.Context(), actor(r, sess), plan)
	}
	if rep.Kind == "" {
		if msg, ok := offboardRefusal(h.loc(r), err); ok {
			p := page{Base: h.base(r, h.loc(r).T("console.offboard.title", "name", a.DisplayName)), Person: personRow{Account: a, zone: h.od.TimeZone}, Offboard: f}
			p.Error = msg
			h.render(w, r, http.StatusBadRequest, "offboard", p)
			return
		}
		h.fail(w, r, err)
		return
	}
	n := notice{Text: h.loc(r).T("console.msg.offboarded", "name", a.DisplayName)}
	if err != nil {
		n = notice{Error: h.loc(r).T("console.msg.steps_failed")}
	}
	h.toReport(w, r, rep, n)
}

// toReport ends an action that made a report: the report's page shows
// it, with the action's outcome (in place when it was not saved).
func (h *Handler) toReport(w http.ResponseWriter, r *http.Request, rep admin.Report, n notice) {
	if rep.ID != 0 {
		h.done(w, r, "/admin/reports/"+strconv.FormatInt(rep.ID, 10), n)
		return
	}
	rep.Steps = localSteps(h.loc(r), rep.Steps)
	p := page{Base: h.base(r, reportTitle(h.loc(r), rep.Kind)), Rep: &rep}
	p.Notice, p.Error = n.Text, n.Error
	h.render(w, r, http.StatusOK, "report", p)
}

// report shows a saved report, or downloads it (format=text or json).
func (h *Handler) report(w http.ResponseWriter, r *http.Request) {
	rep, ok := byPathID(h, w, r, h.ops.Report, auth.ErrNotFound)
	if !ok {
		return
	}
	name := fmt.Sprintf("caucus-%s-%d", strings.ReplaceAll(rep.Kind, ".", "-"), rep.ID)
	switch r.URL.Query().Get("format") {
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.txt"`)
		io.WriteString(w, reportText(h.loc(r), rep))
	case "json":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.json"`)
		w.Write(rep.JSON())
	default:
		rep.Steps = localSteps(h.loc(r), rep.Steps)
		h.render(w, r, http.StatusOK, "report", page{Base: h.base(r, reportTitle(h.loc(r), rep.Kind)), Rep: &rep})
	}
}

// groupRow is a group as the groups page shows it.
type groupRow struct {
	Name    string
	Address string // the group's list address; "" without mail
	Members []auth.Account
	// Diary: the group's calendar and address book can be switched
	// (GroupDiaries); DiaryReadOnly: they are read-only for members.
	Diary, DiaryReadOnly bool
}

func (h *Handler) groups(w http.ResponseWriter, r *http.Request) {
	h.groupsPage(w, r, http.StatusOK, "", "")
}

func (h *Handler) groupsPage(w http.ResponseWriter, r *http.Request, code int, errMsg, notice string) {
	ctx := r.Context()
	gs, err := h.svc.Groups(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	accts, err := h.svc.Accounts(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	byLogin := map[string]auth.Account{}
	for _, a := range accts {
		byLogin[a.Login] = a
	}
	domain := ""
	if h.od.Route != nil {
		if ds := h.od.Route.OwnDomains(); len(ds) > 0 {
			domain = ds[0]
		}
	}
	p := page{Base: h.base(r, h.loc(r).T("console.nav.groups")), Others: accts}
	p.Error, p.Notice = errMsg, notice
	for _, g := range gs {
		row := groupRow{Name: g.Name}
		if domain != "" {
			row.Address = g.Name + "@" + domain
		}
		for _, m := range g.Members {
			row.Members = append(row.Members, byLogin[m])
		}
		if h.d.Diaries != nil {
			row.Diary = true
			if row.DiaryReadOnly, err = h.d.Diaries.ReadOnly(ctx, g); err != nil {
				h.fail(w, r, err)
				return
			}
		}
		p.AllGroups = append(p.AllGroups, row)
	}
	h.render(w, r, code, "groups", p)
}

// groupError answers a refused change of the group named name: a bad
// name, one taken, or no such group or person.
func (h *Handler) groupError(w http.ResponseWriter, r *http.Request, err error, name string) {
	l := h.loc(r)
	name = strings.ToLower(name)
	switch {
	case errors.Is(err, auth.ErrExists):
		h.groupsPage(w, r, http.StatusBadRequest, l.T("admin.err.group_exists", "group", name), "")
	case errors.Is(err, auth.ErrInvalid) && auth.ValidateGroupName(name) != nil:
		h.groupsPage(w, r, http.StatusBadRequest, l.T("admin.err.group", "group", name), "")
	case errors.Is(err, auth.ErrNotFound):
		h.groupsPage(w, r, http.StatusBadRequest, l.T("admin.err.no_group", "group", name), "")
	case errors.Is(err, auth.ErrInvalid), errors.Is(err, admin.ErrAddressTaken):
		h.groupsPage(w, r, http.StatusBadRequest, admin.Explain(l, err), "")
	default:
		h.fail(w, r, err)
	}
}

func (h *Handler) createGroup(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if err := h.ops.CreateGroup(r.Context(), actor(r, sess), name); err != nil {
		h.groupError(w, r, err, name)
		return
	}
	h.done(w, r, "/admin/groups", notice{Text: h.loc(r).T("console.msg.group_created", "name", strings.ToLower(name))})
}

func (h *Handler) renameGroup(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	to := strings.TrimSpace(r.PostFormValue("to"))
	if err := h.ops.RenameGroup(r.Context(), actor(r, sess), r.PathValue("name"), to); err != nil {
		h.groupError(w, r, err, to)
		return
	}
	h.done(w, r, "/admin/groups", notice{Text: h.loc(r).T("console.msg.group_renamed", "name", strings.ToLower(to))})
}

func (h *Handler) addMember(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	ctx := r.Context()
	group := r.PathValue("name")
	if _, ok, err := h.svc.GroupMembers(ctx, group); err != nil || !ok {
		h.groupError(w, r, cmp.Or(err, fmt.Errorf("group %s: %w", group, auth.ErrNotFound)), group)
		return
	}
	who := auth.NormalizeLogin(h.ops.FullLogin(r.PostFormValue("login")))
	a, err := h.svc.AccountByLogin(ctx, who)
	if errors.Is(err, auth.ErrNotFound) {
		h.groupsPage(w, r, http.StatusBadRequest, h.loc(r).T("admin.err.no_person", "addr", who), "")
		return
	}
	if err == nil {
		err = h.svc.AddToGroup(ctx, sess.Account.Login, group, a.ID)
	}
	if err != nil {
		h.groupError(w, r, err, group)
		return
	}
	h.done(w, r, "/admin/groups", notice{Text: h.loc(r).T("admin.groups.added", "name", a.DisplayName, "group", group)})
}

func (h *Handler) removeMember(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	a, ok := h.account(w, r)
	if !ok {
		return
	}
	if err := h.svc.RemoveFromGroup(r.Context(), sess.Account.Login, r.PathValue("name"), a.ID); err != nil {
		h.groupError(w, r, err, r.PathValue("name"))
		return
	}
	h.done(w, r, "/admin/groups", notice{Text: h.loc(r).T("admin.groups.removed", "name", a.DisplayName, "group", r.PathValue("name"))})
}

// auditView is the audit page: the filter, the records and the chain.
type auditView struct {
	Account, Kind, Since, Until, Text string
	Records                           []audit.Record
	Rows                              []auditRow // Records, in people's words
	// Next is the address of the next (older) page, "" at the end; CSV
	// is the export of this filter. Both are built here, query encoded,
	// so that the template does not escape them again (template.URL).
	Next     template.URL
	Newer    template.URL // the next newer page; "" at the newest
	CSV      template.URL
	Checked  bool // the chain was verified
	ChainOK  bool
	ChainN   int
	ChainErr string // where the chain breaks, in the reader's words
	ChainWhy string // how, as the audit package says it (a title)
}

// auditPageSize is how many records the audit page shows at a time.
const auditPageSize = 200

// auditFilter reads the audit page's filter; its dates are days in loc,
// the party's time zone.
func auditFilter(q url.Values, loc *time.Location) (audit.Filter, *auditView, error) {
	v := &auditView{Account: strings.TrimSpace(q.Get("account")), Kind: strings.TrimSpace(q.Get("kind")), Since: q.Get("since"), Until: q.Get("until"),
		Text: strings.TrimSpace(q.Get("q"))}
	if len(v.Text) > 200 {
		v.Text = v.Text[:200]
	}
	f := audit.Filter{Account: v.Account, Kind: v.Kind, Text: v.Text}
	var err error
	if v.Since != "" {
		if f.Since, err = time.ParseInLocation(time.DateOnly, v.Since, loc); err != nil {
			return f, v, err
		}
	}
	if v.Until != "" {
		if f.Until, err = time.ParseInLocation(time.DateOnly, v.Until, loc); err != nil {
			return f, v, err
		}
		f.Until = f.Until.AddDate(0, 0, 1) // through that day
	}
	if b := q.Get("before"); b != "" {
		if f.BeforeID, err = strconv.ParseInt(b, 10, 64); err != nil {
			return f, v, err
		}
	}
	if a := q.Get("after"); a != "" && f.BeforeID == 0 {
		if f.AfterID, err = strconv.ParseInt(a, 10, 64); err != nil {
			return f, v, err
		}
	}
	return f, v, nil
}

func (h *Handler) auditPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	l := h.loc(r)
	f, v, err := auditFilter(r.URL.Query(), l.Location())
	p := page{Base: h.base(r, l.T("console.nav.audit")), Audit: v}
	if err != nil {
		p.Error = l.T("console.msg.bad_date")
		h.render(w, r, http.StatusBadRequest, "audit", p)
		return
	}
	f.Limit = auditPageSize
	if v.Records, err = h.od.Audit.List(ctx, f); err != nil {
		h.fail(w, r, err)
		return
	}
	for _, rec := range v.Records {
		v.Rows = append(v.Rows, newAuditRow(l, rec))
	}
	q := url.Values{}
	for k, s := range map[string]string{"account": v.Account, "kind": v.Kind, "since": v.Since, "until": v.Until, "q": v.Text} {
		if s != "" {
			q.Set(k, s)
		}
	}
	v.CSV = auditURL("/admin/audit.csv", q) // the filter, every page
	if n := len(v.Records); n > 0 {
		// Older: a full page may have more behind it, and a page reached
		// going back toward newer ones has the older ones it came from.
		if n == auditPageSize || f.AfterID > 0 {
			older := maps.Clone(q)
			older.Set("before", strconv.FormatInt(v.Records[n-1].ID, 10))
			v.Next = auditURL("/admin/audit", older)
		}
		if f.BeforeID > 0 || f.AfterID > 0 && n == auditPageSize {
			newer := maps.Clone(q)
			newer.Set("after", strconv.FormatInt(v.Records[0].ID, 10))
			v.Newer = auditURL("/admin/audit", newer)
		}
	}
	// Verifying reads every record: only when asked for.
	if r.URL.Query().Get("verify") != "1" {
		h.render(w, r, http.StatusOK, "audit", p)
		return
	}
	v.Checked = true
	v.ChainN, err = h.od.Audit.Verify(ctx)
	var be *audit.BrokenError
	switch {
	case errors.As(err, &be):
		v.ChainErr, v.ChainWhy = l.T("admin.audit.record", "id", be.ID), be.Reason
	case err != nil:
		h.fail(w, r, err)
		return
	default:
		v.ChainOK = true
	}
	h.render(w, r, http.StatusOK, "audit", p)
}

// auditURL is path with the query q. Query encoding leaves nothing that
// HTML or a URL attribute would read otherwise, so it is a safe URL.
func auditURL(path string, q url.Values) template.URL {
	if len(q) == 0 {
		return template.URL(path)
	}
	return template.URL(path + "?" + q.Encode())
}

func (h *Handler) auditCSV(w http.ResponseWriter, r *http.Request) {
	f, _, err := auditFilter(r.URL.Query(), h.loc(r).Location())
	if err != nil {
		web.Error(w, r, http.StatusBadRequest)
		return
	}
	f.Limit = audit.MaxLimit
	var b bytes.Buffer // whole, so that a failure is a 500 and not half a file
	if err := h.od.Audit.WriteCSV(r.Context(), &b, f); err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="caucus-audit.csv"`)
	b.WriteTo(w)
}

// incident switches incident mode. Switching it on ends the admin's own
// session too: they sign in again, afresh, told why on the sign-in page,
// and then see the report of what was revoked.
func (h *Handler) incident(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	on := r.PostFormValue("on") == "1"
	rep, err := h.ops.Incident(r.Context(), actor(r, sess), on)
	if errors.Is(err, admin.ErrState) {
		http.Redirect(w, r, "/admin", http.StatusSeeOther)
		return
	}
	if err != nil && rep.Kind == "" {
		h.fail(w, r, err)
		return
	}
	if on {
		next := "/admin"
		if rep.ID != 0 {
			next = "/admin/reports/" + strconv.FormatInt(rep.ID, 10)
		}
		http.Redirect(w, r, login.SignedOutURL(login.SignedOutIncident, next), http.StatusSeeOther)
		return
	}
	h.toReport(w, r, rep, notice{Text: h.loc(r).T("console.msg.incident_lifted")})
}

// reportTitle is a report's kind in the reader's words (admin.Report.Title
// in English).
func reportTitle(l *i18n.Localizer, kind string) string {
	switch kind {
	case "offboard":
		return l.T("console.report.offboard")
	case "suspend":
		return l.T("console.report.suspend")
	case "resume":
		return l.T("console.report.resume")
	case "expire":
		return l.T("console.report.expire")
	case "incident.on":
		return l.T("console.report.incident_on")
	case "incident.off":
		return l.T("console.report.incident_off")
	case "group.delete":
		return l.T("console.groups.delete.report")
	case "cohort.end":
		return l.T("console.report.cohort_end")
	}
	return l.T("console.report.generic", "kind", kind)
}

// stepWords are the message keys of the reports' step names (admin.Step.Name,
// kept in English in the saved reports).
var stepWords = map[string]string{
	"access revoked": i18n.Key("console.step.revoked"), "sign-in disabled": i18n.Key("console.step.disabled"),
	"sign-in enabled": i18n.Key("console.step.enabled"), "factors removed": i18n.Key("console.step.factors"),
	"removed from groups": i18n.Key("console.step.groups"), "files": i18n.Key("console.step.files"),
	"mail forwarded": i18n.Key("console.step.forward"), "auto-reply": i18n.Key("console.step.autoreply"),
	"mailbox retained": i18n.Key("console.step.retain"), "successor read access": i18n.Key("console.step.read"),
	"expired": i18n.Key("console.step.expired"), "incident mode on": i18n.Key("console.step.incident_on"),
	"incident mode off":                          i18n.Key("console.step.incident_off"),
	"everyone signed out, app passwords revoked": i18n.Key("console.step.signed_out"),
	"public links suspended":                     i18n.Key("console.step.links_suspended"), "public links resumed": i18n.Key("console.step.links_resumed"),
	"group files handed over":                        i18n.Key("console.groups.delete.step_files"),
	"group deleted":                                  i18n.Key("console.groups.delete.step_deleted"),
	"files added meanwhile handed over":              i18n.Key("console.groups.delete.step_late"),
	"mail routes removed":                            i18n.Key("console.groups.delete.step_routes"),
	"role mailboxes":                                 i18n.Key("console.step.roles"),
	"already offboarded":                             i18n.Key("console.step.left"),
	"outside forwarding and new public links frozen": i18n.Key("console.step.frozen"),
	"backup taken":                                   i18n.Key("console.step.backup"),
	"members told":                                   i18n.Key("console.step.told"),
}

// localSteps are steps with their names and details in l's words, for
// showing; the report itself keeps its English names.
func localSteps(l *i18n.Localizer, steps []admin.Step) []admin.Step {
	out := slices.Clone(steps)
	for i := range out {
		if key, ok := stepWords[out[i].Name]; ok {
			out[i].Name = l.T(key) // i18n:keyed
		}
		out[i].Detail = out[i].DetailIn(l)
	}
	return out
}

// stepsText is steps as lines of text in l's words, for the notice on a
// person's page after an action: outcome, name, detail and error.
func stepsText(l *i18n.Localizer, steps []admin.Step) string {
	var b strings.Builder
	for _, s := range localSteps(l, steps) {
		b.WriteString(outcomeWord(l, s.Outcome) + "  " + s.Name)
		if s.Detail != "" {
			b.WriteString(": " + s.Detail)
		}
		if s.Err != "" {
			b.WriteString(" (" + s.Err + ")")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// outcomeWord is a step's outcome in l's words.
func outcomeWord(l *i18n.Localizer, outcome string) string {
	switch outcome {
	case admin.OutcomeOK:
		return l.T("console.report.ok")
	case admin.OutcomeFailed:
		return l.T("console.report.failed")
	case admin.OutcomeSkipped:
		return l.T("console.report.skipped")
	case admin.OutcomePlanned:
		return l.T("console.report.planned")
	}
	return outcome
}

// planSteps are the steps of an offboarding plan in l's words: the steps
// of plan.Steps (admin's describe), their names and details written from
// the plan's figures.
func planSteps(l *i18n.Localizer, p admin.OffboardPlan) []admin.Step {
	o := p.Options
	succ := ""
	if p.Successor != nil {
		succ = p.Successor.Login
	}
	details := map[string]string{
		"access revoked":        l.T("console.plan.revoke", "sessions", p.Sessions, "apppw", p.AppPass, "live", p.Live),
		"sign-in disabled":      l.T("console.plan.disable", "login", p.Account.Login),
		"factors removed":       l.T("console.plan.factors", "n", p.Factors),
		"removed from groups":   cmp.Or(strings.Join(p.Groups, ", "), l.T("console.none")),
		"role mailboxes":        cmp.Or(roleList(l, p.Roles), l.T("console.none")),
		"mail forwarded":        l.T("console.plan.forward", "succ", succ),
		"auto-reply":            l.T("console.plan.autoreply"),
		"mailbox retained":      l.T("console.plan.retain", "n", o.RetainDays, "date", l.Date(p.RetainTil)),
		"successor read access": l.T("console.plan.read", "succ", succ, "login", p.Account.Login),
	}
	switch {
	case succ == "":
		details["files"] = l.T("console.plan.files_none")
	case o.Links == files.LinksRevoke:
		details["files"] = l.T("console.plan.files_revoke", "succ", succ)
	default:
		details["files"] = l.T("console.plan.files_move", "succ", succ)
	}
	if o.Export {
		details["mailbox retained"] = l.T("console.plan.retain_export", "n", o.RetainDays, "date", l.Date(p.RetainTil))
	}
	steps := slices.Clone(p.Steps)
	for i, s := range steps {
		if d, ok := details[s.Name]; ok {
			steps[i].Detail = d
		}
	}
	return localSteps(l, steps)
}

// deleteGroup deletes a group, handing its files to the chosen person
// (by default the admin), and shows the report.
func (h *Handler) deleteGroup(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	ctx := r.Context()
	name := r.PathValue("name")
	var to int64
	if login := strings.TrimSpace(r.PostFormValue("to")); login != "" {
		a, err := h.ops.AccountByLogin(ctx, h.ops.FullLogin(login))
		if errors.Is(err, auth.ErrNotFound) {
			h.groupsPage(w, r, http.StatusBadRequest, h.loc(r).T("console.groups.delete.bad_recipient"), "")
			return
		}
		if err != nil {
			h.fail(w, r, err)
			return
		}
		to = a.ID
	}
	rep, err := h.ops.DeleteGroup(ctx, actor(r, sess), name, to)
	if rep.Kind == "" {
		if errors.Is(err, admin.ErrSuccessor) || errors.Is(err, admin.ErrBadOptions) {
			h.groupsPage(w, r, http.StatusBadRequest, h.loc(r).T("console.groups.delete.bad_recipient"), "")
			return
		}
		h.groupError(w, r, err, name)
		return
	}
	n := notice{Text: h.loc(r).T("console.groups.delete.done", "group", strings.ToLower(name))}
	if err != nil {
		n = notice{Error: h.loc(r).T("console.msg.steps_failed")}
	}
	h.toReport(w, r, rep, n)
}
