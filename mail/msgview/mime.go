package msgview

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strconv"
	"strings"

	"github.com/emersion/go-message/textproto"

	"github.com/caucus-org/caucus/mail/message"
)

// Part is one MIME part (RFC 2045, RFC 2046).
type Part struct {
	// ID is the part's IMAP section number ("1", "1.2").
	ID string
	// Type is the media type in lower case ("text/html"); text/plain
	// when the part has none or an unreadable one (RFC 2045 section 5.2).
	Type string
	// Charset is the charset parameter in lower case, "" if none.
	Charset string
	// Filename is the name the sender gave (Content-Disposition filename
	// or Content-Type name, RFC 2231 and RFC 2047 decoded), sanitized
	// with SanitizeFilename; "" if none.
	Filename string
	// Disposition is "inline", "attachment" or "" (RFC 2183).
	Disposition string
	// ContentID is the Content-ID without angle brackets (RFC 2392), ""
	// if none.
	ContentID string
	// Encoding is the Content-Transfer-Encoding in lower case.
	Encoding string
	// Size is the decoded size in bytes (for a multipart, of its raw
	// body).
	Size int64
	// Depth is the multipart nesting of the part, 0 for the message.
	Depth int
	// Children are the parts of a multipart that were read.
	Children []*Part
	// Inline says the part is meant to be shown in the body: an inline
	// disposition, or a Content-ID in a multipart/related.
	Inline bool
	// Opened says a multipart was opened (not beyond MaxDepth).
	opened bool
	// flowed and delSp are the format=flowed and delsp=yes parameters of
	// a text/plain part (RFC 3676 sections 4.1 and 4.2).
	flowed, delSp bool
}

// IsMultipart reports whether the part is a multipart.
func (p *Part) IsMultipart() bool { return strings.HasPrefix(p.Type, "multipart/") }

// IsText reports whether the part is a text/plain or text/html body
// candidate.
func (p *Part) IsText() bool { return p.Type == "text/plain" || p.Type == "text/html" }

// inlineImageTypes are the image types a browser shows without running
// anything (not image/svg+xml, which holds script).
var inlineImageTypes = map[string]string{
	"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp",
}

// IsInlineImage reports whether the part is an image a page may show in
// an <img> (a cid: image, a preview): PNG, JPEG, GIF or WebP.
func (p *Part) IsInlineImage() bool { return inlineImageTypes[p.Type] != "" }

// ServeType is the Content-Type to serve the part's bytes with: its own
// for an inline image, application/octet-stream for everything else, so
// that no part is ever rendered as HTML, SVG or script in caucus's
// origin. Serve every part with X-Content-Type-Options: nosniff, the
// header Content-Security-Policy: FrameCSP, and, unless it is an inline
// image shown in the page, Content-Disposition: attachment with
// DownloadName (mime.FormatMediaType encodes it, RFC 6266).
func (p *Part) ServeType() string {
	if p.IsInlineImage() {
		return p.Type
	}
	return "application/octet-stream"
}

// downloadExt are file name extensions for parts without a name.
var downloadExt = map[string]string{
	"text/plain": ".txt", "text/html": ".html", "application/pdf": ".pdf",
	"message/rfc822": ".eml", "text/calendar": ".ics", "text/vcard": ".vcf",
}

// DownloadName is the file name to offer for the part: its Filename, or
// "part-ID" with an extension that fits its type.
func (p *Part) DownloadName() string {
	if p.Filename != "" {
		return p.Filename
	}
	ext := inlineImageTypes[p.Type]
	if ext == "" {
		ext = downloadExt[p.Type]
	}
	if ext == "" {
		ext = ".bin"
	}
	return "part-" + p.ID + ext
}

// headerGetter reads a field of a part's header.
type headerGetter func(name string) string

// walker is the state of one pass over the message's MIME tree.
type walker struct {
	v     *View
	count int
	// want, when set, is the id of the part whose decoded body goes to
	// found; the walk stops there.
	want  string
	found func(p *Part, body io.Reader) error
	done  bool
}

// errStop ends a walk early.
var errStop = errors.New("msgview: stop")

// walkAll reads the MIME tree once to list the parts.
func (v *View) walkAll(h *message.Header, raw []byte) error {
	w := &walker{v: v}
	root, err := w.walkMessage(h, raw)
	if root != nil {
		v.root = root
		v.Parts = flatten(root, nil)
	}
	return err
}

