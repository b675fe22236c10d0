package files

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/password"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
)

// Store is the file store. It is safe for concurrent use.
type Store struct {
	db     *db.DB
	blobs  blob.Store
	opts   Options
	auth   *auth.Service
	audit  *audit.Log
	log    *slog.Logger
	hasher *password.Hasher
	group  *db.Group  // group commit of uploads
	freeze Freeze     // nil: never frozen
	paths  *pathCache // nil: none
	// contents keeps small contents read from or stored in the database
	// (see contentcache.go); nil: none.
	contents *contentCache
	// unlimited remembers spaces recently found without a quota (see
	// skipCheck).
	unlimited unlimitedSpaces
	// holdLookup, for tests, is called once by the next lookup that
	// read the database, before it fills the path cache.
	holdLookup atomic.Pointer[func()]

	fetchMu sync.Mutex
	fetched map[fetch]time.Time // recent downloads through links (see LinkOpen)

	watchMu  sync.Mutex
	watching map[*linkWatch]struct{} // transfers through links (see WatchLink)

	readMu  sync.Mutex
	reading map[*groupReader]struct{} // open contents of group files (see groupdel.go)

	// uploadBufs holds the buffers (*[]byte) storeContent reads an
	// upload's first bytes into.
	uploadBufs sync.Pool

	// gcMu orders blob deletion against commits that refer to a blob:
	// a commit holds it for reading from checking that its blob exists
	// until the version row is in; deleting an unreferenced blob holds it
	// for writing.
	gcMu sync.RWMutex
}

// maxGroup is the most uploads committed in one transaction.
const maxGroup = 64

// New returns a store keeping metadata in d and contents in blobs (a blob
// directory of its own: DataDir/blobs/files, never the mail one, whose
// collector deletes blobs mail does not refer to). Zero options take their
// defaults. The tables come from Component's migrations.
func New(d *db.DB, blobs blob.Store, opts Options, deps Deps) *Store {
	if opts.Versions <= 0 {
		opts.Versions = 10
	}
	if opts.TrashRetention <= 0 {
		opts.TrashRetention = 30 * 24 * time.Hour
	}
	if opts.MaxLinkLifetime <= 0 {
		opts.MaxLinkLifetime = 90 * 24 * time.Hour
	}
	if opts.DefaultLinkLifetime <= 0 {
		opts.DefaultLinkLifetime = 7 * 24 * time.Hour
	}
	opts.DefaultLinkLifetime = min(opts.DefaultLinkLifetime, opts.MaxLinkLifetime)
	if opts.DropFileBytes <= 0 {
		opts.DropFileBytes = DefaultDropFileBytes
	}
	if opts.DropLinkBytes <= 0 {
		opts.DropLinkBytes = DefaultDropLinkBytes
	}
	if opts.InlineBytes == 0 {
		opts.InlineBytes = DefaultInlineBytes
	}
	if opts.ContentCache == 0 {
		opts.ContentCache = DefaultContentCache
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := deps.Hasher
	if h == nil {
		h = password.NewHasher(password.DefaultParams(), 2)
	}
	// Small contents evicted from memory unread, or read from the
	// database, are kept on the node's disk when the blob store can (S3
	// with a cache) and the database is PostgreSQL (see
	// contentcache.go); SQLite's file is on that disk already, and a
	// copy would only write each content twice.
	var disk diskCopies
	if dc, ok := blobs.(diskCopies); ok && d.Engine() == db.Postgres {
		disk = dc
	}
	return &Store{db: d, blobs: blobs, opts: opts, auth: deps.Auth, audit: deps.Audit, log: log, hasher: h, group: d.NewGroup(maxGroup, nil), freeze: deps.Freeze,
		paths: newPathCache(opts.PathCache), contents: newContentCache(opts.ContentCache, disk, int64(opts.InlineBytes)),
		fetched: map[fetch]time.Time{}, watching: map[*linkWatch]struct{}{}, reading: map[*groupReader]struct{}{}}
}

// Options returns the store's settings with defaults applied.
func (s *Store) Options() Options { return s.opts }

func (s *Store) now() time.Time { return s.opts.Now() }

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v) }

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// row is one node as stored, with its current version.
type row struct {
	id, parent int64
	kind       SpaceKind
	spaceID    int64
	name       string
	dir        bool
	created    int64
	modified   int64
	deleted    bool
	seq        int64
	size       int64
	blob       string
	versions   int
}

const rowCols = `n.id, COALESCE(n.parent_id, 0), n.space_kind, n.space_id, n.name, n.is_dir, n.created_at, n.modified_at,
	n.deleted_at IS NOT NULL, n.seq, COALESCE(v.size, 0), COALESCE(v.blob, ''),
	(SELECT COUNT(*) FROM files_versions WHERE node_id = n.id)`

const rowFrom = ` FROM files_nodes n LEFT JOIN files_versions v ON v.id = (SELECT MAX(id) FROM files_versions WHERE node_id = n.id)`

func scanRow(sc interface{ Scan(...any) error }) (row, error) {
	var r row
	err := sc.Scan(&r.id, &r.parent, &r.kind, &r.spaceID, &r.name, &r.dir, &r.created, &r.modified, &r.deleted, &r.seq, &r.size, &r.blob, &r.versions)
	return r, err
}

// cached runs q's queries with statements prepared once for the store's
// database ([db.Stmts]), in q's transaction when q is one: the hot lookups
// are not parsed again at every request.
func (s *Store) cached(q querier) db.Stmts {
	tx, _ := q.(*sql.Tx)
	return s.db.Stmts(tx)
}

