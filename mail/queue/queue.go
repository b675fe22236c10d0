// Package queue is caucus's outbound mail queue: it keeps the messages that
// local users send to other domains, and the delivery status notifications
// caucus itself writes, durably on disk until they are delivered, and
// delivers them over SMTP.
//
// Delivery follows RFC 5321 section 5: the recipient domain's MX records are
// looked up (with the implicit MX, the domain's own address, when it has
// none), a null MX (RFC 7505) fails the recipients at once, and the hosts
// are tried in order of preference. The client says EHLO with
// [Config.Hostname], uses STARTTLS (RFC 3207) whenever the server offers it,
// and sends MAIL FROM, one RCPT TO per recipient and DATA, every step under
// a deadline shorter than those RFC 5321 section 4.5.3.2 suggests. Each
// recipient's reply decides its fate: 2xx delivered, 4xx retried later, 5xx
// bounced (RFC 5321 section 4.2.1 and 4.5.4.1).
//
// TLS is opportunistic (RFC 7435) unless the domain publishes an MTA-STS
// policy (RFC 8461) in mode enforce: opportunistic TLS does not verify the
// certificate, because a sender that refused unverifiable certificates
// would fall back to plain text, which is worse. Under an enforced policy
// only MX hosts that match the policy are used, STARTTLS is required, and
// the certificate must be valid for the MX host name, checked against
// [Config.TLSConfig]'s roots; otherwise the delivery fails temporarily and
// stays queued. A policy in mode testing is checked and its failures are
// logged, but delivery goes ahead. DANE (RFC 7672) is not implemented.
//
// A failed delivery is retried after growing delays (5, 10, 20, 40 minutes,
// 1 and 2 hours, then every 4 hours) until [Config.MaxAge], when the
// remaining recipients are bounced. A sender whose message is still not
// delivered after [Config.DelayNotice] gets one delay notice. Bounces and
// delay notices are delivery status notifications (RFC 3464, a
// multipart/report of RFC 6522), sent with the null reverse-path (RFC 5321
// section 4.5.5); a message with the null reverse-path is never bounced.
// caucus does not offer the DSN extension (RFC 3461) to its own clients, so
// notifications follow the default: failures and delays, never successes.
//
// # Bulk mail
//
// A list's copies ([Queue.EnqueueBulk]) are bulk: members' own mail is
// always delivered first, and bulk deliveries start at a rate overall and
// per recipient domain, on part of the workers ([Pacing]), so that a
// mailing to 20,000 addresses neither delays a member's message nor
// floods a receiver.
//
// # Storage
//
// A message's body is one blob, whatever the number of recipients; its
// envelope and the delivery state live in the tables that [Component]
// creates (SQLite, or PostgreSQL where several nodes run the queue: each
// delivery is then attempted by one node at a time, which holds its
// lease; see lease.go). Each queued blob starts with a line holding a random nonce, so
// that two messages never share a blob even when their content is the
// same: the blob store counts no references, and a blob is deleted right
// after the commit that removed the last row naming it, which would
// otherwise race an [Queue.Enqueue] of the same content. The blob store
// must be the queue's own (say DataDir/blobs/queue).
package queue

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/internal/metrics"
)

var (
	// ErrNotFound reports that no queued message has the given ID.
	ErrNotFound = errors.New("queue: no such message")
	// ErrBadAddress reports an envelope address that the queue refuses:
	// empty, without a domain, too long, or with control characters.
	ErrBadAddress = errors.New("queue: bad address")
	// ErrTooLarge reports a message larger than the queue accepts.
	ErrTooLarge = errors.New("queue: message too large")
	// ErrNotLocal is what [Config.LocalDeliver] returns (wrapped or not)
	// for an address it does not serve; the notification for it then goes
	// through the queue.
	ErrNotLocal = errors.New("queue: not a local address")
	// ErrNoBlobs reports a call that needs the blob store on a Queue made
	// without one (as the command line tool makes it).
	ErrNoBlobs = errors.New("queue: no blob store")
)

// Defaults for [Config].
const (
	DefaultPort        = 25
	DefaultMaxAge      = 5 * 24 * time.Hour
	DefaultDelayNotice = 4 * time.Hour
	DefaultWorkers     = 8
)

// MaxMessageSize bounds the messages Enqueue accepts (100 MiB, more than
// any SMTP server caucus delivers to takes).
const MaxMessageSize = 100 << 20

