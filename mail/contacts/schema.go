package contacts

import "github.com/caucus-org/caucus/internal/db"

// schema1 holds the address books and their vCards. Times are Unix
// milliseconds.
//
//   - contacts_books is one address book: a member's own (kind personal,
//     owner_id the account), a group's shared one (kind group, owner_id
//     the group; read_only set by an admin) or the party directory (kind
//     directory, owner_id 0). modseq counts the book's changes: every
//     write takes the next value, which the sync token carries (RFC 6578).
//   - contacts_cards is one vCard resource: name is the last segment of
//     its URL, uid its UID property (unique per book, RFC 6352 section
//     6.3.2.1 no-uid-conflict), etag the content hash of data, modseq the
//     book's modseq of its last change.
//   - contacts_gone remembers a deleted resource's name and the modseq of
//     its deletion, for sync-collection's removed members (RFC 6578
//     section 3.5).
//
// Like mail's store, the tables do not reference auth's: the owner is
// whatever the caller says, so the package can be tested on its own.
const schema1 = `
CREATE TABLE contacts_books (
	id         INTEGER PRIMARY KEY,
	kind       TEXT    NOT NULL CHECK (kind IN ('personal', 'group', 'directory')),
	owner_id   INTEGER NOT NULL,
	read_only  INTEGER NOT NULL DEFAULT 0,
	modseq     INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	UNIQUE (kind, owner_id)
);

CREATE TABLE contacts_cards (
	id          INTEGER PRIMARY KEY,
	book_id     INTEGER NOT NULL REFERENCES contacts_books(id) ON DELETE CASCADE,
	name        TEXT    NOT NULL,
	uid         TEXT    NOT NULL,
	etag        TEXT    NOT NULL,
	data        BLOB    NOT NULL,
	modseq      INTEGER NOT NULL,
	modified_at INTEGER NOT NULL,
	UNIQUE (book_id, name),
	UNIQUE (book_id, uid)
);
CREATE INDEX contacts_cards_modseq ON contacts_cards(book_id, modseq);

CREATE TABLE contacts_gone (
	book_id INTEGER NOT NULL REFERENCES contacts_books(id) ON DELETE CASCADE,
	name    TEXT    NOT NULL,
	modseq  INTEGER NOT NULL,
	PRIMARY KEY (book_id, name)
);
CREATE INDEX contacts_gone_modseq ON contacts_gone(book_id, modseq);
`

// schema2 bounds the memory of deletions: min_modseq is the oldest point
// a sync token may name, raised when the oldest entries of contacts_gone
// are dropped (see MaxGone); an older token is answered as unknown and
// the client syncs from scratch (RFC 6578 section 3.2).
const schema2 = `
ALTER TABLE contacts_books ADD COLUMN min_modseq INTEGER NOT NULL DEFAULT 0;
`

// Component returns the migrations of the address books' tables.
func Component() db.Component {
	return db.Component{Name: "contacts", Migrations: []db.Migration{{Version: 1, SQL: schema1}, {Version: 2, SQL: schema2}}}
}
