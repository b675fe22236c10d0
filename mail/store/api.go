// Package store is caucus's message store: per-account mailboxes with
// UIDVALIDITY, UIDNEXT and modification sequences (RFC 9051, RFC 7162),
// messages whose bodies live once in the content-addressed blob store and
// whose metadata (flags, dates, size, envelope and body structure, parsed
// once at delivery) lives in SQLite, quotas, full-text search, and mbox
// export. Nothing is acknowledged before it is durable: Append and Deliver
// return only after the blob is fsynced and the metadata committed.
//
// The IMAP server (mail/imapserver), SMTP delivery (mail/smtpserver) and the admin
// console all use this API. Changes are published after commit on the
// change bus, [Changes] (Options.Changes, or [Store.Changes]), so that live
// IMAP sessions see deliveries and other sessions' changes.
//
// Bodies are never deleted by the call that removes their last message
// (EXPUNGE, MOVE, DELETE): [Store.CollectGarbage] deletes them later, so
// that a concurrent delivery of the same content cannot lose its body (see
// gc.go). Mailbox counters (messages, unseen, size) are kept in the mailbox
// row in the same transactions as the messages, so SELECT and STATUS read
// one row. Search (RFC 9051 6.4.4) runs in SQLite over an FTS5 trigram
// index of decoded header values and body text built at delivery, once
// per body.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/internal/blob"
)

// Errors.
var (
	ErrNoMailbox     = errors.New("store: no such mailbox")
	ErrMailboxExists = errors.New("store: mailbox already exists")
	ErrQuota         = errors.New("store: over quota") // wrap with the numbers: "store: over quota: 1.2 GB of 1 GB used"
	ErrTooLarge      = errors.New("store: message too large")
	ErrSpecialUse    = errors.New("store: special-use mailbox cannot be deleted or renamed") // INBOX etc.
	ErrBadName       = errors.New("store: invalid mailbox name")

	// ErrHasChildren refuses DELETE of a mailbox that has inferior
	// mailboxes (RFC 9051 6.3.4 allows this; IMAP answers NO [HASCHILDREN]).
	ErrHasChildren = errors.New("store: mailbox has child mailboxes")
	// ErrBadFlag refuses a flag that is neither a known system flag nor a
	// valid keyword atom, or more keywords on one message than allowed.
	ErrBadFlag = errors.New("store: invalid flag")
	// ErrBlobCollected reports that the body of a message being stored was
	// deleted by [Store.CollectGarbage] between storing it and committing
	// its metadata. This needs identical content to have been unreferenced
	// for the whole grace period and to arrive again at that very moment;
	// nothing was stored, and trying again (SMTP 4xx, IMAP NO) succeeds.
	ErrBlobCollected = errors.New("store: message body was collected concurrently; try again")
)

// Special-use mailboxes every account has (RFC 6154). INBOX has no attribute.
var SpecialUse = []struct {
	Name string
	Attr imap.MailboxAttr
}{
	{"INBOX", ""},
	{"Sent", imap.MailboxAttrSent},
	{"Drafts", imap.MailboxAttrDrafts},
	{"Trash", imap.MailboxAttrTrash},
	{"Junk", imap.MailboxAttrJunk},
	{"Archive", imap.MailboxAttrArchive},
}

// Mailbox is one mailbox's state.
type Mailbox struct {
	ID            int64
	AccountID     int64
	Name          string // full name, "/" as hierarchy delimiter, UTF-8 (not modified UTF-7)
	Attr          imap.MailboxAttr
	Subscribed    bool
	UIDValidity   uint32
	UIDNext       imap.UID
	HighestModSeq uint64
	Messages      uint32 // count
	Unseen        uint32 // without \Seen
	Size          int64  // sum of message sizes (STATUS=SIZE)
}

// Message is a message's metadata, everything FETCH needs but the body.
type Message struct {
	UID           imap.UID
	Flags         []imap.Flag // system flags and keywords, sorted
	InternalDate  time.Time
	Size          int64
	ModSeq        uint64
	Envelope      *imap.Envelope
	BodyStructure imap.BodyStructure // decoded from the form stored at delivery
	Blob          blob.Ref
}

// ChangeKind says what happened in a mailbox.
type ChangeKind int

// Change kinds.
const (
	ChangeAppend    ChangeKind = iota + 1 // UIDs appended (delivery, APPEND, COPY, MOVE destination)
	ChangeFlags                           // Flags[i] is the new full flag list of UIDs[i]
	ChangeExpunge                         // UIDs removed (EXPUNGE, MOVE source, DELETE of mailbox not included)
	ChangeMailboxes                       // mailboxes created, deleted or renamed in AccountID
)

// Change is published on the store's [Changes] bus after it committed.
type Change struct {
	Kind      ChangeKind
	AccountID int64
	MailboxID int64
	UIDs      []imap.UID    // ascending
	Flags     [][]imap.Flag // for ChangeFlags
	ModSeq    uint64        // for ChangeFlags: the messages' new mod-sequence
	Origin    any           // the value from WithOrigin on the ctx of the call that made the change, or nil
}

// originKey is the context key of WithOrigin.
type originKey struct{}

// WithOrigin marks changes made with ctx as coming from origin (e.g. an IMAP
// session), so that the announcer can tell its own changes apart.
func WithOrigin(ctx context.Context, origin any) context.Context {
	return context.WithValue(ctx, originKey{}, origin)
}

// Options configure a Store.
type Options struct {
	// Changes is the bus every committed change is published on, from
	// the goroutine that made the change; see [Changes] for what a
	// subscriber may do. Default: a new in-process [Bus].
	Changes        Changes
	MaxMessageSize int64            // default 64 MiB
	Now            func() time.Time // default time.Now

	// Hostname is the authserv-id of this host's MX (RFC 8601 section
	// 2.5): [Store.Append] and [Store.Import] remove the
	// Authentication-Results fields that claim it, and X-Caucus-Warning,
	// from the messages they are given (msgauth.RemoveOwnFindings),
	// which only the MX writes. Empty: only X-Caucus-Warning goes.
	Hostname string

	// IndexIdle is how long no delivery must come before
	// [Store.RunIndexer] indexes delivered bodies; default 2 s.
	IndexIdle time.Duration
	// IndexBacklog is how many delivered bodies may wait for the
	// full-text index; past it each group commit also indexes a batch.
	// Default 50,000. Searches index every waiting body first.
	IndexBacklog int

	// VanishedKeep is how many expunged UIDs each mailbox keeps for
	// QRESYNC; default [VanishedKeep].
	VanishedKeep int

	// HeaderCache bounds, in bytes, the cache of bodies' header fields
	// that header searches check (FROM, TO, CC, BCC, SUBJECT, HEADER);
	// default 16 MiB, negative: no cache.
	HeaderCache int64

	// TraceWrites, if set, is given the timing of each STORE, EXPUNGE
	// and APPEND write (see [WriteTrace]), from the writing goroutine:
	// for load tools (cmd/imapload) finding where slow commands wait.
	TraceWrites func(WriteTrace)
}
