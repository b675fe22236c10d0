package mailimport

import (
	"mime"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// Gmail: labels instead of folders (https://developers.google.com/gmail/imap/imap-extensions).
// A message is in All Mail once and carries its labels (X-GM-LABELS,
// or the X-Gmail-Labels header of a Takeout mbox); caucus stores it
// once and puts it in one folder per label. Messages in Spam and Trash
// are not in All Mail and are copied from those folders.

// Destination names of Gmail's system labels, and the flags that the
// other system labels become.
const (
	importantKeyword = "$Important" // RFC 8457 uses \Important for mailboxes; a message flag is a keyword
	archiveFolder    = "Archive"    // for a message with no label but All Mail
)

// maxLabels bounds the labels taken from one message.
const maxLabels = 100

// gmailFolders keeps, of a Gmail LIST, All Mail (whose messages carry
// their labels) and Spam and Trash; every other folder is a label, and
// copying it too would copy its messages twice. A server without an
// \All folder keeps its folders.
func gmailFolders(all []Folder) []Folder {
	var out []Folder
	hasAll := false
	for _, f := range all {
		switch f.Attr {
		case AttrAll:
			f.Labels = true
			hasAll = true
			out = append(out, f)
		case AttrJunk, AttrTrash:
			out = append(out, f)
		}
	}
	if !hasAll {
		return all
	}
	return out
}

// gmailLabels returns the labels of an X-GM-LABELS list: astrings,
// system labels as atoms starting with a backslash.
func gmailLabels(v value) []string {
	var out []string
	for _, l := range v.list {
		if t := l.text(); t != "" && len(out) < maxLabels {
			out = append(out, t)
		}
	}
	return out
}

// parseLabelHeader parses Takeout's X-Gmail-Labels header: labels
// separated by commas, a label with a comma in double quotes, encoded
// words (RFC 2047) decoded.
func parseLabelHeader(h string) []string {
	if dec, err := new(mime.WordDecoder).DecodeHeader(h); err == nil {
		h = dec
	}
	var out []string
	var cur strings.Builder
	quoted := false
	flush := func() {
		if l := strings.TrimSpace(cur.String()); l != "" && len(out) < maxLabels {
			out = append(out, l)
		}
		cur.Reset()
	}
	for _, r := range h {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ',' && !quoted:
			flush()
		case r == '\r' || r == '\n':
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return out
}

// labelPlan returns where a message with Gmail labels goes (destination
// folder names, before cleaning) and the flags its labels stand for.
// System labels come from X-GM-LABELS as \Inbox, \Sent …, and from
// Takeout as Inbox, Sent …; takeout also says Unread (else the message
// was read) and Opened.
func labelPlan(labels []string, takeout bool) (dests []string, add, remove []imap.Flag) {
	if takeout {
		add = append(add, imap.FlagSeen)
	}
	for _, l := range labels {
		key := strings.ToLower(strings.TrimPrefix(l, `\`))
		system := strings.HasPrefix(l, `\`) || takeout
		switch {
		case system && key == "inbox":
			dests = append(dests, "INBOX")
		case system && key == "sent":
			dests = append(dests, "Sent")
		case system && (key == "draft" || key == "drafts"):
			dests = append(dests, "Drafts")
			add = append(add, imap.FlagDraft)
		case system && key == "spam":
			dests = append(dests, "Junk")
		case system && key == "trash":
			dests = append(dests, "Trash")
		case system && key == "starred":
			add = append(add, imap.FlagFlagged)
		case system && key == "important":
			add = append(add, importantKeyword)
		case takeout && key == "unread":
			remove = append(remove, imap.FlagSeen)
		case takeout && (key == "opened" || key == "archived" || strings.HasPrefix(key, "category ")):
		case strings.HasPrefix(l, `\`):
			// Other system labels (\Muted, \Chats …) carry nothing to keep.
		default:
			dests = append(dests, l)
		}
	}
	if len(dests) == 0 {
		dests = append(dests, archiveFolder)
	}
	return dests, add, remove
}
