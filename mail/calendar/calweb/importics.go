package calweb

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/calendar"
)

// The import page (/mail/calendar/import): a member uploads an .ics file
// (RFC 5545), one calendar as Google Calendar, Outlook or Apple Calendar
// export it, or several joined, and it becomes a new calendar of theirs
// through the store's ImportICS, all or nothing. The member then lands on
// the month of the new calendar's events with a notice of how many came
// in; a refused file shows the form again, saying why in the member's
// language: too large, not an iCalendar file, or which event (by its
// SUMMARY, else its UID) and what is wrong with it.
//
// The upload is read as a stream (multipart/form-data, RFC 7578): the
// form's csrf field comes before its file and is checked first; the file
// is read into memory up to calendar.MaxImportBytes and no further, and
// never written to a temporary file (net/http's ParseMultipartForm would
// write one past 32 MB, unencrypted, outside the party's stores). The
// connection's deadlines slide as the file comes (iweb.Deadlines).

// Importer is what the import page needs of the store (*calendar.Store).
type Importer interface {
	ImportICS(ctx context.Context, m calendar.Member, name string, data []byte) (calendar.Imported, error)
}

// maxCSRF bounds the form's csrf field as the import reads it.
const maxCSRF = 512

// Bounds of an import's upload: after importGrace, the file must arrive
// at minImportRate bytes a second on average or it is cut (a client
// trickling a byte a minute would hold a connection and up to
// MaxImportBytes of memory for ever). 8 KiB/s is 64 kbit/s, less than a
// poor mobile uplink, as for a file drop.
const (
	minImportRate = 8 << 10
	importGrace   = 30 * time.Second
)

// maxImportBody bounds an import's request body: the file and the form,
// and maxDrain more, which is read only to be thrown away (see
// refuseLarge).
const maxImportBody = calendar.MaxImportBytes + MaxForm + maxDrain

// maxDrain is how much of an upload past what the import takes is read
// and thrown away before the refusal is sent, so that a browser over
// HTTP/1.1 shows it (see refuseLarge): a file of up to twice
// calendar.MaxImportBytes gets the page that says it is too large.
const maxDrain = calendar.MaxImportBytes

// importPage is the data of the import page.
type importPage struct {
	ui.Base
	MaxMB int
}

// registerImport adds the import page, when the store imports.
func (h *Handler) registerImport(mux *http.ServeMux, user func(string, func(http.ResponseWriter, *http.Request, auth.Session))) {
	if h.d.Import == nil {
		return
	}
	user("GET /mail/calendar/import", h.importForm)
	// Not login.Action: its CSRF check parses the whole form first (a
	// 64 MiB file to a temporary file); importFile checks the token
	// itself, before it reads the file.
	mux.Handle("POST /mail/calendar/import", iweb.WithMaxBody(h.d.Login.Require(login.WithSession(h.importFile)), maxImportBody))
}

func (h *Handler) importForm(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	h.renderImport(w, r, sess, http.StatusOK, "")
}

// renderImport shows the import form, with msg as its error if set.
func (h *Handler) renderImport(w http.ResponseWriter, r *http.Request, sess auth.Session, code int, msg string) {
	l := h.d.Login.Localizer(r)
	p := importPage{Base: h.base(r, sess, l, l.T("calweb.import.title")), MaxMB: calendar.MaxImportBytes >> 20}
	p.Error = msg
	h.render(w, r, code, "import", p)
}

