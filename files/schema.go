package files

import "github.com/caucus-org/caucus/internal/db"

// Times are stored as Unix milliseconds.
const schema1 = `
CREATE TABLE files_nodes (
	id          INTEGER PRIMARY KEY,
	space_kind  TEXT    NOT NULL CHECK (space_kind IN ('home', 'group')),
	space_id    INTEGER NOT NULL,
	parent_id   INTEGER REFERENCES files_nodes(id) ON DELETE CASCADE,
	name        TEXT    NOT NULL,
	is_dir      INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	modified_at INTEGER NOT NULL,
	deleted_at  INTEGER,          -- set on the item that was moved to the trash
	deleted_by  TEXT,
	seq         INTEGER NOT NULL DEFAULT 0 -- bumped on every change (ETag)
);
CREATE UNIQUE INDEX files_nodes_root ON files_nodes(space_kind, space_id) WHERE parent_id IS NULL;
CREATE UNIQUE INDEX files_nodes_name ON files_nodes(parent_id, name) WHERE deleted_at IS NULL;
CREATE INDEX files_nodes_space ON files_nodes(space_kind, space_id);
CREATE INDEX files_nodes_deleted ON files_nodes(deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE files_versions (
	id         INTEGER PRIMARY KEY,
	node_id    INTEGER NOT NULL REFERENCES files_nodes(id) ON DELETE CASCADE,
	blob       TEXT    NOT NULL,
	size       INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	author     TEXT    NOT NULL
);
CREATE INDEX files_versions_node ON files_versions(node_id, id);
CREATE INDEX files_versions_blob ON files_versions(blob);

CREATE TABLE files_quotas (
	space_kind TEXT    NOT NULL,
	space_id   INTEGER NOT NULL,
	bytes      INTEGER NOT NULL,
	PRIMARY KEY (space_kind, space_id)
);

CREATE TABLE files_shares (
	id           INTEGER PRIMARY KEY,
	node_id      INTEGER NOT NULL REFERENCES files_nodes(id) ON DELETE CASCADE,
	owner_id     INTEGER NOT NULL,
	grantee_kind TEXT    NOT NULL CHECK (grantee_kind IN ('account', 'group')),
	grantee_id   INTEGER NOT NULL,
	write        INTEGER NOT NULL,
	created_at   INTEGER NOT NULL,
	UNIQUE (node_id, grantee_kind, grantee_id)
);
CREATE INDEX files_shares_grantee ON files_shares(grantee_kind, grantee_id);
CREATE INDEX files_shares_owner ON files_shares(owner_id);

CREATE TABLE files_links (
	id            INTEGER PRIMARY KEY,
	node_id       INTEGER NOT NULL REFERENCES files_nodes(id) ON DELETE CASCADE,
	owner_id      INTEGER NOT NULL,
	token_hash    BLOB    NOT NULL UNIQUE,
	kind          TEXT    NOT NULL CHECK (kind IN ('download', 'drop')),
	created_at    INTEGER NOT NULL,
	expires_at    INTEGER NOT NULL,
	password      TEXT    NOT NULL DEFAULT '', -- PHC string or ''
	max_downloads INTEGER NOT NULL DEFAULT 0,
	downloads     INTEGER NOT NULL DEFAULT 0,
	revoked_at    INTEGER,
	suspended     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX files_links_owner ON files_links(owner_id);

-- WebDAV dead properties (RFC 4918 section 4.3).
CREATE TABLE files_props (
	node_id INTEGER NOT NULL REFERENCES files_nodes(id) ON DELETE CASCADE,
	space   TEXT    NOT NULL, -- XML namespace
	name    TEXT    NOT NULL,
	lang    TEXT    NOT NULL DEFAULT '',
	value   BLOB    NOT NULL, -- inner XML
	PRIMARY KEY (node_id, space, name)
);
`

// schema2 bounds what a file drop link receives: max_bytes (0: the
// store's DropLinkBytes) and the bytes received or reserved by uploads in
// progress.
const schema2 = `
ALTER TABLE files_links ADD COLUMN max_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files_links ADD COLUMN received_bytes INTEGER NOT NULL DEFAULT 0;
`

// schema3 keeps small contents in the database (see "Storage" in the
// package documentation): ref is the content's SHA-256 in hex, as a blob
// reference, and the versions name it the same way.
const schema3 = `
CREATE TABLE files_inline (
	ref  TEXT PRIMARY KEY,
	data BLOB NOT NULL
);
`

// Component returns the migrations of the store's tables.
func Component() db.Component {
	return db.Component{Name: "files", Migrations: []db.Migration{{Version: 1, SQL: schema1}, {Version: 2, SQL: schema2}, {Version: 3, SQL: schema3}}}
}
