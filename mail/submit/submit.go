// Package submit is the one way a message enters or leaves caucus.
//
// [Service.Submit] takes a message from an authenticated member (SMTP
// submission, RFC 6409; later the webmail): it may name as its senders
// only addresses the account may send as, on the envelope and in the
// header (RFC 5322 sections 3.6.2 and 3.6.6), within an hourly limit; it
// gets a Received field (RFC 5321 section 4.4) and a DKIM signature (RFC
// 6376, RFC 8463), is delivered durably to local recipients, queued for
// the others, and answered by their auto-replies (RFC 3834).
//
// [Service.Deliver] takes a message from outside (the MX) into the
// recipients' INBOX or Junk, forwarding copies under a rewritten sender
// (SRS). [Service.Send] takes the mail caucus itself writes (invitations,
// auto-replies): signed, delivered here or queued; the queue signs and
// delivers its delivery status notifications (RFC 3464) with
// [Service.Sign] and [Service.DeliverLocal].
//
// Refusals are *Error values carrying the SMTP reply; the packages that
// speak a protocol map them to their replies, a web page to sentences.
// What the service works with comes in as the small interfaces below,
// which mail/store, mail/route, mail/queue and internal/audit satisfy.
package submit

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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/metrics"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/srs"
	"github.com/caucus-org/caucus/mail/store"
)

// Config sets the service's identity and limits.
type Config struct {
	Hostname           string // our name in Received fields
	SendPerHour        int    // messages an account may submit per hour; default 100; more: 450 4.7.1
	MaxRcptsPerMessage int    // recipients per submitted message; default 50; more: 452 4.5.3
	// VolunteerSendPerHour is a volunteer's hourly limit (auth.RoleVolunteer);
	// default a fifth of SendPerHour, at least 1.
	VolunteerSendPerHour int
}

func (c *Config) defaults() {
	if c.SendPerHour <= 0 {
		c.SendPerHour = 100
	}
	if c.VolunteerSendPerHour <= 0 {
		c.VolunteerSendPerHour = max(1, c.SendPerHour/5)
	}
	if c.MaxRcptsPerMessage <= 0 {
		c.MaxRcptsPerMessage = 50
	}
}

// Directory resolves addresses and says who may send as which (mail/route).
type Directory interface {
	Resolve(ctx context.Context, rcpt string) (route.Target, error)
	IsOurs(address string) bool
	OwnDomains() []string
	MemberNames() []string
	MaySendAs(ctx context.Context, acct auth.Account, address string) (bool, error)
}

// Mailboxes stores delivered messages durably (mail/store).
type Mailboxes interface {
	DeliverTo(ctx context.Context, accountIDs []int64, mailbox string, r io.Reader) (map[int64]imap.UID, error)
}

// Enqueuer takes messages for remote recipients (mail/queue).
type Enqueuer interface {
	Enqueue(ctx context.Context, from string, rcpts []string, msg io.Reader) (int64, error)
}

// Signer DKIM-signs outgoing mail of the party's domains (DKIMSigner).
type Signer interface {
	Sign(ctx context.Context, msg []byte) ([]byte, error)
}

// AutoReplier answers mail just delivered to addresses that have an
// auto-reply (mail/autoreply), after the message is durable.
type AutoReplier interface {
	Respond(ctx context.Context, from string, rcpts []string, msg []byte) (int, error)
}

// Invitations reads the iMIP messages (RFC 6047) among the mail just
// delivered to the accounts' INBOX (mail/calendar's *Store): a reply to
// an invitation updates the organiser's event. Delivered has the mail
// from outside, judged by the MX's findings; Submitted a member's, whose
// author submission checked. Neither fails anything: the message is
// delivered already.
type Invitations interface {
	Delivered(ctx context.Context, accounts []int64, msg []byte)
	Submitted(ctx context.Context, accounts []int64, from auth.Account, msg []byte)
}

