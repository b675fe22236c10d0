// Package web is the HTTP plumbing shared by every web page of caucus:
// security headers, cross-origin protection, request limits, and
// client-address helpers.
//
// Every handler that serves a page is wrapped by [Secure]; every listener is
// served by a server from [NewServer]. The headers follow the OWASP Secure
// Headers Project; cross-origin protection is net/http's
// [http.CrossOriginProtection] (Fetch Metadata, with an Origin/Host fallback).
package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/caucus-org/caucus/internal/connlimit"
)

// ContentSecurityPolicy is the policy [Secure] sets on every response: no
// inline script or style, nothing from other origins, no framing.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// setSecurityHeaders sets the headers [Secure] puts on every response,
// before the wrapped handler runs, Cache-Control: no-store among them,
// which a handler may replace (with Set, not Add).
func setSecurityHeaders(h http.Header) {
	setHeaders(h,
		"Content-Security-Policy", ContentSecurityPolicy,
		"Strict-Transport-Security", "max-age=63072000; includeSubDomains",
		"X-Content-Type-Options", "nosniff",
		"Referrer-Policy", "no-referrer",
		"X-Frame-Options", "DENY",
		"Cross-Origin-Opener-Policy", "same-origin",
		"Cross-Origin-Resource-Policy", "same-origin",
		"Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()",
		"Cache-Control", "no-store")
}

// setHeaders sets h's fields named by the even elements of kv, which must
// be in canonical form ([http.CanonicalHeaderKey]), to the odd ones that
// follow them, with one allocation for all their values where
// [http.Header.Set] makes one each: a small download's response carries
// a dozen fields. Each value's slice has no room to grow, so that an Add
// to one of them copies it rather than writing over the next.
func setHeaders(h http.Header, kv ...string) {
	vals := make([]string, len(kv)/2)
	for i := range vals {
		vals[i] = kv[2*i+1]
		h[kv[2*i]] = vals[i : i+1 : i+1]
	}
}

// DownloadCSP is the Content-Security-Policy of a file's content served as
// it was stored ([DownloadHeaders]): were a browser to render it, as an
// opaque origin with no script, plugin, form or request of its own
// (sandbox with no keyword, default-src 'none'), and in no frame
// (frame-ancestors 'none', which X-Frame-Options says for pages).
const DownloadCSP = "sandbox; default-src 'none'; frame-ancestors 'none'"

// DownloadHeaders sets the fields of a response carrying a stored file's
// content (a WebDAV GET), which a member or anyone who wrote into a
// shared folder may have made an HTML page with script: it is a download
// (Content-Disposition: attachment, RFC 6266 section 4.2), of type
// application/octet-stream, never sniffed (X-Content-Type-Options:
// nosniff), and sandboxed if rendered ([DownloadCSP]). It keeps what
// [Secure] set that protects any response (Strict-Transport-Security,
// Cross-Origin-Resource-Policy, which keeps other sites from loading the
// file into their pages, Cache-Control) and drops the fields that matter
// only to a page the site renders (Referrer-Policy, X-Frame-Options,
// Cross-Origin-Opener-Policy, Permissions-Policy): four fields fewer to
// encode and send in each small download.
func DownloadHeaders(h http.Header) {
	for _, k := range [...]string{"Referrer-Policy", "X-Frame-Options", "Cross-Origin-Opener-Policy", "Permissions-Policy"} {
		delete(h, k)
	}
	setHeaders(h,
		"Content-Type", "application/octet-stream",
		"Content-Disposition", "attachment",
		"Content-Security-Policy", DownloadCSP,
		"X-Content-Type-Options", "nosniff")
}

// Secure wraps h with the protections every caucus page needs:
//
//   - the security headers: Content-Security-Policy ([ContentSecurityPolicy]),
//     Strict-Transport-Security, X-Content-Type-Options, Referrer-Policy,
//     X-Frame-Options, Cross-Origin-Opener-Policy,
//     Cross-Origin-Resource-Policy and Permissions-Policy, on every response,
//     including errors and refusals;
//   - Cache-Control: no-store, unless the handler replaces it: the header is
//     set before h runs, so h overrides it with w.Header().Set (not Add);
//   - cross-origin protection: a state-changing request (any method but GET,
//     HEAD and OPTIONS) that a browser marks as cross-origin, by
//     Sec-Fetch-Site or by an Origin that does not match Host, is refused
//     with 403 Forbidden before h runs ([http.CrossOriginProtection]);
//   - a request body limit of maxBody bytes ([http.MaxBytesReader]): a read
//     beyond it fails with a [*http.MaxBytesError]. A route that needs more
//     (an upload, a WebDAV PUT) wraps its own handler in [WithMaxBody], which
//     replaces the limit for that route only.
//
// A maxBody of zero or less refuses any body.
func Secure(h http.Handler, maxBody int64) http.Handler {
	maxBody = max(maxBody, 0)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, http.StatusForbidden)
	}))
	inner := cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hasBody(r) {
			r = limitBody(w, r, maxBody)
		}
		h.ServeHTTP(w, r)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		inner.ServeHTTP(w, r)
	})
}

