package lists

import "github.com/caucus-org/caucus/internal/db"

// Component returns the lists' tables' migrations. Times are Unix seconds.
//
// A list (lists) has an address in one of the party's domains and takes
// its members from a group (group, "" for none), from its subscribers
// (list_subscribers), or both. A subscriber row records consent (when and
// how: the web form confirmed by mail, an import, an admin) and the
// address's state: pending (asked, not yet confirmed), active,
// unsubscribed (a group member's opt-out is such a row too) or suspended
// (it bounced). Posts (list_posts) wait for a moderator
// (list_moderators) unless a moderator sent them; an approved post's
// recipients are copied into list_outbox, which the sender empties. A
// post's text is a blob (see putPost); a rejected post's goes through
// list_trash.
func Component() db.Component {
	return db.Component{Name: "lists", Migrations: []db.Migration{{Version: 1, SQL: schemaV1}}}
}

const schemaV1 = `
CREATE TABLE lists (
	id          INTEGER PRIMARY KEY,
	address     TEXT NOT NULL UNIQUE COLLATE NOCASE,
	name        TEXT NOT NULL,
	grp         TEXT NOT NULL DEFAULT '',
	open        INTEGER NOT NULL DEFAULT 0, -- outside people may subscribe themselves
	created_at  INTEGER NOT NULL
);
CREATE TABLE list_moderators (
	list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
	login   TEXT NOT NULL COLLATE NOCASE,
	PRIMARY KEY (list_id, login)
);
CREATE TABLE list_subscribers (
	id             INTEGER PRIMARY KEY,
	list_id        INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
	address        TEXT NOT NULL COLLATE NOCASE,
	state          TEXT NOT NULL, -- pending, active, unsubscribed, suspended
	consent_at     INTEGER NOT NULL DEFAULT 0,
	consent_source TEXT NOT NULL DEFAULT '', -- web, import, admin
	consent_detail TEXT NOT NULL DEFAULT '', -- who or from where
	requested_at   INTEGER NOT NULL DEFAULT 0,
	hard_bounces   INTEGER NOT NULL DEFAULT 0,
	last_bounce    TEXT NOT NULL DEFAULT '',
	updated_at     INTEGER NOT NULL,
	UNIQUE (list_id, address)
);
CREATE TABLE list_posts (
	id          INTEGER PRIMARY KEY,
	list_id     INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
	state       TEXT NOT NULL, -- waiting, sending, sent, rejected
	author      TEXT NOT NULL, -- the From address
	subject     TEXT NOT NULL,
	blob_ref    TEXT NOT NULL, -- the text in the lists' blob store; '' once rejected
	created_at  INTEGER NOT NULL,
	decided_by  TEXT NOT NULL DEFAULT '',
	decided_at  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX list_posts_state ON list_posts(list_id, state);
CREATE TABLE list_trash (
	blob_ref TEXT PRIMARY KEY
);
CREATE TABLE list_outbox (
	id      INTEGER PRIMARY KEY,
	post_id INTEGER NOT NULL REFERENCES list_posts(id) ON DELETE CASCADE,
	address TEXT NOT NULL,
	sub_id  INTEGER NOT NULL -- the subscriber row, 0 for a group member
);
`