// getRowQuery compares n.id with +? rather than ?: with a plain
// parameter, SQLite carries its value into the join's subquery and must
// compile the statement again whenever it is bound to another id (with
// STAT4, which modernc.org/sqlite enables), which cost more than the
// lookup; the plan is the same.
const getRowQuery = `SELECT ` + rowCols + rowFrom + ` WHERE n.id = +?`

func (s *Store) getRow(ctx context.Context, q querier, id int64) (row, error) {
	r, err := scanRow(s.cached(q).QueryRowContext(ctx, s.getRowSQL(), id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	return r, err
}

func (s *Store) childRows(ctx context.Context, q querier, parent int64) ([]row, error) {
	rows, err := s.cached(q).QueryContext(ctx, s.childRowsSQL(), parent)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// childID returns the live child of parent called name, or 0.
func (s *Store) childID(ctx context.Context, q querier, parent int64, name string) (id int64, dir bool, err error) {
	err = s.cached(q).QueryRowContext(ctx, `SELECT id, is_dir FROM files_nodes WHERE parent_id = ? AND name = ? AND deleted_at IS NULL`, parent, name).Scan(&id, &dir)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return id, dir, err
}

// ensureRoot returns the root node of a space, making it on first use.
func (s *Store) ensureRoot(ctx context.Context, kind SpaceKind, spaceID int64) (int64, error) {
	var id int64
	// Prepared once: every path lookup starts here.
	err := s.cached(s.db).QueryRowContext(ctx, `SELECT id FROM files_nodes WHERE space_kind = ? AND space_id = ? AND parent_id IS NULL`, kind, spaceID).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	now := ms(s.now())
	// A space root made: no path that led somewhere leads elsewhere now,
	// the path cache stays (see pathcache.go).
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO files_nodes (space_kind, space_id, parent_id, name, is_dir, created_at, modified_at) VALUES (?, ?, NULL, '', 1, ?, ?) ON CONFLICT DO NOTHING`, kind, spaceID, now, now); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT id FROM files_nodes WHERE space_kind = ? AND space_id = ? AND parent_id IS NULL`, kind, spaceID).Scan(&id)
	})
	return id, err
}

// viewer is an Actor with its groups.
type viewer struct {
	Actor
	groups  map[int64]string // group id → name
	byName  map[string]int64
	entries []sharedEntry // computed on demand
	loaded  bool
	// forUpload: the lookup is of a folder to upload into (Folder), for
	// which a cached node whose ETag is out of date will do.
	forUpload bool
}

func (s *Store) viewer(ctx context.Context, a Actor) (*viewer, error) {
	if a.ID == 0 {
		return nil, ErrForbidden
	}
	// Every store call builds a viewer: one indexed query, not a read of
	// every group's members.
	gs, err := s.auth.AccountGroups(ctx, a.ID)
	if err != nil {
		return nil, fmt.Errorf("files: groups of %d: %w", a.ID, err)
	}
	v := &viewer{Actor: a, groups: make(map[int64]string, len(gs)), byName: make(map[string]int64, len(gs))}
	for _, g := range gs {
		v.groups[g.ID] = g.Name
		v.byName[g.Name] = g.ID
	}
	return v, nil
}

// homeViewer is a as the viewer of a path in a's home, without a's
// groups: one's own home is reached by account alone, so a client syncing
// its home costs no read of its groups at every request. What would look
// at its groups finds none, and refuses rather than grants.
func homeViewer(a Actor) (*viewer, error) {
	if a.ID == 0 {
		return nil, ErrForbidden
	}
	return &viewer{Actor: a}, nil
}

func (v *viewer) ownSpace(kind SpaceKind, id int64) bool {
	switch kind {
	case SpaceHome:
		return id == v.ID
	case SpaceGroup:
		_, ok := v.groups[id]
		return ok
	}
	return false
}

// sharedEntry is one item in /Shared/<owner>/.
type sharedEntry struct {
	shareID int64
	nodeID  int64
	ownerID int64
	owner   string
	name    string // unique within the owner's folder
	write   bool
	created int64
}

