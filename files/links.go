package files

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/web"
)

// TokenBytes is the random part of a link token: 160 bits.
const TokenBytes = 20

// Share shares node id with a member or a group. Only a member of the space
// the node is in may share it (not someone it was shared with).
func (s *Store) Share(ctx context.Context, a Actor, id int64, with Grantee, write bool) (Share, error) {
	v, err := s.viewer(ctx, a)
	if err != nil {
		return Share{}, err
	}
	ac, err := s.access(ctx, s.db, v, id)
	if err != nil {
		return Share{}, err
	}
	if !ac.own {
		return Share{}, fmt.Errorf("%w: only members of its space may share an item", ErrForbidden)
	}
	kind, gid, subject := "", int64(0), ""
	switch {
	case with.Login != "" && with.Group == "":
		acct, err := s.auth.AccountByLogin(ctx, with.Login)
		if err != nil || acct.State != auth.StateActive {
			return Share{}, fmt.Errorf("%w: %q", ErrNoGrantee, with.Login)
		}
		if acct.ID == a.ID {
			return Share{}, fmt.Errorf("%w: sharing with oneself", ErrForbidden)
		}
		kind, gid, subject = "account", acct.ID, acct.Login
	case with.Group != "" && with.Login == "":
		if gid, err = s.groupID(ctx, with.Group); errors.Is(err, ErrNotFound) {
			return Share{}, fmt.Errorf("%w: group %q", ErrNoGrantee, with.Group)
		} else if err != nil {
			return Share{}, err
		}
		kind = "group"
	default:
		return Share{}, fmt.Errorf("%w: share with one member or one group", ErrForbidden)
	}
	now := s.now()
	var sid int64
	err = s.db.QueryRowContext(ctx, `INSERT INTO files_shares (node_id, owner_id, grantee_kind, grantee_id, write, created_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (node_id, grantee_kind, grantee_id) DO UPDATE SET write = excluded.write, owner_id = excluded.owner_id RETURNING id`,
		id, a.ID, kind, gid, boolInt(write), ms(now)).Scan(&sid)
	s.paths.empty()
	if err != nil {
		return Share{}, err
	}
	n := ac.nodeOf(0)
	s.record(ctx, a, "files.share", subject, fmt.Sprintf("path=%s group=%s write=%t", n.Path, with.Group, write))
	return Share{ID: sid, NodeID: id, NodeName: n.Name, NodePath: n.Path, Owner: a.Login, OwnerID: a.ID, With: with, Write: write, CreatedAt: fromMS(ms(now))}, nil
}

// Unshare removes share shareID; only who made it may.
func (s *Store) Unshare(ctx context.Context, a Actor, shareID int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM files_shares WHERE id = ? AND owner_id = ?`, shareID, a.ID)
	s.paths.empty()
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	s.record(ctx, a, "files.unshare", "", fmt.Sprintf("share=%d", shareID))
	return nil
}

func (s *Store) shares(ctx context.Context, where string, args ...any) ([]Share, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT s.id, s.node_id, n.name, s.owner_id, s.grantee_kind, s.grantee_id, s.write, s.created_at
		FROM files_shares s JOIN files_nodes n ON n.id = s.node_id WHERE `+where+` ORDER BY s.id`, args...)
	if err != nil {
		return nil, err
	}
	type raw struct {
		Share
		kind string
		gid  int64
	}
	var rs []raw
	for rows.Next() {
		var r raw
		var at int64
		if err := rows.Scan(&r.ID, &r.NodeID, &r.NodeName, &r.OwnerID, &r.kind, &r.gid, &r.Write, &at); err != nil {
			rows.Close()
			return nil, err
		}
		r.CreatedAt = fromMS(at)
		rs = append(rs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]Share, 0, len(rs))
	for _, r := range rs {
		sh := r.Share
		if owner, err := s.auth.Account(ctx, sh.OwnerID); err == nil {
			sh.Owner = owner.Login
			if v, err := s.viewer(ctx, Actor{ID: owner.ID, Login: owner.Login}); err == nil {
				if ac, err := s.access(ctx, s.db, v, sh.NodeID); err == nil {
					sh.NodePath = ac.pathOf(0)
				}
			}
		}
		if r.kind == "account" {
			if g, err := s.auth.Account(ctx, r.gid); err == nil {
				sh.With.Login = g.Login
			}
		} else {
			sh.With.Group = s.spaceName(ctx, SpaceGroup, r.gid)
		}
		out = append(out, sh)
	}
	return out, nil
}

