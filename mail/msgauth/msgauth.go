// Package msgauth authenticates the mail caucus receives and signs the mail
// it sends, and warns members about mail that impersonates the party:
//
//   - SPF (RFC 7208): may the connecting address send for the envelope
//     sender's domain (blitiri.com.ar/go/spf);
//   - DKIM (RFC 6376, Ed25519 from RFC 8463): are the message's signatures
//     valid (github.com/emersion/go-msgauth/dkim), and Sign adds an Ed25519
//     and an RSA signature to outgoing mail, with keys kept by
//     LoadOrCreateKeys;
//   - DMARC (RFC 7489): does SPF or DKIM vouch for the domain readers see,
//     the RFC5322.From domain, and what does that domain ask receivers to
//     do when neither does (records parsed by
//     github.com/emersion/go-msgauth/dmarc);
//   - the outcome as an Authentication-Results header field (RFC 8601);
//   - CheckImpersonation, CheckOnBehalf and TagMessage: mail whose sender
//     name matches a party member (or is one letter off), whose domain
//     looks like the party's, or whose Sender or Resent-From shows the
//     party, while it does not come from the party, gets "[External]" in
//     its subject and an X-Caucus-Warning field saying why.
//
// Every header is read by mail/message, the one parser caucus has, so the
// From that DMARC and the impersonation check judge is the From that the
// IMAP ENVELOPE and mail clients show.
//
// Every DNS query goes through the dns.Resolver passed in. The package
// keeps no package-level state and logs no message content: its log lines
// carry results, domains and the client's IP address only.
package msgauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"strings"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"

	"github.com/caucus-org/caucus/internal/dns"
	"github.com/caucus-org/caucus/mail/message"
)

// MaxSignatures is how many DKIM-Signature fields Check verifies, from the
// top of the header; the others are reported "neutral" without a DNS query
// (RFC 6376 section 6.1 lets a verifier limit its work). A message rarely
// carries more than three: its author's domain, its ESP, a mailing list.
const MaxSignatures = 5

const (
	// checkTimeout bounds all DNS work of one Check; what does not answer
	// in time is a temporary error.
	checkTimeout = 30 * time.Second
	// maxHeaderBytes bounds how much of a message Check reads looking for
	// the end of the header when Input.Header is nil.
	maxHeaderBytes = 1 << 20
)

// Results, as RFC 8601 section 2.7 names them.
const (
	ResultPass      = "pass"
	ResultFail      = "fail"
	ResultSoftFail  = "softfail"
	ResultNeutral   = "neutral"
	ResultNone      = "none"
	ResultTempError = "temperror"
	ResultPermError = "permerror"
)

// ErrFrom says that a message has no single RFC5322.From address with a
// usable domain, so DMARC cannot be applied (RFC 7489 section 6.6.1).
var ErrFrom = errors.New("msgauth: no single From address")

// Checker checks SPF, DKIM and DMARC for incoming messages. It is safe for
// concurrent use if its resolver is.
type Checker struct {
	res      resolver
	hostname string
	log      *slog.Logger
	timeout  time.Duration
}

// NewChecker returns a Checker that sends its DNS queries to r and names
// itself hostname (the authserv-id, RFC 8601 section 2.5) in the
// Authentication-Results fields it writes. A nil log discards.
func NewChecker(r dns.Resolver, hostname string, log *slog.Logger) *Checker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Checker{res: resolver{r}, hostname: hostname, log: log, timeout: checkTimeout}
}

// Input is what the SMTP server knows about one incoming message.
type Input struct {
	// RemoteIP is the address of the SMTP client.
	RemoteIP net.IP
	// Helo is the name the client gave in HELO or EHLO.
	Helo string
	// MailFrom is the envelope sender (RFC5321.MailFrom) without angle
	// brackets, "" for a bounce (null reverse-path).
	MailFrom string
	// Header is the message's header block, through the empty line that
	// ends it. It must be the header Message begins with; if nil, Check
	// reads it from Message.
	Header []byte
	// Parsed is the header as mail/message parsed it, when the caller
	// has it (the SMTP server does), so that it is parsed once; if nil,
	// Check parses Header.
	Parsed *message.Header
	// Message is the whole message, header and body, Size bytes long. It
	// is read, not held in memory: DKIM hashes it as a stream. If nil, the
	// message is taken to be Header alone.
	Message io.ReaderAt
	Size    int64
}

