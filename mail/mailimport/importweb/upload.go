package importweb

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/upload"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/mailimport"
)

// The upload protocol: a small resumable upload, in the spirit of tus
// (tus.io) but only what the page needs. Every request carries the
// session cookie and, when it changes something, the session's CSRF
// token in X-CSRF-Token. Answers are JSON: {"id", "name", "size",
// "offset", "state", "job"}, or {"error"} in the reader's language.
//
//	POST   /mail/import/uploads        form fields name and size (bytes).
//	                                   201 and the upload; or the member's
//	                                   unfinished upload of the same name
//	                                   and size (a reload resumes it).
//	                                   413 over the size limit (the
//	                                   member's free quota, at most
//	                                   Deps.MaxUpload), 415 a file that is
//	                                   not an mbox or a Takeout archive,
//	                                   429 too many unfinished uploads,
//	                                   507 no room on the server's disk.
//	GET    /mail/import/uploads/{id}   where the upload stands.
//	PATCH  /mail/import/uploads/{id}   header Upload-Offset: the offset the
//	                                   piece starts at; body: the piece, at
//	                                   most MaxChunk bytes. The piece is
//	                                   written and fsynced before the answer:
//	                                   204 with Upload-Offset the new offset,
//	                                   or, for the last piece, 200 with the
//	                                   job that imports the file. 409 (with
//	                                   Upload-Offset the server's) when the
//	                                   piece does not start there or another
//	                                   is being written; 413 past the
//	                                   declared size. A piece cut short is
//	                                   kept as far as it came: the client
//	                                   asks (GET) and goes on from there.
//	DELETE /mail/import/uploads/{id}   abandon it (204).
//
// Another member's upload answers 404, as a missing one does. An upload
// left unfinished for a day is deleted (upload.Abandoned).

// Upload limits.
const (
	// MaxChunk is the largest piece a PATCH may carry.
	MaxChunk = 16 << 20
	// chunkSize is the piece the page's script sends.
	chunkSize = 4 << 20
	// DefaultMaxUpload bounds an upload when Deps.MaxUpload is 0.
	DefaultMaxUpload = 50 << 30
	maxName          = 255
)

// Upload kinds, by what the file is.
const (
	KindMbox    = "mbox"    // an mbox file (Takeout's Mail, Thunderbird, Apple Mail export)
	KindTakeout = "takeout" // a Google Takeout archive (.zip, .tgz)
)

// StartFile starts the job that imports a finished upload's file, at
// path, for req's member; the spool deletes the file when that job has
// ended.
type StartFile func(ctx context.Context, req mailimport.Request, path string) (int64, error)

// Kinds are the upload kinds the page accepts ([KindMbox],
// [KindTakeout]) with what starts their jobs. A kind missing here is
// refused before a byte is sent, with a clear message.
type Kinds map[string]StartFile

// Starter starts import jobs (*mailimport.Importer).
type Starter interface {
	Start(ctx context.Context, req mailimport.Request) (int64, error)
}

// StartKind returns a StartFile that starts a job of the importer's
// source kind (mailimport.KindMbox, and the Takeout kind when it
// exists) reading the file.
func StartKind(imp Starter, kind string) StartFile {
	return func(ctx context.Context, req mailimport.Request, path string) (int64, error) {
		req.Source = mailimport.SourceSpec{Kind: kind, Paths: []string{path}}
		return imp.Start(ctx, req)
	}
}

// kindOf says what a file is by its name: a Takeout archive (.zip,
// .tgz, .tar.gz), an mbox (.mbox, .mbx, or no extension), or "" for
// anything else.
func kindOf(name string) string {
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, ".zip"), strings.HasSuffix(n, ".tgz"), strings.HasSuffix(n, ".tar.gz"):
		return KindTakeout
	case strings.HasSuffix(n, ".mbox"), strings.HasSuffix(n, ".mbx"), !strings.Contains(n, "."):
		return KindMbox
	}
	return ""
}

// Quota says how much of the member's mailbox is used and what its
// quota is, 0 for none (mail/store's Usage).
type Quota func(ctx context.Context, accountID int64) (used, quota int64, err error)

// uploadForm is what the page shows of uploads.
type uploadForm struct {
	Max        int64
	Chunk      int64
	Unfinished []upload.Upload
	Takeout    bool // Takeout archives are accepted
}