// SharesOf lists the shares accountID made.
func (s *Store) SharesOf(ctx context.Context, accountID int64) ([]Share, error) {
	return s.shares(ctx, `s.owner_id = ?`, accountID)
}

// SharedWith lists what others shared with a (directly or through a group),
// with NodePath as a sees it ("/Shared/<owner>/<name>").
func (s *Store) SharedWith(ctx context.Context, a Actor) ([]Share, error) {
	v, err := s.viewer(ctx, a)
	if err != nil {
		return nil, err
	}
	entries, err := s.sharedEntries(ctx, v)
	if err != nil {
		return nil, err
	}
	out := make([]Share, 0, len(entries))
	for _, e := range entries {
		out = append(out, Share{ID: e.shareID, NodeID: e.nodeID, NodeName: e.name, NodePath: "/Shared/" + e.owner + "/" + e.name,
			Owner: e.owner, OwnerID: e.ownerID, With: Grantee{Login: a.Login}, Write: e.write, CreatedAt: fromMS(e.created)})
	}
	return out, nil
}

// linkLifetimes are the longest and the default lifetime of a's new
// links: the store's, and for a volunteer at most
// auth.VolunteerLinkDays.
func (s *Store) linkLifetimes(ctx context.Context, a Actor) (longest, def time.Duration, err error) {
	longest, def = s.opts.MaxLinkLifetime, s.opts.DefaultLinkLifetime
	acct, err := s.auth.Account(ctx, a.ID)
	if err != nil {
		return 0, 0, fmt.Errorf("files: link: %w", err)
	}
	if acct.Role == auth.RoleVolunteer {
		cap := auth.VolunteerLinkDays * 24 * time.Hour
		longest, def = min(longest, cap), min(def, cap)
	}
	return longest, def, nil
}