// pollInterval is the longest Run sleeps before it looks for due
// deliveries again, so that a Retry made by another process (the command
// line tool) takes effect within it.
const pollInterval = 30 * time.Second

// Config configures a Queue. Zero fields take the defaults named.
type Config struct {
	// Hostname is the name this server gives in EHLO and in the
	// Reporting-MTA of its notifications, e.g. "mail.example-party.org".
	Hostname string
	// Resolver answers MX, A/AAAA and TXT lookups; default the system's.
	Resolver dns.Resolver
	// TLSConfig is the base of the client TLS configuration: its RootCAs
	// (nil: the system's) verify certificates where MTA-STS asks for it.
	TLSConfig *tls.Config
	// HTTPClient fetches MTA-STS policies. It is copied and made to
	// follow no redirect (RFC 8461 section 3.3). Default: a client that
	// verifies with TLSConfig's roots and dials with the default dialer.
	HTTPClient *http.Client
	// Dialer connects to SMTP servers. The default dials with a 30 s
	// timeout and refuses loopback, unspecified and multicast addresses:
	// an MX record naming 127.0.0.1 must not make caucus deliver to
	// itself, where local connections may be trusted.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// Port is the remote SMTP port; default 25.
	Port int
	// Now is the clock; default time.Now.
	Now func() time.Time
	// MaxAge is how long a message is retried before it is bounced;
	// default 5 days.
	MaxAge time.Duration
	// DelayNotice is how long after it was queued a message still not
	// delivered makes the queue warn its sender, once; default 4 hours.
	DelayNotice time.Duration
	// Workers is the number of concurrent deliveries; default 8.
	Workers int
	// Postmaster is the From address of notifications, e.g.
	// "postmaster@example-party.org"; default postmaster@Hostname.
	Postmaster string
	// LocalDeliver delivers a notification to a local sender's mailbox.
	// It returns an error matching [ErrNotLocal] for an address it does
	// not serve; such notifications, and all of them when LocalDeliver is
	// nil, go out through the queue. On any other error the notification
	// is queued too, so that it is not lost.
	LocalDeliver func(ctx context.Context, rcpt string, msg io.Reader) error
	// Sign DKIM-signs every notification (also those LocalDeliver takes,
	// which may pass them on): the party's own DMARC policy (p=reject)
	// would otherwise have receivers refuse caucus's bounces. Nil sends
	// them unsigned.
	Sign func(ctx context.Context, msg []byte) ([]byte, error)
	// Metrics counts messages queued, delivered and bounced; nil counts
	// nothing.
	Metrics *metrics.Set
	// Bulk paces bulk mail (a list's copies, [Queue.EnqueueBulk]); zero
	// fields take the defaults of [Pacing].
	Bulk Pacing
}

// timeouts bounds each step of an SMTP session. They are shorter than the
// minimums of RFC 5321 section 4.5.3.2 (5 minutes for most replies, 10 for
// the reply to the end of data): a server that needs longer is broken, and
// the message is retried anyway.
type timeouts struct {
	dial      time.Duration // TCP connect
	command   time.Duration // each command's reply, also the greeting
	io        time.Duration // each read or write without a command deadline (data blocks)
	tls       time.Duration // the TLS handshake
	dataEnd   time.Duration // the reply to the final "."
	session   time.Duration // a whole attempt on one domain
	policyGet time.Duration // an MTA-STS policy fetch (RFC 8461 section 3.3 suggests 1 minute)
}

var defaultTimeouts = timeouts{
	dial:      30 * time.Second,
	command:   2 * time.Minute,
	io:        3 * time.Minute,
	tls:       1 * time.Minute,
	dataEnd:   5 * time.Minute,
	session:   30 * time.Minute,
	policyGet: 1 * time.Minute,
}

// Queue is the outbound queue. Its methods are safe for concurrent use;
// call Run once.
type Queue struct {
	cfg      Config
	db       *db.DB
	blobs    blob.Store
	log      *slog.Logger
	http     *http.Client
	timeouts timeouts
	maxSize  int64 // MaxMessageSize; tests lower it

	wake chan struct{} // a token tells Run to look for due deliveries now
	node string        // names this queue in the leases it takes (see claim)

	mu       sync.Mutex
	inflight map[int64]bool      // delivery IDs being attempted; true for bulk ones
	held     map[int64]time.Time // delivery IDs not to attempt before then: their state could not be read or written
	pacer    *pacer              // bulk deliveries' rates
}

