// Package dav serves the file store over WebDAV (RFC 4918), class 1 and 2
// (locks), at /dav/, for Windows Explorer, macOS Finder, davfs2, rclone and
// the like. It is golang.org/x/net/webdav over a FileSystem that is the
// store as one account sees it (see package files): /Home, /Groups/<group>
// and /Shared/<owner>/<name>. No path reaches the OS file system. Two
// pieces x/net/webdav lacks are added here: shared locks (RFC 4918 section
// 6.2), locks that hold across the members who reach one file by different
// paths (a share, a group folder; locks live in memory, by resource, and a
// token serves only its creator), the DAV:lockdiscovery property, and
// entity tags in If headers (section 10.4).
//
// Clients sign in with HTTP Basic authentication (RFC 7617) and a
// files-scoped app password only; the account password and mail-scoped app
// passwords are refused. Every request runs under the auth revocation hub:
// revoking the app password or suspending the account cancels it at once,
// a blocked body read or write included (its deadlines are moved into the
// past), and the next request is refused.
//
// Bounds: PROPFIND with Depth: infinity (or no Depth, which means infinity,
// RFC 4918 section 9.1) is refused with 403 and the propfind-finite-depth
// precondition; XML request bodies are limited to MaxXMLBody; every read
// and write of a body has an idle deadline. PUT streams into the store and
// answers 201 only once the file is durable; a PUT whose Content-Length
// exceeds the quota is refused before its body is read (and before 100
// Continue).
package dav

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/connauth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/metrics"
	"github.com/caucus-org/caucus/internal/web"
	"golang.org/x/net/webdav"
)

// Limits.
const (
	MaxXMLBody  = 1 << 20    // PROPFIND, PROPPATCH and LOCK bodies
	MaxBody     = 1 << 40    // any body, a PUT's included
	IdleTimeout = web.IOIdle // longest wait for one read or write of a body
	Prefix      = "/dav"     // where the handler is mounted
	// WholeBody is the largest HTTP/2 PUT body read from the connection
	// in reads of its whole size (see body).
	WholeBody = 256 << 10
)

// Auth is what WebDAV needs of auth: check app passwords and register
// requests with the revocation hub. *auth.Service is one.
type Auth interface {
	AppPassword(ctx context.Context, login, secret string, scope auth.Scope, c auth.Client) (auth.Grant, error)
	Connect(parent context.Context, g auth.Grant) (context.Context, func())
}

// Handler serves WebDAV. Build it with New.
type Handler struct {
	store *files.Store
	gate  *connauth.Gate // sign-in of every request, per-account limit
	log   *slog.Logger

	locks *lockSystem // every account's, by resource
	// bufs holds the buffers of downloads (*[copyChunk]byte): a download
	// allocates none, where a buffer made per request was up to 256 KiB
	// of garbage each time.
	bufs sync.Pool
	// readers holds the readers of HTTP/2 PUT bodies (*bufio.Reader of
	// WholeBody bytes; see body).
	readers sync.Pool
	warm    *warmPool // runs HTTP/2 PUTs' store calls
}

// New returns a handler serving store to the accounts of svc. Every
// request's sign-in is counted in stats, which may be nil. An account may
// have connauth.DefaultMaxConnsPerAccount requests in flight, as it may
// have IMAP connections open; more are answered 429.
func New(store *files.Store, svc Auth, stats *metrics.Set, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	gate := connauth.New(connauth.Config{Proto: "dav", Scope: auth.ScopeFiles, Metrics: stats, Log: log}, svc)
	return &Handler{store: store, gate: gate, log: log, locks: newLockSystem(), warm: newWarmPool(warmIdle)}
}

// Register mounts the handler at /dav/ on mux. Request bodies are bounded
// by MaxBody (the quotas are the real limit for PUT; XML bodies have their
// own, MaxXMLBody).
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle(Prefix+"/", web.WithMaxBody(h, MaxBody))
	mux.Handle(Prefix, http.RedirectHandler(Prefix+"/", http.StatusMovedPermanently))
}

// realm asks for a files app password.
var realm = connauth.BasicRealm{Realm: "caucus files", Hint: "sign in with a files app password"}