// CreateLink makes a public link to node id and returns its token (shown
// once; TokenBytes random bytes, stored only as a SHA-256 hash). During
// incident mode it makes none ([ErrFrozen]).
func (s *Store) CreateLink(ctx context.Context, a Actor, id int64, o LinkOptions) (string, Link, error) {
	if err := s.checkFreeze(ctx); err != nil {
		return "", Link{}, err
	}
	v, err := s.viewer(ctx, a)
	if err != nil {
		return "", Link{}, err
	}
	ac, err := s.access(ctx, s.db, v, id)
	if err != nil {
		return "", Link{}, err
	}
	if !ac.own {
		return "", Link{}, fmt.Errorf("%w: only members of its space may make a link to an item", ErrForbidden)
	}
	n := ac.nodeOf(0)
	switch o.Kind {
	case "":
		o.Kind = LinkDownload
	case LinkDownload:
	case LinkDrop:
		if !n.Dir {
			return "", Link{}, fmt.Errorf("%w: a file drop link needs a folder", ErrNotDir)
		}
	default:
		return "", Link{}, fmt.Errorf("files: unknown link kind %q", o.Kind)
	}
	now := s.now()
	longest, def, err := s.linkLifetimes(ctx, a)
	if err != nil {
		return "", Link{}, err
	}
	if o.ExpiresAt.IsZero() {
		o.ExpiresAt = now.Add(def)
	}
	if !o.ExpiresAt.After(now) {
		return "", Link{}, fmt.Errorf("%w: expiry is in the past", ErrExpired)
	}
	if o.ExpiresAt.After(now.Add(longest)) {
		return "", Link{}, fmt.Errorf("%w: at most %d days", ErrLifetime, int(longest.Hours()/24))
	}
	if o.MaxDownloads < 0 {
		o.MaxDownloads = 0
	}
	if o.MaxBytes < 0 || o.MaxBytes > s.opts.DropLinkBytes {
		return "", Link{}, fmt.Errorf("%w: a drop link receives at most %d bytes", ErrQuota, s.opts.DropLinkBytes)
	}
	phc := ""
	if o.Password != "" {
		if len(o.Password) > 1024 {
			return "", Link{}, fmt.Errorf("%w: password too long", ErrPassword)
		}
		if phc, err = s.hasher.Hash(ctx, o.Password); err != nil {
			return "", Link{}, err
		}
	}
	token := web.RandomToken(TokenBytes)
	var lid int64
	err = s.db.QueryRowContext(ctx, `INSERT INTO files_links (node_id, owner_id, token_hash, kind, created_at, expires_at, password, max_downloads, max_bytes)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, id, a.ID, web.TokenHash(token), o.Kind, ms(now), ms(o.ExpiresAt), phc, o.MaxDownloads, o.MaxBytes).Scan(&lid)
	if err != nil {
		return "", Link{}, err
	}
	s.record(ctx, a, "files.link.create", "", fmt.Sprintf("link=%d kind=%s path=%s expires=%s password=%t max=%d", lid, o.Kind, n.Path, o.ExpiresAt.UTC().Format("2006-01-02T15:04Z"), phc != "", o.MaxDownloads))
	l, err := s.link(ctx, `l.id = ?`, lid)
	return token, l, err
}

// checkFreeze refuses a new public link during incident mode, and when
// the incident switch cannot be read.
func (s *Store) checkFreeze(ctx context.Context) error {
	if s.freeze == nil {
		return nil
	}
	on, err := s.freeze.Frozen(ctx)
	if err != nil {
		return fmt.Errorf("files: incident switch: %w", err)
	}
	if on {
		return ErrFrozen
	}
	return nil
}

const linkCols = `SELECT l.id, l.node_id, n.name, n.is_dir, l.owner_id, l.kind, l.created_at, l.expires_at, l.password != '', l.max_downloads, l.downloads,
	l.max_bytes, l.received_bytes, l.revoked_at IS NOT NULL, l.suspended FROM files_links l JOIN files_nodes n ON n.id = l.node_id WHERE `

func (s *Store) links(ctx context.Context, where string, args ...any) ([]Link, error) {
	rows, err := s.db.QueryContext(ctx, linkCols+where+` ORDER BY l.id DESC`, args...)
	if err != nil {
		return nil, err
	}
	var out []Link
	for rows.Next() {
		var l Link
		var c, e int64
		if err := rows.Scan(&l.ID, &l.NodeID, &l.NodeName, &l.Dir, &l.OwnerID, &l.Kind, &c, &e, &l.HasPassword, &l.MaxDownloads, &l.Downloads, &l.MaxBytes, &l.Received, &l.Revoked, &l.Suspended); err != nil {
			rows.Close()
			return nil, err
		}
		l.CreatedAt, l.ExpiresAt = fromMS(c), fromMS(e)
		if l.MaxBytes == 0 || l.MaxBytes > s.opts.DropLinkBytes {
			l.MaxBytes = s.opts.DropLinkBytes
		}
		out = append(out, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		l := &out[i]
		if owner, err := s.auth.Account(ctx, l.OwnerID); err == nil {
			l.Owner = owner.Login
			if v, err := s.viewer(ctx, Actor{ID: owner.ID, Login: owner.Login}); err == nil {
				if ac, err := s.access(ctx, s.db, v, l.NodeID); err == nil {
					l.NodePath = ac.pathOf(0)
				}
			}
		}
	}
	return out, nil
}

func (s *Store) link(ctx context.Context, where string, args ...any) (Link, error) {
	ls, err := s.links(ctx, where, args...)
	if err != nil {
		return Link{}, err
	}
	if len(ls) == 0 {
		return Link{}, ErrNotFound
	}
	return ls[0], nil
}

// LinksOf lists the links accountID made, revoked and expired ones too.
func (s *Store) LinksOf(ctx context.Context, accountID int64) ([]Link, error) {
	return s.links(ctx, `l.owner_id = ?`, accountID)
}

// AllLinks lists every link of the party (for admins).
func (s *Store) AllLinks(ctx context.Context) ([]Link, error) { return s.links(ctx, `1 = 1`) }

// RevokeMyLink revokes a's own link id.
func (s *Store) RevokeMyLink(ctx context.Context, a Actor, id int64) error {
	res, err := s.db.ExecContext(ctx, `UPDATE files_links SET revoked_at = ? WHERE id = ? AND owner_id = ? AND revoked_at IS NULL`, ms(s.now()), id, a.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	s.endTransfers(ErrRevoked, func(w *linkWatch) bool { return w.link == id })
	s.record(ctx, a, "files.link.revoke", "", fmt.Sprintf("link=%d", id))
	return nil
}

// RevokeLink revokes link id for an admin (actor is the admin's login).
func (s *Store) RevokeLink(ctx context.Context, actor string, id int64) error {
	l, err := s.link(ctx, `l.id = ?`, id)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE files_links SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, ms(s.now()), id); err != nil {
		return err
	}
	s.endTransfers(ErrRevoked, func(w *linkWatch) bool { return w.link == id })
	s.record(ctx, Actor{Login: actor}, "files.link.revoke", l.Owner, fmt.Sprintf("link=%d", id))
	return nil
}

// RevokeLinksOf revokes every live link of accountID and returns how many.
func (s *Store) RevokeLinksOf(ctx context.Context, actor string, accountID int64) (int, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE files_links SET revoked_at = ? WHERE owner_id = ? AND revoked_at IS NULL`, ms(s.now()), accountID)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	s.endTransfers(ErrRevoked, func(w *linkWatch) bool { return w.owner == accountID })
	subject := ""
	if acct, err := s.auth.Account(ctx, accountID); err == nil {
		subject = acct.Login
	}
	s.record(ctx, Actor{Login: actor}, "files.link.revoke", subject, fmt.Sprintf("all links of the account: %d", n))
	return int(n), nil
}