// importFile takes the uploaded file: its csrf field first, then the
// file, read up to calendar.MaxImportBytes.
func (h *Handler) importFile(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l := h.d.Login.Localizer(r)
	if !h.startImport(sess.Account.ID) {
		h.renderImport(w, r, sess, http.StatusTooManyRequests, l.T("calweb.import.error.busy"))
		return
	}
	defer h.endImport(sess.Account.ID)
	// A file of up to MaxImportBytes on a phone's line, and its import,
	// may outlast the server's ReadTimeout and WriteTimeout, which count
	// from the request's start: the deadlines slide as the body comes and
	// as the answer goes, as for a file upload; a stalled upload is still
	// cut after iweb.IOIdle.
	d := iweb.NewDeadlines(r.Context(), w)
	defer d.Stop()
	d.MinReadRate(minImportRate, importGrace)
	iweb.SlideReads(d, r)
	w = iweb.SlideWrites(d, w)
	mr, err := r.MultipartReader()
	if err != nil {
		h.renderImport(w, r, sess, http.StatusBadRequest, l.T("calweb.import.error.no_file"))
		return
	}
	csrf := r.Header.Get("X-CSRF-Token")
	var (
		data  []byte
		name  string
		found bool
	)
	for !found {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			h.readError(w, r, sess, l, err)
			return
		}
		switch part.FormName() {
		case "csrf":
			b, err := io.ReadAll(io.LimitReader(part, maxCSRF))
			if err != nil {
				h.readError(w, r, sess, l, err)
				return
			}
			csrf = string(b)
		case "file":
			// The token comes first: nothing of the file is read (and
			// no reason given) for a request that cannot show it.
			if !login.ValidCSRF(sess, csrf) {
				iweb.Error(w, r, http.StatusForbidden)
				return
			}
			if r.ContentLength > calendar.MaxImportBytes+MaxForm { // too large by its length alone: nothing kept
				h.refuseLarge(w, r, sess, l)
				return
			}
			data, err = io.ReadAll(io.LimitReader(part, calendar.MaxImportBytes+1))
			if err != nil {
				h.readError(w, r, sess, l, err)
				return
			}
			name, found = fileTitle(part.FileName()), true
		}
		part.Close()
	}
	if !login.ValidCSRF(sess, csrf) {
		iweb.Error(w, r, http.StatusForbidden)
		return
	}
	switch {
	case !found || len(data) == 0:
		h.renderImport(w, r, sess, http.StatusBadRequest, l.T("calweb.import.error.no_file"))
		return
	case len(data) > calendar.MaxImportBytes:
		h.refuseLarge(w, r, sess, l)
		return
	}
	im, err := h.d.Import.ImportICS(r.Context(), memberOf(sess), name, data)
	if err != nil {
		if msg, code, ok := importRefusal(l, err); ok {
			h.renderImport(w, r, sess, code, msg)
			return
		}
		h.storeError(w, r, err)
		return
	}
	d.Writing() // a redirect after a POST has no body to write
	loc := l.Location()
	q := url.Values{"m": {landing(im, h.d.Now(), loc).In(loc).Format("2006-01")}, "n": {"imported"}, "cal": {im.Slug}, "count": {strconv.Itoa(im.Objects)},
		"sig": {importedSig(sess, im.Slug, im.Objects)}}
	http.Redirect(w, r, "/mail/calendar?"+q.Encode(), http.StatusSeeOther)
}

// readError answers a body that could not be read: too large, or cut off.
func (h *Handler) readError(w http.ResponseWriter, r *http.Request, sess auth.Session, l *i18n.Localizer, err error) {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		h.renderImport(w, r, sess, http.StatusRequestEntityTooLarge, tooLarge(l))
		return
	}
	h.renderImport(w, r, sess, http.StatusBadRequest, l.T("calweb.import.error.no_file"))
}

// refuseLarge answers an upload whose file is over
// calendar.MaxImportBytes with the page that says so (413).
//
// A browser over HTTP/1.1 reads the answer only once it has sent the
// whole body, and net/http closes a connection whose request body is
// left unread past 256 KiB: the browser, still sending, gets a reset
// (RFC 9112 section 9.6) and shows "connection reset" instead of the
// page. So the rest of the body is read first and thrown away, while it
// comes at the import's least rate, up to maxImportBody; past that the
// connection is closed as before (a body whose Content-Length says so is
// not read at all). Over HTTP/2 nothing more is read: net/http ends the
// stream after the answer with RST_STREAM NO_ERROR (RFC 9113 section
// 8.1), and the browser shows the answer.
func (h *Handler) refuseLarge(w http.ResponseWriter, r *http.Request, sess auth.Session, l *i18n.Localizer) {
	if r.ProtoMajor == 1 && r.ContentLength <= maxImportBody {
		io.Copy(io.Discard, r.Body) // ends at the body's end, its limit or a deadline
	}
	h.renderImport(w, r, sess, http.StatusRequestEntityTooLarge, tooLarge(l))
}

// tooLarge is the member's words for a file over calendar.MaxImportBytes.
func tooLarge(l *i18n.Localizer) string {
	return l.T("calweb.import.error.too_large", "mb", calendar.MaxImportBytes>>20)
}

