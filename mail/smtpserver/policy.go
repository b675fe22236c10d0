package smtpserver

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/caucus-org/caucus/mail/message"
	"github.com/caucus-org/caucus/mail/msgauth"
)

// Checks is the MX's inbound policy, on mail/msgauth: SPF, DKIM and DMARC
// results go into an Authentication-Results header (RFC 8601); DMARC
// failures of a p=reject domain are refused and those of a p=quarantine
// domain filed as junk (RFC 7489 6.6); mail that
// impersonates a member or a party domain is tagged "[External]" with a
// warning header. Mail from a sender the party blocked (mail/phish) is
// refused first.
type Checks struct {
	Checker  *msgauth.Checker
	Dir      msgauth.Directory
	Hostname string    // the authserv-id the Checker writes (our host name)
	Blocked  Blocklist // nil: no block list
}

// Blocklist says whether any of the addresses (the envelope sender and
// the header From) is blocked for the whole party, and by which entry.
// *phish.Service is one.
type Blocklist interface {
	Blocked(ctx context.Context, addrs ...string) (entry string, blocked bool, err error)
}

// Check implements Inbound.
func (c Checks) Check(ctx context.Context, in InboundMessage) (InboundVerdict, error) {
	h := in.Header
	if h == nil {
		h, _ = message.Parse(in.Message)
	}
	if reject, err := c.blocked(ctx, in.MailFrom, h); reject != "" || err != nil {
		return InboundVerdict{Reject: reject}, err
	}
	res, err := c.Checker.Check(ctx, msgauth.Input{
		RemoteIP: in.RemoteIP, Helo: in.Helo, MailFrom: in.MailFrom, Parsed: h,
		Message: bytes.NewReader(in.Message), Size: int64(len(in.Message)),
	})
	if err != nil {
		return InboundVerdict{}, fmt.Errorf("smtp: inbound checks: %w", err)
	}
	if res.DMARC == "fail" && res.DMARCPolicy == "reject" {
		return InboundVerdict{Reject: fmt.Sprintf("Message refused: it fails DMARC for %s, whose policy is reject (not sent by a server %s authorises)", res.FromDomain, res.FromDomain)}, nil
	}
	ownAuthenticated := res.DMARC == "pass" && slices.Contains(c.Dir.OwnDomains(), res.FromDomain)
	v := msgauth.CheckImpersonation(res.From, c.Dir, ownAuthenticated)
	v = msgauth.CheckOnBehalf(v, h, c.Dir)
	// Always, not only for suspicious mail: drop Authentication-Results
	// that claim to be ours (RFC 8601 5) and forged warnings, and a first
	// line of white space that would continue the field we put above it.
	end := message.HeaderEnd(in.Message)
	header := msgauth.RemoveAuthResults(in.Message[:end], c.Hostname)
	header = msgauth.TagMessage(header, v)
	msg := make([]byte, 0, len(res.AuthResults)+len(header)+len(in.Message)-end)
	msg = append(append(append(msg, res.AuthResults...), header...), in.Message[end:]...)
	return InboundVerdict{Message: msg, Junk: res.DMARC == "fail" && res.DMARCPolicy == "quarantine"}, nil
}

// blocked returns the refusal for mail from a blocked sender: the
// envelope sender or any From address of the header.
func (c Checks) blocked(ctx context.Context, mailFrom string, h *message.Header) (string, error) {
	if c.Blocked == nil {
		return "", nil
	}
	addrs := []string{strings.Trim(mailFrom, "<>")}
	if h != nil {
		for _, f := range h.Get("From") {
			list, _ := message.ParseAddressList(f.Value()) // a bad one is the checks' to refuse
			for _, a := range list {
				// Most mail's From is its envelope sender: ask the
				// block list (a query each) once per address.
				if !slices.ContainsFunc(addrs, func(x string) bool { return strings.EqualFold(x, a.Addr()) }) {
					addrs = append(addrs, a.Addr())
				}
			}
		}
	}
	_, blocked, err := c.Blocked.Blocked(ctx, addrs...)
	if err != nil {
		return "", fmt.Errorf("smtp: block list: %w", err)
	}
	if blocked {
		return "Message refused: the party has blocked mail from this sender", nil
	}
	return "", nil
}