// SuspendPublicLinks suspends every live link (incident mode) until
// ResumePublicLinks; it returns how many. Suspended links resolve to
// ErrSuspended.
func (s *Store) SuspendPublicLinks(ctx context.Context, actor string) (int, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE files_links SET suspended = 1 WHERE suspended = 0 AND revoked_at IS NULL`)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	s.endTransfers(ErrSuspended, func(*linkWatch) bool { return true })
	s.record(ctx, Actor{Login: actor}, "files.link.suspend", "", fmt.Sprintf("links=%d", n))
	return int(n), nil
}

// ResumePublicLinks lifts SuspendPublicLinks and returns how many links
// work again.
func (s *Store) ResumePublicLinks(ctx context.Context, actor string) (int, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE files_links SET suspended = 0 WHERE suspended = 1`)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	s.record(ctx, Actor{Login: actor}, "files.link.resume", "", fmt.Sprintf("links=%d", n))
	return int(n), nil
}

// live checks that a link still works.
func (s *Store) live(ctx context.Context, l Link) error {
	switch {
	case l.Revoked:
		return ErrRevoked
	case l.Suspended:
		return ErrSuspended
	case !s.now().Before(l.ExpiresAt):
		return ErrExpired
	case l.Kind == LinkDownload && l.MaxDownloads > 0 && l.Downloads >= l.MaxDownloads:
		return ErrExhausted
	}
	owner, err := s.auth.Account(ctx, l.OwnerID)
	if err != nil || owner.State != auth.StateActive {
		return ErrRevoked
	}
	return nil
}

