package imapserver

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/internal/imapwire"
)

// ACLEntry is one identifier's rights on a mailbox (RFC 4314 section 3.6).
type ACLEntry struct {
	Identifier imap.RightsIdentifier
	Rights     imap.RightSet
}

// SessionACL is an IMAP session which supports the ACL extension (RFC
// 4314). Every method may answer with an *imap.Error, e.g. NO [NOPERM]
// when the user may not see or change the ACL (section 4).
type SessionACL interface {
	Session

	// Authenticated state
	SetACL(mailbox string, id imap.RightsIdentifier, mod imap.RightModification, rights imap.RightSet) error
	DeleteACL(mailbox string, id imap.RightsIdentifier) error
	GetACL(mailbox string) ([]ACLEntry, error)
	// ListRights returns the rights always granted to id on the mailbox,
	// and the groups of rights that may be granted to it (section 3.7).
	ListRights(mailbox string, id imap.RightsIdentifier) (required imap.RightSet, optional []imap.RightSet, err error)
	MyRights(mailbox string) (imap.RightSet, error)
}

// aclSession returns the session if it supports ACL, or the BAD answer of
// an unknown command.
func (c *Conn) aclSession() (SessionACL, error) {
	if s, ok := c.session.(SessionACL); ok && c.server.options.caps().Has(imap.CapACL) {
		return s, nil
	}
	return nil, &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Unknown command"}
}

// readRights reads rights (RFC 4314 section 3.1: an astring of lower-case
// letters and digits), with a leading "+" or "-" when mod is allowed.
func readRights(dec *imapwire.Decoder, allowMod bool) (imap.RightModification, imap.RightSet, error) {
	var s string
	if !dec.ExpectAString(&s) {
		return 0, nil, dec.Err()
	}
	mod := imap.RightModificationReplace
	if allowMod && len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		mod, s = imap.RightModification(s[0]), s[1:]
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			// An unrecognised right is BAD (section 3.1).
			return 0, nil, &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "Invalid rights"}
		}
	}
	return mod, imap.RightSet(s), nil
}

// handleSetACL answers SETACL mailbox identifier mod-rights (section 3.1).
func (c *Conn) handleSetACL(dec *imapwire.Decoder) error {
	var mailbox, id string
	if !dec.ExpectSP() || !dec.ExpectMailbox(&mailbox) || !dec.ExpectSP() || !dec.ExpectAString(&id) || !dec.ExpectSP() {
		return dec.Err()
	}
	mod, rights, err := readRights(dec, true)
	if err != nil {
		return err
	}
	if !dec.ExpectCRLF() {
		return dec.Err()
	}
	if err := c.checkState(imap.ConnStateAuthenticated); err != nil {
		return err
	}
	s, err := c.aclSession()
	if err != nil {
		return err
	}
	return s.SetACL(mailbox, imap.RightsIdentifier(id), mod, rights)
}

// handleDeleteACL answers DELETEACL mailbox identifier (section 3.2).
func (c *Conn) handleDeleteACL(dec *imapwire.Decoder) error {
	var mailbox, id string
	if !dec.ExpectSP() || !dec.ExpectMailbox(&mailbox) || !dec.ExpectSP() || !dec.ExpectAString(&id) || !dec.ExpectCRLF() {
		return dec.Err()
	}
	if err := c.checkState(imap.ConnStateAuthenticated); err != nil {
		return err
	}
	s, err := c.aclSession()
	if err != nil {
		return err
	}
	return s.DeleteACL(mailbox, imap.RightsIdentifier(id))
}

// handleGetACL answers GETACL mailbox with "* ACL mailbox (identifier
// rights)*" (sections 3.3 and 3.6).
func (c *Conn) handleGetACL(dec *imapwire.Decoder) error {
	var mailbox string
	if !dec.ExpectSP() || !dec.ExpectMailbox(&mailbox) || !dec.ExpectCRLF() {
		return dec.Err()
	}
	if err := c.checkState(imap.ConnStateAuthenticated); err != nil {
		return err
	}
	s, err := c.aclSession()
	if err != nil {
		return err
	}
	entries, err := s.GetACL(mailbox)
	if err != nil {
		return err
	}
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("ACL").SP().Mailbox(mailbox)
	for _, e := range entries {
		enc.SP().String(string(e.Identifier)).SP().String(string(e.Rights))
	}
	return enc.CRLF()
}

// handleListRights answers LISTRIGHTS mailbox identifier with "*
// LISTRIGHTS mailbox identifier required optional*" (sections 3.4 and
// 3.7).
func (c *Conn) handleListRights(dec *imapwire.Decoder) error {
	var mailbox, id string
	if !dec.ExpectSP() || !dec.ExpectMailbox(&mailbox) || !dec.ExpectSP() || !dec.ExpectAString(&id) || !dec.ExpectCRLF() {
		return dec.Err()
	}
	if err := c.checkState(imap.ConnStateAuthenticated); err != nil {
		return err
	}
	s, err := c.aclSession()
	if err != nil {
		return err
	}
	required, optional, err := s.ListRights(mailbox, imap.RightsIdentifier(id))
	if err != nil {
		return err
	}
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("LISTRIGHTS").SP().Mailbox(mailbox).SP().String(id).SP().String(string(required))
	for _, o := range optional {
		enc.SP().String(string(o))
	}
	return enc.CRLF()
}

// handleMyRights answers MYRIGHTS mailbox with "* MYRIGHTS mailbox
// rights" (sections 3.5 and 3.8).
func (c *Conn) handleMyRights(dec *imapwire.Decoder) error {
	var mailbox string
	if !dec.ExpectSP() || !dec.ExpectMailbox(&mailbox) || !dec.ExpectCRLF() {
		return dec.Err()
	}
	if err := c.checkState(imap.ConnStateAuthenticated); err != nil {
		return err
	}
	s, err := c.aclSession()
	if err != nil {
		return err
	}
	rights, err := s.MyRights(mailbox)
	if err != nil {
		return err
	}
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("MYRIGHTS").SP().Mailbox(mailbox).SP().String(string(rights))
	return enc.CRLF()
}
