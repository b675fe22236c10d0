package queue

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime/quotedprintable"
	"strings"
	"time"
)

// notification is a delivery status notification (RFC 3464): a
// multipart/report (RFC 6522) of report-type delivery-status with a part
// for people, a message/delivery-status part for programs, and the
// original message's header as text/rfc822-headers. With an address that
// is not ASCII, the machine-readable parts take the types of RFC 6533
// (message/global-delivery-status, message/global-headers).
type notification struct {
	action     string // "failed" or "delayed" (RFC 3464 section 2.3.3)
	hostname   string // the Reporting-MTA
	postmaster string // From
	to         string // the original sender
	arrival    time.Time
	date       time.Time
	retryUntil time.Time // for "delayed": Will-Retry-Until (RFC 3464 section 2.3.9)
	rcpts      []string
	outcomes   []outcome
	headers    []byte // the original header section, CRLF line ends
}

// validStatus reports whether s is an enhanced status code of class 4 or
// 5 (RFC 3463 section 2): class "." subject "." detail, each of 1 to 3
// digits.
func validStatus(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || (parts[0] != "4" && parts[0] != "5") {
		return false
	}
	for _, p := range parts[1:] {
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// bytes renders the notification as a message.
func (n *notification) bytes() []byte {
	utf8 := !isASCII(n.to)
	for _, r := range n.rcpts {
		utf8 = utf8 || !isASCII(r)
	}
	boundary := "=_caucus_" + randomHex(12)
	var b bytes.Buffer
	h := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteString("\r\n")
	}

	subject := "Undelivered Mail Returned to Sender"
	if n.action == "delayed" {
		subject = "Delayed Mail (still being retried)"
	}
	h("From: Mail Delivery System <%s>", n.postmaster)
	h("To: <%s>", n.to)
	h("Subject: %s", subject)
	h("Date: %s", n.date.Format(time.RFC1123Z))
	h("Message-ID: <%s@%s>", randomHex(16), n.hostname)
	h("Auto-Submitted: auto-replied") // RFC 3834 section 5
	h("MIME-Version: 1.0")
	h("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"", boundary)
	h("")
	h("This is a delivery status notification in MIME format (RFC 3464).")
	h("")

	// The part for people.
	h("--%s", boundary)
	h("Content-Type: text/plain; charset=utf-8")
	h("Content-Transfer-Encoding: quoted-printable")
	h("Content-Description: Notification")
	h("")
	qp := quotedprintable.NewWriter(&b)
	var text strings.Builder
	fmt.Fprintf(&text, "This is the mail system at %s.\r\n\r\n", n.hostname)
	if n.action == "delayed" {
		fmt.Fprintf(&text, "Your message has not been delivered yet to the recipients below. The\r\n"+
			"mail system will keep trying until %s and will tell you\r\n"+
			"if it gives up. You do not need to send the message again.\r\n\r\n",
			n.retryUntil.UTC().Format(time.RFC1123))
	} else {
		text.WriteString("Your message could not be delivered to the recipients below; the\r\n" +
			"reasons are given. The header of your message is attached.\r\n\r\n")
	}
	for i, r := range n.rcpts {
		o := n.outcomes[i]
		if o.smtp {
			fmt.Fprintf(&text, "<%s>: %s said: %s\r\n", r, o.remote, o.diag)
		} else if o.remote != "" {
			fmt.Fprintf(&text, "<%s>: %s: %s\r\n", r, o.remote, o.diag)
		} else {
			fmt.Fprintf(&text, "<%s>: %s\r\n", r, o.diag)
		}
	}
	qp.Write([]byte(text.String()))
	qp.Close()
	h("")

	// The part for programs (RFC 3464 section 2.1 to 2.3).
	h("--%s", boundary)
	addrType := "rfc822"
	if utf8 {
		h("Content-Type: message/global-delivery-status")
		addrType = "utf-8"
	} else {
		h("Content-Type: message/delivery-status")
	}
	h("Content-Description: Delivery report")
	h("")
	h("Reporting-MTA: dns; %s", n.hostname)
	h("Arrival-Date: %s", n.arrival.Format(time.RFC1123Z))
	for i, r := range n.rcpts {
		o := n.outcomes[i]
		status := o.status
		if !validStatus(status) {
			status = "5.0.0"
			if n.action == "delayed" {
				status = "4.0.0"
			}
		}
		h("")
		h("Final-Recipient: %s; %s", addrType, r)
		h("Action: %s", n.action)
		h("Status: %s", status)
		if o.remote != "" {
			h("Remote-MTA: dns; %s", hostOf(o.remote))
		}
		if o.smtp {
			h("Diagnostic-Code: smtp; %s", o.diag)
		} else {
			h("Diagnostic-Code: X-caucus; %s", o.diag)
		}
		h("Last-Attempt-Date: %s", n.date.Format(time.RFC1123Z))
		if n.action == "delayed" {
			h("Will-Retry-Until: %s", n.retryUntil.Format(time.RFC1123Z))
		}
	}
	h("")

	// The original header (RFC 6522 section 4; RFC 3464 section 2: the
	// whole message or its header, and the header is enough to tell which
	// message it was).
	h("--%s", boundary)
	if utf8 || !isASCII(string(n.headers)) {
		h("Content-Type: message/global-headers")
	} else {
		h("Content-Type: text/rfc822-headers")
	}
	h("Content-Description: Undelivered message header")
	h("")
	b.Write(n.headers)
	h("")
	h("--%s--", boundary)
	return b.Bytes()
}

// hostOf strips the "[address]" that outcomes append to host names.
func hostOf(remote string) string {
	if i := strings.IndexByte(remote, '['); i > 0 {
		return remote[:i]
	}
	return remote
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