// DKIMResult is the outcome for one DKIM-Signature field.
type DKIMResult struct {
	Domain    string // d=, the signing domain (SDID)
	Selector  string // s=
	Algorithm string // a=, e.g. "ed25519-sha256" or "rsa-sha256"
	// Result is pass, fail, neutral (not checked, see MaxSignatures),
	// temperror (key not retrievable now) or permerror (signature or key
	// unusable), as RFC 8601 section 2.7.1 defines them.
	Result string
	// Err says why the signature did not pass; "" when it did.
	Err string
}

// Result is the outcome of Check.
type Result struct {
	// SPF is the result for the MAIL FROM identity (RFC 7208 section 2.6),
	// or for the HELO identity when MAIL FROM is empty (section 2.4).
	SPF string
	// SPFDomain is the domain SPF checked ("" when there was none).
	SPFDomain string
	// DKIM holds one result per DKIM-Signature field, in header order;
	// empty when the message is not signed.
	DKIM []DKIMResult
	// DMARC is pass, fail, none (no policy published), temperror or
	// permerror (no single From address, or an unusable record).
	DMARC string
	// DMARCPolicy is the policy the From domain asks for when DMARC fails:
	// none, quarantine or reject. It is the sp= policy when the record was
	// found at the organisational domain of a subdomain (RFC 7489 section
	// 6.6.3), lowered one step (reject to quarantine, quarantine to none)
	// for every message when pct is below 100, never sampled at random. It
	// is "none" when no record applies.
	DMARCPolicy string
	// FromDomain is the RFC5322.From domain, in lower-case A-label form.
	FromDomain string
	// From is the RFC5322.From address (display name decoded), nil when
	// the message has no single one; CheckImpersonation takes it.
	From *mail.Address
	// AuthResults is a complete Authentication-Results header field (RFC
	// 8601), folded, ending in CRLF, for the SMTP server to prepend.
	AuthResults string
}

// Check runs SPF, DKIM and DMARC for one message and returns the results.
// DNS failures are results (temperror), not errors; Check returns an error
// only when it cannot read the message or ctx ends. Whatever the results,
// the decision to accept, quarantine or reject is the caller's.
func (c *Checker) Check(ctx context.Context, in Input) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("msgauth: %w", err)
	}
	msg, size := in.Message, in.Size
	if msg == nil {
		msg, size = bytes.NewReader(in.Header), int64(len(in.Header))
	}
	header := in.Header
	if header == nil {
		h, err := message.ReadHeader(io.NewSectionReader(msg, 0, size), maxHeaderBytes)
		if err != nil {
			return Result{}, fmt.Errorf("msgauth: reading header: %w", err)
		}
		header = h
	}
	fields, _, _ := message.Split(header)
	parsed, perr := in.Parsed, error(nil)
	if parsed == nil {
		parsed, perr = message.Parse(header)
	}

	lctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	// SPF waits on DNS only; run it while DKIM hashes the message.
	spfc := make(chan spfOutcome, 1)
	go func() { spfc <- c.checkSPF(lctx, in.RemoteIP, in.Helo, in.MailFrom) }()
	sigs, err := c.checkDKIM(lctx, msg, size, fields)
	s := <-spfc
	if err != nil {
		return Result{}, err
	}

	res := Result{SPF: s.result, SPFDomain: s.domain, DKIM: sigs}
	from, fromDomain, fromErr := parseFrom(parsed, perr)
	res.From, res.FromDomain = from, fromDomain
	d := c.checkDMARC(lctx, fromDomain, fromErr, s, sigs)
	res.DMARC, res.DMARCPolicy = d.result, d.policy
	res.AuthResults = formatAuthResults(c.hostname, s, sigs, d, fromDomain)

	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("msgauth: %w", err)
	}
	attrs := []slog.Attr{
		slog.String("ip", in.RemoteIP.String()),
		slog.String("spf", s.result), slog.String("spfdomain", s.domain),
		slog.Int("dkimsigs", len(sigs)),
		slog.String("dmarc", d.result), slog.String("policy", d.policy),
		slog.String("fromdomain", fromDomain),
	}
	for _, sig := range sigs {
		attrs = append(attrs, slog.Group("dkim", "d", sig.Domain, "s", sig.Selector, "result", sig.Result))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "msgauth: checked", attrs...)
	return res, nil
}

