package fileweb

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/i18n"
	iweb "github.com/caucus-org/caucus/internal/web"
)

// maxUploadFiles bounds the files of one upload request.
const maxUploadFiles = 1000

// errNoToken is an upload whose first file came before a valid CSRF token.
var errNoToken = errors.New("fileweb: upload without a valid CSRF token")

// errBadUpload is a body that is not the multipart form the pages send.
var errBadUpload = errors.New("fileweb: malformed upload")

// receive reads a multipart/form-data body (RFC 7578) part by part and
// hands each file part to put while it streams: nothing is buffered whole,
// in memory or on disk, before the store has it. A part named "csrf" is
// passed to token, which must have accepted one (or been nil) before the
// first file part, so a forged form stores nothing. A part named "size"
// announces the length of the next file (the page's script sends it, so
// the store can refuse a file over the quota before reading it); without
// one the length is -1, unknown. Other fields are refused. It returns the
// number of files stored.
func receive(r *http.Request, tokenOK bool, token func(string) bool, put func(name string, size int64, body io.Reader) error) (int, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errBadUpload, err)
	}
	n := 0
	size := int64(-1)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("%w: %w", errBadUpload, err)
		}
		switch {
		case part.FormName() == "csrf" && part.FileName() == "":
			v, err := io.ReadAll(io.LimitReader(part, 256))
			if err != nil {
				return n, fmt.Errorf("%w: %w", errBadUpload, err)
			}
			tokenOK = token == nil || token(string(v))
		case part.FormName() == "size" && part.FileName() == "":
			v, err := io.ReadAll(io.LimitReader(part, 32))
			if err != nil {
				return n, fmt.Errorf("%w: %w", errBadUpload, err)
			}
			if size, err = strconv.ParseInt(string(v), 10, 64); err != nil || size < 0 {
				return n, fmt.Errorf("%w: bad size %q", errBadUpload, v)
			}
		case part.FormName() == "file":
			if !tokenOK {
				return n, errNoToken
			}
			if n == maxUploadFiles {
				return n, fmt.Errorf("%w: more than %d files", errBadUpload, maxUploadFiles)
			}
			if part.FileName() == "" { // an empty file input
				size = -1
				continue
			}
			if err := put(part.FileName(), size, part); err != nil {
				return n, err
			}
			n, size = n+1, -1
		default:
			return n, fmt.Errorf("%w: unexpected field %q", errBadUpload, part.FormName())
		}
	}
}

// wantsJSON reports whether the page's script sent r (it asks for JSON);
// a form sent without script gets pages and redirects.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// uploadStatus maps what receive returned to the status and the sentence
// for the sender, in l's language.
func uploadStatus(l *i18n.Localizer, err error) (int, string) {
	switch {
	case errors.Is(err, errNoToken):
		return http.StatusForbidden, l.T("files.upload.form_expired")
	case errors.Is(err, errBadUpload):
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return http.StatusRequestEntityTooLarge, humanError(l, mbe)
		}
		return http.StatusBadRequest, l.T("files.upload.unreadable")
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return http.StatusRequestTimeout, l.T("files.upload.stalled")
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return http.StatusBadRequest, l.T("files.upload.short")
	}
	code, show := statusOf(err)
	if !show {
		return code, ""
	}
	return code, humanError(l, err)
}

// upload stores the files of a multipart form in the folder of the path.
func (h *Handler) upload(w http.ResponseWriter, r *http.Request) {
	sess, _ := login.SessionFrom(r.Context())
	a := actor(r, sess)
	d, done := h.transfer(w, r)
	defer done()
	iweb.SlideReads(d, r)
	dir, err := h.pathNode(r)
	if err == nil && !dir.Dir {
		err = files.ErrNotDir
	}
	n := 0
	if err == nil {
		n, err = receive(r, login.ValidCSRF(sess, r.Header.Get("X-CSRF-Token")),
			func(tok string) bool { return login.ValidCSRF(sess, tok) },
			func(name string, size int64, body io.Reader) error {
				_, err := h.store.Put(r.Context(), a, dir.ID, name, body, size)
				return err
			})
	}
	next := "/files/p/" + escapePath(viewPath(dir))
	h.uploadDone(w, r, n, next, err)
}

// uploadDone answers an upload: JSON for the page's script, a redirect or
// an error page for a plain form.
func (h *Handler) uploadDone(w http.ResponseWriter, r *http.Request, n int, next string, err error) {
	l := h.login.Localizer(r)
	if err != nil {
		code, msg := uploadStatus(l, err)
		if code == http.StatusInternalServerError {
			h.log.Error("upload failed", "path", r.URL.Path, "stored", n, "err", err)
			msg = l.T("files.upload.failed")
		}
		if n > 0 {
			msg = l.T("files.upload.partly", "n", n, "error", msg)
		}
		if wantsJSON(r) {
			iweb.JSON(w, code, map[string]string{"error": msg})
			return
		}
		h.goneText(w, r, code, l.T("files.upload.refused"), msg)
		return
	}
	msg := l.T("files.upload.received", "n", n)
	if wantsJSON(r) {
		iweb.JSON(w, http.StatusOK, map[string]string{"message": msg, "next": next})
		return
	}
	if next == "" {
		h.goneText(w, r, http.StatusOK, l.T("files.upload.thanks"), msg)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}
