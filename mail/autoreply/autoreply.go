// Package autoreply answers mail delivered to an address that has an
// auto-reply (route.AutoReply), such as the address of someone who left
// the party, following RFC 3834 ("Recommendations for Automatic Responses
// to Electronic Mail"):
//
//   - no answer to a message with the null reverse-path, from a
//     MAILER-DAEMON, owner-* or *-request address, or with an
//     Auto-Submitted field other than "no" (section 2);
//   - no answer to mailing-list or bulk mail: a List-* field (RFC 2369,
//     RFC 2919), Precedence bulk, list or junk, or Microsoft's
//     X-Auto-Response-Suppress (section 2);
//   - no answer unless the address appears in To, Cc, Bcc or their
//     Resent- forms (section 2), so that a group list or a blind copy
//     does not trigger one;
//   - the same address answers the same sender at most once per
//     Config.Interval (section 2, "several days");
//   - the answer goes to the reverse-path (section 4), from the null
//     reverse-path so that nothing answers or bounces it back (section 3),
//     with one recipient (section 3.1.3), a subject starting with "Auto:"
//     (section 3.1.5), In-Reply-To and References (section 3.1.6, built
//     as RFC 5322 section 3.6.4 says) and Auto-Submitted: auto-replied
//     (sections 3.1.7 and 5).
//
// Answers go through mail/submit like all mail caucus sends: DKIM-signed,
// delivered at once to local addresses, and otherwise queued.
package autoreply

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/headertext"
	"github.com/caucus-org/caucus/mail/route"
)

// DefaultInterval is how long the same sender waits for a second answer
// from the same address.
const DefaultInterval = 7 * 24 * time.Hour

// maxReferences bounds the message IDs carried over into References.
const maxReferences = 20

// Component returns the table of answers sent (for the once-per-interval
// rule). Times are Unix seconds.
func Component() db.Component {
	return db.Component{Name: "autoreply", Migrations: []db.Migration{{Version: 1, Postgres: schemaPostgres, SQL: `
CREATE TABLE autoreply_sent (
	address TEXT NOT NULL COLLATE NOCASE,
	sender  TEXT NOT NULL COLLATE NOCASE,
	sent_at INTEGER NOT NULL,
	PRIMARY KEY (address, sender)
) WITHOUT ROWID;
CREATE INDEX autoreply_sent_at ON autoreply_sent(sent_at);
`}}}
}

// schemaPostgres is the schema on PostgreSQL; the addresses, COLLATE
// NOCASE on SQLite, are citext.
const schemaPostgres = `
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TABLE autoreply_sent (
	address citext NOT NULL,
	sender  citext NOT NULL,
	sent_at BIGINT NOT NULL,
	PRIMARY KEY (address, sender)
);
CREATE INDEX autoreply_sent_at ON autoreply_sent(sent_at);
`

// Sender sends a message caucus writes: DKIM-signed, delivered here or
// queued (mail/submit.Service).
type Sender interface {
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// Config sets the responder's identity and pace.
type Config struct {
	Hostname string           // right-hand side of the answers' Message-IDs
	Interval time.Duration    // default DefaultInterval
	Now      func() time.Time // default time.Now
}

// Deps are the parts the responder works with.
type Deps struct {
	DB   *db.DB
	Dir  *route.Directory
	Mail Sender
	Log  *slog.Logger
}

// Responder sends auto-replies. It is safe for concurrent use.
type Responder struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
}

// New builds a responder.
func New(cfg Config, d Deps) *Responder {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &Responder{cfg: cfg, deps: d, log: d.Log}
}

