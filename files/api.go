// Package files is caucus's file store: every account's private home, every
// group's shared folder, sharing with members and groups, public links
// (download links and upload-only "file drop" links), versions, trash and
// quotas. The web pages (files/web) and WebDAV (files/dav) are views of it.
//
// Metadata lives in SQLite (internal/db); file contents live in their own
// content-addressed blob directory (internal/blob), never the mail one. An
// upload streams into the blob store (temporary file, fsync, rename) and only
// then is its version committed, so a file appears only when it is complete
// and durable, and an interrupted upload leaves nothing visible.
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
package files

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/password"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
)

// Limits.
const (
	MaxNameBytes = 255  // bytes of one name (UTF-8, NFC), as on ext4 and NTFS
	MaxPathBytes = 4096 // bytes of a whole path
	MaxDepth     = 64   // folders below a space root
)

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

	ErrExpired   = errors.New("files: link expired")
	ErrExhausted = errors.New("files: link download limit reached")
	ErrRevoked   = errors.New("files: link revoked")
	ErrSuspended = errors.New("files: public links are suspended")
	ErrLifetime  = errors.New("files: link lifetime too long")
	ErrPassword  = errors.New("files: wrong link password")
)

// Options are the store's settings (the [files] section of the config).
type Options struct {
	Versions            int              // versions kept per file; default 10
	TrashRetention      time.Duration    // how long deleted items stay; default 30 days
	DefaultLinkLifetime time.Duration    // expiry of a link made without one; default 7 days
	MaxLinkLifetime     time.Duration    // longest expiry allowed; default 90 days
	DefaultQuota        int64            // bytes per account and per group without a set quota; 0: unlimited
	MaxFileSize         int64            // bytes of one file; 0: unlimited (quotas still apply)
	Now                 func() time.Time // nil: time.Now
}

// Deps are the store's collaborators.
type Deps struct {
	Auth   *auth.Service    // accounts and groups
	Audit  *audit.Log       // every change is recorded
	Log    *slog.Logger     // nil: discard
	Hasher *password.Hasher // link passwords; nil: a default hasher
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
	Revoked      bool
	Suspended    bool // by incident mode (SuspendPublicLinks)
}

// LinkDisposition says what TransferOwnership does with the links of the
// account it empties.
type LinkDisposition int