// walkMessage walks the message from its top header.
func (w *walker) walkMessage(h *message.Header, raw []byte) (*Part, error) {
	get := func(name string) string {
		if h == nil {
			return ""
		}
		return h.First(name)
	}
	body := &limitedReader{r: io.NewSectionReader(w.v.r, int64(len(raw)), w.v.size-int64(len(raw))), n: w.v.opt.MaxBytes}
	p, err := w.walk(body, get, "", 0)
	if body.hit {
		w.v.notice(NoticeTooLarge)
	}
	if errors.Is(err, errStop) {
		err = nil
	}
	return p, err
}

// flatten lists a tree in message order, leaving out the top multipart
// of a multipart message (it has no section number of its own).
func flatten(p *Part, out []*Part) []*Part {
	if p.ID != "" {
		out = append(out, p)
	}
	for _, c := range p.Children {
		out = flatten(c, out)
	}
	return out
}

// walk reads one part (its header read already) whose body is r. id is
// "" for the top level: its body is part "1" unless it is a multipart.
func (w *walker) walk(r io.Reader, get headerGetter, id string, depth int) (*Part, error) {
	p := newPart(get, id, depth)
	if p.IsMultipart() {
		_, params, _ := mime.ParseMediaType(get("Content-Type"))
		switch {
		case params["boundary"] == "":
			// Without a boundary nobody can find its parts: it is
			// shown as the text it is.
			w.v.notice(NoticeMalformedMIME)
			p.Type = "text/plain"
		case depth < w.v.opt.MaxDepth:
			return p, w.multipart(r, p, params["boundary"])
		default:
			w.v.notice(NoticeTooDeep)
		}
	}
	if p.ID == "" {
		p.ID = "1"
	}
	if w.want != "" && p.ID == w.want {
		w.done = true
		if err := w.found(p, decodeTransfer(r, p.Encoding)); err != nil {
			return p, err
		}
		return p, errStop
	}
	if _, known := charsetDecoder(p.Charset); p.IsText() && !known {
		w.v.notice(NoticeUnknownCharset)
	}
	body := decodeTransfer(r, p.Encoding)
	n, err := w.v.keep(p, body)
	p.Size = n
	if body.bad {
		w.v.notice(NoticeMalformedMIME)
	}
	if err != nil {
		return p, fmt.Errorf("%w: %w", ErrRead, err)
	}
	return p, nil
}

// multipart reads the parts of a multipart (RFC 2046 section 5.1),
// leniently: a part that ends early or a missing close delimiter ends the
// list with NoticeMalformedMIME, it does not fail the message.
func (w *walker) multipart(r io.Reader, p *Part, boundary string) error {
	p.opened = true
	mr := textproto.NewMultipartReader(r, boundary)
	for i := 1; ; i++ {
		tp, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			w.v.notice(NoticeMalformedMIME)
			return nil
		}
		if w.count >= w.v.opt.MaxParts {
			w.v.notice(NoticeTooManyParts)
			return nil
		}
		w.count++
		id := strconv.Itoa(i)
		if p.ID != "" {
			id = p.ID + "." + id
		}
		if w.want != "" && !strings.HasPrefix(w.want+".", id+".") {
			continue // not on the way to the part sought
		}
		c, err := w.walk(tp, tp.Header.Get, id, p.Depth+1)
		p.Children = append(p.Children, c)
		p.Size += c.Size
		if err != nil {
			return err
		}
	}
}

// newPart reads a part's header fields.
func newPart(get headerGetter, id string, depth int) *Part {
	p := &Part{ID: id, Depth: depth, Type: "text/plain"}
	ct := get("Content-Type")
	if t, params, err := mime.ParseMediaType(ct); t != "" && (err == nil || errors.Is(err, mime.ErrInvalidMediaParameter)) {
		p.Type = strings.ToLower(t)
		p.Charset = strings.ToLower(strings.Trim(params["charset"], `" `))
		p.Filename = params["name"]
		p.flowed = p.Type == "text/plain" && strings.EqualFold(params["format"], "flowed")
		p.delSp = strings.EqualFold(params["delsp"], "yes")
	} else if ct != "" {
		if t, _, _ := strings.Cut(ct, ";"); strings.Contains(t, "/") {
			p.Type = strings.ToLower(strings.TrimSpace(t))
		}
	}
	if d, params, err := mime.ParseMediaType(get("Content-Disposition")); d != "" && (err == nil || errors.Is(err, mime.ErrInvalidMediaParameter)) {
		p.Disposition = strings.ToLower(d)
		if params["filename"] != "" {
			p.Filename = params["filename"]
		}
	}
	if p.Disposition != "inline" && p.Disposition != "attachment" {
		p.Disposition = ""
	}
	p.Filename = SanitizeFilename(message.DecodeText(p.Filename))
	p.ContentID = CleanText(strings.Trim(strings.TrimSpace(get("Content-ID")), "<>"))
	p.Encoding = strings.ToLower(strings.TrimSpace(get("Content-Transfer-Encoding")))
	p.Inline = p.Disposition == "inline"
	return p
}