// New returns a queue keeping its state in d (migrated with [Component])
// and message bodies in blobs, the queue's own blob store. blobs may be nil
// for a queue that only lists, retries and drops (the command line tool);
// the blobs of messages it drops are then deleted by the Run of the
// running server. A nil log discards log records; records never contain
// message contents, and name recipients only by domain.
func New(cfg Config, d *db.DB, blobs blob.Store, log *slog.Logger) *Queue {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "localhost"
		log.Warn("queue: no host name configured; saying EHLO localhost")
	}
	if cfg.Resolver == nil {
		cfg.Resolver = dns.System()
	}
	if cfg.Port <= 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.DelayNotice <= 0 {
		cfg.DelayNotice = DefaultDelayNotice
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Postmaster == "" || checkAddress(cfg.Postmaster) != nil {
		if cfg.Postmaster != "" {
			log.Warn("queue: invalid postmaster address; using the default")
		}
		cfg.Postmaster = "postmaster@" + cfg.Hostname
	}
	if cfg.Dialer == nil {
		cfg.Dialer = publicDialer(defaultTimeouts.dial)
	}
	cfg.Bulk.defaults(cfg.Workers)
	q := &Queue{
		cfg:      cfg,
		db:       d,
		blobs:    blobs,
		log:      log,
		timeouts: defaultTimeouts,
		maxSize:  MaxMessageSize,
		wake:     make(chan struct{}, 1),
		inflight: map[int64]bool{},
		held:     map[int64]time.Time{},
		pacer:    newPacer(cfg.Bulk),
		node:     rand.Text(),
	}
	q.http = q.policyClient()
	return q
}

// publicDialer returns a dialer that refuses loopback, unspecified and
// multicast addresses.
func publicDialer(timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if ip := net.ParseIP(host); ip == nil || ip.IsLoopback() || ip.IsUnspecified() || ip.IsMulticast() {
			return nil, fmt.Errorf("queue: refusing to connect to %s", host)
		}
		return d.DialContext(ctx, network, addr)
	}
}

// now is the queue's clock.
func (q *Queue) now() time.Time { return q.cfg.Now() }

// notify wakes Run.
func (q *Queue) notify() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Item is one recipient domain of a queued message: the recipients there
// still waiting for delivery, and their retry schedule.
type Item struct {
	ID            int64    // the message ID Enqueue returned; shared by the message's items
	From          string   // the reverse-path; "" for a notification (null reverse-path)
	Rcpts         []string // recipients at Domain still to be delivered, sorted
	Domain        string
	Size          int64 // bytes
	Created       time.Time
	NextAttempt   time.Time
	Attempts      int
	LastError     string // the last attempt's failure, if any
	DelayNotified bool   // the sender was told of the delay
}

// Enqueue queues msg from the reverse-path from ("" for the null
// reverse-path) to rcpts and returns the message's ID. It returns only
// once the message is durable: its body stored and fsynced, its rows
// committed. Recipients are grouped by domain (case-insensitively) and
// duplicates dropped; each domain's delivery is due at once and Run is
// woken. A message larger than [MaxMessageSize] is refused with
// [ErrTooLarge], a malformed address with [ErrBadAddress]. The queue sends
// the bytes as they are: signing (DKIM) happens before.
func (q *Queue) Enqueue(ctx context.Context, from string, rcpts []string, msg io.Reader) (id int64, err error) {
	return q.enqueue(ctx, from, rcpts, msg, false)
}