// Link dispositions.
const (
	LinksRevoke LinkDisposition = iota // revoke them
	LinksMove                          // keep them working, owned by the successor
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

// errTODO marks the bodies of this first commit of the API.
var errTODO = errors.New("files: not implemented yet")

// Store is the file store. It is safe for concurrent use.
type Store struct {
	opts Options
	deps Deps
}

// New returns a store keeping metadata in d and contents in blobs (a blob
// directory of its own: DataDir/blobs/files). Zero options take their
// defaults. The tables come from Component's migrations.
func New(d *db.DB, blobs *blob.Store, opts Options, deps Deps) *Store {
	return &Store{opts: opts, deps: deps}
}

// Component returns the migrations of the store's tables.
func Component() db.Component { return db.Component{Name: "files"} }

// Options returns the store's settings with defaults applied.
func (s *Store) Options() Options { return s.opts }

// Run does the housekeeping until ctx ends: purging trash older than
// TrashRetention and deleting blobs no version refers to.
func (s *Store) Run(ctx context.Context) { <-ctx.Done() }

// Stat returns the node at path as a sees it.
func (s *Store) Stat(ctx context.Context, a Actor, path string) (Node, error) { return Node{}, errTODO }

// Node returns the node id as a sees it.
func (s *Store) Node(ctx context.Context, a Actor, id int64) (Node, error) { return Node{}, errTODO }

// Breadcrumbs returns the folders from the root down to (not including) id.
func (s *Store) Breadcrumbs(ctx context.Context, a Actor, id int64) ([]Node, error) {
	return nil, errTODO
}

// List returns the entries of the folder at path, folders first, by name.
func (s *Store) List(ctx context.Context, a Actor, path string) ([]Node, error) { return nil, errTODO }

// ListID returns the entries of folder id.
func (s *Store) ListID(ctx context.Context, a Actor, id int64) ([]Node, error) { return nil, errTODO }

// Mkdir makes folder name in folder parentID.
func (s *Store) Mkdir(ctx context.Context, a Actor, parentID int64, name string) (Node, error) {
	return Node{}, errTODO
}

// Put stores the content read from r as file name in folder parentID: a new
// file, or a new version of the file already there. size is the announced
// length (Content-Length) or -1; an announced size over the quota is refused
// with ErrQuota before anything is read, and the quota is enforced while
// streaming too. The file appears only when complete and durable.
func (s *Store) Put(ctx context.Context, a Actor, parentID int64, name string, r io.Reader, size int64) (Node, error) {
	return Node{}, errTODO
}

// Open opens file id for reading; the caller closes it.
func (s *Store) Open(ctx context.Context, a Actor, id int64) (io.ReadSeekCloser, Node, error) {
	return nil, Node{}, errTODO
}

// Move moves node id into folder parentID under name (a rename when the
// folder stays the same). An existing node of that name is an ErrExists.
func (s *Store) Move(ctx context.Context, a Actor, id, parentID int64, name string) (Node, error) {
	return Node{}, errTODO
}

// Rename renames node id in its folder.
func (s *Store) Rename(ctx context.Context, a Actor, id int64, name string) (Node, error) {
	return Node{}, errTODO
}

// Copy copies node id (a folder with everything in it) into folder parentID
// under name. Copies share contents, but count against the quota.
func (s *Store) Copy(ctx context.Context, a Actor, id, parentID int64, name string) (Node, error) {
	return Node{}, errTODO
}

// Delete moves node id (and everything in it) to the trash of its space.
func (s *Store) Delete(ctx context.Context, a Actor, id int64) error { return errTODO }

// Trash lists the deleted items a may restore, newest first.
func (s *Store) Trash(ctx context.Context, a Actor) ([]TrashItem, error) { return nil, errTODO }

// Restore puts a deleted item back where it was (under a new name if the
// old one is taken, and into the space root if its folder is gone).
func (s *Store) Restore(ctx context.Context, a Actor, id int64) (Node, error) {
	return Node{}, errTODO
}

// Purge deletes a trashed item for good, before its retention ends.
func (s *Store) Purge(ctx context.Context, a Actor, id int64) error { return errTODO }

// PurgeExpired deletes for good the trash older than TrashRetention and the
// blobs no version refers to any more; it returns the items purged.
func (s *Store) PurgeExpired(ctx context.Context) (int, error) { return 0, errTODO }

// Versions lists the stored versions of file id, newest first.
func (s *Store) Versions(ctx context.Context, a Actor, id int64) ([]Version, error) {
	return nil, errTODO
}

// OpenVersion opens one stored version of file id.
func (s *Store) OpenVersion(ctx context.Context, a Actor, id, versionID int64) (io.ReadSeekCloser, Version, error) {
	return nil, Version{}, errTODO
}

// RestoreVersion makes an older version the current one (as a new version).
func (s *Store) RestoreVersion(ctx context.Context, a Actor, id, versionID int64) (Node, error) {
	return Node{}, errTODO
}

// Usage returns the bytes an account's home uses (all versions, trash
// included) and its quota (0: unlimited).
func (s *Store) Usage(ctx context.Context, accountID int64) (used, quota int64, err error) {
	return 0, 0, errTODO
}

// GroupUsage is Usage for a group's folder.
func (s *Store) GroupUsage(ctx context.Context, group string) (used, quota int64, err error) {
	return 0, 0, errTODO
}

// SetQuota sets an account's quota in bytes (0: the default; -1: unlimited).
func (s *Store) SetQuota(ctx context.Context, actor string, accountID, bytes int64) error {
	return errTODO
}

// SetGroupQuota sets a group's quota in bytes (0: the default; -1: unlimited).
func (s *Store) SetGroupQuota(ctx context.Context, actor, group string, bytes int64) error {
	return errTODO
}

// Share shares node id with a member or a group.
func (s *Store) Share(ctx context.Context, a Actor, id int64, with Grantee, write bool) (Share, error) {
	return Share{}, errTODO
}

// Unshare removes share shareID; only who made it may.
func (s *Store) Unshare(ctx context.Context, a Actor, shareID int64) error { return errTODO }

// SharesOf lists the shares accountID made.
func (s *Store) SharesOf(ctx context.Context, accountID int64) ([]Share, error) { return nil, errTODO }

// SharedWith lists what others shared with a (directly or through a group).
func (s *Store) SharedWith(ctx context.Context, a Actor) ([]Share, error) { return nil, errTODO }

// CreateLink makes a public link to node id and returns its token (shown
// once; 128 bits or more).
func (s *Store) CreateLink(ctx context.Context, a Actor, id int64, o LinkOptions) (string, Link, error) {
	return "", Link{}, errTODO
}

// LinksOf lists the links accountID made, revoked and expired ones too.
func (s *Store) LinksOf(ctx context.Context, accountID int64) ([]Link, error) { return nil, errTODO }

// AllLinks lists every link of the party (for admins).
func (s *Store) AllLinks(ctx context.Context) ([]Link, error) { return nil, errTODO }

// RevokeMyLink revokes a's own link id.
func (s *Store) RevokeMyLink(ctx context.Context, a Actor, id int64) error { return errTODO }

// RevokeLink revokes link id for an admin (actor is the admin's login).
func (s *Store) RevokeLink(ctx context.Context, actor string, id int64) error { return errTODO }

// RevokeLinksOf revokes every live link of accountID.
func (s *Store) RevokeLinksOf(ctx context.Context, actor string, accountID int64) (int, error) {
	return 0, errTODO
}

// SuspendPublicLinks suspends every live link (incident mode) until
// ResumePublicLinks; it returns how many.
func (s *Store) SuspendPublicLinks(ctx context.Context, actor string) (int, error) { return 0, errTODO }

// ResumePublicLinks lifts SuspendPublicLinks.
func (s *Store) ResumePublicLinks(ctx context.Context, actor string) (int, error) { return 0, errTODO }

// ResolveLink finds the live link of token and its node. It fails with
// ErrNotFound, ErrExpired, ErrExhausted, ErrRevoked or ErrSuspended (also
// when the owner's account is no longer active).
func (s *Store) ResolveLink(ctx context.Context, token string) (Link, Node, error) {
	return Link{}, Node{}, errTODO
}

// CheckLinkPassword checks a link's password (ErrPassword if wrong; nil for
// a link without one). Callers throttle wrong guesses.
func (s *Store) CheckLinkPassword(ctx context.Context, l Link, pw string) error { return errTODO }

// LinkNode returns node id inside the tree of download link l (0: its root).
func (s *Store) LinkNode(ctx context.Context, l Link, id int64) (Node, error) { return Node{}, errTODO }

// LinkList lists folder id inside the tree of download link l (0: its root).
func (s *Store) LinkList(ctx context.Context, l Link, id int64) ([]Node, error) { return nil, errTODO }

// LinkOpen opens file id inside the tree of download link l (0: its root)
// and counts one download (ErrExhausted when the limit is reached).
func (s *Store) LinkOpen(ctx context.Context, l Link, id int64, c auth.Client) (io.ReadSeekCloser, Node, error) {
	return nil, Node{}, errTODO
}

// CountDownload counts one download of link id, refusing with ErrExhausted
// when its limit is reached.
func (s *Store) CountDownload(ctx context.Context, id int64) error { return errTODO }

// DropPut stores a file sent through drop link l into its folder, under a
// new name if the name is taken (nothing already there is shown or
// replaced).
func (s *Store) DropPut(ctx context.Context, l Link, name string, r io.Reader, size int64, c auth.Client) (Node, error) {
	return Node{}, errTODO
}

// TransferOwnership moves everything account from owns into to's home under
// "From <login>/", with from's shares, and its links moved or revoked per
// links. actor is the admin's login.
func (s *Store) TransferOwnership(ctx context.Context, actor string, from, to int64, links LinkDisposition) (TransferReport, error) {
	return TransferReport{}, errTODO
}

// ValidName checks name against the rules in the package documentation and
// returns it in NFC.
func ValidName(name string) (string, error) { return "", errTODO }