// ResolveLink finds the live link of token and its node. It fails with
// ErrNotFound, ErrExpired, ErrExhausted, ErrRevoked or ErrSuspended (also
// ErrRevoked when the owner's account is no longer active).
func (s *Store) ResolveLink(ctx context.Context, token string) (Link, Node, error) {
	if len(token) > 100 {
		return Link{}, Node{}, ErrNotFound
	}
	var id int64
	var hash []byte
	err := s.db.QueryRowContext(ctx, `SELECT id, token_hash FROM files_links WHERE token_hash = ?`, web.TokenHash(token)).Scan(&id, &hash)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && subtle.ConstantTimeCompare(hash, web.TokenHash(token)) != 1) {
		return Link{}, Node{}, ErrNotFound
	}
	if err != nil {
		return Link{}, Node{}, err
	}
	l, err := s.link(ctx, `l.id = ?`, id)
	if err != nil {
		return Link{}, Node{}, err
	}
	if err := s.live(ctx, l); err != nil {
		return l, Node{}, err
	}
	n, err := s.LinkNode(ctx, l, 0)
	return l, n, err
}

// CheckLinkPassword checks a link's password (ErrPassword if wrong; nil for
// a link without one). Callers throttle wrong guesses.
func (s *Store) CheckLinkPassword(ctx context.Context, l Link, pw string) error {
	var phc string
	if err := s.db.QueryRowContext(ctx, `SELECT password FROM files_links WHERE id = ?`, l.ID).Scan(&phc); err != nil {
		return ErrNotFound
	}
	if phc == "" {
		return nil
	}
	if len(pw) > 1024 {
		return ErrPassword
	}
	ok, err := s.hasher.Verify(ctx, pw, phc)
	if err != nil {
		return err
	}
	if !ok {
		return ErrPassword
	}
	return nil
}

// linkAccess returns node id (0: the link's root) inside link l's tree,
// with its path relative to it ("/" is the link's node).
func (s *Store) linkAccess(ctx context.Context, l Link, id int64) (Node, error) {
	if id == 0 {
		id = l.NodeID
	}
	ch, err := s.chain(ctx, s.db, id)
	if err != nil {
		return Node{}, err
	}
	at := -1
	for i, r := range ch {
		if r.id == l.NodeID {
			at = i
			break
		}
	}
	if at < 0 {
		return Node{}, ErrNotFound
	}
	ac := &access{chain: ch, anchor: at, prefix: "", space: Space{Kind: ch[len(ch)-1].kind, ID: ch[len(ch)-1].spaceID}}
	n := ac.nodeOf(0)
	if at == 0 {
		n.Path, n.Name = "/", ch[0].name
		if n.Name == "" {
			n.Name = "files"
		}
	}
	n.Writable = false
	return n, nil
}

// LinkNode returns node id inside the tree of link l (0: its root).
func (s *Store) LinkNode(ctx context.Context, l Link, id int64) (Node, error) {
	return s.linkAccess(ctx, l, id)
}

// LinkList lists folder id inside the tree of download link l (0: its
// root). A file drop link shows nothing.
func (s *Store) LinkList(ctx context.Context, l Link, id int64) ([]Node, error) {
	if l.Kind != LinkDownload {
		return nil, ErrForbidden
	}
	n, err := s.linkAccess(ctx, l, id)
	if err != nil {
		return nil, err
	}
	if !n.Dir {
		return nil, ErrNotDir
	}
	rows, err := s.childRows(ctx, s.db, n.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Node, 0, len(rows))
	for _, r := range rows {
		c := childNode(n, r)
		c.Path = strings.TrimPrefix(n.Path, "/") + "/" + r.name
		if n.Path != "/" {
			c.Path = n.Path + "/" + r.name
		}
		out = append(out, c)
	}
	sortNodes(out)
	return out, nil
}

// DownloadWindow is how long the requests of one address for one file of
// a link count as one download (see LinkOpen).
const DownloadWindow = time.Hour

