// Package files is caucus's file store: every account's private home, every
// group's shared folder, sharing with members and groups, public links
// (download links and upload-only "file drop" links), versions, trash and
// quotas. The web pages (files/fileweb) and WebDAV (files/dav) are views of it.
//
// Metadata lives in SQLite (internal/db); file contents live in their own
// content-addressed blob directory (internal/blob), never the mail one. An
// upload streams into the blob store (temporary file, fsync, rename) and only
// then is its version committed, so a file appears only when it is complete
// and durable, and an interrupted upload leaves nothing visible. Contents
// of at most [DefaultInlineBytes] (Options.InlineBytes) are the exception:
// they are kept in the database, written in the transaction that commits
// their version, so that concurrent small uploads share one flush (the
// group commit's) instead of three each. Both are named by their SHA-256,
// and a content goes when its last version does.
//
// # What an account sees
//
// Every call takes the viewer (an [Actor]) and checks access itself. A viewer
// sees one tree, the same on the web and over WebDAV:
//
//	/Home/…                  the viewer's private home
//	/Groups/<group>/…        the shared folder of each group the viewer is in
//	/Shared/<owner>/<name>/… files and folders others shared with the viewer
//
// "/", "/Groups", "/Shared" and "/Shared/<owner>" are virtual folders (ID 0):
// nothing can be created in them. Paths are resolved name by name from these
// roots only; there is no "..", no symlink and no absolute path below them, so
// no path escapes the viewer's tree.
//
// # Names
//
// Names are stored in Unicode NFC and follow the rules of the common desktop
// systems, so that every file can be synced to Windows, macOS and Linux: no
// "/", "\", NUL or control characters, none of Windows' reserved characters
// (<>:"|?*), no reserved device names (CON, PRN, AUX, NUL, COM1-9, LPT1-9, with
// or without extension), no trailing dot or space, not "." or "..", and at
// most MaxNameBytes bytes. Names are case-sensitive (as on Linux); see
// [ValidName].
//
// # Ownership
//
// Every node belongs to one space (a home or a group folder), and so do
// its older versions and whatever of it is in the trash: they are that
// space's, whoever reaches the node through a share. A move inside one
// space moves the node with its history. A move into another space (a
// write recipient taking part of a share into his home, a member moving
// from a group folder into her home, or the other way) never carries the
// history across: the destination gets a copy of what is live (each file's
// current version), and the original goes, whole, to the trash of the
// space it was in, marked as deleted by who moved it, where that space's
// members can restore it until the trash retention ends. This is what
// Nextcloud does for a move between storages (a copy, and the source in
// its owner's trash bin); Google Drive keeps the owner as owner of an item
// moved by an editor, which a single-owner-per-space store cannot, and
// refusing the move would break every WebDAV client's drag and drop. So a
// recipient never sees the owner's trash or older versions, and the owner
// never loses a file to a recipient's move without a trash entry.
//
// Versions follow the share's rights. A read-only recipient gets what a
// download link gives: the current content, no list of versions. A
// read-write recipient sees, and may restore, the versions made since the
// share was made, which are the ones made while they could change the
// file; the drafts from before stay the owner's. Members of the space see
// every version (as Google Drive shows the history to editors only).
//
// # Quotas
//
// A quota bounds what a space (a member's home, a group's folder) makes
// the server keep: the size of each distinct content its files hold,
// current versions, older versions and the trash alike, each counted once
// however many files, versions or trashed copies share it. The trash and
// older versions count because they take disk until they are purged (by
// the member, or after TrashRetention and beyond Options.Versions); a
// copy inside a space, a trashed copy of a live file, or a restored
// version add nothing, since the store keeps one blob for them. Each
// space counts its own contents even when another space holds the same:
// one member's usage never depends on, nor tells of, another's files.
// Files sent through a drop link count against the space of the link's
// folder.
//
// # Audit
//
// What changes who can reach what goes to the audit log with actor and
// address: shares and unshares, links (made, revoked, suspended, resumed,
// files dropped through them), deletions, restores and purges, quotas,
// transfers of ownership, and moves and renames that touch a group folder,
// someone else's share, or two spaces. Uploads, new folders and moves
// inside one's own home are not audited: they are the member's own work,
// not a security event, and would drown the log.
package files

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/password"
	"github.com/caucus-org/caucus/internal/audit"
)

// Limits.
const (
	MaxNameBytes = 255  // bytes of one name (UTF-8, NFC), as on ext4 and NTFS
	MaxPathBytes = 4096 // bytes of a whole path
	MaxDepth     = 64   // folders below a space root
)

// Default bounds of file drop links, which anyone holding the link may
// use: without them one anonymous sender could fill the disk (the default
// quota is unlimited). What a drop stores also counts against the quota of
// the space its folder is in, the owner's home or a group's folder.
const (
	DefaultDropFileBytes = 256 << 20 // one file
	DefaultDropLinkBytes = 1 << 30   // everything one link receives
)