// sharedEntries lists what others shared with v, outside v's own spaces.
func (s *Store) sharedEntries(ctx context.Context, v *viewer) ([]sharedEntry, error) {
	if v.loaded {
		return v.entries, nil
	}
	args := []any{v.ID}
	in := "0"
	for id := range v.groups {
		in += ",?"
		args = append(args, id)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT s.id, s.node_id, s.owner_id, s.write, s.created_at, n.name, n.space_kind, n.space_id
		FROM files_shares s JOIN files_nodes n ON n.id = s.node_id
		WHERE (s.grantee_kind = 'account' AND s.grantee_id = ?) OR (s.grantee_kind = 'group' AND s.grantee_id IN (`+in+`))
		ORDER BY s.id`, args...)
	if err != nil {
		return nil, err
	}
	type raw struct {
		sharedEntry
		kind    SpaceKind
		spaceID int64
	}
	var rs []raw
	for rows.Next() {
		var r raw
		if err := rows.Scan(&r.shareID, &r.nodeID, &r.ownerID, &r.write, &r.created, &r.name, &r.kind, &r.spaceID); err != nil {
			rows.Close()
			return nil, err
		}
		rs = append(rs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	byNode := map[int64]int{}
	var out []sharedEntry
	logins := map[int64]string{}
	for _, r := range rs {
		if v.ownSpace(r.kind, r.spaceID) || r.ownerID == v.ID {
			continue
		}
		if i, ok := byNode[r.nodeID]; ok && out[i].ownerID == r.ownerID {
			out[i].write = out[i].write || r.write
			continue
		}
		if _, err := s.chain(ctx, s.db, r.nodeID); err != nil { // deleted (in the trash)
			continue
		}
		login, ok := logins[r.ownerID]
		if !ok {
			acct, err := s.auth.Account(ctx, r.ownerID)
			if err != nil || acct.State != auth.StateActive {
				logins[r.ownerID] = ""
				continue
			}
			login = acct.Login
			logins[r.ownerID] = login
		}
		if login == "" {
			continue
		}
		if r.name == "" { // a space root: name it after the space
			r.name = s.spaceName(ctx, r.kind, r.spaceID)
		}
		r.owner = login
		byNode[r.nodeID] = len(out)
		out = append(out, r.sharedEntry)
	}
	// Unique names per owner: later duplicates get " (2)", " (3)" ….
	seen := map[string]bool{}
	for i := range out {
		base, name := out[i].name, out[i].name
		for n := 2; seen[out[i].owner+"/"+name]; n++ {
			name = fmt.Sprintf("%s (%d)", base, n)
		}
		seen[out[i].owner+"/"+name] = true
		out[i].name = name
	}
	v.entries, v.loaded = out, true
	return out, nil
}

func (s *Store) spaceName(ctx context.Context, kind SpaceKind, id int64) string {
	if kind == SpaceHome {
		if a, err := s.auth.Account(ctx, id); err == nil {
			return a.Login
		}
		return fmt.Sprintf("account %d", id)
	}
	gs, err := s.auth.Groups(ctx)
	if err == nil {
		for _, g := range gs {
			if g.ID == id {
				return g.Name
			}
		}
	}
	return fmt.Sprintf("group %d", id)
}

// chainQuery reads a node and its ancestors, nearest first, in one
// statement: a recursive walk up the parent links (bounded by its second
// parameter) joined with each node's row. One statement instead of one per
// level: a file three folders down is read once, not four times.
const chainQuery = `WITH RECURSIVE up(id, depth) AS (
		SELECT +?, 0
		UNION ALL
		SELECT n.parent_id, up.depth + 1 FROM up JOIN files_nodes n ON n.id = up.id
		WHERE n.parent_id IS NOT NULL AND up.depth < ?)
	SELECT ` + rowCols + ` FROM up JOIN files_nodes n ON n.id = up.id
	LEFT JOIN files_versions v ON v.id = (SELECT MAX(id) FROM files_versions WHERE node_id = n.id)
	ORDER BY up.depth`

// chain returns node id and its ancestors up to the space root (root last).
// A node in the trash, or below one, is ErrNotFound.
func (s *Store) chain(ctx context.Context, q querier, id int64) ([]row, error) {
	// One row more than allowed, enough to tell.
	rows, err := s.cached(q).QueryContext(ctx, s.chainSQL(), id, MaxDepth+2)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		if len(out) > MaxDepth+1 {
			return nil, ErrTooDeep
		}
		r, err := scanRow(rows)
		if err != nil {
			return nil, err
		}
		if r.deleted {
			return nil, ErrNotFound
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 || out[len(out)-1].parent != 0 {
		return nil, ErrNotFound
	}
	return out, nil
}

// access is how a viewer reaches a node.
type access struct {
	chain  []row  // the node first, its space root last
	anchor int    // index in chain of the node the viewer's path starts at
	prefix string // the viewer's path of chain[anchor]
	write  bool
	own    bool // through the viewer's own home or group: may share and link
	space  Space
	since  int64 // shared read-write: the versions made from then on (ms) are seen
}

// seesVersion reports whether the viewer may see a version made at created
// (Unix ms): the current version always; older ones through one's own
// spaces, and those made since the share through a read-write share. A
// read-only recipient gets what a download link gives, the current content.
func (ac *access) seesVersion(created int64, current bool) bool {
	return current || ac.own || (ac.write && created >= ac.since)
}

func (ac *access) node() row { return ac.chain[0] }

// path returns the viewer's path of chain[i].
func (ac *access) pathOf(i int) string {
	p := ac.prefix
	for j := ac.anchor - 1; j >= i; j-- {
		p += "/" + ac.chain[j].name
	}
	return p
}

// access finds how v reaches node id: ErrNotFound if it cannot.
func (s *Store) access(ctx context.Context, q querier, v *viewer, id int64) (*access, error) {
	ch, err := s.chain(ctx, q, id)
	if err != nil {
		return nil, err
	}
	return s.accessChain(ctx, v, ch)
}

// accessChain is access of the node of chain ch (as chain returns it).
func (s *Store) accessChain(ctx context.Context, v *viewer, ch []row) (*access, error) {
	root := ch[len(ch)-1]
	ac := &access{chain: ch, anchor: len(ch) - 1}
	switch {
	case root.kind == SpaceHome && root.spaceID == v.ID:
		ac.prefix, ac.write, ac.own = "/Home", true, true
		ac.space = Space{Kind: SpaceHome, ID: v.ID, Name: v.Login}
		return ac, nil
	case root.kind == SpaceGroup && v.groups[root.spaceID] != "":
		name := v.groups[root.spaceID]
		ac.prefix, ac.write, ac.own = "/Groups/"+name, true, true
		ac.space = Space{Kind: SpaceGroup, ID: root.spaceID, Name: name}
		return ac, nil
	}
	entries, err := s.sharedEntries(ctx, v)
	if err != nil {
		return nil, err
	}
	found := false
	for i := len(ch) - 1; i >= 0; i-- {
		for _, e := range entries {
			if e.nodeID != ch[i].id {
				continue
			}
			if !found {
				found = true
				ac.anchor = i
				ac.prefix = "/Shared/" + e.owner + "/" + e.name
			}
			ac.write = ac.write || e.write
			if e.write && (ac.since == 0 || e.created < ac.since) {
				ac.since = e.created
			}
		}
	}
	if !found {
		return nil, ErrNotFound
	}
	ac.space = Space{Kind: root.kind, ID: root.spaceID, Name: s.spaceName(ctx, root.kind, root.spaceID)}
	return ac, nil
}

// nodeOf builds the Node of chain[i] as the viewer sees it.
func (ac *access) nodeOf(i int) Node {
	r := ac.chain[i]
	n := Node{
		ID: r.id, Name: r.name, Path: ac.pathOf(i), Dir: r.dir,
		Size: r.size, ModTime: fromMS(r.modified), Created: fromMS(r.created), Versions: r.versions,
		ETag: fmt.Sprintf("%x-%x", r.id, r.seq), Space: ac.space, Writable: ac.write, blob: r.blob,
	}
	if !ac.own {
		n.Versions = min(n.Versions, 1) // see seesVersion
	}
	if i < ac.anchor {
		n.ParentID = r.parent
	}
	n.Name = n.Path[strings.LastIndexByte(n.Path, '/')+1:]
	return n
}

// childNode builds the Node of a child row of folder parent.
func childNode(parent Node, r row) Node {
	return Node{
		ID: r.id, ParentID: parent.ID, Name: r.name, Path: parent.Path + "/" + r.name, Dir: r.dir,
		Size: r.size, ModTime: fromMS(r.modified), Created: fromMS(r.created), Versions: r.versions,
		ETag: fmt.Sprintf("%x-%x", r.id, r.seq), Space: parent.Space, Writable: parent.Writable, blob: r.blob,
	}
}

func virtual(p string) Node {
	name := p[strings.LastIndexByte(p, '/')+1:]
	return Node{Name: name, Path: p, Dir: true, Virtual: true}
}

// resolveContent is resolve that also returns the node's content if the
// database keeps it and the lookup read it with the path (a path in one's
// home or group folder); nil otherwise.
func (s *Store) resolveContent(ctx context.Context, v *viewer, p string) (Node, []byte, error) {
	parts, err := splitPath(p)
	if err != nil {
		return Node{}, nil, err
	}
	switch {
	case len(parts) >= 1 && parts[0] == "Home":
		return s.walk(ctx, v, SpaceHome, v.ID, parts[1:], true)
	case len(parts) >= 2 && parts[0] == "Groups":
		if gid, ok := v.byName[parts[1]]; ok {
			return s.walk(ctx, v, SpaceGroup, gid, parts[2:], true)
		}
	}
	n, err := s.resolve(ctx, v, p)
	return n, nil, err
}

// resolve finds the node at p: a virtual folder (ID 0) or a real one.
func (s *Store) resolve(ctx context.Context, v *viewer, p string) (Node, error) {
	parts, err := splitPath(p)
	if err != nil {
		return Node{}, err
	}
	if len(parts) == 0 {
		return virtual("/"), nil
	}
	var start int64
	var rest []string
	switch parts[0] {
	case "Home":
		n, _, err := s.walk(ctx, v, SpaceHome, v.ID, parts[1:], false)
		return n, err
	case "Groups":
		if len(parts) == 1 {
			return virtual("/Groups"), nil
		}
		gid, ok := v.byName[parts[1]]
		if !ok {
			return Node{}, ErrNotFound
		}
		n, _, err := s.walk(ctx, v, SpaceGroup, gid, parts[2:], false)
		return n, err
	case "Shared":
		if len(parts) == 1 {
			return virtual("/Shared"), nil
		}
		entries, err := s.sharedEntries(ctx, v)
		if err != nil {
			return Node{}, err
		}
		for _, e := range entries {
			if e.owner != parts[1] {
				continue
			}
			if len(parts) == 2 {
				return virtual("/Shared/" + e.owner), nil
			}
			if e.name == parts[2] {
				start = e.nodeID
				break
			}
		}
		if start == 0 {
			return Node{}, ErrNotFound
		}
		rest = parts[3:]
	default:
		return Node{}, ErrNotFound
	}
	id := start
	for i, name := range rest {
		cid, dir, err := s.childID(ctx, s.db, id, name)
		if err != nil {
			return Node{}, err
		}
		if cid == 0 {
			return Node{}, ErrNotFound
		}
		if !dir && i < len(rest)-1 {
			return Node{}, ErrNotFound
		}
		id = cid
	}
	ac, err := s.access(ctx, s.db, v, id)
	if err != nil {
		return Node{}, err
	}
	return ac.nodeOf(0), nil
}

// walkQuery reads the nodes of a path from a space's root down, deepest
// first (the order of chainQuery), in one statement: a recursive descent
// from the root of space (?1, ?2) by the names of the JSON array ?3, each
// step a probe of the index files_nodes_name, joined with each node's row.
// It stops where a name is missing; the caller compares the rows it got
// with the names it gave. walkContentQuery also reads each file's content
// if the database keeps it (of at most ?4 bytes, see storeContent): a
// small file's lookup and its content in one statement.
const (
	walkQuery        = walkDown + `SELECT ` + rowCols + walkFrom
	walkContentQuery = walkDown + walkContent + walkFrom
	walkContent      = `SELECT ` + rowCols +
		`, CASE WHEN v.size <= ?4 THEN (SELECT data FROM files_inline WHERE ref = v.blob) END`

	walkDown = `WITH RECURSIVE down(id, depth) AS (
		SELECT id, 0 FROM files_nodes WHERE space_kind = ?1 AND space_id = ?2 AND parent_id IS NULL
		UNION ALL
		SELECT n.id, down.depth + 1 FROM down JOIN files_nodes n
			ON n.parent_id = down.id AND n.name = json_extract(?3, '$[' || down.depth || ']') AND n.deleted_at IS NULL)
	`
	walkFrom = ` FROM down JOIN files_nodes n ON n.id = down.id
	LEFT JOIN files_versions v ON v.id = (SELECT MAX(id) FROM files_versions WHERE node_id = n.id)
	ORDER BY down.depth DESC`
)

// walk resolves names below the root of a space that v reaches as its
// own (its home, one of its groups): one statement gives the node and
// every folder above it, which is the chain access needs, where a lookup
// per name and then the chain took one statement per level and one more.
// With content, it also returns the node's content if the database keeps
// it (nil otherwise).
//
// The node is looked up in the path cache first (see pathcache.go); a
// node found there comes without its content (nil), which the caller then
// opens by the node.
func (s *Store) walk(ctx context.Context, v *viewer, kind SpaceKind, spaceID int64, names []string, content bool) (Node, []byte, error) {
	key := spaceKey(v, kind, spaceID, names)
	if n, ok := s.paths.get(v.ID, key, v.forUpload); ok {
		return n, nil, nil
	}
	since := s.paths.begin()
	n, data, err := s.walkDB(ctx, v, kind, spaceID, names, content)
	if hold := s.holdLookup.Swap(nil); hold != nil {
		(*hold)()
	}
	if err == nil {
		s.paths.add(v.ID, key, n, since)
	}
	return n, data, err
}

// walkDB is walk without the path cache.
func (s *Store) walkDB(ctx context.Context, v *viewer, kind SpaceKind, spaceID int64, names []string, content bool) (Node, []byte, error) {
	ch, data, err := s.walkRows(ctx, kind, spaceID, names, content)
	if err == nil && len(ch) == 0 {
		// No root yet: make it, then look again.
		if _, err = s.ensureRoot(ctx, kind, spaceID); err == nil {
			ch, data, err = s.walkRows(ctx, kind, spaceID, names, content)
		}
	}
	switch {
	case err != nil:
		return Node{}, nil, err
	case len(ch) != len(names)+1:
		return Node{}, nil, ErrNotFound
	case len(ch) > MaxDepth+1:
		return Node{}, nil, ErrTooDeep
	}
	for i, r := range ch {
		if r.deleted || (i > 0 && !r.dir) {
			return Node{}, nil, ErrNotFound
		}
	}
	ac, err := s.accessChain(ctx, v, ch)
	if err != nil {
		return Node{}, nil, err
	}
	return ac.nodeOf(0), data, nil
}

// walkRows runs walkQuery, or with content walkContentQuery, and returns the
// rows and the deepest row's content as the database keeps it (nil if
// it does not).
func (s *Store) walkRows(ctx context.Context, kind SpaceKind, spaceID int64, names []string, content bool) ([]row, []byte, error) {
	if names == nil {
		names = []string{} // a JSON array, not null
	}
	js, err := json.Marshal(names)
	if err != nil {
		return nil, nil, err
	}
	q, args := s.walkSQL(content), []any{kind, spaceID, string(js)}
	if content {
		args = append(args, s.opts.InlineBytes)
	}
	rows, err := s.cached(s.db).QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var out []row
	var data []byte
	for rows.Next() {
		var r row
		var d []byte
		if content {
			r, err = scanRow(withData{rows, &d})
		} else {
			r, err = scanRow(rows)
		}
		if err != nil {
			return nil, nil, err
		}
		if len(out) == 0 {
			data = d // the deepest row comes first
		}
		out = append(out, r)
	}
	return out, data, rows.Err()
}

// withData scans a row of rowCols followed by a content.
type withData struct {
	rows *sql.Rows
	data *[]byte
}

func (w withData) Scan(dest ...any) error {
	return w.rows.Scan(append(dest, w.data)...)
}

// lookupContext returns the context for the reads of a lookup (a path, a
// member's groups, a small content), once ctx is checked: ctx without its
// end. A lookup is a few probes of indexes; to watch a context that can
// end, database/sql and the driver each start a goroutine for every
// statement, which costs more than the statement. Whoever called the
// lookup goes on with ctx, and a transfer is cut by it.
func lookupContext(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

// Stat returns the node at path as a sees it.
func (s *Store) Stat(ctx context.Context, a Actor, path string) (Node, error) {
	ctx, v, err := s.lookup(ctx, a, path)
	if err != nil {
		return Node{}, err
	}
	return s.resolve(ctx, v, path)
}

// Folder is Stat of a folder to upload into (PutIn): a folder the path
// cache holds is taken from there even if uploads into it have changed
// its ETag and modification time since (which the node returned may then
// not show), as its id, space and rights are what an upload uses.
func (s *Store) Folder(ctx context.Context, a Actor, path string) (Node, error) {
	ctx, v, err := s.lookup(ctx, a, path)
	if err != nil {
		return Node{}, err
	}
	v.forUpload = true
	return s.resolve(ctx, v, path)
}

// lookup returns the context and the viewer for looking up path as a.
func (s *Store) lookup(ctx context.Context, a Actor, path string) (context.Context, *viewer, error) {
	ctx, err := lookupContext(ctx)
	if err != nil {
		return nil, nil, err
	}
	var v *viewer
	if first, _, _ := strings.Cut(strings.TrimLeft(path, "/"), "/"); first == "Home" {
		v, err = homeViewer(a)
	} else {
		v, err = s.viewer(ctx, a)
	}
	return ctx, v, err
}

// OpenPath is Stat and OpenNode in one: the node at path as a sees it
// and, for a file, its content, which the caller closes (nil for a
// folder). A small content kept in the database is read with the path,
// in the same statement.
func (s *Store) OpenPath(ctx context.Context, a Actor, path string) (Node, io.ReadSeekCloser, error) {
	lctx, v, err := s.lookup(ctx, a, path)
	if err != nil {
		return Node{}, nil, err
	}
	n, data, err := s.resolveContent(lctx, v, path)
	switch {
	case err != nil:
		return Node{}, nil, err
	case n.Dir:
		return n, nil, nil
	case data == nil:
		rc, err := s.OpenNode(ctx, a, n)
		return n, rc, err
	}
	if err := ctx.Err(); err != nil {
		return Node{}, nil, err
	}
	s.contents.loaded(n.blob, data)
	s.recordRead(ctx, a, n, 0)
	return n, s.watchGroup(inlineContent{bytes.NewReader(data)}, n), nil
}

// Node returns the node id as a sees it.
func (s *Store) Node(ctx context.Context, a Actor, id int64) (Node, error) {
	v, err := s.viewer(ctx, a)
	if err != nil {
		return Node{}, err
	}
	ac, err := s.access(ctx, s.db, v, id)
	if err != nil {
		return Node{}, err
	}
	return ac.nodeOf(0), nil
}

// Breadcrumbs returns the folders from the viewer's root down to (not
// including) id, virtual folders included, e.g. "/", "Home", "Plans".
func (s *Store) Breadcrumbs(ctx context.Context, a Actor, id int64) ([]Node, error) {
	v, err := s.viewer(ctx, a)
	if err != nil {
		return nil, err
	}
	ac, err := s.access(ctx, s.db, v, id)
	if err != nil {
		return nil, err
	}
	out := []Node{virtual("/")}
	parts := strings.Split(strings.TrimPrefix(ac.prefix, "/"), "/")
	for i := 1; i < len(parts); i++ { // virtual folders above the anchor
		out = append(out, virtual("/"+strings.Join(parts[:i], "/")))
	}
	for i := ac.anchor; i >= 1; i-- {
		out = append(out, ac.nodeOf(i))
	}
	return out, nil
}

// List returns the entries of the folder at path, folders first, by name.
func (s *Store) List(ctx context.Context, a Actor, path string) ([]Node, error) {
	v, err := s.viewer(ctx, a)
	if err != nil {
		return nil, err
	}
	n, err := s.resolve(ctx, v, path)
	if err != nil {
		return nil, err
	}
	if !n.Virtual {
		return s.listID(ctx, v, n.ID)
	}
	var out []Node
	switch {
	case n.Path == "/":
		home, err := s.resolve(ctx, v, "/Home")
		if err != nil {
			return nil, err
		}
		return []Node{home, virtual("/Groups"), virtual("/Shared")}, nil
	case n.Path == "/Groups":
		for name := range v.byName {
			g, err := s.resolve(ctx, v, "/Groups/"+name)
			if err != nil {
				return nil, err
			}
			out = append(out, g)
		}
	case n.Path == "/Shared":
		entries, err := s.sharedEntries(ctx, v)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, e := range entries {
			if !seen[e.owner] {
				seen[e.owner] = true
				out = append(out, virtual("/Shared/"+e.owner))
			}
		}
	default: // /Shared/<owner>
		entries, err := s.sharedEntries(ctx, v)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if "/Shared/"+e.owner == n.Path {
				ac, err := s.access(ctx, s.db, v, e.nodeID)
				if err != nil {
					continue
				}
				out = append(out, ac.nodeOf(0))
			}
		}
	}
	sortNodes(out)
	return out, nil
}

func sortNodes(ns []Node) {
	slices.SortFunc(ns, func(a, b Node) int {
		if a.Dir != b.Dir {
			if a.Dir {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Name, b.Name)
	})
}

// ListID returns the entries of folder id.
func (s *Store) ListID(ctx context.Context, a Actor, id int64) ([]Node, error) {
	v, err := s.viewer(ctx, a)
	if err != nil {
		return nil, err
	}
	return s.listID(ctx, v, id)
}

func (s *Store) listID(ctx context.Context, v *viewer, id int64) ([]Node, error) {
	ac, err := s.access(ctx, s.db, v, id)
	if err != nil {
		return nil, err
	}
	parent := ac.nodeOf(0)
	if !parent.Dir {
		return nil, ErrNotDir
	}
	rows, err := s.childRows(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	out := make([]Node, 0, len(rows))
	for _, r := range rows {
		c := childNode(parent, r)
		if !ac.own {
			c.Versions = min(c.Versions, 1) // see seesVersion
		}
		out = append(out, c)
	}
	sortNodes(out)
	return out, nil
}

// writable checks that v may change node id and returns its access.
func (s *Store) writable(ctx context.Context, q querier, v *viewer, id int64) (*access, error) {
	ac, err := s.access(ctx, q, v, id)
	if err != nil {
		return nil, err
	}
	if !ac.write {
		return nil, fmt.Errorf("%w: shared read-only", ErrForbidden)
	}
	return ac, nil
}

// folder checks that v may add to folder id.
func (s *Store) folder(ctx context.Context, q querier, v *viewer, id int64) (*access, error) {
	if id == 0 {
		return nil, fmt.Errorf("%w: nothing can be created here", ErrForbidden)
	}
	ch, err := s.chain(ctx, q, id)
	if err != nil {
		return nil, err
	}
	return s.folderChain(ctx, v, ch)
}

// folderChain is folder of the node of chain ch (as chain returns it).
func (s *Store) folderChain(ctx context.Context, v *viewer, ch []row) (*access, error) {
	ac, err := s.accessChain(ctx, v, ch)
	if err != nil {
		return nil, err
	}
	if !ac.write {
		return nil, fmt.Errorf("%w: shared read-only", ErrForbidden)
	}
	if !ac.node().dir {
		return nil, ErrNotDir
	}
	if len(ac.chain) > MaxDepth {
		return nil, ErrTooDeep
	}
	return ac, nil
}

// Mkdir makes folder name in folder parentID.
func (s *Store) Mkdir(ctx context.Context, a Actor, parentID int64, name string) (Node, error) {
	v, err := s.viewer(ctx, a)
	if err != nil {
		return Node{}, err
	}
	if name, err = validName(name); err != nil {
		return Node{}, err
	}
	var id int64
	err = s.tx(ctx, func(tx *sql.Tx) error {
		ac, err := s.folder(ctx, tx, v, parentID)
		if err != nil {
			return err
		}
		if cid, _, err := s.childID(ctx, tx, parentID, name); err != nil {
			return err
		} else if cid != 0 {
			return ErrExists
		}
		p := ac.node()
		now := ms(s.now())
		if err := tx.QueryRowContext(ctx, `INSERT INTO files_nodes (space_kind, space_id, parent_id, name, is_dir, created_at, modified_at) VALUES (?, ?, ?, ?, 1, ?, ?) RETURNING id`,
			p.kind, p.spaceID, parentID, name, now, now).Scan(&id); err != nil {
			return err
		}
		return touch(ctx, tx, parentID, now)
	})
	if err != nil {
		return Node{}, err
	}
	return s.nodeFor(ctx, v, id)
}

func (s *Store) nodeFor(ctx context.Context, v *viewer, id int64) (Node, error) {
	ac, err := s.access(ctx, s.db, v, id)
	if err != nil {
		return Node{}, err
	}
	return ac.nodeOf(0), nil
}

// tx runs fn in a write transaction, as db.Tx does, and then empties the
// path cache: every write of the store but an upload's goes through it
// (see pathcache.go).
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	defer s.paths.empty()
	return s.db.Tx(ctx, fn)
}

// touch marks node id changed (its ETag and modification time).
func touch(ctx context.Context, tx *sql.Tx, id int64, now int64) error {
	_, err := tx.ExecContext(ctx, touchQuery, now, id)
	return err
}

const touchQuery = `UPDATE files_nodes SET seq = seq + 1, modified_at = ? WHERE id = ?`

// touchCached is touch with a statement prepared once for the store's
// database: every upload runs it, in the group commit all uploads wait
// for, where preparing it each time cost 2% of an upload's CPU.
func (s *Store) touchCached(ctx context.Context, tx *sql.Tx, id int64, now int64) error {
	_, err := s.cached(tx).ExecContext(ctx, touchQuery, now, id)
	return err
}

// Open opens file id for reading; the caller closes it.
func (s *Store) Open(ctx context.Context, a Actor, id int64) (io.ReadSeekCloser, Node, error) {
	n, err := s.Node(ctx, a, id)
	if err != nil {
		return nil, Node{}, err
	}
	if n.Dir {
		return nil, Node{}, ErrIsDir
	}
	// The content of the version just read, with its ETag.
	f, err := s.openBlob(ctx, n.blob, n.Size)
	if err == nil {
		s.recordRead(ctx, a, n, 0)
	}
	return s.watchGroup(f, n), n, err
}

// OpenNode opens the content of file n as it was when the store returned
// n to a: the version its ETag names, without looking n up again. Use it
// only within the request that obtained n (access was checked then, and
// revocation ends the request's ctx); a Node not returned by the store is
// opened by its ID, as [Store.Open] does.
func (s *Store) OpenNode(ctx context.Context, a Actor, n Node) (io.ReadSeekCloser, error) {
	lctx, err := lookupContext(ctx)
	if err != nil {
		return nil, err
	}
	if n.Dir {
		return nil, ErrIsDir
	}
	if n.blob == "" {
		rc, _, err := s.Open(ctx, a, n.ID)
		return rc, err
	}
	rc, err := s.openBlob(lctx, n.blob, n.Size)
	if err == nil {
		s.recordRead(ctx, a, n, 0)
	}
	return s.watchGroup(rc, n), err
}

func (s *Store) openCurrent(ctx context.Context, id int64) (io.ReadSeekCloser, error) {
	r, err := s.getRow(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if r.dir {
		return nil, ErrIsDir
	}
	return s.openBlob(ctx, r.blob, r.size)
}

// openBlob opens the content ref of size bytes: a blob file, or the copy
// in the database of a small content (see storeContent). Where a content
// of its size is kept is looked at first, the other place after (a content
// stored before migration 3, or under another Options.InlineBytes).
func (s *Store) openBlob(ctx context.Context, ref string, size int64) (io.ReadSeekCloser, error) {
	br, err := blob.ParseRef(ref)
	if err != nil {
		return nil, fmt.Errorf("files: version without content: %w", err)
	}
	if size <= int64(s.opts.InlineBytes) {
		if rc, err := s.openInline(ctx, ref); rc != nil || err != nil {
			return rc, err
		}
	}
	f, err := s.blobs.Open(br)
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, blob.ErrNotFound) {
		return nil, fmt.Errorf("files: content: %w", err)
	}
	if size > int64(s.opts.InlineBytes) {
		if rc, ierr := s.openInline(ctx, ref); rc != nil || ierr != nil {
			return rc, ierr
		}
	}
	return nil, fmt.Errorf("files: content: %w", err)
}

// openInline opens the content ref kept in the database; nil, nil if
// there is none. The content cache is looked at first (see
// contentcache.go); a content read from the database goes into it (and,
// on PostgreSQL with S3, onto the node's disk).
func (s *Store) openInline(ctx context.Context, ref string) (io.ReadSeekCloser, error) {
	if data, ok := s.contents.get(ref); ok {
		return inlineContent{bytes.NewReader(data)}, nil
	}
	data, err := s.readInline(ctx, ref)
	if data == nil || err != nil {
		return nil, err
	}
	s.contents.loaded(ref, data)
	return inlineContent{bytes.NewReader(data)}, nil
}

const inlineQuery = `SELECT data FROM files_inline WHERE ref = ?`

// readInline returns the content ref kept in the database, nil if there
// is none. It is copied once from the driver's row (database/sql's Scan
// into a []byte would copy it twice).
func (s *Store) readInline(ctx context.Context, ref string) ([]byte, error) {
	rows, err := s.cached(s.db).QueryContext(ctx, inlineQuery, ref)
	if err != nil {
		return nil, fmt.Errorf("files: content: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("files: content: %w", err)
		}
		return nil, nil
	}
	var raw sql.RawBytes // valid until Next or Close: copied at once
	if err := rows.Scan(&raw); err != nil {
		return nil, fmt.Errorf("files: content: %w", err)
	}
	data := append(make([]byte, 0, max(len(raw), 1)), raw...) // not nil when empty
	return data, rows.Close()
}

// inlineContent is a content read from the database (or the content
// cache); it reads nothing once closed.
type inlineContent struct{ *bytes.Reader }

func (c inlineContent) Close() error {
	c.Reader.Reset(nil)
	return nil
}

// record writes an audit record for a change by a.
func (s *Store) record(ctx context.Context, a Actor, kind, subject, detail string) {
	if s.audit == nil {
		return
	}
	e := audit.Event{Actor: a.Login, Subject: subject, Kind: kind, Detail: detail, UserAgent: a.Client.UserAgent}
	if a.Client.Addr.IsValid() {
		e.Addr = a.Client.Addr.String()
	}
	if err := s.audit.Record(ctx, e); err != nil {
		s.log.Error("audit record", "kind", kind, "err", err)
	}
}

// CommitStats returns what the store's group commit, which carries its
// uploads, did since the store was made: for load tools.
func (s *Store) CommitStats() db.GroupStats { return s.group.Stats() }

// TotalSize is the bytes of every stored version of every file, in every
// space, trash included (a blob shared by several versions counts for
// each): what the metrics report as files stored.
func (s *Store) TotalSize(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT coalesce(sum(size), 0) FROM files_versions`).Scan(&n); err != nil {
		return 0, fmt.Errorf("files: total size: %w", err)
	}
	return n, nil
}

