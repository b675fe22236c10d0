package imapserver

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/caucus-org/caucus/mail/store"
)

// msgRef is a message as this session sees it.
type msgRef struct {
	seq uint32 // the session's sequence number
	uid imap.UID
}

// fetchBatch bounds how many messages' metadata are read at once.
const fetchBatch = 256

func (ss *session) selected() (*selection, error) {
	if ss.sel == nil {
		return nil, errNo("", "No mailbox selected")
	}
	return ss.sel, nil
}

// resolve turns a sequence or UID set, as this session sees the mailbox,
// into messages in ascending order. Messages expunged in the mailbox but not
// yet reported to the session, and new ones not yet announced, are left out.
func (sel *selection) resolve(numSet imap.NumSet) []msgRef {
	if imap.IsSearchRes(numSet) {
		// "$": the result saved by the last SEARCH RETURN (SAVE) (RFC 5182).
		numSet = sel.searchRes
	}
	ms := sel.ms
	ms.mu.Lock()
	defer ms.mu.Unlock()
	n := uint32(len(ms.uids))
	var out []msgRef
	switch set := numSet.(type) {
	case imap.SeqSet:
		for _, r := range set {
			start, stop := r.Start, r.Stop
			if start == 0 {
				start = n
			}
			if stop == 0 {
				stop = n
			}
			if start > stop {
				start, stop = stop, start
			}
			stop = min(stop, n)
			for s := start; s >= 1 && s <= stop; s++ {
				m := sel.tracker.DecodeSeqNum(s)
				if m == 0 || m > n {
					continue
				}
				out = append(out, msgRef{seq: s, uid: ms.uids[m-1]})
			}
		}
	case imap.UIDSet:
		var last imap.UID
		if n > 0 {
			last = ms.uids[n-1]
		}
		for _, r := range set {
			start, stop := r.Start, r.Stop
			if start == 0 {
				start = last
			}
			if stop == 0 {
				stop = last
			}
			if start > stop {
				start, stop = stop, start
			}
			i, _ := slices.BinarySearch(ms.uids, start)
			for ; i < len(ms.uids) && ms.uids[i] <= stop; i++ {
				s := sel.tracker.EncodeSeqNum(uint32(i) + 1)
				if s == 0 {
					continue
				}
				out = append(out, msgRef{seq: s, uid: ms.uids[i]})
			}
		}
	}
	slices.SortFunc(out, func(a, b msgRef) int { return int(a.seq) - int(b.seq) })
	return slices.CompactFunc(out, func(a, b msgRef) bool { return a.seq == b.seq })
}

// withRecent adds \Recent to the flags of a recent message for an
// IMAP4rev1 session (RFC 3501 2.3.2; see recentTracker).
func (sel *selection) withRecent(uid imap.UID, flags []imap.Flag) []imap.Flag {
	if !sel.rev1 || uid < sel.recentFrom {
		return flags
	}
	return append(slices.Clone(flags), imap.Flag(`\Recent`))
}

func uidsOf(refs []msgRef) []imap.UID {
	out := make([]imap.UID, len(refs))
	for i, r := range refs {
		out[i] = r.uid
	}
	return out
}

func (ss *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	sel, err := ss.selected()
	if err != nil {
		return err
	}
	refs, err := ss.fetchCondStore(w, sel, numSet, sel.resolve(numSet), options)
	if err != nil {
		return err
	}
	ss.auditFetch(sel, refs, options)
	markSeen := false
	if !sel.readOnly {
		for _, bs := range options.BodySection {
			markSeen = markSeen || !bs.Peek
		}
		for _, bs := range options.BinarySection {
			markSeen = markSeen || !bs.Peek
		}
	}
	withModSeq := ss.wantModSeq(options, markSeen)
	for len(refs) > 0 {
		batch := refs[:min(fetchBatch, len(refs))]
		refs = refs[len(batch):]
		if err := ss.ctx.Err(); err != nil {
			return storeErr(err)
		}
		uids := uidsOf(batch)
		if markSeen {
			// Reading a body sets \Seen (RFC 9051 6.4.5); other sessions
			// learn it through the tracker, this one through the FETCH below.
			if _, _, err := ss.srv.store.StoreFlags(store.WithOrigin(ss.ctx, sel.tracker), sel.mb.ID, uids, imap.StoreFlagsAdd, []imap.Flag{imap.FlagSeen}, 0); err != nil {
				return storeErr(err)
			}
		}
		if !needsMessage(options) && !markSeen && withModSeq {
			if err := ss.fetchStates(w, batch, options); err != nil {
				return err
			}
			continue
		}
		if !needsMessage(options) && !markSeen {
			// FETCH (UID FLAGS), what phones poll with: flags only, no
			// envelope or structure to decode.
			flags, err := ss.srv.store.Flags(ss.ctx, sel.mb.ID, uids)
			if err != nil {
				return storeErr(err)
			}
			for i, ref := range batch {
				if flags[i] == nil {
					continue // expunged meanwhile
				}
				w := w.CreateMessage(ref.seq)
				w.WriteUID(ref.uid)
				if options.Flags {
					w.WriteFlags(sel.withRecent(ref.uid, flags[i]))
				}
				if err := w.Close(); err != nil {
					return err
				}
			}
			continue
		}
		msgs, err := ss.srv.store.Messages(ss.ctx, sel.mb.ID, uids)
		if err != nil {
			return storeErr(err)
		}
		byUID := make(map[imap.UID]*store.Message, len(msgs))
		for i := range msgs {
			byUID[msgs[i].UID] = &msgs[i]
		}
		for _, ref := range batch {
			m := byUID[ref.uid]
			if m == nil {
				continue // expunged meanwhile
			}
			m.Flags = sel.withRecent(m.UID, m.Flags)
			if err := ss.fetchOne(w, ref.seq, m, options, markSeen, withModSeq); err != nil {
				return err
			}
		}
	}
	return nil
}