// Respond answers a message that was just delivered, from the reverse-path
// from to rcpts (as given at RCPT TO), for each recipient that has an
// auto-reply in force and that RFC 3834 lets answer. It returns how many
// answers it sent. msg is the message as delivered; only its header is
// read. An error on one recipient does not stop the others.
func (r *Responder) Respond(ctx context.Context, from string, rcpts []string, msg []byte) (sent int, err error) {
	if !answerableSender(from) {
		return 0, nil
	}
	m, perr := mail.ReadMessage(bytes.NewReader(msg))
	if perr != nil {
		return 0, nil // not a message one could answer sensibly
	}
	if !answerable(m.Header) {
		return 0, nil
	}
	addressed := addressedTo(m.Header)
	var errs []error
	seen := map[string]bool{}
	for _, rcpt := range rcpts {
		ar, acct, address, ok, err := r.deps.Dir.AutoReplyFor(ctx, rcpt)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok || seen[address] || !addressed[address] && !addressed[strings.ToLower(acct.Login)] || strings.EqualFold(address, from) {
			continue
		}
		seen[address] = true
		claimed, err := r.claim(ctx, address, from)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if claimed.IsZero() {
			continue
		}
		if err := r.send(ctx, address, acct.DisplayName, from, ar, m.Header); err != nil {
			// Not sent: the next message may try again.
			errs = append(errs, fmt.Errorf("autoreply: answer as %s: %w", address, err), r.release(ctx, address, from, claimed))
			continue
		}
		r.log.Info("auto-reply sent", "account", acct.Login)
		sent++
	}
	return sent, errors.Join(errs...)
}

// claim records an answer from address to sender if none was recorded
// within the interval, and returns the time recorded, or zero if there was
// one: the check and the record are one statement, so two deliveries at
// once send one answer.
func (r *Responder) claim(ctx context.Context, address, sender string) (time.Time, error) {
	now := r.cfg.Now()
	res, err := r.deps.DB.ExecContext(ctx, `INSERT INTO autoreply_sent (address, sender, sent_at) VALUES (?, ?, ?)
		ON CONFLICT (address, sender) DO UPDATE SET sent_at = excluded.sent_at WHERE autoreply_sent.sent_at <= ?`,
		address, sender, now.Unix(), now.Add(-r.cfg.Interval).Unix())
	if err != nil {
		return time.Time{}, fmt.Errorf("autoreply: record: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return time.Time{}, err
	}
	return now, nil
}

// release forgets a claim whose answer could not be sent.
func (r *Responder) release(ctx context.Context, address, sender string, at time.Time) error {
	_, err := r.deps.DB.ExecContext(ctx, `DELETE FROM autoreply_sent WHERE address = ? AND sender = ? AND sent_at = ?`, address, sender, at.Unix())
	if err != nil {
		return fmt.Errorf("autoreply: release: %w", err)
	}
	return nil
}

// Prune forgets answers older than the interval; Run calls it daily.
func (r *Responder) Prune(ctx context.Context) (int64, error) {
	res, err := r.deps.DB.ExecContext(ctx, `DELETE FROM autoreply_sent WHERE sent_at <= ?`, r.cfg.Now().Add(-r.cfg.Interval).Unix())
	if err != nil {
		return 0, fmt.Errorf("autoreply: prune: %w", err)
	}
	return res.RowsAffected()
}

// Run prunes the record of answers daily until ctx ends.
func (r *Responder) Run(ctx context.Context) {
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := r.Prune(ctx); err != nil {
				r.log.Warn("auto-reply prune", "err", err)
			}
		}
	}
}

// send composes one answer and sends it through mail/submit.
func (r *Responder) send(ctx context.Context, address, name, to string, ar route.AutoReply, orig mail.Header) error {
	msg, err := r.compose(address, name, to, ar, orig)
	if err != nil {
		return err
	}
	if r.deps.Mail == nil {
		return errors.New("autoreply: no way to send")
	}
	// The null reverse-path (RFC 3834 section 3), so that nothing
	// answers the answer and no bounce comes back.
	return r.deps.Mail.Send(ctx, "", []string{to}, msg)
}