// Auditor records refusals, aggregated per reason, and what is sent as a
// role's address (internal/audit).
type Auditor interface {
	RecordFailure(ctx context.Context, e audit.Event) error
	Record(ctx context.Context, e audit.Event) error
}

// Deps are the parts the service works with.
type Deps struct {
	Store Mailboxes
	Dir   Directory
	Queue Enqueuer // nil: no mail to other domains (554 5.3.0)
	// Signer signs what members submit and what caucus writes; nil:
	// unsigned (tests only).
	Signer Signer
	// AutoReply, if set, answers delivered mail (offboarded staff).
	AutoReply AutoReplier
	// Lists, if set, takes the mail for mailing lists' addresses.
	Lists Lists
	// Invitations, if set, reads the iMIP messages delivered from outside.
	Invitations Invitations
	// SRS, if set, rewrites the sender of outside mail forwarded to other
	// domains and takes the bounces back; nil forwards it unchanged.
	SRS   *srs.Rewriter
	Audit Auditor // nil: refusals are not recorded (tests only)
	// Roles, if set, are the role mailboxes: delivered to, and sent as
	// with a send-as grant (roles.go).
	Roles   Roles
	Metrics *metrics.Set // nil: nothing counted
	Log     *slog.Logger
	Now     func() time.Time
}

// Service sends and delivers. It is safe for concurrent use.
type Service struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	rate *rateLimiter
}

// New builds the service.
func New(cfg Config, d Deps) *Service {
	cfg.defaults()
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{cfg: cfg, deps: d, log: d.Log, rate: newRateLimiter(d.Now)}
}

// SetAutoReply hooks the responder in, which itself sends through s; it is
// called once, while wiring, before any message.
func (s *Service) SetAutoReply(a AutoReplier) { s.deps.AutoReply = a }

// SetInvitations hooks the calendars in, which themselves send through
// s; it is called once, before the service takes mail.
func (s *Service) SetInvitations(i Invitations) { s.deps.Invitations = i }

// Sender is who submits: the authenticated account and where it connects
// from, for the audit log.
type Sender struct {
	Account   auth.Account
	Addr      string // remote IP address
	UserAgent string // "smtp", "webmail"
}

// Envelope is one transaction's reverse-path and recipients (RFC 5321
// section 2.3.1), resolved as they are added.
type Envelope struct {
	From   string   // reverse-path; "" for the null reverse-path
	Rcpts  []string // as given, in order
	local  []int64  // accounts to deliver to
	remote []string // addresses to queue for
	lists  []string // mailing lists' addresses (mail/lists)
}

// Received describes the hop for the Received field (RFC 5321 section
// 4.4) that a message gets on its way in.
type Received struct {
	Helo string               // the client's HELO/EHLO name
	IP   net.IP               // the client's address
	With string               // "ESMTP", "ESMTPSA" (RFC 3848)
	TLS  *tls.ConnectionState // nil: no TLS
	For  string               // the one recipient, or ""
}

// header renders the field, CRLF-terminated.
func (s *Service) header(r Received) string {
	tlsInfo := ""
	if r.TLS != nil {
		tlsInfo = fmt.Sprintf(" (using %s with cipher %s)", tls.VersionName(r.TLS.Version), tls.CipherSuiteName(r.TLS.CipherSuite))
	}
	h := fmt.Sprintf("Received: from %s ([%s])\r\n\tby %s with %s%s", Sanitize(r.Helo), r.IP, s.cfg.Hostname, r.With, tlsInfo)
	if r.For != "" {
		h += fmt.Sprintf("\r\n\tfor <%s>", Sanitize(r.For))
	}
	return h + ";\r\n\t" + s.deps.Now().Format(time.RFC1123Z) + "\r\n"
}

// Sanitize drops from s what may not be echoed in a header or a reply:
// control characters and angle brackets.
func Sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '<' || r == '>' {
			return -1
		}
		return r
	}, s)
}