// spfOutcome is the SPF result and the identity it is for.
type spfOutcome struct {
	result string
	domain string // the MAIL FROM domain, or the HELO domain
	helo   bool   // domain is the HELO identity (null MAIL FROM)
}

// checkSPF evaluates check_host() (RFC 7208 section 4) for the MAIL FROM
// identity or, for a null reverse-path, for "postmaster@" the HELO domain
// (section 2.4). A domain that is not a multi-label domain name gives
// "none" without a query (section 4.3).
func (c *Checker) checkSPF(ctx context.Context, ip net.IP, helo, mailFrom string) spfOutcome {
	mailFrom = strings.TrimSuffix(strings.TrimPrefix(mailFrom, "<"), ">")
	var out spfOutcome
	var sender string
	if mailFrom == "" {
		out.helo = true
		out.domain = asciiDomain(helo)
		sender = "postmaster@" + out.domain
	} else if at := strings.LastIndexByte(mailFrom, '@'); at >= 0 {
		out.domain = asciiDomain(mailFrom[at+1:])
		local := mailFrom[:at]
		if local == "" || strings.Contains(local, "@") {
			local = "postmaster" // RFC 7208 section 4.3
		}
		sender = local + "@" + out.domain
	}
	if out.domain == "" {
		out.result = ResultNone
		return out
	}
	r, _ := spf.CheckHostWithSender(ip, helo, sender, spf.WithResolver(c.res), spf.WithContext(ctx))
	out.result = string(r)
	return out
}

// checkDKIM verifies the message's DKIM signatures (RFC 6376 section 6),
// at most MaxSignatures of them. It returns an error only when the message
// cannot be read.
func (c *Checker) checkDKIM(ctx context.Context, msg io.ReaderAt, size int64, fields []message.Field) ([]DKIMResult, error) {
	var sigs []DKIMResult
	for _, f := range fields {
		if strings.EqualFold(f.Name, "DKIM-Signature") {
			v := f.Value()
			sigs = append(sigs, DKIMResult{
				Domain:    strings.ToLower(tagValue(v, "d")),
				Selector:  tagValue(v, "s"),
				Algorithm: strings.ToLower(tagValue(v, "a")),
			})
		}
	}
	if len(sigs) == 0 {
		return nil, nil
	}
	er := &errReader{r: io.NewSectionReader(msg, 0, size)}
	verifs, err := dkim.VerifyWithOptions(er, &dkim.VerifyOptions{
		LookupTXT:        c.res.txtFunc(ctx),
		MaxVerifications: MaxSignatures,
	})
	if er.err != nil {
		return nil, fmt.Errorf("msgauth: reading message: %w", er.err)
	}
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		// The header could not be read (no end of header), or a
		// verification failed in an unexpected way: go-msgauth then
		// clears that signature's error, so none of the verifications
		// can be trusted to be a pass.
		for i := range sigs {
			sigs[i].Result, sigs[i].Err = ResultPermError, err.Error()
		}
		return sigs, nil
	}
	if len(verifs) != min(len(sigs), MaxSignatures) {
		// Cannot happen while both read the header alike; do not pair
		// selectors with the wrong signatures if it does.
		c.log.Warn("msgauth: DKIM signature count mismatch", "found", len(sigs), "verified", len(verifs))
		for i := range sigs {
			sigs[i].Selector = ""
		}
	}
	for i := range sigs {
		if i >= len(verifs) {
			sigs[i].Result = ResultNeutral
			sigs[i].Err = fmt.Sprintf("not checked: more than %d signatures", MaxSignatures)
			continue
		}
		v := verifs[i]
		sigs[i].Domain = strings.ToLower(v.Domain)
		switch {
		case v.Err == nil:
			sigs[i].Result = ResultPass
		case dkim.IsTempFail(v.Err):
			sigs[i].Result, sigs[i].Err = ResultTempError, v.Err.Error()
		case dkim.IsPermFail(v.Err):
			sigs[i].Result, sigs[i].Err = ResultPermError, v.Err.Error()
		default:
			sigs[i].Result, sigs[i].Err = ResultFail, v.Err.Error()
		}
	}
	return sigs, nil
}

