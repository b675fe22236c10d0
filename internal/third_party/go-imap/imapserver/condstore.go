package imapserver

import (
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/internal/imapwire"
)

// SessionQResync is a session that supports the QRESYNC parameter of
// SELECT and EXAMINE (RFC 7162 section 3.2.5).
//
// A session supporting CONDSTORE and QRESYNC (RFC 7162) also honours
// FetchOptions.ModSeq, ChangedSince and Vanished, StoreOptions.UnchangedSince
// (returning an *imap.Error of type OK with code "MODIFIED <set>" when some
// messages failed the test, section 3.1.3), SearchCriteria.ModSeq (setting
// SearchData.ModSeq) and StatusOptions.HighestModSeq; it reports its
// mailbox's SelectData.HighestModSeq (0 for NOMODSEQ), and queues expunges
// with MailboxTracker.QueueExpungeUID and flag changes with
// QueueMessageFlagsModSeq so that VANISHED and MODSEQ reach the clients
// that enabled them.
type SessionQResync interface {
	Session

	// ResyncSelected is called after a SELECT or EXAMINE with the QRESYNC
	// parameter has selected the mailbox, before the tagged OK. It writes
	// the VANISHED (EARLIER) response and the FETCH responses of the
	// messages changed since params.ModSeq, if params.UIDValidity is the
	// mailbox's.
	ResyncSelected(w *FetchWriter, params *imap.SelectQResync) error
}

// hasEnabled reports whether the client enabled the extension.
func (c *Conn) hasEnabled(cap imap.Cap) bool {
	c.mutex.Lock()
	defer c.mutex.Unlock()
	return c.enabled.Has(cap)
}

// enableCondStore records a CONDSTORE enabling command (RFC 7162 section
// 3.1): from now on untagged FETCH responses carry MODSEQ.
func (c *Conn) enableCondStore() {
	if !c.server.options.caps().Has(imap.CapCondStore) {
		return
	}
	c.mutex.Lock()
	c.enabled[imap.CapCondStore] = struct{}{}
	c.mutex.Unlock()
}

// readSelectParams reads the parameters of SELECT and EXAMINE after the
// mailbox name and its SP: "(" CONDSTORE / QRESYNC (...) ")" (RFC 7162
// sections 3.1.8 and 3.2.5).
func (c *Conn) readSelectParams(dec *imapwire.Decoder, options *imap.SelectOptions) error {
	return dec.ExpectList(func() error {
		var name string
		if !dec.ExpectAtom(&name) {
			return dec.Err()
		}
		switch strings.ToUpper(name) {
		case "CONDSTORE":
			options.CondStore = true
			c.enableCondStore()
			return nil
		case "QRESYNC":
			if !c.EnabledCaps().Has(imap.CapQResync) {
				return newClientBugError("QRESYNC must be enabled first")
			}
			if !dec.ExpectSP() {
				return dec.Err()
			}
			var q imap.SelectQResync
			if err := readQResyncParams(dec, &q); err != nil {
				return err
			}
			options.QResync = &q
			return nil
		}
		return newClientBugError("Unknown SELECT parameter")
	})
}

// readQResyncParams reads "(" uidvalidity SP mod-sequence-value [SP
// known-uids] [SP seq-match-data] ")".
func readQResyncParams(dec *imapwire.Decoder, q *imap.SelectQResync) error {
	if !dec.ExpectSpecial('(') || !dec.ExpectNumber(&q.UIDValidity) || !dec.ExpectSP() || !dec.ExpectModSeq(&q.ModSeq) {
		return dec.Err()
	}
	if q.UIDValidity == 0 || q.ModSeq == 0 {
		return newClientBugError("QRESYNC needs a non-zero UIDVALIDITY and mod-sequence")
	}
	if dec.SP() {
		if !dec.Special('(') {
			if !dec.ExpectUIDSet(&q.KnownUIDs) {
				return dec.Err()
			}
			if !dec.SP() {
				return expectSpecial(dec, ')')
			}
			if !dec.ExpectSpecial('(') {
				return dec.Err()
			}
		}
		var seqs imap.NumSet
		if !dec.ExpectNumSet(imapwire.NumKindSeq, &seqs) || !dec.ExpectSP() || !dec.ExpectUIDSet(&q.SeqMatchUIDs) || !dec.ExpectSpecial(')') {
			return dec.Err()
		}
		q.SeqMatchSeqNums = seqs.(imap.SeqSet)
	}
	return expectSpecial(dec, ')')
}

func expectSpecial(dec *imapwire.Decoder, b byte) error {
	if !dec.ExpectSpecial(b) {
		return dec.Err()
	}
	return nil
}

