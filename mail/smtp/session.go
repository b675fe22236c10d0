package smtp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/connauth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/connlimit"
	"github.com/caucus-org/caucus/internal/metrics"
	"github.com/caucus-org/caucus/mail/message"
	"github.com/caucus-org/caucus/mail/msgauth"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/srs"
	"github.com/caucus-org/caucus/mail/store"
)

func smtpErr(code int, enh gosmtp.EnhancedCode, msg string) *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
}

var (
	errTempFailure = smtpErr(451, gosmtp.EnhancedCode{4, 3, 0}, "Temporary failure, please try again later")
	errNoSuchUser  = smtpErr(550, gosmtp.EnhancedCode{5, 1, 1}, "No such user here")
	errRelayDenied = smtpErr(550, gosmtp.EnhancedCode{5, 7, 1}, "Relaying denied: sign in on the submission port to send to other domains")
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

	from  string
	rcpts []string
	local []int64  // accounts to deliver to
	out   []string // remote recipients
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
	ss.from, ss.rcpts, ss.local, ss.out = "", nil, nil, nil
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

// received builds our Received header (RFC 5321 4.4).
func (ss *session) received(with, helo, forAddr string) string {
	tlsInfo := ""
	if st, ok := ss.conn.TLSConnectionState(); ok {
		tlsInfo = fmt.Sprintf(" (using %s with cipher %s)", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	}
	h := fmt.Sprintf("Received: from %s ([%s])\r\n\tby %s with %s%s", sanitizeHeader(helo), ss.remote, ss.srv.cfg.Hostname, with, tlsInfo)
	if forAddr != "" {
		h += fmt.Sprintf("\r\n\tfor <%s>", sanitizeHeader(forAddr))
	}
	return h + ";\r\n\t" + ss.srv.deps.Now().Format(time.RFC1123Z) + "\r\n"
}

func sanitizeHeader(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '<' || r == '>' {
			return -1
		}
		return r
	}, s)
}

// deliverLocal stores a message in every local recipient's mailbox
// (INBOX, or Junk), durably, before the client hears 250.
func (ss *session) deliverLocal(msg []byte, mailbox string) error {
	if len(ss.local) == 0 {
		return nil
	}
	if _, err := ss.srv.deps.Store.DeliverTo(ss.ctx, ss.local, mailbox, bytes.NewReader(msg)); err != nil {
		switch {
		case errors.Is(err, store.ErrQuota):
			return smtpErr(452, gosmtp.EnhancedCode{4, 2, 2}, "A recipient's mailbox is full; try again later")
		case errors.Is(err, store.ErrTooLarge):
			return smtpErr(552, gosmtp.EnhancedCode{5, 3, 4}, "Message too large")
		}
		ss.log.Error("smtp: deliver", "err", err)
		return errTempFailure
	}
	ss.srv.deps.Metrics.Delivered(metrics.Local, len(ss.local))
	return nil
}

func (ss *session) enqueue(from string, msg []byte) error {
	if len(ss.out) == 0 {
		return nil
	}
	if ss.srv.deps.Queue == nil {
		return smtpErr(554, gosmtp.EnhancedCode{5, 3, 0}, "This server does not send to other domains")
	}
	if _, err := ss.srv.deps.Queue.Enqueue(ss.ctx, from, ss.out, bytes.NewReader(msg)); err != nil {
		ss.log.Error("smtp: enqueue", "err", err)
		return errTempFailure
	}
	return nil
}

// autoReply has the delivered message answered where its recipients ask
// for it. The message is already durable, so a failure is only logged.
func (ss *session) autoReply(msg []byte) {
	if ss.srv.deps.AutoReply == nil {
		return
	}
	if _, err := ss.srv.deps.AutoReply.Respond(ss.ctx, ss.from, ss.rcpts, msg); err != nil {
		ss.log.Warn("smtp: auto-reply", "err", err)
	}
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
	ms.from = from
	return nil
}

