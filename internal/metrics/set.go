package metrics

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// Label values of the caucus series.
const (
	// Protocols, for connections.
	HTTPS = "https"
	HTTP  = "http"
	IMAP  = "imap"
	IMAPS = "imaps"
	SMTP  = "smtp"
	Sub   = "submission"
	Subs  = "submissions"
	// Sign-in methods.
	MethodWeb  = "web"
	MethodIMAP = "imap"
	MethodSMTP = "smtp"
	MethodDAV  = "dav"
	// How a message came in.
	ViaMX         = "mx"
	ViaSubmission = "submission"
	// Where a message was delivered.
	Local  = "local"
	Remote = "remote"
)

// Set is caucus's own series on a registry. Its methods do nothing on a
// nil *Set, so a package instruments itself with a Metrics field that
// tests may leave nil.
type Set struct {
	connsOpen  Gauge
	connsTotal Counter
	connsRefus Counter
	signIns    Counter
	signInFail Counter
	accepted   Counter
	delivered  Counter
	queued     Counter
	bounced    Counter
	http       Histogram
	panics     Counter
}

// HTTPBuckets are the bounds, in seconds, of the request latency
// histogram.
var httpBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// NewSet registers caucus's series on r. Series with a known set of
// label values start at zero, so that dashboards and alerts see them
// before the first event.
func NewSet(r *Registry) *Set {
	s := &Set{
		connsOpen:  r.Gauge("caucus_connections_open", "Connections open now, by listener protocol.", "protocol"),
		connsTotal: r.Counter("caucus_connections_total", "Connections accepted, by listener protocol.", "protocol"),
		connsRefus: r.Counter("caucus_connections_refused_total", "Connections refused or dropped over the per-address limit, by server (imap, smtp).", "server"),
		signIns:    r.Counter("caucus_signins_total", "Successful sign-ins, by method (web: password and second factor or passkey; imap, smtp, dav: app password).", "method"),
		signInFail: r.Counter("caucus_signin_failures_total", "Failed or refused sign-in attempts, by method.", "method"),
		accepted:   r.Counter("caucus_mail_accepted_total", "Messages accepted over SMTP, by way in (mx, submission).", "via"),
		delivered:  r.Counter("caucus_mail_delivered_total", "Message deliveries, one per recipient: to local mailboxes or to other servers.", "where"),
		queued:     r.Counter("caucus_mail_queued_total", "Messages put on the outbound queue for other servers."),
		bounced:    r.Counter("caucus_mail_bounced_total", "Recipients the outbound queue gave up on (permanent failure or too old)."),
		http:       r.Histogram("caucus_http_request_duration_seconds", "Time to answer a web request, by route pattern.", httpBuckets, "route"),
		panics:     r.Counter("caucus_panics_recovered_total", "Panics recovered while serving a client (a bug: each was answered as a server error), by protocol.", "protocol"),
	}
	s.panics.Add(0, IMAP)
	for _, p := range []string{HTTPS, HTTP, IMAPS, IMAP, SMTP, Sub, Subs} {
		s.connsOpen.Add(0, p)
		s.connsTotal.Add(0, p)
	}
	for _, server := range []string{IMAP, SMTP} {
		s.connsRefus.Add(0, server)
	}
	for _, m := range []string{MethodWeb, MethodIMAP, MethodSMTP, MethodDAV} {
		s.signIns.Add(0, m)
		s.signInFail.Add(0, m)
	}
	for _, v := range []string{ViaMX, ViaSubmission} {
		s.accepted.Add(0, v)
	}
	for _, w := range []string{Local, Remote} {
		s.delivered.Add(0, w)
	}
	return s
}

// ConnRefused counts a connection refused or dropped by server (IMAP or
// SMTP) because its address was over its connection limit.
func (s *Set) ConnRefused(server string) {
	if s != nil {
		s.connsRefus.Inc(server)
	}
}

// SignIn counts a sign-in attempt by method and its outcome.
func (s *Set) SignIn(method string, ok bool) {
	if s == nil {
		return
	}
	if ok {
		s.signIns.Inc(method)
	} else {
		s.signInFail.Inc(method)
	}
}

// Accepted counts a message accepted over SMTP.
func (s *Set) Accepted(via string) {
	if s != nil {
		s.accepted.Inc(via)
	}
}

// Delivered counts n recipients' deliveries.
func (s *Set) Delivered(where string, n int) {
	if s != nil && n > 0 {
		s.delivered.Add(float64(n), where)
	}
}

// Queued counts a message put on the outbound queue.
func (s *Set) Queued() {
	if s != nil {
		s.queued.Inc()
	}
}

// Bounced counts n recipients given up on.
func (s *Set) Bounced(n int) {
	if s != nil && n > 0 {
		s.bounced.Add(float64(n))
	}
}

// Panic counts a panic recovered while serving a protocol.
func (s *Set) Panic(protocol string) {
	if s != nil {
		s.panics.Inc(protocol)
	}
}

// Listener counts the connections ln accepts under protocol: the total,
// and those open until closed. It returns ln itself on a nil Set.
func (s *Set) Listener(ln net.Listener, protocol string) net.Listener {
	if s == nil {
		return ln
	}
	return &listener{Listener: ln, set: s, protocol: protocol}
}

type listener struct {
	net.Listener
	set      *Set
	protocol string
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.set.connsTotal.Inc(l.protocol)
	l.set.connsOpen.Add(1, l.protocol)
	return &conn{Conn: c, done: func() { l.set.connsOpen.Add(-1, l.protocol) }}, nil
}

// conn counts itself closed once, however often Close is called.
type conn struct {
	net.Conn
	once sync.Once
	done func()
}

func (c *conn) Close() error {
	c.once.Do(c.done)
	return c.Conn.Close()
}

// NetConn returns the connection c counts, as *tls.Conn's NetConn does, so
// that a server can reach the socket underneath (IMAP sets TCP options).
func (c *conn) NetConn() net.Conn { return c.Conn }

// HTTP records the latency of each request next answers, labelled with
// the http.ServeMux pattern that matched ("GET /account"), never the raw
// path, so the number of series stays bounded; requests no pattern
// matched are "unmatched". next must be the ServeMux itself (or pass the
// same *http.Request to it), so that the pattern it sets is seen here.
func (s *Set) HTTP(next http.Handler) http.Handler {
	if s == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		s.http.Observe(time.Since(start).Seconds(), route)
	})
}

// healthTimeout bounds a health check.
const healthTimeout = 5 * time.Second

// Health answers GET /healthz for monitors: 200 "ok" when check (the
// database answering a query) succeeds within 5 s, 503 "unavailable"
// otherwise. The body never says why: the reason goes to onError (which
// may be nil).
func Health(check func(context.Context) error, onError func(error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := check(ctx); err != nil {
			if onError != nil {
				onError(err)
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("unavailable\n"))
			return
		}
		w.Write([]byte("ok\n"))
	})
}