// uploadForm is the upload part of the page.
func (h *Handler) uploadForm(r *http.Request, sess auth.Session) (*uploadForm, error) {
	limit, err := h.uploadLimit(r.Context(), sess.Account.ID)
	if err != nil {
		return nil, err
	}
	list, err := h.d.Uploads.List(r.Context(), sess.Account.ID)
	if err != nil {
		return nil, err
	}
	f := &uploadForm{Max: limit, Chunk: chunkSize, Takeout: h.d.Kinds[KindTakeout] != nil}
	for _, u := range list {
		if u.State == upload.StateReceiving {
			f.Unfinished = append(f.Unfinished, u)
		}
	}
	return f, nil
}

// uploadLimit is the largest upload the member may start: the free part
// of their quota, at most Deps.MaxUpload.
func (h *Handler) uploadLimit(ctx context.Context, accountID int64) (int64, error) {
	limit := h.d.MaxUpload
	if h.d.Quota == nil {
		return limit, nil
	}
	used, quota, err := h.d.Quota(ctx, accountID)
	if err != nil {
		return 0, err
	}
	if quota > 0 {
		limit = min(limit, max(quota-used, 0))
	}
	return limit, nil
}

// registerUploads adds the upload protocol's routes.
func (h *Handler) registerUploads(mux *http.ServeMux, user, post func(string, func(http.ResponseWriter, *http.Request, auth.Session))) {
	post("POST /mail/import/uploads", h.createUpload)
	user("GET /mail/import/uploads/{id}", h.uploadState)
	post("DELETE /mail/import/uploads/{id}", h.deleteUpload)
	mux.Handle("PATCH /mail/import/uploads/{id}", iweb.WithMaxBody(h.d.Login.Require(login.Action(h.writePiece)), MaxChunk))
}

// uploadJSON is an upload as the protocol answers it.
type uploadJSON struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Offset int64  `json:"offset"`
	State  string `json:"state"`
	Job    int64  `json:"job,omitempty"`
}

func uploadOf(u upload.Upload) uploadJSON {
	return uploadJSON{ID: u.ID, Name: u.Name, Size: u.Size, Offset: u.Received, State: u.State, Job: u.JobID}
}