// WithMaxBody wraps h so its request body is limited to n bytes instead of
// the limit [Secure] applies to all routes; it may raise or lower it. Use it
// on the routes that take large bodies:
//
//	mux.Handle("PUT /files/{path...}", web.WithMaxBody(put, 1<<30))
//	srv := web.NewServer(web.Secure(mux, 1<<20), log)
//
// It must wrap h before anything reads the body. Outside [Secure] it simply
// limits the body to n bytes.
func WithMaxBody(h http.Handler, n int64) http.Handler {
	n = max(n, 0)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hasBody(r) {
			if b, ok := r.Body.(*limitedBody); ok && b.r == nil {
				b.limit = n // Secure's, of this request only, not read yet
			} else {
				r = r.WithContext(r.Context()) // shallow copy: do not modify the caller's request
				r.Body = http.MaxBytesReader(w, r.Body, n)
			}
		}
		h.ServeHTTP(w, r)
	})
}

// limitedRequest is a request under [Secure] and its body, in one
// allocation.
type limitedRequest struct {
	req  http.Request
	body limitedBody
}

// limitBody returns a shallow copy of r (as [http.Request.WithContext]
// makes) whose body is limited to n bytes ([limitedBody]).
func limitBody(w http.ResponseWriter, r *http.Request, n int64) *http.Request {
	lr := &limitedRequest{req: *r}
	lr.body = limitedBody{orig: r.Body, w: innermost(w), limit: n}
	lr.req.Body = &lr.body
	return &lr.req
}

// limitedBody is a request body limited to limit bytes by an
// [http.MaxBytesReader] made at the first Read, so that [WithMaxBody] can
// change the limit before without another reader and request.
type limitedBody struct {
	orig  io.ReadCloser
	w     http.ResponseWriter // the server's: MaxBytesReader tells it to close the connection
	limit int64
	r     io.ReadCloser // the MaxBytesReader, once read
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.r == nil {
		b.r = http.MaxBytesReader(b.w, b.orig, b.limit)
	}
	return b.r.Read(p)
}

func (b *limitedBody) Close() error { return b.orig.Close() }

// innermost returns the writer that w wraps (Unwrap, as
// [http.ResponseController] follows it), the server's own: an
// [http.MaxBytesReader] over it has the connection closed after a body
// too large, rather than read to its end.
func innermost(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}

// hasBody reports whether r may have a body to limit. An HTTP/2 request
// whose HEADERS ended the stream has a Body that reads nothing, and a
// Content-Length of 0; one that declares 0 and sends data anyway is
// refused by the HTTP/2 server (RFC 9113 section 8.1.1). HTTP/1.1 gives
// such requests http.NoBody.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// ClientAddr returns the address of the client that sent r, taken from
// r.RemoteAddr only: no proxy header (X-Forwarded-For, Forwarded) is
// trusted. An IPv4-mapped IPv6 address is returned as IPv4, and an IPv6
// zone ("fe80::1%eth0") is dropped, as it names the server's interface
// rather than the client, so one client has one address for throttling
// and the audit log. The result is the zero (invalid) [netip.Addr] when
// RemoteAddr is not an address, as with a connection over a Unix socket.
func ClientAddr(r *http.Request) netip.Addr {
	return connlimit.ClientAddr(r.RemoteAddr)
}

// Server limits set by [NewServer].
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 60 * time.Second
	WriteTimeout      = 120 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
	// An HTTP/2 client may send up to MaxHTTP2Window bytes of request body
	// on a connection before the server has read them, in frames of up to
	// MaxHTTP2Frame bytes. Go's defaults (1 MiB, 16 KiB) hold a WebDAV
	// upload over a fast link to a fraction of what HTTP/1.1 carries; this
	// is also the most memory one connection's unread uploads can take.
	MaxHTTP2Window = 4 << 20
	MaxHTTP2Frame  = 256 << 10
)

// NewServer returns an [http.Server] serving h with a deadline on every
// phase of a request ([ReadHeaderTimeout], [ReadTimeout], [WriteTimeout],
// [IdleTimeout]), headers capped at [MaxHeaderBytes], and the server's own
// error messages (TLS handshake failures, panics in handlers) sent to log at
// level Warn, and [ConnContext], so a revoked transfer resets its
// connection ([Deadlines]). The caller sets TLSConfig and calls Serve or ServeTLS.
// A nil log discards those messages.
func NewServer(h http.Handler, log *slog.Logger) *http.Server {
	var lh slog.Handler = slog.DiscardHandler
	if log != nil {
		lh = log.Handler()
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		HTTP2: &http.HTTP2Config{
			MaxReadFrameSize:              MaxHTTP2Frame,
			MaxReceiveBufferPerConnection: MaxHTTP2Window,
			MaxReceiveBufferPerStream:     MaxHTTP2Window,
		},
		ErrorLog:    slog.NewLogLogger(lh, slog.LevelWarn),
		ConnContext: ConnContext,
	}
}

// MinTokenBytes is the least randomness [RandomToken] puts in a token: 128 bits.
const MinTokenBytes = 16