// Key returns a name for path p that is the same for every member who
// reaches it, whatever path each sees it by: "/home/<id>/…" or
// "/group/<id>/…", the names from its space's root (a virtual folder's
// key is the viewer's own). A path that does not exist yet gets its
// deepest existing folder's key with the rest of the names appended, so
// that a lock on a folder covers what is created in it. WebDAV locks are
// kept by key (RFC 4918 section 6: a lock is on the resource, not on one
// of its URLs).
func (s *Store) Key(ctx context.Context, a Actor, p string) (string, error) {
	v, err := s.viewer(ctx, a)
	if err != nil {
		return "", err
	}
	parts, err := splitPath(p)
	if err != nil {
		return "", err
	}
	for i := len(parts); i >= 0; i-- {
		n, err := s.resolve(ctx, v, "/"+strings.Join(parts[:i], "/"))
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return "", err
		}
		k, err := s.nodeKey(ctx, v, n)
		if err != nil {
			return "", err
		}
		for _, name := range parts[i:] {
			k += "/" + name
		}
		return k, nil
	}
	return "", ErrNotFound // "/" always resolves
}

// nodeKey is Key of a node that exists.
func (s *Store) nodeKey(ctx context.Context, v *viewer, n Node) (string, error) {
	if n.Virtual {
		return fmt.Sprintf("/view/%d%s", v.ID, strings.TrimSuffix(n.Path, "/")), nil
	}
	ac, err := s.access(ctx, s.db, v, n.ID)
	if err != nil {
		return "", err
	}
	root := ac.chain[len(ac.chain)-1]
	var b strings.Builder
	fmt.Fprintf(&b, "/%s/%d", root.kind, root.spaceID)
	for i := len(ac.chain) - 2; i >= 0; i-- {
		b.WriteString("/" + ac.chain[i].name)
	}
	return b.String(), nil
}