// DefaultInlineBytes is the largest content the store keeps in its
// database by default (Options.InlineBytes), instead of a blob file: a
// note, a document, a photo from a phone's thumbnail folder, a source
// file. Such a content is written in the transaction that commits its
// version, so concurrent small uploads share one flush for content, name
// and commit, where a blob file costs an inode (O_TMPFILE and link) and
// the blob directory's syncs before the commit's own (issue 21).
//
// Measured at 16 KiB and 64 KiB (BenchmarkPutParallel, 8 uploads at
// once, SQLite, load 6-7): a 64 KiB upload took 1,196-1,371 CPU-µs as a
// blob file and 661-719 kept in the database, and 5,809 flushes
// (syncfs, fdatasync, fsync) for 4,000 uploads of 10 and 64 KiB became
// 1,171 (64 KiB alone: 2.6 flushes per upload became 0.29). The price is
// SQLite's: a content is written twice, in the write-ahead log (two
// pwrite calls a 4 KiB page) and by the checkpoint into the database
// file, 63 pwrite calls per 64 KiB upload against 7 (strace -c -f).
// Reading such a content back costs more than reading a file
// when the content cache does not hold it (BenchmarkOpenRead, CPU-µs per
// Open and read: 64 KiB 125 from the database file, 186 while still in
// the write-ahead log, 88 from a blob file; 37 from the cache, where an
// upload leaves its content). At 128 KiB a cold read cost 170 against
// 73, and a larger content would hold a larger share of the write-ahead
// log and of the content cache: 64 KiB is where it stops.
//
// Measured again once the blob store made the small blobs of concurrent
// uploads durable together (its fsGroup), in BenchmarkPutMany/64KiB
// (files/dav, SQLite, load 7): a 64 KiB upload as a blob file took
// 1,826-1,975 CPU-µs over HTTP/2 and 1,877-1,943 over HTTP/1.1, kept in
// the database 1,363-1,373 and 1,113-1,356, for 20-25 write calls
// against 68: making the blob's inode (O_TMPFILE) alone took 240 µs,
// more than the log's and the checkpoint's copies of its 17 pages. A
// database made with 16 KiB pages would hold a 64 KiB content in 5
// pages (22 pwrite and 4.9 pread calls per upload instead of 62 and
// 17.9) but cost as much CPU at 64 KiB (1,150-1,714 µs against
// 1,074-1,766) and more at 10 KiB (800-1,117 against 507-837): a commit
// writes each page it touches whole. So the bound stays, and SQLite's
// page size its default 4 KiB.
const DefaultInlineBytes = 64 << 10

// Errors. Every error the store returns for a refused request wraps one of
// these; the texts are fit to show a person.
var (
	ErrNotFound    = errors.New("files: no such file or folder")
	ErrForbidden   = errors.New("files: not allowed")
	ErrExists      = errors.New("files: a file or folder with this name already exists")
	ErrInvalidName = errors.New("files: invalid name")
	ErrQuota       = errors.New("files: storage quota exceeded")
	ErrNotDir      = errors.New("files: not a folder")
	ErrIsDir       = errors.New("files: is a folder")
	ErrNotEmpty    = errors.New("files: folder is not empty")
	ErrLoop        = errors.New("files: cannot move a folder into itself")
	ErrTooDeep     = errors.New("files: folders nested too deep")
	ErrNoGrantee   = errors.New("files: no member or group with this name")

	ErrExpired   = errors.New("files: link expired")
	ErrExhausted = errors.New("files: link download limit reached")
	ErrRevoked   = errors.New("files: link revoked")
	ErrSuspended = errors.New("files: public links are suspended")
	ErrLifetime  = errors.New("files: link lifetime too long")
	ErrPassword  = errors.New("files: wrong link password")
	// ErrFrozen is a public link asked for during incident mode.
	ErrFrozen = fmt.Errorf("%w: no new public links during incident mode", ErrForbidden)
)

// Options are the store's settings (the [files] section of the config).
type Options struct {
	Versions            int              // versions kept per file; default 10
	TrashRetention      time.Duration    // how long deleted items stay; default 30 days
	DefaultLinkLifetime time.Duration    // expiry of a link made without one; default 7 days
	MaxLinkLifetime     time.Duration    // longest expiry allowed; default 90 days
	DefaultQuota        int64            // bytes per account and per group without a set quota; 0: unlimited
	MaxFileSize         int64            // bytes of one file; 0: unlimited (quotas still apply)
	DropFileBytes       int64            // bytes of one file sent through a drop link; default DefaultDropFileBytes
	DropLinkBytes       int64            // bytes one drop link receives in all, and the most its owner may allow; default DefaultDropLinkBytes
	InlineBytes         int              // contents of at most this many bytes are kept in the database; default DefaultInlineBytes, negative: none
	PathCache           int              // paths the path cache holds (see pathcache.go); default DefaultPathCache, negative: no cache
	ContentCache        int              // bytes of small contents kept in memory (see contentcache.go); default DefaultContentCache, negative: none
	Now                 func() time.Time // nil: time.Now
}