// RandomToken returns nbytes random bytes from crypto/rand, encoded as
// unpadded base64url (RFC 4648 section 5), for session ids, invitation and
// share-link tokens and the like. It never panics and never returns a weak
// token: an nbytes below [MinTokenBytes] is raised to it.
func RandomToken(nbytes int) string {
	b := make([]byte, max(nbytes, MinTokenBytes))
	rand.Read(b) // never fails since Go 1.24; it crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}

// TokenHash returns the SHA-256 of token: what the database stores instead
// of the token, so a copy of the database does not hold live credentials.
func TokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// Error answers r with the HTTP status code and its generic text ("Not
// Found", "Forbidden"), not cached. Under [ErrorPages] the answer is the
// styled page of its [ErrorRenderer] (the site's layout, in the reader's
// language); else, or when that page fails, it is text/plain. It never
// shows internal details: a handler logs those and then calls Error.
func Error(w http.ResponseWriter, r *http.Request, code int) {
	w.Header().Set("Cache-Control", "no-store")
	if r != nil {
		if er, ok := r.Context().Value(errorPagesKey{}).(ErrorRenderer); ok && er.RenderError(w, r, code) == nil {
			return
		}
	}
	text := http.StatusText(code)
	if text == "" {
		text = "Error"
	}
	http.Error(w, text, code)
}

// ErrorRenderer writes the page for an error status code (RFC 9110
// section 15) in the site's layout. RenderError writes nothing when it
// returns an error, so the caller can still answer.
type ErrorRenderer interface {
	RenderError(w http.ResponseWriter, r *http.Request, code int) error
}

// errorPagesKey is the context key under which [ErrorPages] keeps its
// [ErrorRenderer] for [Error].
type errorPagesKey struct{}

// ErrorPages serves h with every error answer styled by er: the ones sent
// with [Error] (by handlers, and by [Secure] when it refuses a
// cross-origin request), and the 404 Not Found and 405 Method Not Allowed
// (with its Allow header) that routes, h's mux, sends as bare text for a
// request none of its patterns matches. It wraps [Secure]:
//
//	web.ErrorPages(web.Secure(mux, 1<<20), mux, pages)
//
// Whether routes has a pattern for the request is asked only when an
// error status is written, not for every request (a second match of
// the route each time).
func ErrorPages(h http.Handler, routes *http.ServeMux, er ErrorRenderer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := &muxErrorWriter{ResponseWriter: w, routes: routes}
		m.ctx = pagesContext{Context: r.Context(), er: er}
		m.req = *r.WithContext(&m.ctx) // the copy in m's allocation
		h.ServeHTTP(m, &m.req)
	})
}

// pagesContext is a request's context under [ErrorPages], with its
// [ErrorRenderer] for [Error] (as context.WithValue would, in the same
// allocation as the muxErrorWriter).
type pagesContext struct {
	context.Context
	er ErrorRenderer
}

func (c *pagesContext) Value(key any) any {
	if key == (errorPagesKey{}) {
		return c.er
	}
	return c.Context.Value(key)
}

// muxErrorWriter turns the bare error the mux writes, for a request none
// of its routes matches, into the styled page.
type muxErrorWriter struct {
	http.ResponseWriter
	routes  *http.ServeMux
	req     http.Request // the request with ctx
	ctx     pagesContext
	decided bool // a status was written
	written bool // the styled page replaced the mux's answer
}

func (m *muxErrorWriter) WriteHeader(code int) {
	if m.decided || code < 400 {
		m.decided = m.decided || code >= 200
		m.ResponseWriter.WriteHeader(code)
		return
	}
	m.decided = true
	if _, pattern := m.routes.Handler(&m.req); pattern != "" {
		m.ResponseWriter.WriteHeader(code) // a route's own answer
		return
	}
	m.written = true
	Error(m.ResponseWriter, &m.req, code)
}

func (m *muxErrorWriter) Write(b []byte) (int, error) {
	if m.written {
		return len(b), nil // the mux's bare text, replaced
	}
	m.decided = true // 200 OK
	return m.ResponseWriter.Write(b)
}

// ReadFrom keeps the connection's own ReadFrom (a pooled buffer, or
// sendfile(2)) for io.Copy into the response.
func (m *muxErrorWriter) ReadFrom(src io.Reader) (int64, error) {
	if rf, ok := m.ResponseWriter.(io.ReaderFrom); ok && !m.written {
		m.decided = true
		return rf.ReadFrom(src)
	}
	return io.Copy(struct{ io.Writer }{m}, src)
}

// Flush sends what was written ([http.Flusher]).
func (m *muxErrorWriter) Flush() {
	if f, ok := m.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets [http.ResponseController] reach the writer underneath.
func (m *muxErrorWriter) Unwrap() http.ResponseWriter { return m.ResponseWriter }

// JSON answers with status code and v encoded as JSON, with Content-Type
// application/json. If v cannot be encoded, which is a bug in the caller,
// it answers 500 with a generic JSON error instead.
func JSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"error":"Internal Server Error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}
