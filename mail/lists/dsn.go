package lists

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strings"

	"github.com/caucus-org/caucus/mail/message"
)

// Limits of the notification parser.
const (
	maxDSN        = 1 << 20 // bytes of a notification read
	maxDSNParts   = 8       // MIME parts looked at
	maxDSNRcpts   = 50      // per-recipient blocks read
	maxDSNField   = 1000    // bytes kept of a field's value
	maxDSNHeaders = 100     // fields per block
)

// ErrNotDSN is a message that is no delivery status notification.
var ErrNotDSN = errors.New("lists: not a delivery status notification")

// DSNRecipient is one per-recipient block of a notification (RFC 3464
// section 2.3).
type DSNRecipient struct {
	FinalRecipient string // the address, the type ("rfc822;") removed
	Action         string // failed, delayed, delivered, relayed, expanded (lower case)
	Status         string // "5.1.1"
	Diagnostic     string // Diagnostic-Code, as given
}

// Permanent reports whether the block is a permanent failure: action
// failed with a status of class 5 (RFC 3463 section 3.1).
func (r DSNRecipient) Permanent() bool {
	return r.Action == "failed" && strings.HasPrefix(r.Status, "5.")
}

// ParseDSN reads a delivery status notification: a multipart/report
// (RFC 6522) whose message/delivery-status part (RFC 3464 section 2; or
// message/global-delivery-status, RFC 6533 section 6) holds a
// per-message block and per-recipient blocks. It reads at most maxDSN
// bytes, maxDSNParts parts and maxDSNRcpts recipients.
func ParseDSN(msg []byte) ([]DSNRecipient, error) {
	if len(msg) > maxDSN {
		msg = msg[:maxDSN]
	}
	h, err := message.Parse(msg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotDSN, err)
	}
	mt, params, err := mime.ParseMediaType(h.First("Content-Type"))
	if err != nil || mt != "multipart/report" || params["boundary"] == "" {
		return nil, ErrNotDSN
	}
	mr := multipart.NewReader(bytes.NewReader(msg[message.HeaderEnd(msg):]), params["boundary"])
	for range maxDSNParts {
		p, err := mr.NextRawPart()
		if err != nil {
			break
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if ct != "message/delivery-status" && ct != "message/global-delivery-status" {
			continue
		}
		return parseStatus(io.LimitReader(p, maxDSN))
	}
	return nil, ErrNotDSN
}

// parseStatus reads the blocks of a delivery-status part: the first is
// per message, each following one per recipient (RFC 3464 section 2.1).
func parseStatus(r io.Reader) ([]DSNRecipient, error) {
	tp := textproto.NewReader(bufio.NewReaderSize(r, 4096))
	if _, err := readBlock(tp); err != nil {
		return nil, fmt.Errorf("%w: per-message fields: %w", ErrNotDSN, err)
	}
	var out []DSNRecipient
	for len(out) < maxDSNRcpts {
		blk, err := readBlock(tp)
		if len(blk) > 0 {
			out = append(out, recipientOf(blk))
		}
		if err != nil {
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no recipient fields", ErrNotDSN)
	}
	return out, nil
}

// readBlock reads fields up to an empty line; io.EOF after the last.
func readBlock(tp *textproto.Reader) (map[string]string, error) {
	blk := map[string]string{}
	for len(blk) < maxDSNHeaders {
		line, err := tp.ReadContinuedLine()
		if err != nil {
			return blk, err
		}
		if line == "" {
			if len(blk) == 0 {
				continue // blank lines between blocks
			}
			return blk, nil
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		if len(value) > maxDSNField {
			value = value[:maxDSNField]
		}
		blk[strings.ToLower(strings.TrimSpace(name))] = value
	}
	return blk, io.EOF
}

// recipientOf reads a per-recipient block (RFC 3464 section 2.3).
func recipientOf(blk map[string]string) DSNRecipient {
	addr := blk["final-recipient"]
	if _, a, ok := strings.Cut(addr, ";"); ok {
		addr = a
	}
	status, _, _ := strings.Cut(strings.TrimSpace(blk["status"]), " ")
	return DSNRecipient{
		FinalRecipient: strings.ToLower(strings.TrimSpace(addr)),
		Action:         strings.ToLower(strings.TrimSpace(blk["action"])),
		Status:         status,
		Diagnostic:     strings.ToValidUTF8(blk["diagnostic-code"], ""),
	}
}