// decodeTransfer undoes the Content-Transfer-Encoding (RFC 2045 section
// 6): base64 ignoring characters outside its alphabet (section 6.8),
// quoted-printable; anything else is read as it is. A body that cannot
// be decoded further, or that ends without its boundary, ends there: the
// reader says so in bad.
func decodeTransfer(r io.Reader, enc string) *partBody {
	switch enc {
	case "base64":
		return &partBody{r: base64.NewDecoder(base64.StdEncoding, &base64Filter{r: r})}
	case "quoted-printable":
		return &partBody{r: quotedprintable.NewReader(r)}
	}
	return &partBody{r: r}
}

// partBody is a decoded part body that ends (io.EOF) where decoding
// fails or the multipart ends early, setting bad.
type partBody struct {
	r   io.Reader
	bad bool
	err error
}

func (b *partBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		var corrupt base64.CorruptInputError
		if errors.As(err, &corrupt) || errors.Is(err, io.ErrUnexpectedEOF) || strings.HasPrefix(err.Error(), "quotedprintable") {
			b.bad, err = true, io.EOF
		}
	}
	b.err = err
	if n > 0 && err != nil {
		return n, nil
	}
	return n, err
}

// base64Filter passes only the base64 alphabet and "=".
type base64Filter struct{ r io.Reader }

func (f *base64Filter) Read(p []byte) (int, error) {
	for {
		n, err := f.r.Read(p)
		j := 0
		for _, c := range p[:n] {
			if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// WritePart writes the decoded body of part id (transfer encoding
// undone, bytes as they are: no charset conversion) to w, for download.
// It reads the message again up to that part.
func (v *View) WritePart(w io.Writer, id string) (*Part, error) {
	var got *Part
	err := v.findPart(id, func(p *Part, body io.Reader) error {
		got = p
		if _, err := io.Copy(w, body); err != nil {
			return fmt.Errorf("msgview: part %s: %w", id, err)
		}
		return nil
	})
	return got, err
}

// findPart walks the message to part id and calls found with its decoded
// body.
func (v *View) findPart(id string, found func(p *Part, body io.Reader) error) error {
	switch p := v.PartByID(id); {
	case p == nil:
		return fmt.Errorf("%w: %q", ErrNoPart, id)
	case p.opened:
		return fmt.Errorf("%w: %q is a multipart", ErrNoPart, id)
	case v.kept[p] != nil:
		return found(p, bytes.NewReader(v.kept[p]))
	}
	raw, err := message.ReadHeader(io.NewSectionReader(v.r, 0, v.size), message.MaxHeader)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRead, err)
	}
	h, _ := message.Parse(raw)
	w := &walker{v: &View{r: v.r, size: v.size, opt: v.opt}, want: id, found: found}
	if _, err := w.walkMessage(h, raw); err != nil {
		return err
	}
	if !w.done {
		return fmt.Errorf("%w: %q", ErrNoPart, id)
	}
	return nil
}

// maxKept bounds the decoded text parts a View keeps in memory, so that
// showing, quoting and indexing the body does not read the message again.
const maxKept = 4 << 20

// keep reads a part's decoded body to its end and returns its size.
// A text part that may be the body is kept while the View's budget
// allows.
func (v *View) keep(p *Part, body io.Reader) (int64, error) {
	if !p.IsText() || p.Disposition == "attachment" || v.keptBytes >= maxKept {
		return io.Copy(io.Discard, body)
	}
	buf, err := io.ReadAll(io.LimitReader(body, int64(maxKept-v.keptBytes)+1))
	if err != nil {
		return int64(len(buf)), err
	}
	if len(buf) > maxKept-v.keptBytes {
		n, err := io.Copy(io.Discard, body)
		return int64(len(buf)) + n, err
	}
	if v.kept == nil {
		v.kept = map[*Part][]byte{}
	}
	v.kept[p] = buf
	v.keptBytes += len(buf)
	return int64(len(buf)), nil
}

// PartByID returns the listed part of that id, nil if none.
func (v *View) PartByID(id string) *Part {
	for _, p := range v.Parts {
		if p.ID == id {
			return p
		}
	}
	return nil
}