// enqueue is Enqueue, of bulk mail or not.
func (q *Queue) enqueue(ctx context.Context, from string, rcpts []string, msg io.Reader, bulk bool) (id int64, err error) {
	if q.blobs == nil {
		return 0, ErrNoBlobs
	}
	if from != "" {
		if err := checkAddress(from); err != nil {
			return 0, fmt.Errorf("queue: enqueue: sender: %w", err)
		}
	}
	groups, err := groupByDomain(rcpts)
	if err != nil {
		return 0, fmt.Errorf("queue: enqueue: %w", err)
	}
	sc := &eightBitScanner{r: msg}
	ref, size, err := q.putBlob(ctx, sc)
	if err != nil {
		return 0, fmt.Errorf("queue: enqueue: %w", err)
	}
	now := q.now()
	err = q.db.Tx(ctx, func(tx *sql.Tx) error {
		id, err = insertMessage(ctx, tx, ref, from, size, sc.eightBit, groups, now, bulk)
		return err
	})
	if err != nil {
		// The blob is this message's alone (see putBlob): no one else
		// can refer to it.
		if derr := q.blobs.Delete(ref); derr != nil {
			q.log.Error("queue: deleting the blob of a failed enqueue", "err", derr)
		}
		return 0, fmt.Errorf("queue: enqueue: %w", err)
	}
	q.log.Info("queue: enqueued", "id", id, "size", size, "domains", len(groups), "rcpts", len(rcpts), "dsn", from == "", "bulk", bulk)
	q.notify()
	q.cfg.Metrics.Queued()
	return id, nil
}

// domainGroup is the recipients of one domain.
type domainGroup struct {
	domain string
	rcpts  []string
}

// groupByDomain checks rcpts and groups them by lowercased domain, in
// order of first appearance, dropping exact duplicates.
func groupByDomain(rcpts []string) ([]domainGroup, error) {
	if len(rcpts) == 0 {
		return nil, fmt.Errorf("%w: no recipients", ErrBadAddress)
	}
	var groups []domainGroup
	index := map[string]int{}
	seen := map[string]bool{}
	for _, r := range rcpts {
		if err := checkAddress(r); err != nil {
			return nil, fmt.Errorf("recipient: %w", err)
		}
		if seen[r] {
			continue
		}
		seen[r] = true
		d := domainOf(r)
		i, ok := index[d]
		if !ok {
			i = len(groups)
			index[d] = i
			groups = append(groups, domainGroup{domain: d})
		}
		groups[i].rcpts = append(groups[i].rcpts, r)
	}
	return groups, nil
}

// domainOf returns the lowercased domain of a checked address, without a
// trailing dot.
func domainOf(addr string) string {
	d := addr[strings.LastIndexByte(addr, '@')+1:]
	return strings.ToLower(strings.TrimSuffix(d, "."))
}