// uploadError answers an error in the reader's words.
func uploadError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func (h *Handler) createUpload(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l := h.d.Login.Localizer(r)
	name := strings.TrimSpace(r.PostFormValue("name"))
	size, err := strconv.ParseInt(r.PostFormValue("size"), 10, 64)
	if name == "" || len(name) > maxName || err != nil || size <= 0 {
		uploadError(w, http.StatusBadRequest, l.T("importweb.upload.bad"))
		return
	}
	kind := kindOf(name)
	if kind == "" || h.d.Kinds[kind] == nil {
		msg := l.T("importweb.upload.unsupported")
		if kind == KindTakeout {
			msg = l.T("importweb.upload.no_takeout")
		}
		uploadError(w, http.StatusUnsupportedMediaType, msg)
		return
	}
	if busy, err := h.tooManyActive(r.Context(), sess.Account.ID); err != nil || busy {
		if err != nil {
			h.fail(w, r, err)
			return
		}
		uploadError(w, http.StatusTooManyRequests, l.T("importweb.error.too_many", "n", maxActive))
		return
	}
	limit, err := h.uploadLimit(r.Context(), sess.Account.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	u, err := h.d.Uploads.Create(r.Context(), sess.Account.ID, name, kind, size, limit)
	switch {
	case errors.Is(err, upload.ErrTooLarge):
		uploadError(w, http.StatusRequestEntityTooLarge, l.T("importweb.upload.too_large", "max", l.Size(limit)))
	case errors.Is(err, upload.ErrTooMany):
		uploadError(w, http.StatusTooManyRequests, l.T("importweb.upload.too_many"))
	case errors.Is(err, upload.ErrDiskFull):
		h.log.Warn("importweb: no room on the disk for an upload", "account", sess.Account.Login, "bytes", size)
		uploadError(w, http.StatusInsufficientStorage, l.T("importweb.upload.disk_full"))
	case err != nil:
		h.fail(w, r, err)
	default:
		writeJSON(w, http.StatusCreated, uploadOf(u))
	}
}

func (h *Handler) uploadState(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	u, err := h.d.Uploads.Get(r.Context(), sess.Account.ID, r.PathValue("id"))
	if errors.Is(err, upload.ErrNotFound) {
		iweb.Error(w, r, http.StatusNotFound)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, uploadOf(u))
}

func (h *Handler) deleteUpload(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	err := h.d.Uploads.Delete(r.Context(), sess.Account.ID, r.PathValue("id"))
	if errors.Is(err, upload.ErrNotFound) {
		iweb.Error(w, r, http.StatusNotFound)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// writePiece writes one piece of an upload (see the protocol above) and,
// after the last, starts the job that imports the file.
func (h *Handler) writePiece(w http.ResponseWriter, r *http.Request, sess auth.Session) {
	l := h.d.Login.Localizer(r)
	offset, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || offset < 0 {
		uploadError(w, http.StatusBadRequest, l.T("importweb.upload.bad"))
		return
	}
	if r.ContentLength > MaxChunk {
		// Refused before a byte is written. (A body without a length is
		// cut at MaxChunk by the route's limit; what came is kept.)
		uploadError(w, http.StatusRequestEntityTooLarge, l.T("importweb.upload.bad"))
		return
	}
	dl := iweb.NewDeadlines(r.Context(), w)
	defer dl.Stop()
	u, err := h.d.Uploads.Write(r.Context(), sess.Account.ID, r.PathValue("id"), offset, readingBody{r.Body, dl})
	switch {
	case errors.Is(err, upload.ErrNotFound):
		iweb.Error(w, r, http.StatusNotFound)
	case errors.Is(err, upload.ErrOffset), errors.Is(err, upload.ErrBusy):
		w.Header().Set("Upload-Offset", strconv.FormatInt(u.Received, 10))
		uploadError(w, http.StatusConflict, l.T("importweb.upload.conflict"))
	case errors.Is(err, upload.ErrTooLarge):
		uploadError(w, http.StatusRequestEntityTooLarge, l.T("importweb.upload.bad"))
	case errors.Is(err, upload.ErrComplete) && u.State == upload.StateReceiving, err == nil && u.Complete():
		h.handOver(w, r, sess, u)
	case errors.Is(err, upload.ErrComplete):
		writeJSON(w, http.StatusOK, uploadOf(u))
	case err != nil:
		// The client went away mid-piece: what came is kept.
		h.log.Info("importweb: piece cut short", "account", sess.Account.Login, "offset", u.Received, "err", err)
		iweb.Error(w, r, http.StatusBadRequest)
	default:
		w.Header().Set("Upload-Offset", strconv.FormatInt(u.Received, 10))
		w.WriteHeader(http.StatusNoContent)
	}
}

// readingBody moves the connection's read deadline forward as a piece
// arrives: a slow line is not cut off, a stalled one is.
type readingBody struct {
	r  io.Reader
	dl *iweb.Deadlines
}

func (b readingBody) Read(p []byte) (int, error) {
	b.dl.Reading()
	return b.r.Read(p)
}

// handOver starts the job of a complete upload, once: a second request
// for it (a retry racing the first) answers where it stands.
func (h *Handler) handOver(w http.ResponseWriter, r *http.Request, sess auth.Session, u upload.Upload) {
	start := h.d.Kinds[u.Kind]
	if start == nil {
		h.fail(w, r, errors.New("importweb: no kind "+u.Kind))
		return
	}
	ctx := context.WithoutCancel(r.Context())
	job, err := h.d.Uploads.Hand(ctx, u.ID, func() (int64, error) {
		return start(ctx, mailimport.Request{AccountID: sess.Account.ID, Actor: sess.Account.Login, Subject: sess.Account.Login,
			Addr: iweb.ClientAddr(r).String()}, h.d.Uploads.Path(u))
	})
	if errors.Is(err, upload.ErrNotFound) {
		if u, err = h.d.Uploads.Get(ctx, sess.Account.ID, u.ID); err == nil {
			writeJSON(w, http.StatusOK, uploadOf(u))
			return
		}
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	u.State, u.JobID = upload.StateHanded, job
	w.Header().Set("Upload-Offset", strconv.FormatInt(u.Received, 10))
	writeJSON(w, http.StatusOK, uploadOf(u))
}

// RunSweep deletes, every hour until ctx ends, the uploads left
// unfinished for a day and the files of uploads whose job has ended.
func (h *Handler) RunSweep(ctx context.Context) {
	if h.d.Uploads != nil {
		h.d.Uploads.Run(ctx, time.Hour, h.jobEnded)
	}
}

// jobEnded says whether an upload's job has ended (or is gone).
func (h *Handler) jobEnded(ctx context.Context, job int64) (bool, error) {
	p, _, err := h.d.Imports.Progress(ctx, job)
	if errors.Is(err, mailimport.ErrNoJob) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return !active(p.State), nil
}
