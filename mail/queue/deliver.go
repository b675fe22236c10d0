package queue

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/caucus-org/caucus/internal/dns"
)

// outcome is what became of one recipient in one attempt.
type outcome struct {
	class  int    // 2 delivered, 4 temporary failure, 5 permanent failure; 0 undecided
	status string // enhanced status code (RFC 3463), e.g. "5.1.1"
	diag   string // the server's reply ("550 5.1.1 no such user") or what went wrong
	smtp   bool   // diag is an SMTP reply
	remote string // the host that answered or failed, if any
}

// tempf and permf describe local failures, temporary and permanent.
func tempf(status, remote, format string, args ...any) outcome {
	return outcome{class: 4, status: status, diag: fmt.Sprintf(format, args...), remote: remote}
}

func permf(status, remote, format string, args ...any) outcome {
	return outcome{class: 5, status: status, diag: fmt.Sprintf(format, args...), remote: remote}
}

// fromReply turns an error of the SMTP client into an outcome: an SMTP
// reply keeps its code (4xx temporary, 5xx permanent, RFC 5321 section
// 4.2.1); anything else (a broken connection, a timeout) is temporary.
func fromReply(err error, remote string) outcome {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return tempf("4.4.2", remote, "%s", oneLine(err.Error()))
	}
	class := se.Code / 100
	if class != 4 && class != 5 {
		class = 4 // a reply that makes no sense here; try again later
	}
	status := fmt.Sprintf("%d.0.0", class)
	ec := se.EnhancedCode
	var text strings.Builder
	fmt.Fprintf(&text, "%d ", se.Code)
	if ec[0] == class && ec[1] >= 0 && ec[2] >= 0 {
		status = fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2])
		text.WriteString(status + " ")
	}
	text.WriteString(se.Message)
	return outcome{class: class, status: status, diag: oneLine(text.String()), smtp: true, remote: remote}
}

// oneLine makes s printable ASCII on one line, at most 500 bytes: it goes
// into header fields of notifications.
func oneLine(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == '\r' || r == '\n' || r == '\t' || r == ' ':
			space = true
			continue
		case r < 0x20 || r >= 0x7f:
			r = '?'
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
		if b.Len() >= 500 {
			break
		}
	}
	return b.String()
}

// target is a host to try, with its addresses when they are known
// already (an implicit MX or an address literal).
type target struct {
	host string
	ips  []net.IPAddr
}

// deliver makes one attempt to deliver j. It returns each recipient's
// outcome, undecided (class 0) for those that ctx's end interrupted, and
// the outcome that undecided ones get otherwise: the last failure.
func (q *Queue) deliver(ctx context.Context, j *job) ([]outcome, outcome) {
	res := make([]outcome, len(j.rcpts))
	fill := func(o outcome) ([]outcome, outcome) {
		for i := range res {
			if res[i].class == 0 {
				res[i] = o
			}
		}
		return res, o
	}
	f, body, err := q.openBody(j.ref, j.size)
	if err != nil {
		q.log.Error("queue: opening a message", "id", j.messageID, "err", err)
		return fill(tempf("4.3.0", "", "local error: the message cannot be read"))
	}
	defer f.Close()

	targets, pol, o := q.route(ctx, j.domain)
	if o.class != 0 {
		if ctx.Err() != nil {
			return res, o
		}
		return fill(o)
	}
	last := tempf("4.4.1", "", "no MX host of %s could be reached", j.domain)
	for _, t := range targets {
		ips := t.ips
		if ips == nil {
			ips, err = q.cfg.Resolver.LookupIPAddr(ctx, t.host)
			if err != nil {
				if dns.IsNotFound(err) {
					last = tempf("4.4.4", t.host, "MX host %s has no address", t.host)
				} else {
					last = tempf("4.4.3", t.host, "looking up the address of %s: %s", t.host, oneLine(err.Error()))
				}
				if ctx.Err() != nil {
					return res, last
				}
				continue
			}
		}
		for _, ip := range ips {
			if ip.IP.IsUnspecified() || ip.IP.IsMulticast() {
				continue
			}
			done, o, plain := q.session(ctx, j, body, t.host, ip.IP, pol, res, true)
			if plain {
				// RFC 3207 section 4.1 leaves the client free to go on
				// without TLS; a new connection, since the failed one is
				// in no known state.
				q.log.Info("queue: TLS failed; trying again without", "host", t.host, "reason", o.diag)
				done, o, _ = q.session(ctx, j, body, t.host, ip.IP, pol, res, false)
			}
			if done {
				return res, o
			}
			if o.class != 0 {
				last = o
			}
			if ctx.Err() != nil {
				return res, last
			}
		}
	}
	return fill(last)
}