// Deps are the store's collaborators.
type Deps struct {
	Auth   *auth.Service    // accounts and groups
	Audit  *audit.Log       // every change is recorded
	Log    *slog.Logger     // nil: discard
	Hasher *password.Hasher // link passwords; nil: a default hasher
	Freeze Freeze           // incident mode's switch (admin.Freeze); nil: never frozen
}

// Freeze says whether incident mode is on: while it is, no new public
// link is made.
type Freeze interface {
	Frozen(ctx context.Context) (bool, error)
}

// Actor is the person a call acts for: access is checked for Account and
// the audit record names it with Client's address.
type Actor struct {
	ID     int64  // account id
	Login  string // account login, for the audit log
	Client auth.Client
}

// SpaceKind says whose a space is.
type SpaceKind string

// Space kinds.
const (
	SpaceHome  SpaceKind = "home"  // one account's private home
	SpaceGroup SpaceKind = "group" // a group's shared folder
)

// Space is a tree of files with its own quota: an account's home or a
// group's folder.
type Space struct {
	Kind SpaceKind
	ID   int64  // account id or group id
	Name string // account login or group name
}

// Node is a file or folder as one viewer sees it.
type Node struct {
	ID       int64 // 0 for the virtual folders
	ParentID int64 // 0 for a space root and virtual folders
	Name     string
	Path     string // as the viewer sees it, e.g. "/Home/Plans/budget.ods"
	Dir      bool
	Virtual  bool // "/", "/Groups", "/Shared", "/Shared/<owner>"
	Size     int64
	ModTime  time.Time
	Created  time.Time
	Versions int    // number of stored versions (files)
	ETag     string // changes with every version (files) or every change (folders)
	Space    Space
	Writable bool // the viewer may change it (and, for folders, add to it)

	blob string // the content of the version the ETag names (files), for OpenNode
}

// Version is one stored version of a file, newest first in lists.
type Version struct {
	ID      int64
	Size    int64
	Created time.Time
	Author  string // login of who uploaded it
	Current bool
}

// TrashItem is a deleted file or folder that can still be restored.
type TrashItem struct {
	Node
	DeletedAt time.Time
	DeletedBy string    // login
	PurgeAt   time.Time // when it is deleted for good
	From      string    // path of the folder it was deleted from
}

// Grantee is who a share is with: exactly one of Login or Group.
type Grantee struct {
	Login string
	Group string
}

// Share is a file or folder shared by its space's member with another
// member or a group.
type Share struct {
	ID        int64
	NodeID    int64
	NodeName  string
	NodePath  string // as the sharer sees it
	Owner     string // login of who shared it
	OwnerID   int64
	With      Grantee
	Write     bool // read-write; false: read-only
	CreatedAt time.Time
}

// LinkKind is what a public link does.
type LinkKind string

// Link kinds.
const (
	LinkDownload LinkKind = "download" // see and download the file or folder
	LinkDrop     LinkKind = "drop"     // upload-only into a folder; nothing is shown
)

// LinkOptions are chosen when a link is made.
type LinkOptions struct {
	Kind         LinkKind  // default LinkDownload
	ExpiresAt    time.Time // zero: now + DefaultLinkLifetime; at most now + MaxLinkLifetime
	Password     string    // "" for none
	MaxDownloads int       // 0: unlimited
	MaxBytes     int64     // drop links: bytes received in all; 0: Options.DropLinkBytes, which is also the most allowed
}

// Link is a public link. Its token is shown once, when it is made; only its
// hash is stored.
type Link struct {
	ID           int64
	NodeID       int64
	NodeName     string
	NodePath     string // as the owner sees it
	Dir          bool
	Owner        string // login
	OwnerID      int64
	Kind         LinkKind
	CreatedAt    time.Time
	ExpiresAt    time.Time
	HasPassword  bool
	MaxDownloads int // 0: unlimited
	Downloads    int
	MaxBytes     int64 // drop links: the most it receives in all
	Received     int64 // drop links: bytes received so far (and reserved by uploads in progress)
	Revoked      bool
	Suspended    bool // by incident mode (SuspendPublicLinks)
}

// LinkDisposition says what TransferOwnership does with the shares and
// links of the account it empties: the admin's choice when someone leaves.
// The zero value moves them.
type LinkDisposition int

// Link dispositions.
const (
	LinksMove   LinkDisposition = iota // keep them working, owned by the successor
	LinksRevoke                        // revoke them
)

// TransferReport says what TransferOwnership did.
type TransferReport struct {
	Folder       string // path in the successor's home, e.g. "/Home/From alice@example.org"
	Files        int
	Folders      int
	Bytes        int64
	SharesMoved  int
	LinksMoved   int
	LinksRevoked int
}
