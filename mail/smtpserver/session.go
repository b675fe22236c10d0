package smtpserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/connauth"
	"github.com/caucus-org/caucus/internal/connlimit"
	"github.com/caucus-org/caucus/internal/metrics"
	"github.com/caucus-org/caucus/mail/message"
	"github.com/caucus-org/caucus/mail/submit"
)

func smtpErr(code int, enh gosmtp.EnhancedCode, msg string) *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
}

var (
	errTempFailure = smtpErr(451, gosmtp.EnhancedCode{4, 3, 0}, "Temporary failure, please try again later")
	errAuthFirst   = smtpErr(530, gosmtp.EnhancedCode{5, 7, 0}, "Authentication required: sign in with an app password")
	errAuthFailed  = smtpErr(535, gosmtp.EnhancedCode{5, 7, 8}, "Authentication failed: use an app password made on your account page")
)

// session is the state both kinds of session share.
type session struct {
	srv    *Server
	conn   *gosmtp.Conn
	gc     *connauth.Conn // the connection's id, context and sign-in
	remote net.IP
	log    *slog.Logger
	ctx    context.Context // ends at shutdown, at revocation and with the session

	env *submit.Envelope // the mail transaction, from MAIL on
}

func (s *Server) base(c *gosmtp.Conn, kind string) (session, error) {
	addr := connlimit.RemoteAddr(c.Conn())
	gc := s.gate.OpenID(context.Background(), connID(c.Conn()), addr)
	gc.Log = gc.Log.With("proto", kind)
	ss := session{srv: s, conn: c, gc: gc, remote: net.IP(addr.AsSlice()), ctx: gc.Context(), log: gc.Log}
	if badArg(c.Hostname(), maxDomain) {
		// go-smtp makes the session at the first HELO or EHLO (and the
		// first after STARTTLS); refusing it refuses the greeting,
		// before go-smtp would echo the name back.
		ss.log.Info("smtp: invalid HELO/EHLO argument")
		gc.Close()
		return ss, errBadHelo
	}
	return ss, nil
}

var (
	errBadHelo   = smtpErr(501, gosmtp.EnhancedCode{5, 5, 2}, "Invalid domain or address literal in HELO/EHLO")
	errBadSender = smtpErr(501, gosmtp.EnhancedCode{5, 1, 7}, "Invalid sender address")
	errBadRcpt   = smtpErr(501, gosmtp.EnhancedCode{5, 1, 3}, "Invalid recipient address")
)

// Lengths of RFC 5321 section 4.5.3.1: a domain (4.5.3.1.2) and a path
// without its angle brackets (4.5.3.1.3).
const (
	maxDomain = 255
	maxPath   = 254
)

// badArg reports whether a HELO/EHLO argument or an address is longer
// than max bytes or holds a control character (NUL among them): no
// domain, address literal (RFC 5321 section 4.1.3) or mailbox has one,
// and go-smtp echoes what it was given in its replies. go-smtp's line
// limit is set high for DATA (see readMessage), so the lengths are
// bounded here.
func badArg(s string, max int) bool {
	return len(s) > max || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// Reset ends the mail transaction (RSET, a new MAIL, the end of DATA, a
// repeated EHLO). A repeated EHLO has no hook of its own in go-smtp, whose
// reply echoes the name it was given, and calls Reset just before that
// reply: a name with a control character ends the connection there, with
// a 421 of our own, instead of being echoed.
func (ss *session) Reset() {
	ss.env = nil
	if badArg(ss.conn.Hostname(), maxDomain) {
		ss.log.Info("smtp: invalid repeated HELO/EHLO argument, closing")
		c := ss.conn.Conn()
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "421 4.5.2 %s Invalid domain or address literal in HELO/EHLO, closing connection\r\n", ss.srv.cfg.Hostname)
		c.Close()
	}
}

