package console

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/offboard"
)

// exportRow is an mbox export as the exports page shows it.
type exportRow struct{ offboard.Export }

// exportsPage lists the mbox exports of departed members' mail.
func (h *Handler) exportsPage(w http.ResponseWriter, r *http.Request) {
	mail := h.od.MailOffboard
	if mail == nil {
		web.Error(w, r, http.StatusNotFound)
		return
	}
	list, err := mail.Exports()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := page{Base: h.base(r, h.loc(r).T("console.nav.exports"))}
	for _, e := range list {
		p.Exports = append(p.Exports, exportRow{e})
	}
	h.render(w, r, http.StatusOK, "exports", p)
}

// downloadExport sends one export. It is a console action (POST, CSRF, a
// fresh passkey or security key) because the file is someone's whole
// mailbox, and the download is recorded in the audit log.
func (h *Handler) downloadExport(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	mail := h.od.MailOffboard
	if mail == nil {
		web.Error(w, r, http.StatusNotFound)
		return
	}
	f, ex, err := mail.OpenExport(r.Context(), sess.Account.Login, r.PathValue("name"))
	if errors.Is(err, offboard.ErrNoExport) {
		web.Error(w, r, http.StatusNotFound)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer f.Close()
	h.log.Info("admin: mail export downloaded", "admin", sess.Account.Login, "file", ex.Name)
	w.Header().Set("Content-Type", "application/mbox")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": ex.Name}))
	w.Header().Set("Content-Length", strconv.FormatInt(ex.Size, 10))
	d := web.NewDeadlines(r.Context(), w)
	defer d.Stop()
	io.Copy(web.SlideWrites(d, w), f) // a failure is the client's going away
}