func (ms *mxSession) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	if badArg(to, maxPath) {
		return errBadRcpt
	}
	to = ms.srv.qualify(to)
	if rw := ms.srv.deps.SRS; rw != nil && srs.IsSRS(to) && ms.srv.deps.Dir.IsOurs(to) {
		return ms.rcptSRS(rw, to)
	}
	t, err := ms.srv.deps.Dir.Resolve(ms.ctx, to)
	switch {
	case errors.Is(err, route.ErrNotOurs):
		ms.log.Info("smtp: relay refused", "rcpt", to)
		return errRelayDenied
	case errors.Is(err, route.ErrUnknown):
		return errNoSuchUser
	case err != nil:
		ms.log.Error("smtp: resolve recipient", "err", err)
		return errTempFailure
	}
	ms.rcpts = append(ms.rcpts, to)
	ms.local = append(ms.local, t.Accounts...)
	ms.out = append(ms.out, t.Remote...)
	return nil
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
	mailbox := "INBOX"
	if ms.srv.deps.Inbound != nil {
		v, err := ms.srv.deps.Inbound.Check(ms.ctx, InboundMessage{RemoteIP: ms.remote, Helo: ms.helo, MailFrom: ms.from, Message: msg, Header: h})
		if err != nil {
			ms.log.Error("smtp: inbound checks", "err", err)
			return errTempFailure
		}
		if v.Reject != "" {
			ms.log.Info("smtp: refused by policy", "from", ms.from, "reason", v.Reject)
			return smtpErr(550, gosmtp.EnhancedCode{5, 7, 1}, v.Reject)
		}
		msg = v.Message
		if v.Junk {
			mailbox = store.Junk
		}
	}
	forAddr := ""
	if len(ms.rcpts) == 1 {
		forAddr = ms.rcpts[0]
	}
	msg = append([]byte(ms.received("ESMTP", ms.helo, forAddr)), msg...)
	if err := ms.deliverLocal(msg, mailbox); err != nil {
		return err
	}
	// Forwarded copies of outside mail go out under our domain (SRS), so
	// that they pass SPF where they land and their bounces come back here.
	sender := ms.from
	if rw := ms.srv.deps.SRS; rw != nil && sender != "" && !ms.srv.deps.Dir.IsOurs(sender) {
		sender = rw.Forward(sender)
	}
	if err := ms.enqueue(sender, msg); err != nil {
		return err
	}
	ms.srv.deps.Metrics.Accepted(metrics.ViaMX)
	if mailbox != store.Junk { // RFC 3834 2: suspicious mail gets no answer
		ms.autoReply(msg)
	}
	return nil
}