// readMessage reads DATA (go-smtp already bounds it by MaxMessageBytes),
// refusing a line longer than Config.MaxLineLength with a 550 that says
// so. go-smtp's own line limit, which would drop the connection after an
// internal error text, is set far above it (see newGoSMTP), so that the
// client hears why and go-smtp reads the rest of the data and resets the
// transaction: the next MAIL works.
func (ss *session) readMessage(r io.Reader) ([]byte, error) {
	var b bytes.Buffer
	if _, err := b.ReadFrom(&lineLimit{r: r, limit: ss.srv.cfg.MaxLineLength}); err != nil {
		var se *gosmtp.SMTPError
		if errors.As(err, &se) {
			return nil, se
		}
		return nil, err
	}
	return b.Bytes(), nil
}

// lineLimit fails a read at the first line longer than limit bytes (its
// line ending not counted).
type lineLimit struct {
	r     io.Reader
	limit int
	cur   int
}

func (l *lineLimit) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for i, c := range p[:n] {
		if c == '\n' {
			l.cur = 0
			continue
		}
		if l.cur++; l.cur > l.limit+1 { // the CR of CRLF
			return i, smtpErr(550, gosmtp.EnhancedCode{5, 6, 0}, fmt.Sprintf("Message refused: a line is longer than %d bytes (RFC 5322 section 2.1.1 allows 998 characters per line)", l.limit))
		}
	}
	return n, err
}

// received describes this hop for the Received field.
func (ss *session) received(with, helo, forAddr string) submit.Received {
	r := submit.Received{Helo: helo, IP: ss.remote, With: with, For: forAddr}
	if st, ok := ss.conn.TLSConnectionState(); ok {
		r.TLS = &st
	}
	return r
}

// reply maps what mail/submit says to the client's reply: its refusals
// carry their SMTP reply; anything else, and the cause of a temporary
// failure, goes to the log only.
func (ss *session) reply(err error) error {
	if err == nil {
		return nil
	}
	var e *submit.Error
	if !errors.As(err, &e) {
		ss.log.Error("smtp: submit", "err", err)
		return errTempFailure
	}
	if e.Cause != nil {
		ss.log.Error("smtp: submit", "err", e.Cause)
	}
	return smtpErr(e.Code, gosmtp.EnhancedCode(e.Enhanced), e.Message)
}

// The MX.

type mxSession struct {
	session
	helo string
}

func (s *Server) newMXSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	base, err := s.base(c, "mx")
	if err != nil {
		return nil, err
	}
	return &mxSession{session: base}, nil
}

func (ms *mxSession) Logout() error {
	ms.gc.Close()
	return nil
}

func (ms *mxSession) Mail(from string, opts *gosmtp.MailOptions) error {
	if badArg(from, maxPath) {
		return errBadSender
	}
	ms.Reset()
	ms.helo = ms.conn.Hostname()
	ms.env = ms.srv.deps.Submit.Inbound(from)
	return nil
}

func (ms *mxSession) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	if badArg(to, maxPath) {
		return errBadRcpt
	}
	return ms.reply(ms.srv.deps.Submit.InboundRcpt(ms.ctx, ms.env, to))
}

func (ms *mxSession) Data(r io.Reader) error {
	msg, err := ms.readMessage(r)
	if err != nil {
		return err
	}
	h, err := ms.readHeader(msg)
	if err != nil {
		return err
	}
	junk := false
	if ms.srv.deps.Inbound != nil {
		v, err := ms.srv.deps.Inbound.Check(ms.ctx, InboundMessage{RemoteIP: ms.remote, Helo: ms.helo, MailFrom: ms.env.From, Message: msg, Header: h})
		if err != nil {
			ms.log.Error("smtp: inbound checks", "err", err)
			return errTempFailure
		}
		if v.Reject != "" {
			ms.log.Info("smtp: refused by policy", "from", ms.env.From, "reason", v.Reject)
			return smtpErr(550, gosmtp.EnhancedCode{5, 7, 1}, v.Reject)
		}
		msg, junk = v.Message, v.Junk
	}
	forAddr := ""
	if len(ms.env.Rcpts) == 1 {
		forAddr = ms.env.Rcpts[0]
	}
	if err := ms.srv.deps.Submit.Deliver(ms.ctx, ms.env, msg, ms.received("ESMTP", ms.helo, forAddr), junk); err != nil {
		return ms.reply(err)
	}
	ms.srv.deps.Metrics.Accepted(metrics.ViaMX)
	return nil
}

