package imapserver

import (
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/caucus-org/caucus/mail/store"
)

// listEntry is a name LIST or LSUB may report: a mailbox, a subscribed
// name without a mailbox, or a name with subscribed names below it.
type listEntry struct {
	name       string
	mb         *store.Mailbox // nil: no such mailbox
	subscribed bool
	subBelow   bool // a subscribed name lies below it
	children   bool // a mailbox lies below it
	noselect   bool // a level of the shared namespace above role mailboxes
}

// List answers LIST (RFC 9051 6.3.9, with LIST-EXTENDED, RFC 5258) and
// LSUB (RFC 3501 6.3.9) with RFC 9051 wildcards ("*" matches anything,
// "%" anything but the delimiter).
//
//   - LIST (SUBSCRIBED) lists subscribed names, also those whose mailbox
//     was deleted, as \NonExistent (DELETE does not unsubscribe, RFC 9051
//     6.3.4); with RECURSIVEMATCH, a name with subscribed names below it
//     gets CHILDINFO ("SUBSCRIBED"), and is listed even unsubscribed when
//     such a name below it does not match the pattern (RFC 5258 3.5, 4).
//   - LSUB lists subscribed names, and, flagged \Noselect, a name whose
//     subscribed children the pattern's "%" hides (RFC 3501 6.3.9).
func (ss *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if len(patterns) == 1 && patterns[0] == "" {
		// The hierarchy delimiter and root (RFC 9051 6.3.9).
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: '/', Mailbox: ""})
	}
	entries, err := ss.listEntries()
	if err != nil {
		return storeErr(err)
	}
	match := func(name string) bool {
		return slices.ContainsFunc(patterns, func(p string) bool { return p != "" && matchList(name, ref+p) })
	}
	lsub := w.LSUB()
	for i := range entries {
		e := &entries[i]
		if !match(e.name) {
			continue
		}
		data := listData(e, options, lsub, func() bool { return hiddenSubscribed(e.name, entries, match) })
		if data == nil {
			continue
		}
		if options.ReturnStatus != nil && e.mb != nil {
			if data.Status, err = ss.statusData(*e.mb, options.ReturnStatus); err != nil {
				return storeErr(err)
			}
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}

// listEntries returns every name LIST might report, INBOX first, then
// sorted by name.
func (ss *session) listEntries() ([]listEntry, error) {
	mbs, err := ss.srv.store.Mailboxes(ss.ctx, ss.acct.ID)
	if err != nil {
		return nil, err
	}
	orphans, err := ss.srv.store.OrphanSubscriptions(ss.ctx, ss.acct.ID)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]*listEntry, len(mbs)+len(orphans))
	var names []string
	get := func(name string) *listEntry {
		e := byName[name]
		if e == nil {
			e = &listEntry{name: name}
			byName[name] = e
			names = append(names, name)
		}
		return e
	}
	for i := range mbs {
		e := get(mbs[i].Name)
		e.mb, e.subscribed = &mbs[i], mbs[i].Subscribed
	}
	for _, name := range orphans {
		get(name).subscribed = true
	}
	if err := ss.sharedEntries(get); err != nil {
		return nil, err
	}
	for _, name := range slices.Clone(names) {
		e := byName[name]
		for _, p := range parentNames(name) {
			pe := get(p)
			pe.subBelow = pe.subBelow || e.subscribed
			pe.children = pe.children || e.mb != nil
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == "INBOX":
			return -1
		case b == "INBOX":
			return 1
		}
		return strings.Compare(a, b)
	})
	out := make([]listEntry, len(names))
	for i, n := range names {
		out[i] = *byName[n]
	}
	return out, nil
}

// parentNames returns the names above name, outermost first.
func parentNames(name string) []string {
	var out []string
	for i := range len(name) {
		if name[i] == store.Delimiter {
			out = append(out, name[:i])
		}
	}
	return out
}

// hiddenSubscribed reports whether a subscribed name below name does not
// match the patterns.
func hiddenSubscribed(name string, entries []listEntry, match func(string) bool) bool {
	prefix := name + string(store.Delimiter)
	return slices.ContainsFunc(entries, func(e listEntry) bool {
		return e.subscribed && strings.HasPrefix(e.name, prefix) && !match(e.name)
	})
}

// listData returns the LIST or LSUB response for e, or nil if e is not
// to be listed. hidden reports whether a subscribed name below e does not
// match the pattern.
func listData(e *listEntry, o *imap.ListOptions, lsub bool, hidden func() bool) *imap.ListData {
	data := &imap.ListData{Delim: store.Delimiter, Mailbox: e.name}
	if e.noselect && !lsub {
		// "Shared" and "Shared/press@…" (RFC 9051 6.3.9: a level of
		// hierarchy that is no mailbox is \Noselect).
		if o.SelectSubscribed || o.SelectSpecialUse {
			return nil
		}
		data.Attrs = []imap.MailboxAttr{imap.MailboxAttrNoSelect, imap.MailboxAttrHasChildren}
		return data
	}
	switch {
	case lsub:
		if !e.subscribed && !(e.subBelow && hidden()) {
			return nil
		}
		if e.mb == nil || !e.subscribed {
			data.Attrs = append(data.Attrs, imap.MailboxAttrNoSelect)
		}
		return data
	case o.SelectSubscribed:
		below := o.SelectRecursiveMatch && e.subBelow
		if !e.subscribed && !(below && hidden()) {
			return nil
		}
		if below {
			data.ChildInfo = &imap.ListDataChildInfo{Subscribed: true}
		}
	case e.mb == nil:
		return nil
	}
	if e.mb == nil {
		data.Attrs = append(data.Attrs, imap.MailboxAttrNonExistent)
	} else {
		if o.SelectSpecialUse && e.mb.Attr == "" {
			return nil
		}
		if e.mb.Attr != "" {
			data.Attrs = append(data.Attrs, e.mb.Attr)
		}
		if e.children {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
		} else {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
		}
	}
	if e.subscribed && (o.ReturnSubscribed || o.SelectSubscribed) {
		data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
	}
	return data
}

// matchList reports whether name matches an IMAP LIST pattern (RFC 9051
// 6.3.9): "*" matches any text, "%" any text without the hierarchy
// delimiter. INBOX matches case-insensitively. It takes time proportional
// to len(name) × len(pattern), whatever the wildcards.
func matchList(name, pattern string) bool {
	if strings.EqualFold(name, "INBOX") && strings.EqualFold(pattern, "INBOX") {
		return true
	}
	// ok[i] reports whether name[i:] matches what is left of the pattern,
	// computed from the pattern's end.
	ok := make([]bool, len(name)+1)
	next := make([]bool, len(name)+1)
	ok[len(name)] = true
	for j := len(pattern) - 1; j >= 0; j-- {
		c := pattern[j]
		switch c {
		case '*', '%':
			// name[i:] matches if the rest matches at some k >= i, with
			// no delimiter in name[i:k] for "%".
			next[len(name)] = ok[len(name)]
			for i := len(name) - 1; i >= 0; i-- {
				next[i] = ok[i] || (next[i+1] && (c == '*' || name[i] != store.Delimiter))
			}
		default:
			next[len(name)] = false
			for i := len(name) - 1; i >= 0; i-- {
				next[i] = name[i] == c && ok[i+1]
			}
		}
		ok, next = next, ok
	}
	return ok[0]
}