// maxFetches bounds the downloads LinkOpen remembers; past it, every
// request counts.
const maxFetches = 100000

// fetch is one address's download of one file through one link, or (link
// 0) by one account.
type fetch struct {
	link, node, account int64
	addr                netip.Addr
}

// counted reports whether a download of f was counted within
// DownloadWindow, and remembers this one otherwise.
func (s *Store) counted(f fetch) bool {
	now := s.now()
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	if at, ok := s.fetched[f]; ok && now.Sub(at) < DownloadWindow {
		return true
	}
	if len(s.fetched) >= maxFetches {
		for k, at := range s.fetched {
			if now.Sub(at) >= DownloadWindow {
				delete(s.fetched, k)
			}
		}
	}
	if len(s.fetched) < maxFetches {
		s.fetched[f] = now
	}
	return false
}

// LinkOpen opens file id inside the tree of download link l (0: its root)
// for client c and counts one download (ErrExhausted when the limit is
// reached). A download is one address fetching one file: the requests of
// c's address for the same file within DownloadWindow (the Range requests
// of a resumed or segmented download, a second look) count once, so that
// they do not use up a limited link meant for several people.
func (s *Store) LinkOpen(ctx context.Context, l Link, id int64, c auth.Client) (io.ReadSeekCloser, Node, error) {
	if l.Kind != LinkDownload {
		return nil, Node{}, ErrForbidden
	}
	n, err := s.linkAccess(ctx, l, id)
	if err != nil {
		return nil, Node{}, err
	}
	if n.Dir {
		return nil, Node{}, ErrIsDir
	}
	f := fetch{link: l.ID, node: n.ID, addr: c.Addr.Unmap()}
	if !s.counted(f) {
		if err := s.CountDownload(ctx, l.ID); err != nil {
			s.fetchMu.Lock()
			delete(s.fetched, f)
			s.fetchMu.Unlock()
			return nil, Node{}, err
		}
		s.recordRead(ctx, Actor{Client: c}, n, l.ID)
	} else if err := s.live(ctx, l); err != nil {
		return nil, Node{}, err
	}
	rc, err := s.openCurrent(ctx, n.ID)
	return rc, n, err
}