// readHeader parses a message's header with the parser every part of
// caucus reads headers with (mail/message), and refuses with 550 what
// readers could take for different authors: a header that can be cut
// into fields two ways or does not end within message.MaxHeader bytes,
// and anything but exactly one From of one mailbox, at most one Sender
// and Reply-To (RFC 5322 sections 2.2 and 3.6).
func (ss *session) readHeader(msg []byte) (*message.Header, error) {
	h, err := message.Parse(msg)
	if err == nil {
		err = h.Check()
	}
	if err != nil {
		ss.log.Info("smtp: header refused", "from", ss.env.From, "err", err)
		return nil, smtpErr(550, gosmtp.EnhancedCode{5, 6, 0}, headerRefusal(err))
	}
	return h, nil
}

// headerRefusal says in the reply why a header was refused, without
// echoing any of it.
func headerRefusal(err error) string {
	switch {
	case errors.Is(err, message.ErrTooLong):
		return fmt.Sprintf("Message refused: its header is longer than %d bytes", message.MaxHeader)
	case errors.Is(err, message.ErrDuplicate):
		return "Message refused: it has more than one From, Sender or Reply-To field (RFC 5322 section 3.6)"
	case errors.Is(err, message.ErrFrom):
		return "Message refused: it needs exactly one From field holding one address (RFC 5322 section 3.6.2)"
	case errors.Is(err, message.ErrAddress):
		return "Message refused: its Sender or Reply-To field does not parse (RFC 5322 section 3.4)"
	}
	return "Message refused: its header is malformed (RFC 5322 section 2.2)"
}

// Submission.

type subSession struct {
	session
	acct    auth.Account
	release func() // set at sign-in
}

func (s *Server) newSubmissionSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	base, err := s.base(c, "submission")
	if err != nil {
		return nil, err
	}
	return &subSession{session: base}, nil
}

func (ss *subSession) Logout() error {
	ss.gc.Close()
	return nil
}

func (ss *subSession) Mail(from string, opts *gosmtp.MailOptions) error {
	if ss.release == nil {
		return errAuthFirst
	}
	if badArg(from, maxPath) {
		return errBadSender
	}
	ss.Reset()
	env, err := ss.srv.deps.Submit.Mail(ss.ctx, ss.sender(), from)
	if err != nil {
		return ss.reply(err)
	}
	ss.env = env
	return nil
}

// sender is who submits, for mail/submit's checks and audit records.
func (ss *subSession) sender() submit.Sender {
	return submit.Sender{Account: ss.acct, Addr: ss.remote.String(), UserAgent: "smtp"}
}

func (ss *subSession) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	if ss.release == nil {
		return errAuthFirst
	}
	if badArg(to, maxPath) {
		return errBadRcpt
	}
	return ss.reply(ss.srv.deps.Submit.Rcpt(ss.ctx, ss.sender(), ss.env, to))
}

func (ss *subSession) Data(r io.Reader) error {
	if ss.release == nil {
		return errAuthFirst
	}
	msg, err := ss.readMessage(r)
	if err != nil {
		return err
	}
	h, err := ss.readHeader(msg)
	if err != nil {
		return err
	}
	if err := ss.srv.deps.Submit.Submit(ss.ctx, ss.sender(), ss.env, h, msg, ss.received("ESMTPSA", ss.conn.Hostname(), "")); err != nil {
		return ss.reply(err)
	}
	ss.srv.deps.Metrics.Accepted(metrics.ViaSubmission)
	return nil
}
