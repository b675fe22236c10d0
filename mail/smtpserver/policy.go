package smtpserver

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/caucus-org/caucus/mail/message"
	"github.com/caucus-org/caucus/mail/msgauth"
)

// Checks is the MX's inbound policy, on mail/msgauth: SPF, DKIM and DMARC
// results go into an Authentication-Results header (RFC 8601); DMARC
// failures of a p=reject domain are refused and those of a p=quarantine
// domain filed as junk (RFC 7489 6.6); mail that
// impersonates a member or a party domain is tagged "[External]" with a
// warning header.
type Checks struct {
	Checker  *msgauth.Checker
	Dir      msgauth.Directory
	Hostname string // the authserv-id the Checker writes (our host name)
}

// Check implements Inbound.
func (c Checks) Check(ctx context.Context, in InboundMessage) (InboundVerdict, error) {
	h := in.Header
	if h == nil {
		h, _ = message.Parse(in.Message)
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