// CountDownload counts one download of link id, refusing with ErrExhausted
// when its limit is reached (and the other link errors when it no longer
// works).
func (s *Store) CountDownload(ctx context.Context, id int64) error {
	l, err := s.link(ctx, `l.id = ?`, id)
	if err != nil {
		return err
	}
	if err := s.live(ctx, l); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE files_links SET downloads = downloads + 1 WHERE id = ? AND (max_downloads = 0 OR downloads < max_downloads)`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrExhausted
	}
	return nil
}

// DropPut stores a file sent through drop link l into its folder, under a
// new name if the name is taken (nothing already there is shown or
// replaced). The file may have at most Options.DropFileBytes bytes, and the
// link receives at most its MaxBytes in all: a file over either, announced
// or found while streaming, is refused with ErrQuota and leaves nothing.
// The quota of the folder's space applies too.
func (s *Store) DropPut(ctx context.Context, l Link, name string, r io.Reader, size int64, c auth.Client) (Node, error) {
	if l.Kind != LinkDrop {
		return Node{}, ErrForbidden
	}
	cur, err := s.link(ctx, `l.id = ?`, l.ID) // it may have been revoked since it was resolved
	if err != nil {
		return Node{}, err
	}
	if err := s.live(ctx, cur); err != nil {
		return Node{}, err
	}
	limit := min(s.opts.DropFileBytes, cur.MaxBytes-cur.Received)
	if size > limit || limit <= 0 {
		return Node{}, dropTooLarge(cur, s.opts.DropFileBytes)
	}
	// Reserve the bytes first, so that uploads in parallel cannot together
	// pass the link's limit; what the file did not use is given back.
	want := limit
	if size >= 0 {
		want = size
	}
	if err := s.reserveDrop(ctx, cur, want); err != nil {
		return Node{}, err
	}
	lr := &dropReader{r: r, left: want, err: dropTooLarge(cur, s.opts.DropFileBytes)}
	id, _, err := s.put(ctx, nil, cur.NodeID, name, lr, size, fmt.Sprintf("link %d", l.ID), putUniquify, nil)
	used := want - lr.left
	if err != nil {
		used = 0
	}
	if _, rerr := s.db.ExecContext(context.WithoutCancel(ctx), `UPDATE files_links SET received_bytes = received_bytes - ? WHERE id = ?`, want-used, l.ID); rerr != nil {
		s.log.Error("files: drop link: giving back a reservation", "link", l.ID, "err", rerr)
	}
	if err != nil {
		return Node{}, err
	}
	n, err := s.linkAccess(ctx, cur, id)
	if err != nil {
		return Node{}, err
	}
	s.record(ctx, Actor{Client: c}, "files.drop", cur.Owner, fmt.Sprintf("link=%d name=%s size=%d", l.ID, n.Name, n.Size))
	return n, nil
}

func dropTooLarge(l Link, fileBytes int64) error {
	return fmt.Errorf("%w: a file sent through this link may have at most %d bytes, and the link takes %d more", ErrQuota, fileBytes, max(l.MaxBytes-l.Received, 0))
}

// reserveDrop counts n bytes against drop link l's limit, or fails with
// ErrQuota if they do not fit.
func (s *Store) reserveDrop(ctx context.Context, l Link, n int64) error {
	res, err := s.db.ExecContext(ctx, `UPDATE files_links SET received_bytes = received_bytes + ? WHERE id = ? AND received_bytes + ? <= ?`, n, l.ID, n, l.MaxBytes)
	if err != nil {
		return err
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return dropTooLarge(l, s.opts.DropFileBytes)
	}
	return nil
}

// dropReader reads at most left bytes from r and fails with err if r has
// more.
type dropReader struct {
	r    io.Reader
	left int64
	err  error
}

func (d *dropReader) Read(p []byte) (int, error) {
	if d.left <= 0 {
		// One byte more tells a body that ends here from one that goes on.
		var one [1]byte
		n, err := d.r.Read(one[:])
		if n > 0 {
			return 0, d.err
		}
		return 0, err
	}
	if int64(len(p)) > d.left {
		p = p[:d.left]
	}
	n, err := d.r.Read(p)
	d.left -= int64(n)
	return n, err
}

// TransferOwnership moves everything account from owns into to's home under
// "From <login>/", with from's shares, and its links moved or revoked per
// links. actor is the admin's login.
func (s *Store) TransferOwnership(ctx context.Context, actor string, from, to int64, links LinkDisposition) (TransferReport, error) {
	var rep TransferReport
	fa, err := s.auth.Account(ctx, from)
	if err != nil {
		return rep, fmt.Errorf("files: transfer from %d: %w", from, err)
	}
	ta, err := s.auth.Account(ctx, to)
	if err != nil {
		return rep, fmt.Errorf("files: transfer to %d: %w", to, err)
	}
	if from == to {
		return rep, fmt.Errorf("%w: transfer to the same account", ErrForbidden)
	}
	fromRoot, err := s.ensureRoot(ctx, SpaceHome, from)
	if err != nil {
		return rep, err
	}
	toRoot, err := s.ensureRoot(ctx, SpaceHome, to)
	if err != nil {
		return rep, err
	}
	base, err := validName("From " + fa.Login)
	if err != nil {
		base = fmt.Sprintf("From account %d", from)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		rep = TransferReport{}
		name := base
		for i := 2; ; i++ {
			cid, _, err := s.childID(ctx, tx, toRoot, name)
			if err != nil {
				return err
			}
			if cid == 0 {
				break
			}
			name = numbered(base, i)
		}
		rep.Folder = "/Home/" + name
		now := ms(s.now())
		var folder int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO files_nodes (space_kind, space_id, parent_id, name, is_dir, created_at, modified_at) VALUES ('home', ?, ?, ?, 1, ?, ?) RETURNING id`,
			to, toRoot, name, now, now).Scan(&folder); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, subtree+`SELECT COUNT(*) FILTER (WHERE is_dir = 1 AND id != ?), COUNT(*) FILTER (WHERE is_dir = 0),
			COALESCE((SELECT SUM(size) FROM files_versions WHERE node_id IN (SELECT id FROM sub)), 0) FROM files_nodes WHERE id IN (SELECT id FROM sub)`,
			fromRoot, fromRoot).Scan(&rep.Folders, &rep.Files, &rep.Bytes); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE files_nodes SET space_id = ? WHERE space_kind = 'home' AND space_id = ? AND parent_id IS NOT NULL`, to, from); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE files_nodes SET parent_id = ? WHERE parent_id = ?`, folder, fromRoot); err != nil {
			return err
		}
		// Shares and links of from's home root itself now point at the new folder.
		for _, t := range []string{"files_shares", "files_links"} {
			if _, err := tx.ExecContext(ctx, `UPDATE `+t+` SET node_id = ? WHERE node_id = ?`, folder, fromRoot); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE files_shares SET owner_id = ? WHERE owner_id = ?`, to, from)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		rep.SharesMoved = int(n)
		// A share with the successor of what is now the successor's own is void.
		if _, err := tx.ExecContext(ctx, `DELETE FROM files_shares WHERE grantee_kind = 'account' AND grantee_id = ? AND owner_id = ?`, to, to); err != nil {
			return err
		}
		if links == LinksMove {
			res, err = tx.ExecContext(ctx, `UPDATE files_links SET owner_id = ? WHERE owner_id = ? AND revoked_at IS NULL`, to, from)
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE files_links SET revoked_at = ? WHERE owner_id = ? AND revoked_at IS NULL`, now, from)
		}
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		if links == LinksMove {
			rep.LinksMoved = int(n)
		} else {
			rep.LinksRevoked = int(n)
		}
		return nil
	})
	if err != nil {
		return TransferReport{}, err
	}
	if links == LinksRevoke {
		s.endTransfers(ErrRevoked, func(w *linkWatch) bool { return w.owner == from })
	}
	s.record(ctx, Actor{Login: actor}, "files.transfer", fa.Login, fmt.Sprintf("to=%s folder=%q files=%d folders=%d bytes=%d shares=%d links_moved=%d links_revoked=%d",
		ta.Login, rep.Folder, rep.Files, rep.Folders, rep.Bytes, rep.SharesMoved, rep.LinksMoved, rep.LinksRevoked))
	return rep, nil
}