// qualify gives "RCPT TO:<Postmaster>", which has no domain (RFC 5321
// section 4.1.1.3; go-smtp passes it as "postmaster"), the party's primary
// domain. Other recipients are returned as they are.
func (s *Server) qualify(to string) string {
	if !strings.EqualFold(to, "postmaster") {
		return to
	}
	if own := s.deps.Dir.OwnDomains(); len(own) > 0 {
		return "postmaster@" + own[0]
	}
	return to
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
		ss.log.Info("smtp: header refused", "from", ss.from, "err", err)
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

// rcptSRS takes a recipient that is one of our rewritten senders: a
// bounce of mail we forwarded, which goes back to the original sender.
// Only bounces (null sender) are taken, so the address is no relay.
func (ms *mxSession) rcptSRS(rw *srs.Rewriter, to string) error {
	if ms.from != "" {
		ms.log.Info("smtp: mail to a forwarding address that is no bounce", "rcpt", to)
		return smtpErr(550, gosmtp.EnhancedCode{5, 7, 1}, "This address takes only delivery status notifications")
	}
	orig, err := rw.Reverse(to)
	if err != nil {
		ms.log.Info("smtp: bounce to an invalid forwarding address", "rcpt", to, "err", err)
		return errNoSuchUser
	}
	ms.rcpts = append(ms.rcpts, to)
	ms.out = append(ms.out, orig)
	return nil
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
	ok, err := ss.srv.deps.Dir.MaySendAs(ss.ctx, ss.acct, from)
	if err != nil {
		ss.log.Error("smtp: send-as check", "err", err)
		return errTempFailure
	}
	if !ok {
		ss.audit("smtp.sender-refused", "mail-from", "mail_from="+from)
		return smtpErr(553, gosmtp.EnhancedCode{5, 7, 1}, fmt.Sprintf("You may not send as <%s>", sanitizeHeader(from)))
	}
	if !ss.srv.rate.allow(ss.acct.ID) {
		ss.audit("smtp.rate-limited", "hourly-limit", fmt.Sprintf("limit=%d/hour", ss.srv.cfg.SendPerHour))
		return smtpErr(450, gosmtp.EnhancedCode{4, 7, 1}, fmt.Sprintf("Sending limit reached (%d messages per hour); try again later", ss.srv.cfg.SendPerHour))
	}
	ss.from = from
	return nil
}

// audit records a refusal; aggregated per reason, since a client can repeat
// it at will (a message to 1,000 recipients wrote 950 records).
func (ss *subSession) audit(kind, reason, detail string) {
	ss.srv.deps.Auth.Audit().RecordFailure(ss.ctx, audit.Event{Actor: ss.acct.Login, Subject: ss.acct.Login, Kind: kind, Outcome: "refused", Reason: reason, Detail: detail, Addr: ss.remote.String(), UserAgent: "smtp"})
}

func (ss *subSession) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	if ss.release == nil {
		return errAuthFirst
	}
	if badArg(to, maxPath) {
		return errBadRcpt
	}
	to = ss.srv.qualify(to)
	if len(ss.rcpts) >= ss.srv.cfg.MaxRcptsPerMessage {
		ss.audit("smtp.rate-limited", "recipient-limit", fmt.Sprintf("recipients>%d", ss.srv.cfg.MaxRcptsPerMessage))
		return smtpErr(452, gosmtp.EnhancedCode{4, 5, 3}, fmt.Sprintf("Too many recipients: at most %d per message", ss.srv.cfg.MaxRcptsPerMessage))
	}
	if ss.srv.deps.Dir.IsOurs(to) {
		t, err := ss.srv.deps.Dir.Resolve(ss.ctx, to)
		if errors.Is(err, route.ErrUnknown) {
			return errNoSuchUser
		}
		if err != nil {
			return errTempFailure
		}
		ss.local = append(ss.local, t.Accounts...)
		ss.out = append(ss.out, t.Remote...)
	} else {
		if _, err := mail.ParseAddress("<" + to + ">"); err != nil {
			return smtpErr(501, gosmtp.EnhancedCode{5, 1, 3}, "Bad recipient address")
		}
		ss.out = append(ss.out, to)
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
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
	if err := ss.checkAuthor(h); err != nil {
		return err
	}
	msg = append([]byte(ss.received("ESMTPSA", ss.conn.Hostname(), "")), msg...)
	if ss.srv.deps.Signer != nil {
		if msg, err = ss.srv.deps.Signer.Sign(ss.ctx, msg); err != nil {
			if errors.Is(err, msgauth.ErrMalformed) {
				return smtpErr(550, gosmtp.EnhancedCode{5, 6, 0}, "Message header is malformed")
			}
			ss.log.Error("smtp: dkim sign", "err", err)
			return errTempFailure
		}
	}
	if err := ss.deliverLocal(msg, "INBOX"); err != nil {
		return err
	}
	if err := ss.enqueue(ss.from, msg); err != nil {
		return err
	}
	ss.srv.deps.Metrics.Accepted(metrics.ViaSubmission)
	ss.autoReply(msg)
	return nil
}

// checkAuthor refuses a message whose header names as its author or
// sender anyone the account may not send as: the From mailbox, the Sender,
// and every Resent-From and Resent-Sender mailbox (RFC 5322 sections
// 3.6.2 and 3.6.6). This stops a taken-over volunteer account from posing
// as the leader. The From's display name may not be another member's name
// either (see memberName). Reply-To may name anyone: it sends replies
// elsewhere but claims no author.
func (ss *subSession) checkAuthor(h *message.Header) error {
	from, _ := h.From() // readHeader checked it
	claimed := []message.Address{from}
	if s, ok, _ := h.Sender(); ok {
		claimed = append(claimed, s)
	}
	for _, name := range []string{"Resent-From", "Resent-Sender"} {
		for _, f := range h.Get(name) {
			list, err := message.ParseAddressList(f.Value())
			if err != nil {
				return smtpErr(550, gosmtp.EnhancedCode{5, 6, 0}, fmt.Sprintf("Message refused: its %s field does not parse (RFC 5322 section 3.4)", name))
			}
			claimed = append(claimed, message.Mailboxes(list)...)
		}
	}
	for _, a := range claimed {
		ok, err := ss.srv.deps.Dir.MaySendAs(ss.ctx, ss.acct, a.Addr())
		if err != nil {
			ss.log.Error("smtp: send-as check", "err", err)
			return errTempFailure
		}
		if !ok {
			ss.audit("smtp.sender-refused", "from-header", "header="+a.Addr())
			return smtpErr(550, gosmtp.EnhancedCode{5, 7, 1}, fmt.Sprintf("You may not send as %q", sanitizeHeader(a.Addr())))
		}
	}
	if a := msgauth.AddressInName(from.Name, ss.srv.deps.Dir.OwnDomains()); a != "" {
		// A display name that shows a party address is checked as
		// that address would be: "leader@…" <bob@…>.
		ok, err := ss.srv.deps.Dir.MaySendAs(ss.ctx, ss.acct, a)
		if err != nil {
			ss.log.Error("smtp: send-as check", "err", err)
			return errTempFailure
		}
		if !ok {
			ss.audit("smtp.sender-refused", "display-name-address", "display_name="+a)
			return smtpErr(550, gosmtp.EnhancedCode{5, 7, 1}, "Your display name shows an address you may not send as")
		}
	}
	return ss.memberName(from.Name)
}

// memberName refuses a display name that is another member's name, or
// passes for it (msgauth.MatchMember: the same words in any order, all
// the words of it, or one letter off), unless it is the account's own
// name. Refusing at submission, rather than tagging, keeps the mail a
// member sends from ever showing another member's name to anyone, inside
// the party or out. Members who share a name keep using their own.
func (ss *subSession) memberName(display string) error {
	if display == "" || msgauth.MatchMember(display, []string{ss.acct.DisplayName}) != "" {
		return nil
	}
	m := msgauth.MatchMember(display, ss.srv.deps.Dir.MemberNames())
	if m == "" {
		return nil
	}
	ss.audit("smtp.sender-refused", "display-name-member", "display_name_of="+m)
	return smtpErr(550, gosmtp.EnhancedCode{5, 7, 1}, "You may not use another member's name as your display name")
}

// rateLimiter counts each account's submitted messages over the last hour.
type rateLimiter struct {
	max  int
	now  func() time.Time
	mu   sync.Mutex
	sent map[int64][]time.Time
}

func newRateLimiter(max int, now func() time.Time) *rateLimiter {
	return &rateLimiter{max: max, now: now, sent: map[int64][]time.Time{}}
}

// allow records a message if the account is under its hourly limit.
func (r *rateLimiter) allow(accountID int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	times := r.sent[accountID]
	i := 0
	for i < len(times) && now.Sub(times[i]) >= time.Hour {
		i++
	}
	times = times[i:]
	if len(times) >= r.max {
		r.sent[accountID] = times
		return false
	}
	r.sent[accountID] = append(times, now)
	return true
}