// ServeHTTP authenticates the request and serves it under the account's
// revocation.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, ok := w.Header()["X-Content-Type-Options"]; !ok { // web.Secure's, or not under it
		w.Header().Set("X-Content-Type-Options", "nosniff")
	}
	gc := h.gate.SignInBasic(w, r, web.ClientAddr(r), realm)
	if gc == nil {
		return
	}
	defer gc.Close()
	ctx, grant, log := gc.Context(), gc.Account, gc.Log
	client := auth.Client{Addr: gc.Addr, UserAgent: r.UserAgent()}
	// Revocation ends blocked reads and writes too (web.Deadlines).
	dl := web.NewDeadlines(ctx, w)
	defer dl.Stop()
	defer logCut(ctx, log, r.Method)

	rq := &request{h: h, ctx: ctx, log: log}
	st := &rq.st
	st.size, st.plainGet = -1, isPlainGet(r)
	switch r.Method {
	case http.MethodPut:
		st.size = r.ContentLength
		rq.body = body{r: r.Body, d: dl, st: st}
		if r.ProtoMajor == 2 && r.ContentLength > 0 && r.ContentLength <= WholeBody {
			rq.body.whole = h.wholeReader(r.Body)
			defer h.putReader(rq.body.whole)
		}
		r.Body = &rq.body
	case http.MethodGet, http.MethodHead, http.MethodPost:
		// Contents are never rendered in caucus's origin (see files/fileweb).
		web.DownloadHeaders(w.Header())
		dl.Writing()
	default:
		r.Body = http.MaxBytesReader(w, r.Body, MaxXMLBody)
		dl.Reading()
		dl.Writing()
	}
	if r.Method == "PROPFIND" {
		if d := r.Header.Get("Depth"); d == "" || strings.EqualFold(d, "infinity") {
			w.Header().Set("Content-Type", "application/xml; charset=utf-8")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+`<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>`)
			return
		}
	}
	var xmlBody []byte
	if r.Method == "PROPFIND" || r.Method == "PROPPATCH" || r.Method == "LOCK" {
		b, err := io.ReadAll(r.Body)
		xmlBody = b
		if err != nil {
			http.Error(w, "request body too large or cut short", http.StatusRequestEntityTooLarge)
			return
		}
		if err := checkNamespaces(b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	rq.a = files.Actor{ID: grant.ID, Login: grant.Login, Client: client}
	ls := &rq.ls
	*ls = memberLocks{ls: h.locks, account: rq.a.ID, temporary: r.Method != "LOCK", key: rq.lockKey}
	if r.Method == "PROPFIND" {
		st.propfind = true
		st.supportedLock = namesProp(xmlBody, "supportedlock")
	}
	fsys := &rq.fs
	*fsys = fileSystem{store: h.store, actor: rq.a, st: st, locks: ls}
	if r.ProtoMajor == 2 {
		fsys.warm = h.warm
	}
	if ih := r.Header.Get("If"); ih != "" && h.ifFails(ctx, fsys, r.URL.Path, ih) {
		http.Error(w, "precondition failed", http.StatusPreconditionFailed)
		return
	}
	if r.Method == "LOCK" && len(xmlBody) > 0 {
		if li, shared := isSharedLock(xmlBody); shared {
			reqPath, ok := strings.CutPrefix(r.URL.Path, Prefix)
			if !ok {
				http.NotFound(w, r)
				return
			}
			h.sharedLock(w, r.WithContext(ctx), fsys, ls, reqPath, li)
			return
		}
	}
	rq.dh = webdav.Handler{Prefix: Prefix, FileSystem: fsys, LockSystem: ls, Logger: rq.logErr}
	sw := &rq.sw
	*sw = statusWriter{ResponseWriter: w, st: st, d: dl, bufs: &h.bufs, bare: answersBare(r.Method)}
	rq.plain.Writer = sw
	sw.body = web.FrameWrites(&rq.plain, r)
	rq.dh.ServeHTTP(sw, r.WithContext(ctx))
}

// request is what the handler keeps for one request, allocated in one
// piece (a small GET made nine allocations of these apart).
type request struct {
	h   *Handler
	ctx context.Context
	a   files.Actor
	log *slog.Logger

	st    reqState
	body  body // a PUT's
	ls    memberLocks
	fs    fileSystem
	dh    webdav.Handler
	sw    statusWriter
	plain struct{ io.Writer } // sw without its ReadFrom, which copies into it
}

// lockKey is the store's key of name for the request's locks.
func (rq *request) lockKey(name string) (string, error) {
	k, err := rq.h.store.Key(rq.ctx, rq.a, name)
	if err != nil {
		rq.st.fail(err) // for the status code
	}
	return k, err
}

// logErr is x/net/webdav's Logger.
func (rq *request) logErr(r *http.Request, err error) {
	if err != nil && !errors.Is(err, context.Canceled) {
		rq.log.Debug("dav", "method", r.Method, "path", r.URL.Path, "err", err)
	}
}

// logCut logs, once a request is answered, whether its context ended
// before: a client that went away (a finished or stopped download) is no
// event; a revocation is. It runs before the connection is closed, which
// ends the context of every request.
func logCut(ctx context.Context, log *slog.Logger, method string) {
	if ctx.Err() == nil {
		return
	}
	if cause := context.Cause(ctx); errors.Is(cause, context.Canceled) {
		log.Debug("dav: client closed the request", "method", method)
	} else {
		log.Info("dav: request cut", "method", method, "cause", cause)
	}
}

// body is a PUT body: each read gets an idle deadline, and a failed read
// is remembered so that the partial file is never committed.
//
// Over HTTP/2 a body of up to WholeBody bytes is read through whole, in
// reads as large as the body: each read from the connection that returns
// data is a hand-off to its serve loop, which answers with WINDOW_UPDATE
// frames and a flush (RFC 9113 section 6.9), and the store asks for its
// content in pieces (16 KiB and a byte to tell a small content, then the
// rest). A body that has arrived is then taken in one read, not three.
type body struct {
	r     io.ReadCloser
	whole *bufio.Reader // reads r, if not nil
	d     *web.Deadlines
	st    *reqState
}

// wholeReader returns a reader of r from the pool, of WholeBody bytes.
func (h *Handler) wholeReader(r io.Reader) *bufio.Reader {
	br, _ := h.readers.Get().(*bufio.Reader)
	if br == nil {
		return bufio.NewReaderSize(r, WholeBody)
	}
	br.Reset(r)
	return br
}

// putReader gives br back to the pool, without the body it read.
func (h *Handler) putReader(br *bufio.Reader) {
	br.Reset(nil)
	h.readers.Put(br)
}

func (b *body) Read(p []byte) (n int, err error) {
	b.d.Reading()
	if b.whole != nil {
		n, err = b.whole.Read(p)
	} else {
		n, err = b.r.Read(p)
	}
	if err != nil && err != io.EOF {
		b.st.mu.Lock()
		b.st.bodyErr = err
		b.st.mu.Unlock()
	}
	return n, err
}

func (b *body) Close() error { return b.r.Close() }

// statusWriter replaces the status codes x/net/webdav picks for any
// failure (404, 405, 500) by the one the store's error calls for.
// Each write gets an idle deadline, so a long upload or download is not
// cut by the server's overall timeouts, unless the request was revoked.
type statusWriter struct {
	http.ResponseWriter
	st       *reqState
	d        *web.Deadlines
	bufs     *sync.Pool // of *[copyChunk]byte, for ReadFrom
	body     io.Writer  // the writer of ReadFrom's content (web.FrameWrites)
	done     bool
	from, to int  // a status replaced: x/net/webdav's text of from becomes to's
	bare     bool // a success has no content (answersBare)
	dropped  int  // the success whose text x/net/webdav writes next, dropped
}

// answersBare reports whether the success of method is its status and
// headers alone (RFC 9110 section 15.3.2 lets a 201 Created carry no
// content; RFC 4918 sections 9.3, 9.7, 9.8 and 9.9 ask for none), where
// x/net/webdav writes its status's text ("Created") as text/plain: over
// HTTP/2 the HEADERS frame then ends the stream, instead of a DATA frame
// following it, for which the handler waits on the connection once more.
func answersBare(method string) bool {
	switch method {
	case http.MethodPut, "MKCOL", "COPY", "MOVE":
		return true
	}
	return false
}

func (w *statusWriter) WriteHeader(code int) {
	w.d.Writing()
	if !w.done && code >= 400 {
		err, orig := w.st.lastErr(), code
		if c := statusOf(err); c != 0 {
			code = c
		} else if code == http.StatusInternalServerError && errors.Is(err, files.ErrNotFound) {
			// x/net/webdav's LOCK of an unmapped URL below a missing
			// folder: 409 Conflict (RFC 4918 section 9.10.4).
			code = http.StatusConflict
		}
		if code != orig {
			w.from, w.to = orig, code
		}
	}
	if !w.done && w.bare && code >= 200 && code < 300 {
		w.dropped = code
	}
	w.done = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.done = true
	w.d.Writing()
	if w.dropped != 0 && string(p) == webdav.StatusText(w.dropped) {
		w.dropped = 0
		return len(p), nil
	}
	if w.from != 0 && string(p) == webdav.StatusText(w.from) {
		// x/net/webdav's body for an error is its status's text.
		if _, err := io.WriteString(w.ResponseWriter, webdav.StatusText(w.to)); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// copyChunk is the size of the chunks of a download: 256 KiB rather than
// io.Copy's 32 KiB, for fewer reads of the file and fewer, larger writes
// into the connection.
const copyChunk = 256 << 10

// ReadFrom copies a file's content for http.ServeContent (which hands it
// an io.LimitedReader) in chunks of copyChunk bytes, or in one of the
// size of a smaller file: a blob of up to 64 KiB is read straight into it
// with one pread(2) (see internal/blob). A content held in memory (see
// inMemory) whose rest is what is asked for is written as it is, without
// a copy through the buffer. Over HTTP/2 the chunks go out in writes of
// one frame that fills one TLS record each (web.FrameWrites).
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	dst := w.body
	size := int64(copyChunk)
	if lr, ok := r.(*io.LimitedReader); ok {
		if m := inMemory(lr.R); m != nil && int64(m.Len()) == lr.N {
			n, err := m.WriteTo(dst)
			lr.N -= n
			return n, err
		}
		if lr.N < size {
			size = max(lr.N, 1)
		}
	}
	buf, _ := w.bufs.Get().(*[copyChunk]byte)
	if buf == nil {
		buf = new([copyChunk]byte)
	}
	defer w.bufs.Put(buf)
	return io.CopyBuffer(dst, r, buf[:size])
}

// memContent is a content held in memory: a small content the database
// keeps, read with its row (a *bytes.Reader at heart). A blob file is
// read into the download buffer instead, at most copyChunk at a time.
type memContent interface {
	io.WriterTo
	Len() int // the bytes not yet read
}

// inMemory returns the content of r, a file being downloaded, if it is
// held in memory and may be written at once; nil otherwise. A group
// folder's content is not: its reads stop when the group is deleted.
func inMemory(r io.Reader) memContent {
	f, ok := r.(*file)
	if !ok {
		return nil
	}
	m, _ := f.rc.(memContent)
	return m
}

// isPlainGet reports whether r is a GET without the conditions of RFC
// 9110 section 13.1 and RFC 4918 section 10.4 (If), so that its answer is
// the content.
func isPlainGet(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	// The names are in canonical form, as net/http keys the headers it read.
	for _, h := range [...]string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range", "If"} {
		if v := r.Header[h]; len(v) > 0 && v[0] != "" {
			return false
		}
	}
	return true
}

// checkNamespaces refuses an XML body that undeclares a namespace prefix
// (xmlns:p=""), which Namespaces in XML 1.0 section 3 forbids and
// encoding/xml accepts. The rest is x/net/webdav's to parse.
func checkNamespaces(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := d.RawToken()
		if err != nil {
			return nil // EOF, or malformed: x/net/webdav answers that
		}
		if se, ok := tok.(xml.StartElement); ok {
			for _, a := range se.Attr {
				if a.Name.Space == "xmlns" && a.Value == "" {
					return fmt.Errorf("namespace prefix %q undeclared", a.Name.Local)
				}
			}
		}
	}
}

func statusOf(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, files.ErrQuota):
		return http.StatusInsufficientStorage // RFC 4918 section 11.5
	case errors.Is(err, files.ErrForbidden), errors.Is(err, files.ErrLoop), errors.Is(err, files.ErrTooDeep), errors.Is(err, files.ErrInvalidName):
		return http.StatusForbidden
	case errors.Is(err, files.ErrIsDir):
		return http.StatusMethodNotAllowed
	case errors.Is(err, files.ErrNotDir):
		return http.StatusConflict
	}
	return 0
}

// namesProp reports whether a PROPFIND body asks for property name of the
// DAV: namespace by name (a prop element), not through allprop or
// propname.
func namesProp(body []byte, name string) bool {
	var pf struct {
		Prop *struct {
			Names []struct {
				XMLName xml.Name
			} `xml:",any"`
		} `xml:"DAV: prop"`
	}
	if xml.Unmarshal(body, &pf) != nil || pf.Prop == nil {
		return false
	}
	for _, n := range pf.Prop.Names {
		if n.XMLName.Space == "DAV:" && n.XMLName.Local == name {
			return true
		}
	}
	return false
}