// ValidName checks name against the rules in the package documentation and
// returns it in NFC.
func ValidName(name string) (string, error) { return validName(name) }

// linkWatch is one transfer through a link, ended when the link stops
// working.
type linkWatch struct {
	link, owner int64
	cancel      context.CancelCauseFunc
}

// WatchLink returns a context for a transfer (a download, a drop) through
// link l that ends when the link is revoked (by its owner, an admin, or
// with all its owner's links) or suspended, with that as its cause: a
// transfer under way is cut as the link is, not left to run to its end.
// release ends the watch; call it when the transfer ends.
func (s *Store) WatchLink(parent context.Context, l Link) (ctx context.Context, release func()) {
	ctx, cancel := context.WithCancelCause(parent)
	w := &linkWatch{link: l.ID, owner: l.OwnerID, cancel: cancel}
	s.watchMu.Lock()
	s.watching[w] = struct{}{}
	s.watchMu.Unlock()
	return ctx, func() {
		s.watchMu.Lock()
		delete(s.watching, w)
		s.watchMu.Unlock()
		cancel(nil)
	}
}

// endTransfers ends the watched transfers for which match is true.
func (s *Store) endTransfers(cause error, match func(*linkWatch) bool) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	for w := range s.watching {
		if match(w) {
			w.cancel(cause)
		}
	}
}
