package imapserver

import (
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/internal"
	"github.com/emersion/go-imap/v2/internal/imapwire"
)

// handleEnable handles ENABLE (RFC 9051 section 6.3.1, RFC 5161). It
// takes at least one capability name ("BAD - No arguments") and is valid
// in the authenticated state only, "before any mailbox is selected".
func (c *Conn) handleEnable(dec *imapwire.Decoder) error {
	var requested []imap.Cap
	if !dec.ExpectSP() {
		return dec.Err()
	}
	for {
		cap, err := internal.ExpectCap(dec)
		if err != nil {
			return err
		}
		requested = append(requested, cap)
		if !dec.SP() {
			break
		}
	}
	if !dec.ExpectCRLF() {
		return dec.Err()
	}

	if err := c.checkState(imap.ConnStateAuthenticated); err != nil {
		return err
	}
	if c.state == imap.ConnStateSelected {
		return newClientBugError("ENABLE is only valid before a mailbox is selected")
	}

	var enabled []imap.Cap
	for _, req := range requested {
		switch req {
		case imap.CapIMAP4rev2, imap.CapUTF8Accept:
			enabled = append(enabled, req)
		case imap.CapCondStore, imap.CapQResync: // RFC 7162 section 3.2.3
			if c.server.options.caps().Has(req) {
				enabled = append(enabled, req)
			}
		}
	}
	if slices.Contains(enabled, imap.CapQResync) {
		c.enableCondStore() // QRESYNC implies CONDSTORE
	}

	c.mutex.Lock()
	for _, e := range enabled {
		c.enabled[e] = struct{}{}
	}
	c.mutex.Unlock()

	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("ENABLED")
	for _, c := range enabled {
		enc.SP().Atom(string(c))
	}
	return enc.CRLF()
}