// compose writes the answer (RFC 5322, one text/plain part).
func (r *Responder) compose(address, name, to string, ar route.AutoReply, orig mail.Header) ([]byte, error) {
	subject := ar.Subject
	if subject == "" {
		// RFC 3834 section 3.1.5: "Auto:" and the subject answered.
		dec := new(mime.WordDecoder)
		s, err := dec.DecodeHeader(orig.Get("Subject"))
		if err != nil {
			s = orig.Get("Subject")
		}
		subject = strings.TrimSpace("Auto: " + clip(oneLine(s), route.MaxAutoReplySubject))
	}
	var id [16]byte
	rand.Read(id[:])
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", headertext.Mailbox(oneLine(name), address))
	fmt.Fprintf(&b, "To: <%s>\r\n", to)
	fmt.Fprintf(&b, "Subject: %s\r\n", headertext.Unstructured("Subject", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", r.cfg.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%x@%s>\r\n", id, r.cfg.Hostname)
	if mid := msgIDs(orig.Get("Message-Id")); len(mid) == 1 {
		// RFC 3834 section 3.1.6, RFC 5322 section 3.6.4: the parent's
		// References, or else its In-Reply-To if that names one message,
		// then its Message-ID.
		refs := msgIDs(orig.Get("References"))
		if irt := msgIDs(orig.Get("In-Reply-To")); len(refs) == 0 && len(irt) == 1 {
			refs = irt
		}
		refs = append(refs, mid[0])
		if len(refs) > maxReferences {
			refs = append(refs[:1], refs[len(refs)-maxReferences+1:]...)
		}
		fmt.Fprintf(&b, "In-Reply-To: %s\r\n", mid[0])
		fmt.Fprintf(&b, "References: %s\r\n", strings.Join(refs, "\r\n "))
	}
	b.WriteString("Auto-Submitted: auto-replied\r\n")
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	b.WriteString("Content-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	body := strings.ReplaceAll(strings.ReplaceAll(ar.Body, "\r\n", "\n"), "\n", "\r\n")
	if _, err := io.WriteString(qp, body); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}

// answerableSender applies RFC 3834 section 2 to the reverse-path.
func answerableSender(from string) bool {
	at := strings.LastIndexByte(from, '@')
	if at <= 0 || strings.ContainsAny(from, "\r\n<> ") {
		return false // the null reverse-path, or nothing one can send to
	}
	local := strings.ToLower(from[:at])
	return local != "mailer-daemon" && local != "postmaster" && !strings.HasPrefix(local, "owner-") && !strings.HasSuffix(local, "-request")
}

// answerable applies RFC 3834 section 2 to the header: no answer to
// automatic, list or bulk mail.
func answerable(h mail.Header) bool {
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" && !strings.HasPrefix(v, "no") {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Precedence"))) {
	case "bulk", "list", "junk":
		return false
	}
	if v := strings.ToLower(h.Get("X-Auto-Response-Suppress")); strings.Contains(v, "all") || strings.Contains(v, "oof") || strings.Contains(v, "autoreply") {
		return false
	}
	for k := range h {
		if strings.HasPrefix(k, "List-") {
			return false
		}
	}
	return true
}

// addressedTo returns the addresses (lower-case, without "+tag") in the
// recipient fields of the header.
func addressedTo(h mail.Header) map[string]bool {
	out := map[string]bool{}
	for _, f := range []string{"To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"} {
		for _, v := range h[f] {
			list, err := mail.ParseAddressList(v)
			if err != nil {
				continue
			}
			for _, a := range list {
				out[plain(a.Address)] = true
			}
		}
	}
	return out
}

// plain lower-cases an address and drops a "+tag" from its local part.
func plain(addr string) string {
	addr = strings.ToLower(addr)
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	local := addr[:at]
	if plus := strings.IndexByte(local, '+'); plus > 0 {
		local = local[:plus]
	}
	return local + addr[at:]
}

// msgIDs returns the well-formed "<id>" tokens of a Message-ID,
// In-Reply-To or References field (RFC 5322 section 3.6.4).
func msgIDs(v string) []string {
	var out []string
	for len(out) < 1000 {
		start := strings.IndexByte(v, '<')
		if start < 0 {
			break
		}
		end := strings.IndexByte(v[start:], '>')
		if end < 0 {
			break
		}
		id := v[start : start+end+1]
		v = v[start+end+1:]
		if len(id) > 2 && len(id) <= 250 && strings.Count(id, "@") == 1 && !strings.ContainsAny(id[1:len(id)-1], " \t\r\n<>\"\\") {
			out = append(out, id)
		}
	}
	return out
}

// oneLine removes control characters, so a header value stays one line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// clip shortens s to at most n bytes, at a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