// readFetchModifiers reads "(" CHANGEDSINCE n [SP VANISHED] ")" after
// the FETCH items (RFC 7162 sections 3.1.4.1 and 3.2.6).
func (c *Conn) readFetchModifiers(dec *imapwire.Decoder, numKind NumKind, options *imap.FetchOptions) error {
	err := dec.ExpectList(func() error {
		var name string
		if !dec.ExpectAtom(&name) {
			return dec.Err()
		}
		switch strings.ToUpper(name) {
		case "CHANGEDSINCE":
			if !dec.ExpectSP() || !dec.ExpectModSeq(&options.ChangedSince) {
				return dec.Err()
			}
			options.ModSeq = true
			return nil
		case "VANISHED":
			options.Vanished = true
			return nil
		}
		return newClientBugError("Unknown FETCH modifier")
	})
	if err != nil {
		return err
	}
	if options.Vanished && (numKind != NumKindUID || options.ChangedSince == 0 || !c.EnabledCaps().Has(imap.CapQResync)) {
		return newClientBugError("VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC enabled")
	}
	return nil
}

// readStoreModifiers reads "(" UNCHANGEDSINCE n ")" SP after the message
// set of STORE (RFC 7162 section 3.1.3), if present.
func readStoreModifiers(dec *imapwire.Decoder, options *imap.StoreOptions) error {
	if !dec.Special('(') {
		return nil
	}
	var name string
	if !dec.ExpectAtom(&name) || !dec.Expect(strings.EqualFold(name, "UNCHANGEDSINCE"), "UNCHANGEDSINCE") ||
		!dec.ExpectSP() || !dec.ExpectModSeq(&options.UnchangedSince) || !dec.ExpectSpecial(')') || !dec.ExpectSP() {
		return dec.Err()
	}
	options.UnchangedSinceZero = options.UnchangedSince == 0
	return nil
}

// readSearchModSeq reads the arguments of the MODSEQ search key:
// [entry-name SP entry-type-req SP] mod-sequence-value (RFC 7162 section
// 3.1.5).
func readSearchModSeq(dec *imapwire.Decoder) (*imap.SearchCriteriaModSeq, error) {
	var ms imap.SearchCriteriaModSeq
	if !dec.ExpectSP() {
		return nil, dec.Err()
	}
	var name string
	if dec.Quoted(&name) {
		var typ string
		if !dec.ExpectSP() || !dec.ExpectAtom(&typ) || !dec.ExpectSP() {
			return nil, dec.Err()
		}
		switch t := imap.SearchCriteriaMetadataType(strings.ToLower(typ)); t {
		case imap.SearchCriteriaMetadataPrivate, imap.SearchCriteriaMetadataShared, imap.SearchCriteriaMetadataAll:
			ms.MetadataName, ms.MetadataType = name, t
		default:
			return nil, newClientBugError("Unknown MODSEQ entry type")
		}
	}
	if !dec.ExpectModSeq(&ms.ModSeq) {
		return nil, dec.Err()
	}
	return &ms, nil
}

// WriteModSeq writes the message's mod-sequence (RFC 7162 section 3.1.4).
func (w *FetchResponseWriter) WriteModSeq(modSeq uint64) {
	w.writeItemSep()
	w.enc.Atom("MODSEQ").SP().Special('(').ModSeq(modSeq).Special(')')
}

// WriteVanished writes a VANISHED (EARLIER) response listing UIDs expunged
// before this command (RFC 7162 section 3.2.10): for UID FETCH with the
// VANISHED modifier and for SELECT with QRESYNC. Nothing is written for an
// empty set.
func (cmd *FetchWriter) WriteVanished(uids imap.UIDSet) error {
	if len(uids) == 0 {
		return nil
	}
	enc := newResponseEncoder(cmd.conn)
	defer enc.end()
	enc.Atom("*").SP().Atom("VANISHED").SP().Special('(').Atom("EARLIER").Special(')').SP().NumSet(uids)
	return enc.CRLF()
}

// writeVanished writes a VANISHED response for one expunged message, in
// place of EXPUNGE once QRESYNC is enabled (RFC 7162 section 3.2.10).
func (c *Conn) writeVanished(uid imap.UID) error {
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("VANISHED").SP().UID(uid)
	return enc.CRLF()
}

// writeHighestModSeq writes HIGHESTMODSEQ, or NOMODSEQ for 0, at SELECT
// (RFC 7162 sections 3.1.2.1 and 3.1.2.2).
func (c *Conn) writeHighestModSeq(modSeq uint64) error {
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("OK").SP()
	if modSeq == 0 {
		enc.Special('[').Atom("NOMODSEQ").Special(']').SP().Text("No permanent mod-sequences")
	} else {
		enc.Special('[').Atom("HIGHESTMODSEQ").SP().ModSeq(modSeq).Special(']').SP().Text("Highest")
	}
	return enc.CRLF()
}