// errReader remembers the first read error other than io.EOF, so that a
// failing disk is told apart from a malformed message.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// parseFrom returns the message's RFC5322.From address and its domain, as
// mail/message reads it for every part of caucus. A message must have
// exactly one From field holding exactly one address with a domain name
// (RFC 7489 section 6.6.1); otherwise the error wraps ErrFrom.
func parseFrom(h *message.Header, perr error) (*mail.Address, string, error) {
	if perr != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrFrom, perr)
	}
	a, err := h.From()
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrFrom, err)
	}
	addr := &mail.Address{Name: a.Name, Address: a.Addr()}
	domain := asciiDomain(a.Host)
	if domain == "" {
		return addr, "", fmt.Errorf("%w: From address has no valid domain", ErrFrom)
	}
	return addr, domain, nil
}

// dmarcOutcome is the DMARC result and what it rests on.
type dmarcOutcome struct {
	result string
	policy string
	record bool   // a DMARC record applies
	reason string // why the result is an error
}

// checkDMARC evaluates DMARC (RFC 7489 section 6.6) for the From domain:
//
//   - policy discovery (6.6.3): the record at _dmarc.<From domain>, else at
//     _dmarc.<organisational domain>, whose sp= then applies if present;
//   - DMARC passes when a DKIM signature that passed, or SPF that passed,
//     is for a domain in alignment with the From domain (3.1), strict when
//     the record says adkim=s or aspf=s, relaxed (same organisational
//     domain, golang.org/x/net/publicsuffix) otherwise; SPF's domain is
//     the MAIL FROM domain, for a bounce the HELO domain (section 4.1
//     refers to RFC 7208 section 2.4 for the null reverse-path);
//   - when nothing aligned passed but an aligned check failed only for a
//     temporary reason, the result is temperror, so that the caller can
//     ask the sender to retry rather than reject;
//   - pct: a record with pct below 100 gets the next lower policy for
//     every message (reject becomes quarantine, quarantine becomes none),
//     never a random sample. This is what RFC 7489 section 6.6.4 does for
//     the messages not sampled, and what the DMARC revision
//     (draft-ietf-dmarc-dmarcbis, where pct gives way to t=y) prescribes
//     for all; it keeps the outcome for a message the same on every
//     delivery attempt and gives a sender nothing to game.
func (c *Checker) checkDMARC(ctx context.Context, fromDomain string, fromErr error, s spfOutcome, sigs []DKIMResult) dmarcOutcome {
	out := dmarcOutcome{policy: string(dmarc.PolicyNone)}
	if fromErr != nil {
		out.result, out.reason = ResultPermError, fromErr.Error()
		return out
	}
	opts := &dmarc.LookupOptions{LookupTXT: c.res.txtFunc(ctx)}
	rec, err := dmarc.LookupWithOptions(fromDomain, opts)
	atOrg := false
	if errors.Is(err, dmarc.ErrNoPolicy) {
		if org := orgDomain(fromDomain); org != fromDomain {
			rec, err = dmarc.LookupWithOptions(org, opts)
			atOrg = true
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, dmarc.ErrNoPolicy):
		out.result = ResultNone
		return out
	case dmarc.IsTempFail(err):
		out.result, out.reason = ResultTempError, "DMARC record lookup failed"
		return out
	default:
		out.result, out.reason = ResultPermError, err.Error()
		return out
	}
	out.record = true
	policy := rec.Policy
	if atOrg && rec.SubdomainPolicy != "" {
		policy = rec.SubdomainPolicy
	}
	if rec.Percent != nil && *rec.Percent < 100 {
		switch policy {
		case dmarc.PolicyReject:
			policy = dmarc.PolicyQuarantine
		case dmarc.PolicyQuarantine:
			policy = dmarc.PolicyNone
		}
	}
	out.policy = string(policy)

	temp := false
	strictDKIM := rec.DKIMAlignment == dmarc.AlignmentStrict
	for _, sig := range sigs {
		if !aligned(sig.Domain, fromDomain, strictDKIM) {
			continue
		}
		switch sig.Result {
		case ResultPass:
			out.result = ResultPass
			return out
		case ResultTempError:
			temp = true
		}
	}
	if aligned(s.domain, fromDomain, rec.SPFAlignment == dmarc.AlignmentStrict) {
		switch s.result {
		case ResultPass:
			out.result = ResultPass
			return out
		case ResultTempError:
			temp = true
		}
	}
	if temp {
		out.result, out.reason = ResultTempError, "an aligned check failed temporarily"
		return out
	}
	out.result = ResultFail
	return out
}