// route finds the hosts to try for domain, in order (RFC 5321 section
// 5.1), and its MTA-STS policy (nil if none applies). A failure that
// decides the attempt is returned as an outcome.
func (q *Queue) route(ctx context.Context, domain string) ([]target, *Policy, outcome) {
	if strings.HasPrefix(domain, "[") {
		// An address literal (RFC 5321 section 4.1.3): no MX, no policy.
		lit := strings.TrimSuffix(strings.TrimPrefix(domain, "["), "]")
		v6 := len(lit) > 5 && strings.EqualFold(lit[:5], "ipv6:")
		if v6 {
			lit = lit[5:]
		}
		ip := net.ParseIP(lit)
		if ip == nil || (ip.To4() == nil) != v6 {
			return nil, nil, permf("5.1.2", "", "bad address literal %s", oneLine(domain))
		}
		return []target{{host: ip.String(), ips: []net.IPAddr{{IP: ip}}}}, nil, outcome{}
	}

	pol := q.policy(ctx, domain)
	if pol != nil && pol.Mode == ModeNone {
		pol = nil
	}

	var targets []target
	mxs, err := q.cfg.Resolver.LookupMX(ctx, domain)
	if err != nil && len(mxs) > 0 {
		// The net package drops records with malformed names and says
		// so with an error; the others are good.
		q.log.Warn("queue: some MX records unusable", "domain", domain, "err", err)
		err = nil
	}
	if err != nil && !dns.IsNotFound(err) {
		return nil, nil, tempf("4.4.3", "", "looking up the MX of %s: %s", domain, oneLine(err.Error()))
	}
	if len(mxs) == 0 {
		// No MX: the implicit MX is the domain itself, if it has an
		// address (RFC 5321 section 5.1).
		ips, err := q.cfg.Resolver.LookupIPAddr(ctx, domain)
		if dns.IsNotFound(err) || err == nil && len(ips) == 0 {
			return nil, nil, permf("5.1.2", "", "domain %s has no MX and no address", domain)
		}
		if err != nil {
			return nil, nil, tempf("4.4.3", "", "looking up the address of %s: %s", domain, oneLine(err.Error()))
		}
		targets = []target{{host: domain, ips: ips}}
	} else {
		// Same preference: random order (RFC 5321 section 5.1).
		mxs = slices.Clone(mxs)
		rand.Shuffle(len(mxs), func(i, j int) { mxs[i], mxs[j] = mxs[j], mxs[i] })
		slices.SortStableFunc(mxs, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
		null := false
		for _, mx := range mxs {
			h := strings.ToLower(strings.TrimSuffix(mx.Host, "."))
			if h == "" {
				null = true // "." (RFC 7505)
				continue
			}
			targets = append(targets, target{host: h})
		}
		if len(targets) == 0 && null {
			// RFC 7505 section 4.1: the domain accepts no mail; fail
			// at once with 5.1.10.
			return nil, nil, permf("5.1.10", "", "domain %s accepts no mail (null MX, RFC 7505)", domain)
		}
	}

	if pol != nil {
		// RFC 8461 section 4.1: only MX hosts that match the policy.
		var ok []target
		for _, t := range targets {
			if pol.Matches(t.host) {
				ok = append(ok, t)
			} else {
				q.log.Warn("queue: MX host does not match the MTA-STS policy", "domain", domain, "host", t.host, "mode", pol.Mode)
			}
		}
		if pol.Mode == ModeEnforce {
			if len(ok) == 0 {
				return nil, nil, tempf("4.4.4", "", "no MX host of %s matches its MTA-STS policy (RFC 8461)", domain)
			}
			targets = ok
		}
	}
	return targets, pol, outcome{}
}

// session delivers j's undecided recipients through one connection to ip,
// setting their outcomes in res. done reports that the attempt is over
// (every recipient got an answer, or the server refused the message as a
// whole); otherwise o says what went wrong and the next address or host
// is tried. plain reports an opportunistic TLS failure, after which the
// caller tries again with useTLS false.
func (q *Queue) session(ctx context.Context, j *job, body io.ReadSeeker, host string, ip net.IP, pol *Policy, res []outcome, useTLS bool) (done bool, o outcome, plain bool) {
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(q.cfg.Port))
	remote := host
	if host != ip.String() {
		remote = host + "[" + ip.String() + "]"
	}
	dctx, cancel := context.WithTimeout(ctx, q.timeouts.dial)
	conn, err := q.cfg.Dialer(dctx, "tcp", addr)
	cancel()
	if err != nil {
		return false, tempf("4.4.1", remote, "connecting: %s", oneLine(err.Error())), false
	}
	// Closing the connection is what interrupts a blocked read or write
	// when ctx ends.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()

	dc := &deadlineConn{Conn: conn, timeout: q.timeouts.io}
	c := q.newClient(dc)
	if err := c.Hello(q.cfg.Hostname); err != nil {
		return false, fromReply(err, remote), false
	}

	enforce := pol != nil && pol.Mode == ModeEnforce
	testing := pol != nil && pol.Mode == ModeTesting
	starttls, _ := c.Extension("STARTTLS")
	switch {
	case starttls && useTLS:
		tc, err := q.startTLS(ctx, dc, host, pol)
		if err != nil {
			if enforce {
				return false, tempf("4.7.5", remote, "STARTTLS, required by the MTA-STS policy of %s: %s", j.domain, oneLine(err.Error())), false
			}
			return false, tempf("4.7.5", remote, "STARTTLS: %s", oneLine(err.Error())), true
		}
		c = tc
	case enforce:
		quit(c)
		return false, tempf("4.7.5", remote, "no STARTTLS, which the MTA-STS policy of %s requires", j.domain), false
	case testing && !starttls:
		q.log.Warn("queue: MTA-STS testing: MX host offers no STARTTLS", "domain", j.domain, "host", host)
	}

	var pending []int
	utf8 := !isASCII(j.from)
	for i, r := range j.rcpts {
		if res[i].class == 0 {
			pending = append(pending, i)
			utf8 = utf8 || !isASCII(r)
		}
	}
	setAll := func(idx []int, o outcome) {
		for _, i := range idx {
			res[i] = o
		}
	}
	if ok, _ := c.Extension("SMTPUTF8"); utf8 && !ok {
		// RFC 6531 section 3.2: no downgrade; the message cannot go.
		quit(c)
		o := permf("5.6.7", remote, "the server does not support SMTPUTF8, which the addresses need")
		setAll(pending, o)
		return true, o, false
	}
	if limit, ok := c.MaxMessageSize(); ok && limit > 0 && j.size > int64(limit) {
		// RFC 1870 section 6.
		quit(c)
		o := permf("5.3.4", remote, "the message (%d bytes) is larger than the server's limit (%d bytes)", j.size, limit)
		setAll(pending, o)
		return true, o, false
	}

	if ok, _ := c.Extension("8BITMIME"); j.eightBit && !ok {
		// RFC 6152 section 3 wants the message converted to 7 bits or
		// returned; caucus sends it as it is, as most servers take it.
		q.log.Warn("queue: sending 8-bit data to a server without 8BITMIME", "host", host)
	}
	// go-smtp adds BODY=8BITMIME whenever the server offers it.
	if err := c.Mail(j.from, &smtp.MailOptions{Size: j.size, UTF8: utf8}); err != nil {
		o := fromReply(err, remote)
		if o.smtp && o.class == 5 {
			quit(c)
			setAll(pending, o)
			return true, o, false
		}
		return false, o, false
	}
	var accepted []int
	for _, i := range pending {
		err := c.Rcpt(j.rcpts[i], nil)
		if err == nil {
			accepted = append(accepted, i)
			continue
		}
		o := fromReply(err, remote)
		if !o.smtp {
			return false, o, false // the connection broke; the next host
		}
		res[i] = o
	}
	if len(accepted) == 0 {
		quit(c)
		return true, res[pending[len(pending)-1]], false
	}

	w, err := c.Data()
	if err != nil {
		o := fromReply(err, remote)
		if !o.smtp {
			return false, o, false
		}
		quit(c)
		setAll(accepted, o)
		return true, o, false
	}
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return false, tempf("4.3.0", "", "local error: %v", err), false
	}
	if _, err := io.Copy(w, body); err != nil {
		return false, fromReply(err, remote), false
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		o := fromReply(err, remote)
		if !o.smtp {
			// The message may have arrived; sending it again risks a
			// duplicate, which RFC 5321 section 6.1 prefers to a loss,
			// but not at once to another host.
			o.diag = "connection lost after the end of data: " + o.diag
		}
		setAll(accepted, o)
		return true, o, false
	}
	ok := outcome{class: 2, status: "2.0.0", diag: oneLine("250 " + resp.StatusText), smtp: true, remote: remote}
	setAll(accepted, ok)
	quit(c)
	return true, ok, false
}