// fileTitle is an uploaded file's name without its folders and its
// .ics: the calendar's name when the file gives none.
func fileTitle(name string) string {
	name = path.Base(strings.ReplaceAll(name, `\`, "/")) // a Windows path, as old browsers send it
	if ext := path.Ext(name); strings.EqualFold(ext, ".ics") || strings.EqualFold(ext, ".ical") || strings.EqualFold(ext, ".ifb") {
		name = strings.TrimSuffix(name, ext)
	}
	if name == "." || name == "/" {
		return ""
	}
	return name
}

// importRefusal is the member's words for an import ImportICS refused
// for what the file holds, and the status; ok is false for the store's
// own failures.
func importRefusal(l *i18n.Localizer, err error) (msg string, code int, ok bool) {
	if ie, isEvent := errors.AsType[*calendar.ImportError](err); isEvent {
		return l.T("calweb.import.error.event", "event", eventLabel(l, ie), "reason", l.T(reasonKey(ie.Err))), http.StatusBadRequest, true // i18n:keyed
	}
	switch {
	case errors.Is(err, calendar.ErrTooMany):
		return l.T("calweb.import.error.too_many", "max", calendar.MaxObjectsPerCalendar), http.StatusRequestEntityTooLarge, true
	case errors.Is(err, calendar.ErrTooLarge):
		return tooLarge(l), http.StatusRequestEntityTooLarge, true
	case errors.Is(err, calendar.ErrInvalid):
		return l.T("calweb.import.error.not_ics"), http.StatusBadRequest, true
	case errors.Is(err, calendar.ErrFull):
		return l.T("calweb.import.error.full", "max", calendar.MaxCalendars), http.StatusInsufficientStorage, true
	case errors.Is(err, calendar.ErrExists):
		return l.T("calweb.import.error.exists"), http.StatusConflict, true
	}
	return "", 0, false
}

// eventLabel names a refused event as the member knows it: its title,
// else its UID, cleaned of control characters and cut.
func eventLabel(l *i18n.Localizer, ie *calendar.ImportError) string {
	if s := cleanLine(ie.Summary); s != "" {
		return s
	}
	if s := cleanLine(ie.UID); s != "" {
		return s
	}
	return l.T("calinvite.mail.untitled")
}

// reasonKey is the catalogue's sentence for why an event was refused.
func reasonKey(err error) string {
	switch {
	case errors.Is(err, calendar.ErrDuplicate):
		return i18n.Key("calweb.import.reason.duplicate")
	case errors.Is(err, calendar.ErrNoUID):
		return i18n.Key("calweb.import.reason.no_uid")
	case errors.Is(err, calendar.ErrTimeZone):
		return i18n.Key("calweb.import.reason.time_zone")
	case errors.Is(err, calendar.ErrMaxInstances):
		return i18n.Key("calweb.import.reason.dense")
	case errors.Is(err, calendar.ErrRecurrence):
		return i18n.Key("calweb.import.reason.recurrence")
	case errors.Is(err, calendar.ErrDate):
		return i18n.Key("calweb.import.reason.date")
	case errors.Is(err, calendar.ErrTooLarge):
		return i18n.Key("calweb.import.reason.too_large")
	}
	return i18n.Key("calweb.import.reason.invalid")
}

// landing is the time whose month the member lands on after an import:
// now while the calendar's events are under way (or have no dates), the
// first event's start when all are to come, the last one's end when all
// are past; now again for a month the pages do not show.
func landing(im calendar.Imported, now time.Time, loc *time.Location) time.Time {
	t := now
	switch {
	case im.Start.IsZero():
	case im.Start.After(now):
		t = im.Start
	case !im.End.IsZero() && !im.End.After(now):
		t = im.End.Add(-time.Second)
	}
	if y := t.In(loc).Year(); y < minYear || y > maxYear {
		return now
	}
	return t
}

// importedNotice is the notice of the month view after an import
// (?n=imported&cal=&count=&sig=), naming the calendar if it is the
// member's, and marks it in the legend; "" when the URL names none of
// them or its signature is not the session's (importedSig).
func importedNotice(r *http.Request, sess auth.Session, l *i18n.Localizer, cals []calView) string {
	q := r.URL.Query()
	if q.Get("n") != "imported" {
		return ""
	}
	n, err := strconv.Atoi(q.Get("count"))
	if err != nil || n < 0 || sess.CSRF == "" || !hmac.Equal([]byte(q.Get("sig")), []byte(importedSig(sess, q.Get("cal"), n))) {
		return ""
	}
	for i, c := range cals {
		if c.Slug == q.Get("cal") && !c.Group {
			cals[i].New = true
			return l.T("calweb.notice.imported", "n", n, "calendar", c.Name)
		}
	}
	return ""
}

// importedSig signs an import's notice, its calendar and its count, for
// the session: an HMAC-SHA256 (RFC 2104) keyed by the session's CSRF
// token, a secret only the session's pages hold. A link made by someone
// else cannot show a member "imported: 999 events", nor a notice of an
// import that did not happen; the notice needs no state of its own.
func importedSig(sess auth.Session, slug string, n int) string {
	m := hmac.New(sha256.New, []byte(sess.CSRF))
	fmt.Fprintf(m, "calweb.imported\x00%s\x00%d", slug, n)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// startImport reports whether account may import now (no import of its
// runs), and marks it importing if so.
func (h *Handler) startImport(account int64) bool {
	h.importMu.Lock()
	defer h.importMu.Unlock()
	if h.importing[account] {
		return false
	}
	h.importing[account] = true
	return true
}

// endImport marks account's import ended.
func (h *Handler) endImport(account int64) {
	h.importMu.Lock()
	defer h.importMu.Unlock()
	delete(h.importing, account)
}