// needsMessage reports whether a FETCH asks for more than UIDs and flags.
func needsMessage(o *imap.FetchOptions) bool {
	return o.Envelope || o.BodyStructure != nil || o.InternalDate || o.RFC822Size ||
		len(o.BodySection) > 0 || len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0
}

// fetchOne writes one message's FETCH response. Bodies are read from the
// blob; the whole message is streamed, never held in memory.
//
// The body is opened before the response is begun (CreateMessage holds
// the connection's writer until the response is closed): a body that
// cannot be opened is answered with a clean NO; it left the writer held
// and the command, the connection and its client waiting for ever. A
// failure once the response is begun ends the connection.
func (ss *session) fetchOne(fw *imapserver.FetchWriter, seq uint32, m *store.Message, options *imap.FetchOptions, markedSeen, withModSeq bool) (err error) {
	var body io.ReadSeekCloser
	if len(options.BodySection) > 0 || len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0 {
		if body, err = ss.srv.store.OpenBody(m.Blob); err != nil {
			return fmt.Errorf("imap: open message %d: %w", m.UID, err)
		}
		defer body.Close()
	}
	w := fw.CreateMessage(seq)
	defer func() {
		if err != nil {
			// The response is begun and cannot be finished (a body
			// shorter than its size, a failed write): nothing more can
			// be said on this connection, so it ends, and the client
			// reconnects.
			ss.conn.NetConn().Close()
		}
	}()
	w.WriteUID(m.UID)
	if options.Flags || markedSeen { // a \Seen set by this FETCH is reported in it
		w.WriteFlags(m.Flags)
	}
	if withModSeq {
		w.WriteModSeq(m.ModSeq)
	}
	if options.InternalDate {
		w.WriteInternalDate(m.InternalDate)
	}
	if options.RFC822Size {
		w.WriteRFC822Size(m.Size)
	}
	if options.Envelope {
		w.WriteEnvelope(m.Envelope)
	}
	if options.BodyStructure != nil {
		w.WriteBodyStructure(m.BodyStructure)
	}
	if body != nil {
		rewind := func() error {
			_, err := body.Seek(0, io.SeekStart)
			return err
		}
		for _, bs := range options.BodySection {
			if err := rewind(); err != nil {
				return err
			}
			if len(bs.Part) == 0 && bs.Specifier == imap.PartSpecifierNone && bs.Partial == nil {
				wc := w.WriteBodySection(bs, m.Size)
				_, err := io.CopyN(wc, body, m.Size)
				if cerr := wc.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return err
				}
				continue
			}
			buf := imapserver.ExtractBodySection(body, bs)
			if err := writeAll(w.WriteBodySection(bs, int64(len(buf))), buf); err != nil {
				return err
			}
		}
		for _, bs := range options.BinarySection {
			if err := rewind(); err != nil {
				return err
			}
			buf := imapserver.ExtractBinarySection(body, bs)
			if err := writeAll(w.WriteBinarySection(bs, int64(len(buf))), buf); err != nil {
				return err
			}
		}
		for _, bss := range options.BinarySectionSize {
			if err := rewind(); err != nil {
				return err
			}
			w.WriteBinarySectionSize(bss, imapserver.ExtractBinarySectionSize(body, bss))
		}
	}
	return w.Close()
}

