package fileweb

import (
	"context"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/caucus-org/caucus/files"
	iweb "github.com/caucus-org/caucus/internal/web"
)

// maxTextPreview is how much of a text file the item page shows.
const maxTextPreview = 32 << 10

// previewTypes are the media types, by file name extension, of the files
// shown in the browser, under the same sandbox as a download ([DownloadCSP]):
// raster images and plain text, which run nothing. HTML and SVG (script
// inside) are downloaded only, and so is PDF: browsers' PDF viewers do not
// run in a document sandboxed without allow-plugins and allow-scripts
// (Chromium shows nothing), and loosening the sandbox for them is not worth
// it.
var previewTypes = map[string]string{
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp",
	".txt": "text/plain; charset=utf-8", ".md": "text/plain; charset=utf-8", ".csv": "text/plain; charset=utf-8",
	".log": "text/plain; charset=utf-8", ".json": "text/plain; charset=utf-8",
}

// previewType returns the media type a file named name is shown with, ""
// when it is only downloaded.
func previewType(name string) string { return previewTypes[strings.ToLower(path.Ext(name))] }

// view shows a file in the browser: inline, with the media type of its
// name's extension (one of previewTypes, never sniffed), under the
// download sandbox. Any other file answers 404.
func (h *Handler) view(w http.ResponseWriter, r *http.Request) {
	n, err := h.pathNode(r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	typ := previewType(n.Name)
	if n.Dir || typ == "" {
		iweb.Error(w, r, http.StatusNotFound)
		return
	}
	rc, n, err := h.store.Open(r.Context(), sessionActor(r), n.ID)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	defer rc.Close()
	hdr := w.Header()
	hdr.Set("Content-Type", typ)
	hdr.Set("Content-Disposition", "inline"+strings.TrimPrefix(ContentDisposition(n.Name), "attachment"))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", DownloadCSP)
	hdr.Set("Cache-Control", "private, no-store")
	d, done := h.transfer(w, r)
	defer done()
	http.ServeContent(iweb.SlideWrites(d, w), r, "", n.ModTime, rc)
}

// preview is what the item page shows of a file.
type preview struct {
	Image bool   // shown as an image from /files/view/
	Text  string // the start of a text file
	Cut   bool   // Text is only the start
	PDF   bool   // a PDF: downloaded only, and the page says why
}

// previewOf reads what the item page shows of file n.
func (h *Handler) previewOf(ctx context.Context, a files.Actor, n files.Node) (preview, error) {
	typ, _, _ := mime.ParseMediaType(previewType(n.Name))
	switch {
	case strings.HasPrefix(typ, "image/"):
		return preview{Image: true}, nil
	case strings.EqualFold(path.Ext(n.Name), ".pdf"):
		return preview{PDF: true}, nil
	case typ != "text/plain":
		return preview{}, nil
	}
	rc, _, err := h.store.Open(ctx, a, n.ID)
	if err != nil {
		return preview{}, err
	}
	defer rc.Close()
	buf, err := io.ReadAll(io.LimitReader(rc, maxTextPreview+1))
	if err != nil {
		return preview{}, err
	}
	p := preview{Cut: len(buf) > maxTextPreview}
	buf = buf[:min(len(buf), maxTextPreview)]
	for len(buf) > 0 && p.Cut && !utf8.Valid(buf) { // a character cut at the end
		buf = buf[:len(buf)-1]
	}
	p.Text = strings.ToValidUTF8(string(buf), "\uFFFD")
	return p, nil
}
