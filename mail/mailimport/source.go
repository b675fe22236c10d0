package mailimport

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Errors.
var (
	// ErrThrottled reports that the source refused to go on for now
	// (Gmail's OVERQUOTA, "Account exceeded command or bandwidth
	// limits"): the job waits and continues later.
	ErrThrottled = errors.New("mailimport: the source server limits its bandwidth; continuing later")
	// ErrNoJob reports an unknown job.
	ErrNoJob = errors.New("mailimport: no such job")
	// ErrBadSource reports an unusable source description.
	ErrBadSource = errors.New("mailimport: invalid source")
	// ErrFinished refuses to change a job that has ended.
	ErrFinished = errors.New("mailimport: job has ended")
	// ErrTLS refuses a source that cannot encrypt the connection.
	ErrTLS = errors.New("mailimport: the source server does not offer TLS")

	errBadName = errors.New("invalid name")
	// errFolderGone reports a folder the source listed but will not
	// open (deleted meanwhile, or not selectable): it is reported and
	// the job goes on.
	errFolderGone = errors.New("the source server would not open the folder")
)

// Special-use attributes of source folders (RFC 6154), as the importer
// maps them; Folder.Attr holds one of these or "".
const (
	AttrSent      = `\Sent`
	AttrDrafts    = `\Drafts`
	AttrJunk      = `\Junk`
	AttrTrash     = `\Trash`
	AttrArchive   = `\Archive`
	AttrAll       = `\All`
	AttrImportant = `\Important` // RFC 8457
	AttrFlagged   = `\Flagged`
)

// Folder is one folder of a source.
type Folder struct {
	// Name is the source's name, with "/" separating hierarchy levels
	// (the source converts its own delimiter; a "/" inside a level is
	// replaced, see [Namer]). UTF-8.
	Name string
	// Raw is the name as the source itself spells it (IMAP: as LIST
	// sent it; a file source: the path).
	Raw string
	// Attr is the folder's special use, one of the Attr constants, or "".
	Attr string
	// Messages is how many messages it has, -1 if unknown before listing.
	Messages int
	// Size is how many bytes, -1 if unknown (an mbox file's size is known).
	Size int64
	// Labels says that the folder's messages carry their own destination
	// folders (Gmail's All Mail with X-GM-LABELS, a Takeout mbox):
	// Item.Labels is used instead of Name.
	Labels bool
}

// Item is one message of a source folder, as listed.
type Item struct {
	// ID identifies the message in its folder for good: "UIDVALIDITY.UID"
	// on IMAP, "gm.X-GM-MSGID" on Gmail, the byte offset in an mbox, the
	// unique part of a Maildir file name.
	ID string
	// Flags are the message's IMAP flags and keywords as the source has
	// them (filtered by the importer).
	Flags []imap.Flag
	// Date is the internal date (IMAP INTERNALDATE, the mbox "From "
	// line, the Maildir file's modification time); zero if unknown.
	Date time.Time
	// Labels are the message's Gmail labels, raw, when Folder.Labels.
	Labels []string
	// Size is the size in bytes, -1 if unknown.
	Size int64
	// Err, if set, says why this message cannot be read (a corrupt
	// mbox entry): it is reported and skipped.
	Err error

	uid  uint32 // the IMAP UID
	off  int64  // the mbox offset of the "From " line
	end  int64  // the mbox offset after the message
	path string // the Maildir file, relative to the folder
}

// Body is a message's content as fetched. The receiver reads it, at its
// own pace, and closes it.
type Body interface {
	io.Reader
	io.Closer
}

// Source is where a job copies mail from: an IMAP server, an mbox file,
// a Maildir. Its methods are called by one goroutine at a time.
type Source interface {
	// Folders lists the folders to copy.
	Folders(ctx context.Context) ([]Folder, error)
	// List calls fn with the messages of f, in batches of at most a few
	// hundred, in the source's order. fn may call Fetch.
	List(ctx context.Context, f Folder, fn func([]Item) error) error
	// Fetch calls fn with the body of each of items (a subset of one
	// batch List gave), in order. fn owns the body. A message that has
	// vanished from the source is left out.
	Fetch(ctx context.Context, f Folder, items []Item, fn func(Item, Body) error) error
	// Close ends the session with the source.
	Close() error
}