func writeAll(wc io.WriteCloser, b []byte) error {
	_, err := wc.Write(b)
	if cerr := wc.Close(); err == nil {
		err = cerr
	}
	return err
}

func (ss *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	sel, err := ss.selected()
	if err != nil {
		return err
	}
	if sel.readOnly {
		return errReadOnly
	}
	fl := slices.DeleteFunc(slices.Clone(flags.Flags), func(f imap.Flag) bool { return f == "\\Recent" })
	if err := checkSharedStore(sel, fl, flags.Op); err != nil {
		return err
	}
	refs := sel.resolve(numSet)
	if len(refs) == 0 {
		return nil
	}
	_, isUID := numSet.(imap.UIDSet)
	if options.UnchangedSinceZero { // fails for every message (RFC 7162 3.1.3)
		return ss.storeCondStore(w, refs, isUID, flags.Silent, nil, nil, true)
	}
	changed, newFlags, err := ss.srv.store.StoreFlags(store.WithOrigin(ss.ctx, sel.tracker), sel.mb.ID, uidsOf(refs), flags.Op, fl, options.UnchangedSince)
	if err != nil {
		return storeErr(err)
	}
	if options.UnchangedSince != 0 || ss.condStore() {
		return ss.storeCondStore(w, refs, isUID, flags.Silent, changed, newFlags, options.UnchangedSince != 0)
	}
	if flags.Silent {
		return nil
	}
	seqOf := make(map[imap.UID]uint32, len(refs))
	for _, r := range refs {
		seqOf[r.uid] = r.seq
	}
	for i, uid := range changed {
		rw := w.CreateMessage(seqOf[uid])
		if isUID {
			rw.WriteUID(uid)
		}
		rw.WriteFlags(sel.withRecent(uid, newFlags[i]))
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// Expunge answers EXPUNGE and UID EXPUNGE, and the removal that CLOSE
// does. go-imap gives CLOSE a writer that writes nothing (CLOSE reports no
// EXPUNGE); CLOSE of a mailbox opened with EXAMINE removes nothing and is
// no error (RFC 9051 6.4.1), where EXPUNGE is refused.
func (ss *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	sel, err := ss.selected()
	if err != nil {
		return err
	}
	if sel.readOnly {
		if isClose(w) {
			return nil
		}
		return errReadOnly
	}
	if sel.grant != nil { // "e" is not granted (RFC 4314 section 4)
		if isClose(w) {
			return nil
		}
		return errNoPerm
	}
	var list []imap.UID
	if uids != nil {
		list = uidsOf(sel.resolve(*uids))
		if len(list) == 0 {
			return nil
		}
	}
	// The store announces the removal; every session viewing the mailbox,
	// this one too, reports it at its next poll (right after this command).
	_, err = ss.srv.store.Expunge(ss.ctx, sel.mb.ID, list)
	return storeErr(err)
}

// isClose reports whether w is the silent writer go-imap passes for CLOSE.
func isClose(w *imapserver.ExpungeWriter) bool {
	return w == nil || *w == (imapserver.ExpungeWriter{})
}

func (ss *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	sel, err := ss.selected()
	if err != nil {
		return nil, err
	}
	refs := sel.resolve(numSet)
	if len(refs) == 0 {
		return nil, errNo("", "No messages to copy")
	}
	owner, target, err := ss.copyTarget(dest)
	if err != nil {
		return nil, storeErr(err)
	}
	mb, src, dst, err := ss.srv.store.CopyFromAccount(ss.ctx, sel.mb.AccountID, sel.mb.ID, uidsOf(refs), owner, target)
	if err != nil {
		if errors.Is(err, store.ErrNoMailbox) {
			return nil, errNo(imap.ResponseCodeTryCreate, "No such mailbox")
		}
		return nil, storeErr(err)
	}
	return &imap.CopyData{UIDValidity: mb.UIDValidity, SourceUIDs: imap.UIDSetNum(src...), DestUIDs: imap.UIDSetNum(dst...)}, nil
}

func (ss *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	sel, err := ss.selected()
	if err != nil {
		return err
	}
	if sel.readOnly {
		return errReadOnly
	}
	if sel.grant != nil || isShared(dest) {
		// Out of a role's mailbox needs "t" and "e", which are not
		// granted; into one, COPY (RFC 4314 section 4).
		return errNoPerm
	}
	refs := sel.resolve(numSet)
	if len(refs) == 0 {
		return errNo("", "No messages to move")
	}
	mb, src, dst, err := ss.srv.store.Move(ss.ctx, sel.mb.ID, uidsOf(refs), ss.acct.ID, dest)
	if err != nil {
		if errors.Is(err, store.ErrNoMailbox) {
			return errNo(imap.ResponseCodeTryCreate, "No such mailbox")
		}
		return storeErr(err)
	}
	// COPYUID now; the EXPUNGEs follow from the tracker at the poll that
	// ends this command (RFC 6851 3.3 order).
	return w.WriteCopyData(&imap.CopyData{UIDValidity: mb.UIDValidity, SourceUIDs: imap.UIDSetNum(src...), DestUIDs: imap.UIDSetNum(dst...)})
}

func (ss *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	sel, err := ss.selected()
	if err != nil {
		return nil, err
	}
	crit := sel.staticCriteria(*criteria)
	uids, err := ss.srv.store.Search(ss.ctx, sel.mb.ID, &crit)
	if err != nil {
		return nil, storeErr(err)
	}
	data := &imap.SearchData{}
	var seqs imap.SeqSet
	var uidSet imap.UIDSet
	ms := sel.ms
	ms.mu.Lock()
	for _, uid := range uids {
		m := ms.seqOf(uid)
		if m == 0 {
			continue
		}
		s := sel.tracker.EncodeSeqNum(m)
		if s == 0 {
			continue
		}
		num := s
		if kind == imapserver.NumKindUID {
			num = uint32(uid)
			uidSet.AddNum(uid)
		} else {
			seqs.AddNum(s)
		}
		if data.Count == 0 || num < data.Min {
			data.Min = num
		}
		if num > data.Max {
			data.Max = num
		}
		data.Count++
	}
	ms.mu.Unlock()
	if kind == imapserver.NumKindUID {
		data.All = uidSet
	} else {
		data.All = seqs
	}
	if data.ModSeq, err = ss.searchModSeq(criteria, uids); err != nil {
		return nil, err
	}
	if options != nil && options.ReturnSave {
		saved := imap.UIDSet{}
		for _, uid := range uids {
			saved.AddNum(uid)
		}
		sel.searchRes = saved
	}
	return data, nil
}

// recentCriteria takes \Recent out of c's flag criteria (RECENT, NEW and
// OLD, RFC 3501 6.4.4), which the store does not know, and turns it into a
// UID range: the messages recent for this session. For an IMAP4rev2
// session no message is recent. It returns the remaining flag criteria.
func (sel *selection) recentCriteria(c *imap.SearchCriteria) (flags, notFlags []imap.Flag) {
	isRecent := func(f imap.Flag) bool { return strings.EqualFold(string(f), `\Recent`) }
	recent := imap.UIDSet{} // matches nothing
	if sel.rev1 {
		recent = imap.UIDSet{imap.UIDRange{Start: max(sel.recentFrom, 1), Stop: imap.UID(^uint32(0))}}
	}
	if slices.ContainsFunc(c.Flag, isRecent) {
		c.UID = append(c.UID, recent)
	}
	if slices.ContainsFunc(c.NotFlag, isRecent) {
		c.Not = append(c.Not, imap.SearchCriteria{UID: []imap.UIDSet{recent}})
	}
	return slices.DeleteFunc(slices.Clone(c.Flag), isRecent), slices.DeleteFunc(slices.Clone(c.NotFlag), isRecent)
}

// staticCriteria rewrites the sequence-number criteria as UID criteria (the
// store knows UIDs only), recursively.
func (sel *selection) staticCriteria(c imap.SearchCriteria) imap.SearchCriteria {
	uidSets := slices.Clone(c.UID)
	for _, seqSet := range c.SeqNum {
		var set imap.UIDSet
		for _, r := range sel.resolve(seqSet) {
			set.AddNum(r.uid)
		}
		if len(set) == 0 {
			set = imap.UIDSet{} // matches nothing
		}
		uidSets = append(uidSets, set)
	}
	for i, set := range uidSets {
		var static imap.UIDSet
		for _, r := range sel.resolve(set) {
			static.AddNum(r.uid)
		}
		uidSets[i] = static
	}
	c.SeqNum = nil
	c.UID = uidSets
	c.Flag, c.NotFlag = sel.recentCriteria(&c)
	nots := make([]imap.SearchCriteria, len(c.Not))
	for i := range c.Not {
		nots[i] = sel.staticCriteria(c.Not[i])
	}
	c.Not = nots
	ors := make([][2]imap.SearchCriteria, len(c.Or))
	for i := range c.Or {
		ors[i] = [2]imap.SearchCriteria{sel.staticCriteria(c.Or[i][0]), sel.staticCriteria(c.Or[i][1])}
	}
	c.Or = ors
	return c
}
