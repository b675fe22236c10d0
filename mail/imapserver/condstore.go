package imapserver

import (
	"math"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/caucus-org/caucus/mail/store"
)

// CONDSTORE and QRESYNC (RFC 7162). The store gives every message the
// mailbox's mod-sequence of its last flag change and keeps expunged UIDs
// with the mod-sequence of their expunge (store.Vanished, with its
// retention rule); go-imap's patched server parses the commands and
// writes HIGHESTMODSEQ, VANISHED and MODSEQ; this file answers them.

var _ imapserver.SessionQResync = (*session)(nil)

// condStore reports whether the client issued a CONDSTORE enabling command
// (RFC 7162 3.1): then every untagged FETCH that carries flags carries
// MODSEQ too.
func (ss *session) condStore() bool {
	return ss.conn.EnabledCaps().Has(imap.CapCondStore)
}

// wantModSeq reports whether FETCH responses carry MODSEQ.
func (ss *session) wantModSeq(options *imap.FetchOptions, markSeen bool) bool {
	return options.ModSeq || ((options.Flags || markSeen) && ss.condStore())
}

// fetchCondStore applies FETCH's CHANGEDSINCE modifier to refs (RFC 7162
// 3.1.4.1) and, for UID FETCH with VANISHED (3.2.6), first writes the UIDs
// of numSet expunged since.
func (ss *session) fetchCondStore(w *imapserver.FetchWriter, sel *selection, numSet imap.NumSet, refs []msgRef, options *imap.FetchOptions) ([]msgRef, error) {
	if options.ChangedSince == 0 {
		return refs, nil
	}
	if options.Vanished {
		uids, _ := numSet.(imap.UIDSet)
		gone, err := ss.vanishedSince(sel, options.ChangedSince, uids)
		if err != nil {
			return nil, err
		}
		if err := w.WriteVanished(gone); err != nil {
			return nil, err
		}
	}
	changed, err := ss.srv.store.ChangedSince(ss.ctx, sel.mb.ID, options.ChangedSince)
	if err != nil {
		return nil, storeErr(err)
	}
	return slices.DeleteFunc(refs, func(r msgRef) bool {
		_, ok := slices.BinarySearchFunc(changed, r.uid, func(m store.MessageState, u imap.UID) int { return int(m.UID) - int(u) })
		return !ok
	}), nil
}