// quit ends a session politely; its errors are of no interest.
func quit(c *smtp.Client) {
	if err := c.Quit(); err != nil {
		c.Close()
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// newClient returns a go-smtp client on conn with the queue's timeouts.
func (q *Queue) newClient(conn net.Conn) *smtp.Client {
	c := smtp.NewClient(conn)
	c.CommandTimeout = q.timeouts.command
	c.SubmissionTimeout = q.timeouts.dataEnd
	return c
}

// startTLS sends STARTTLS (RFC 3207) on conn, where a client has said EHLO
// already, does the TLS handshake, and returns a new client on the TLS
// connection that has said EHLO again (RFC 3207 section 4.2).
//
// go-smtp v0.25 starts TLS only in NewClientStartTLS, which greets as
// "localhost", a name many servers reject. So the queue says EHLO with its
// own name through one client, sends STARTTLS itself, and hands the TLS
// connection to a second client, with a synthetic 220 greeting in front of
// it so that the client's state machine, which expects a greeting first,
// is satisfied.
func (q *Queue) startTLS(ctx context.Context, conn *deadlineConn, host string, pol *Policy) (*smtp.Client, error) {
	conn.SetDeadline(time.Now().Add(q.timeouts.command))
	if _, err := io.WriteString(conn, "STARTTLS\r\n"); err != nil {
		return nil, err
	}
	br := bufio.NewReader(conn)
	if _, _, err := textproto.NewReader(br).ReadResponse(220); err != nil {
		return nil, fmt.Errorf("STARTTLS refused: %w", err)
	}
	if br.Buffered() > 0 {
		// Bytes before the handshake would be taken as coming from
		// inside TLS (the STARTTLS command injection attack).
		return nil, errors.New("the server sent data after its STARTTLS reply")
	}
	conn.SetDeadline(time.Time{})

	tc := tls.Client(conn, q.tlsConfig(host, pol))
	hctx, cancel := context.WithTimeout(ctx, q.timeouts.tls)
	err := tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	c := q.newClient(&greetedConn{Conn: tc, greeting: strings.NewReader("220 " + host + "\r\n")})
	if err := c.Hello(q.cfg.Hostname); err != nil {
		return nil, fmt.Errorf("EHLO after STARTTLS: %w", err)
	}
	return c, nil
}

// tlsConfig is the client TLS configuration for MX host. Under an
// enforced MTA-STS policy the certificate must chain to TLSConfig's roots
// and be valid for host (RFC 8461 section 4.2), with TLS 1.2 at least.
// Otherwise TLS is opportunistic (RFC 7435): any certificate and any TLS
// version is better than plain text, which is the alternative; under a
// policy in mode testing the certificate is checked and a failure logged.
func (q *Queue) tlsConfig(host string, pol *Policy) *tls.Config {
	cfg := &tls.Config{}
	if q.cfg.TLSConfig != nil {
		cfg = q.cfg.TLSConfig.Clone()
	}
	cfg.ServerName = host
	if pol != nil && pol.Mode == ModeEnforce {
		cfg.InsecureSkipVerify = false
		cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
		return cfg
	}
	cfg.InsecureSkipVerify = true
	cfg.MinVersion = tls.VersionTLS10
	cfg.VerifyConnection = nil
	if pol != nil && pol.Mode == ModeTesting {
		roots := cfg.RootCAs
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if err := verifyPeer(cs, roots, host); err != nil {
				q.log.Warn("queue: MTA-STS testing: certificate not valid", "host", host, "err", err)
			}
			return nil
		}
	}
	return cfg
}

// verifyPeer checks the server's certificate chain as crypto/tls would.
func verifyPeer(cs tls.ConnectionState, roots *x509.CertPool, host string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter})
	return err
}

// deadlineConn gives every read and write a deadline: the one go-smtp set
// for the command under way, or else timeout from now. go-smtp sets
// deadlines for command replies only and clears them after, which would
// leave the writes of the message data without one.
type deadlineConn struct {
	net.Conn
	timeout time.Duration

	mu       sync.Mutex
	deadline time.Time
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *deadlineConn) next() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.deadline.IsZero() {
		return c.deadline
	}
	return time.Now().Add(c.timeout)
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(c.next()); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(c.next()); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// greetedConn is a TLS connection with the synthetic greeting that
// startTLS puts in front.
type greetedConn struct {
	net.Conn
	greeting *strings.Reader
}

func (c *greetedConn) Read(p []byte) (int, error) {
	if c.greeting.Len() > 0 {
		return c.greeting.Read(p)
	}
	return c.Conn.Read(p)
}