// Qualify gives "Postmaster", which has no domain (RFC 5321 section
// 4.1.1.3), the party's primary domain. Other recipients are returned as
// they are.
func (s *Service) Qualify(to string) string {
	if !strings.EqualFold(to, "postmaster") {
		return to
	}
	if own := s.deps.Dir.OwnDomains(); len(own) > 0 {
		return "postmaster@" + own[0]
	}
	return to
}

// OwnDomains are the party's mail domains.
func (s *Service) OwnDomains() []string { return s.deps.Dir.OwnDomains() }

// deliverLocal stores a message in every local recipient's mailbox (INBOX,
// or Junk), durably, before anyone is told it was accepted.
func (s *Service) deliverLocal(ctx context.Context, env *Envelope, msg []byte, mailbox string) error {
	if len(env.local) == 0 {
		return nil
	}
	if _, err := s.deps.Store.DeliverTo(ctx, env.local, mailbox, bytes.NewReader(msg)); err != nil {
		switch {
		case errors.Is(err, store.ErrQuota):
			return refuse(452, [3]int{4, 2, 2}, ErrMailboxFull, "A recipient's mailbox is full; try again later")
		case errors.Is(err, store.ErrTooLarge):
			return refuse(552, [3]int{5, 3, 4}, ErrTooLarge, "Message too large")
		}
		return temporary("deliver", err)
	}
	s.deps.Metrics.Delivered(metrics.Local, len(env.local))
	return nil
}

// enqueue hands the remote recipients to the outbound queue.
func (s *Service) enqueue(ctx context.Context, env *Envelope, from string, msg []byte) error {
	if len(env.remote) == 0 {
		return nil
	}
	if s.deps.Queue == nil {
		return refuse(554, [3]int{5, 3, 0}, ErrNoRemote, "This server does not send to other domains")
	}
	if _, err := s.deps.Queue.Enqueue(ctx, from, env.remote, bytes.NewReader(msg)); err != nil {
		return temporary("enqueue", err)
	}
	return nil
}

// autoReply has the delivered message answered where its recipients ask
// for it. The message is already durable, so a failure is only logged.
func (s *Service) autoReply(ctx context.Context, env *Envelope, msg []byte) {
	if s.deps.AutoReply == nil {
		return
	}
	if _, err := s.deps.AutoReply.Respond(ctx, env.From, env.Rcpts, msg); err != nil {
		s.log.Warn("submit: auto-reply", "err", err)
	}
}

// validRemote reports whether to parses as an address (RFC 5322 section 3.4.1).
func validRemote(to string) bool {
	_, err := mail.ParseAddress("<" + to + ">")
	return err == nil
}

// rateLimiter counts each account's submitted messages over the last hour.
type rateLimiter struct {
	now  func() time.Time
	mu   sync.Mutex
	sent map[int64][]time.Time
	// counted, if set, is told of each message counted (to tell the
	// other nodes; see ShareSendLimits).
	counted func(accountID int64, at time.Time)
}

func newRateLimiter(now func() time.Time) *rateLimiter {
	return &rateLimiter{now: now, sent: map[int64][]time.Time{}}
}

// allow records a message if the account is under its hourly limit max.
func (r *rateLimiter) allow(accountID int64, max int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	times := r.sent[accountID]
	i := 0
	for i < len(times) && now.Sub(times[i]) >= time.Hour {
		i++
	}
	times = times[i:]
	if len(times) >= max {
		r.sent[accountID] = times
		return false
	}
	r.sent[accountID] = append(times, now)
	if r.counted != nil {
		r.counted(accountID, now)
	}
	return true
}

// add counts a message another node counted, at its time.
func (r *rateLimiter) add(accountID int64, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	times := r.sent[accountID]
	i := len(times)
	for i > 0 && times[i-1].After(at) {
		i--
	}
	r.sent[accountID] = slices.Insert(times, i, at)
}