// checkAddress checks an envelope address as far as the queue needs: the
// SMTP server has parsed it already. It must be local@domain within the
// lengths of RFC 5321 section 4.5.3.1, and hold nothing that could break
// out of a command line or a header field (control characters, angle
// brackets).
func checkAddress(addr string) error {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return fmt.Errorf("%w: %q has no local part or domain", ErrBadAddress, truncate(addr, 80))
	}
	if len(addr) > 254 || at > 64 || len(addr)-at-1 > 255 {
		return fmt.Errorf("%w: too long", ErrBadAddress)
	}
	for i := 0; i < len(addr); i++ {
		if c := addr[i]; c < 0x20 || c == 0x7f || c == '<' || c == '>' {
			return fmt.Errorf("%w: %q has a forbidden character", ErrBadAddress, truncate(addr, 80))
		}
	}
	d := addr[at+1:]
	if strings.ContainsAny(d, " \t@") {
		return fmt.Errorf("%w: bad domain %q", ErrBadAddress, truncate(d, 80))
	}
	if strings.HasPrefix(d, "[") != strings.HasSuffix(d, "]") {
		return fmt.Errorf("%w: bad address literal %q", ErrBadAddress, truncate(d, 80))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// insertMessage inserts a message with its deliveries and recipients, all
// due at now, bulk or not.
func insertMessage(ctx context.Context, tx *sql.Tx, ref blob.Ref, from string, size int64, eightBit bool, groups []domainGroup, now time.Time, bulk bool) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO queue_messages (blob_ref, sender, size, eight_bit, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
		string(ref), from, size, flag(eightBit), now.Unix()).Scan(&id)
	if err != nil {
		return 0, err
	}
	for _, g := range groups {
		var did int64
		err := tx.QueryRowContext(ctx, `INSERT INTO queue_deliveries (message_id, domain, next_attempt, bulk) VALUES (?, ?, ?, ?) RETURNING id`,
			id, g.domain, now.Unix(), flag(bulk)).Scan(&did)
		if err != nil {
			return 0, err
		}
		for _, r := range g.rcpts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO queue_recipients (delivery_id, rcpt) VALUES (?, ?)`, did, r); err != nil {
				return 0, err
			}
		}
	}
	return id, nil
}

// flag is b as the 0 or 1 the tables' INTEGER flags hold (PostgreSQL's
// driver does not turn a Go bool into an integer).
func flag(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// joinLines is the aggregate that joins the values of col with line
// feeds, in no particular order: SQLite's group_concat, PostgreSQL's
// string_agg.
func joinLines(e db.Engine, col string) string {
	if e == db.Postgres {
		return `string_agg(` + col + `, chr(10))`
	}
	return `group_concat(` + col + `, char(10))`
}

// The queue's blobs begin with a line of this form, 47 bytes:
// "caucus-queue " + 32 hexadecimal digits of a random nonce + CRLF.
const (
	blobMagic     = "caucus-queue "
	blobHeaderLen = len(blobMagic) + 32 + 2
)

// putBlob stores r as a new blob of its own (see the package comment) and
// returns its reference and the size of the message, the nonce line not
// counted.
func (q *Queue) putBlob(ctx context.Context, r io.Reader) (blob.Ref, int64, error) {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	head := blobMagic + hex.EncodeToString(nonce) + "\r\n"
	ref, n, err := q.blobs.Put(ctx, io.MultiReader(strings.NewReader(head), r), q.maxSize+int64(len(head)))
	if errors.Is(err, blob.ErrTooLarge) {
		return "", 0, fmt.Errorf("%w (more than %d bytes): %w", ErrTooLarge, q.maxSize, err)
	}
	if err != nil {
		return "", 0, err
	}
	return ref, n - int64(len(head)), nil
}

// openBody opens a message's body: the blob after its nonce line.
func (q *Queue) openBody(ref blob.Ref, size int64) (io.Closer, io.ReadSeeker, error) {
	if q.blobs == nil {
		return nil, nil, ErrNoBlobs
	}
	f, err := q.blobs.Open(ref)
	if err != nil {
		return nil, nil, err
	}
	head := make([]byte, blobHeaderLen)
	if _, err := io.ReadFull(f, head); err != nil || !strings.HasPrefix(string(head), blobMagic) {
		f.Close()
		return nil, nil, fmt.Errorf("queue: blob %s is not a queued message", ref)
	}
	return f, &section{r: f, base: int64(blobHeaderLen), size: size}, nil
}

// section is the size bytes of r from offset base on, which is where r
// stands when the section is made: a queued message's body after its
// nonce line. The blob store's readers seek but need not read at an offset
// (io.ReaderAt), so io.SectionReader does not serve.
type section struct {
	r          io.ReadSeeker
	base, size int64
	off        int64 // relative to base
}

func (s *section) Read(p []byte) (int, error) {
	if s.off >= s.size {
		return 0, io.EOF
	}
	if rest := s.size - s.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := s.r.Read(p)
	s.off += int64(n)
	return n, err
}

func (s *section) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += s.off
	case io.SeekEnd:
		offset += s.size
	default:
		return 0, errors.New("queue: seek: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("queue: seek: negative position")
	}
	if _, err := s.r.Seek(s.base+offset, io.SeekStart); err != nil {
		return 0, err
	}
	s.off = offset
	return offset, nil
}

// eightBitScanner passes reads through and notes whether any byte had the
// high bit set, so that deliveries can declare BODY=8BITMIME (RFC 6152).
type eightBitScanner struct {
	r        io.Reader
	eightBit bool
}

func (s *eightBitScanner) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if !s.eightBit {
		for _, c := range p[:n] {
			if c >= 0x80 {
				s.eightBit = true
				break
			}
		}
	}
	return n, err
}

// List returns the queued items, one per message and recipient domain
// still pending, oldest message first.
func (q *Queue) List(ctx context.Context) ([]Item, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT m.id, m.sender, d.domain, m.size, m.created_at, d.next_attempt,
			d.attempts, d.last_error, d.delay_notified,
			(SELECT `+joinLines(q.db.Engine(), "r.rcpt")+` FROM queue_recipients r WHERE r.delivery_id = d.id)
		FROM queue_deliveries d JOIN queue_messages m ON m.id = d.message_id
		ORDER BY m.id, d.domain`)
	if err != nil {
		return nil, fmt.Errorf("queue: list: %w", err)
	}
	defer rows.Close()
	var items []Item
	for rows.Next() {
		var it Item
		var created, next int64
		var rcpts sql.NullString
		if err := rows.Scan(&it.ID, &it.From, &it.Domain, &it.Size, &created, &next,
			&it.Attempts, &it.LastError, &it.DelayNotified, &rcpts); err != nil {
			return nil, fmt.Errorf("queue: list: %w", err)
		}
		it.Created, it.NextAttempt = time.Unix(created, 0), time.Unix(next, 0)
		if rcpts.String != "" {
			it.Rcpts = strings.Split(rcpts.String, "\n")
			slices.Sort(it.Rcpts)
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: list: %w", err)
	}
	return items, nil
}

// Retry makes all of message id's pending deliveries due now. A running
// queue in this process starts them at once; one in another process within
// 30 seconds. An attempt already under way is not interrupted, and its
// outcome sets the next schedule.
func (q *Queue) Retry(ctx context.Context, id int64) error {
	res, err := q.db.ExecContext(ctx, `UPDATE queue_deliveries SET next_attempt = ? WHERE message_id = ?`, q.now().Unix(), id)
	if err != nil {
		return fmt.Errorf("queue: retry %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("queue: retry %d: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	q.notify()
	return nil
}

// Drop removes message id from the queue without notifying its sender:
// an administrator's action. An attempt already under way may still
// deliver it.
func (q *Queue) Drop(ctx context.Context, id int64) error {
	var ref blob.Ref
	err := q.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT blob_ref FROM queue_messages WHERE id = ?`, id).Scan(&ref); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %d", ErrNotFound, id)
		} else if err != nil {
			return err
		}
		return deleteMessage(ctx, tx, id, ref)
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return err
		}
		return fmt.Errorf("queue: drop %d: %w", id, err)
	}
	q.log.Info("queue: dropped", "id", id)
	q.emptyTrash(ctx, ref)
	return nil
}

// deleteMessage deletes a message (its deliveries and recipients go by
// cascade) and puts its blob in the trash, in tx.
func deleteMessage(ctx context.Context, tx *sql.Tx, id int64, ref blob.Ref) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM queue_messages WHERE id = ?`, id); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO queue_trash (blob_ref) VALUES (?) ON CONFLICT DO NOTHING`, string(ref))
	return err
}

// emptyTrash deletes the blobs named (all in the trash if none is) and
// their trash rows, after the commit that put them there. What fails stays
// in the trash for the next call. Without a blob store it does nothing.
func (q *Queue) emptyTrash(ctx context.Context, refs ...blob.Ref) {
	if q.blobs == nil {
		return
	}
	// A backup is copying blobs: empty the trash at a later call.
	if held, err := db.BlobsHeld(ctx, q.db); err != nil || held {
		if err != nil && ctx.Err() == nil {
			q.log.Error("queue: reading blob holds", "err", err)
		}
		return
	}
	if len(refs) == 0 {
		rows, err := q.db.QueryContext(ctx, `SELECT blob_ref FROM queue_trash`)
		if err != nil {
			q.log.Error("queue: reading the trash", "err", err)
			return
		}
		for rows.Next() {
			var r string
			if err := rows.Scan(&r); err != nil {
				break
			}
			refs = append(refs, blob.Ref(r))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			q.log.Error("queue: reading the trash", "err", err)
		}
	}
	for _, ref := range refs {
		if err := q.blobs.Delete(ref); err != nil {
			q.log.Error("queue: deleting a blob", "err", err)
			continue
		}
		if _, err := q.db.ExecContext(ctx, `DELETE FROM queue_trash WHERE blob_ref = ?`, string(ref)); err != nil {
			q.log.Error("queue: emptying the trash", "err", err)
		}
	}
}

// readHeaders returns the header section of the message r, up to max
// bytes, cut at a line boundary, with CRLF line ends, for the
// text/rfc822-headers part of a notification.
func readHeaders(r io.Reader, max int) []byte {
	br := bufio.NewReaderSize(io.LimitReader(r, int64(max)), 4096)
	var out []byte
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// An absurdly long line: keep what fits and skip the rest.
			out = append(out, line...)
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			out = append(out, '\r', '\n')
			continue
		}
		if err != nil {
			// EOF or the limit inside a line: drop the partial line.
			return out
		}
		l := strings.TrimRight(string(line), "\r\n")
		if l == "" {
			return out
		}
		out = append(out, l...)
		out = append(out, '\r', '\n')
	}
}