// fetchStates answers a FETCH of UIDs, flags and MODSEQ only (what phones
// poll with under CONDSTORE) from the message rows alone.
func (ss *session) fetchStates(w *imapserver.FetchWriter, batch []msgRef, options *imap.FetchOptions) error {
	states, err := ss.srv.store.States(ss.ctx, ss.sel.mb.ID, uidsOf(batch))
	if err != nil {
		return storeErr(err)
	}
	for _, ref := range batch {
		i, ok := slices.BinarySearchFunc(states, ref.uid, func(m store.MessageState, u imap.UID) int { return int(m.UID) - int(u) })
		if !ok {
			continue // expunged meanwhile
		}
		rw := w.CreateMessage(ref.seq)
		rw.WriteUID(ref.uid)
		if options.Flags {
			rw.WriteFlags(states[i].Flags)
		}
		rw.WriteModSeq(states[i].ModSeq)
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// storeCondStore writes STORE's FETCH responses with MODSEQ and completes
// a STORE with UNCHANGEDSINCE (RFC 7162 3.1.3): the messages that failed
// the test are listed in OK [MODIFIED]. With .SILENT only the new MODSEQ
// of the changed messages is sent (RFC 7162 3.1.3, example 10).
func (ss *session) storeCondStore(w *imapserver.FetchWriter, refs []msgRef, isUID, silent bool, changed []imap.UID, newFlags [][]imap.Flag, conditional bool) error {
	states, err := ss.srv.store.States(ss.ctx, ss.sel.mb.ID, changed)
	if err != nil {
		return storeErr(err)
	}
	seqOf := make(map[imap.UID]uint32, len(refs))
	for _, r := range refs {
		seqOf[r.uid] = r.seq
	}
	for i, uid := range changed {
		j, ok := slices.BinarySearchFunc(states, uid, func(m store.MessageState, u imap.UID) int { return int(m.UID) - int(u) })
		if !ok {
			continue
		}
		rw := w.CreateMessage(seqOf[uid])
		rw.WriteUID(uid) // UID in every FETCH once CONDSTORE is on (RFC 7162 3.1)
		if !silent {
			rw.WriteFlags(newFlags[i])
		}
		rw.WriteModSeq(states[j].ModSeq)
		if err := rw.Close(); err != nil {
			return err
		}
	}
	if !conditional {
		return nil
	}
	var failed []imap.UID
	for _, r := range refs {
		if _, ok := slices.BinarySearch(changed, r.uid); !ok { // changed is ascending
			failed = append(failed, r.uid)
		}
	}
	existing, err := ss.srv.store.States(ss.ctx, ss.sel.mb.ID, failed) // expunged meanwhile is no failure
	if err != nil || len(existing) == 0 {
		return storeErr(err)
	}
	var modified imap.NumSet
	if isUID {
		var set imap.UIDSet
		for _, m := range existing {
			set.AddNum(m.UID)
		}
		modified = set
	} else {
		var set imap.SeqSet
		for _, m := range existing {
			set.AddNum(seqOf[m.UID])
		}
		modified = set
	}
	return &imap.Error{Type: imap.StatusResponseTypeOK, Code: imap.ResponseCode("MODIFIED " + modified.String()), Text: "Conditional STORE failed for some messages"}
}

// searchModSeq is the highest mod-sequence of the messages found by a
// SEARCH with MODSEQ (RFC 7162 3.1.5), 0 if none or if the search has no
// MODSEQ key.
func (ss *session) searchModSeq(criteria *imap.SearchCriteria, uids []imap.UID) (uint64, error) {
	if len(uids) == 0 || !hasModSeq(criteria) {
		return 0, nil
	}
	states, err := ss.srv.store.States(ss.ctx, ss.sel.mb.ID, uids)
	if err != nil {
		return 0, storeErr(err)
	}
	var highest uint64
	for _, m := range states {
		highest = max(highest, m.ModSeq)
	}
	return highest, nil
}

func hasModSeq(c *imap.SearchCriteria) bool {
	if c.ModSeq != nil {
		return true
	}
	for i := range c.Not {
		if hasModSeq(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if hasModSeq(&c.Or[i][0]) || hasModSeq(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

// ResyncSelected answers SELECT or EXAMINE with QRESYNC (RFC 7162
// 3.2.5): if the client's UIDVALIDITY still holds, VANISHED (EARLIER) with
// the UIDs of its known set expunged since its mod-sequence, then a FETCH
// (UID FLAGS MODSEQ) for each message of that set changed since.
func (ss *session) ResyncSelected(w *imapserver.FetchWriter, q *imap.SelectQResync) error {
	sel := ss.sel
	if sel == nil || q.UIDValidity != sel.mb.UIDValidity {
		return nil
	}
	gone, err := ss.vanishedSince(sel, q.ModSeq, q.KnownUIDs)
	if err != nil {
		return err
	}
	if err := w.WriteVanished(gone); err != nil {
		return err
	}
	changed, err := ss.srv.store.ChangedSince(ss.ctx, sel.mb.ID, q.ModSeq)
	if err != nil {
		return storeErr(err)
	}
	for _, m := range changed {
		if len(q.KnownUIDs) > 0 && !inSet(q.KnownUIDs, m.UID) {
			continue
		}
		seq := sel.seqOfUID(m.UID)
		if seq == 0 {
			continue // not announced yet: the client learns of it as new
		}
		rw := w.CreateMessage(seq)
		rw.WriteUID(m.UID)
		rw.WriteFlags(m.Flags)
		rw.WriteModSeq(m.ModSeq)
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// seqOfUID is the session's sequence number of uid, 0 if it has none.
func (sel *selection) seqOfUID(uid imap.UID) uint32 {
	sel.ms.mu.Lock()
	m := sel.ms.seqOf(uid)
	sel.ms.mu.Unlock()
	if m == 0 {
		return 0
	}
	return sel.tracker.EncodeSeqNum(m)
}

// vanishedSince returns the UIDs of within (all if empty) expunged from
// the selected mailbox since modseq. When the store's record does not
// reach back that far (its retention rule), it is every UID of within
// below UIDNEXT that does not exist now, as RFC 7162 3.2.5.2 allows:
// clients ignore UIDs they never knew.
func (ss *session) vanishedSince(sel *selection, modseq uint64, within imap.UIDSet) (imap.UIDSet, error) {
	if len(within) == 0 {
		within = imap.UIDSet{{Start: 1, Stop: 0}}
	}
	recorded, complete, err := ss.srv.store.Vanished(ss.ctx, sel.mb.ID, modseq)
	if err != nil {
		return nil, storeErr(err)
	}
	var out imap.UIDSet
	if complete {
		for _, u := range recorded {
			if inSet(within, u) {
				out.AddNum(u)
			}
		}
		return out, nil
	}
	mb, err := ss.srv.store.MailboxByID(ss.ctx, sel.mb.ID)
	if err != nil {
		return nil, storeErr(err)
	}
	existing, err := ss.srv.store.UIDs(ss.ctx, sel.mb.ID)
	if err != nil {
		return nil, storeErr(err)
	}
	return missing(within, mb.UIDNext-1, existing), nil
}

// inSet reports whether set holds uid, reading "*" generously as the
// highest UID there can be (RFC 7162 3.2.6: a client asking for 1:* wants
// every expunged UID, also above the highest existing one).
func inSet(set imap.UIDSet, uid imap.UID) bool {
	for _, r := range set {
		start, stop := star(r.Start), star(r.Stop)
		if start > stop {
			start, stop = stop, start
		}
		if uid >= start && uid <= stop {
			return true
		}
	}
	return false
}

func star(u imap.UID) imap.UID {
	if u == 0 {
		return math.MaxUint32
	}
	return u
}

// missing returns the UIDs of set up to highest that are not in existing
// (ascending), as ranges.
func missing(set imap.UIDSet, highest imap.UID, existing []imap.UID) imap.UIDSet {
	var out imap.UIDSet
	for _, r := range set {
		start, stop := star(r.Start), star(r.Stop)
		if start > stop {
			start, stop = stop, start
		}
		stop = min(stop, highest)
		i, _ := slices.BinarySearch(existing, start)
		for u := start; u <= stop && u != 0; {
			if i < len(existing) && existing[i] == u {
				i++
				u++
				continue
			}
			end := stop
			if i < len(existing) && existing[i]-1 < end {
				end = existing[i] - 1
			}
			out.AddRange(u, end)
			if end == math.MaxUint32 {
				break
			}
			u = end + 1
		}
	}
	return out
}
