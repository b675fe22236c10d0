package calendar

import "github.com/caucus-org/caucus/internal/db"

// Times are Unix milliseconds. A calendar belongs to an account (its
// member's own) or to a group (shared by its members); ids are never
// reused, so that a deleted group's calendar never reaches a new group.
const schema1 = `
CREATE TABLE calendar_calendars (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	owner_kind  TEXT    NOT NULL CHECK (owner_kind IN ('account', 'group')),
	owner_id    INTEGER NOT NULL,
	slug        TEXT    NOT NULL, -- the calendar's name in its URL
	name        TEXT    NOT NULL, -- DAV:displayname
	description TEXT    NOT NULL DEFAULT '',
	read_only   INTEGER NOT NULL DEFAULT 0, -- a group calendar its members only read
	sync_seq    INTEGER NOT NULL DEFAULT 0, -- the last change's number (RFC 6578 sync token)
	created_at  INTEGER NOT NULL,
	UNIQUE (owner_kind, owner_id, slug)
);

-- One iCalendar object per resource (RFC 4791 section 4.1), in the form
-- caucus serves it; etag is the SHA-256 of data.
CREATE TABLE calendar_objects (
	id          INTEGER PRIMARY KEY,
	calendar_id INTEGER NOT NULL REFERENCES calendar_calendars(id) ON DELETE CASCADE,
	name        TEXT    NOT NULL,
	uid         TEXT    NOT NULL,
	component   TEXT    NOT NULL,
	etag        TEXT    NOT NULL,
	data        BLOB    NOT NULL,
	first_start INTEGER,          -- NULL: no start, in every time range
	last_end    INTEGER,          -- NULL: no end
	long        INTEGER NOT NULL, -- 1: no start, no end, or longer than a week (see Store.InRange)
	simple      INTEGER NOT NULL, -- 1: no recurrence, no floating time: the range is exact
	modified_at INTEGER NOT NULL,
	seq         INTEGER NOT NULL, -- the calendar's sync_seq when last written
	UNIQUE (calendar_id, name),
	UNIQUE (calendar_id, uid)
);
CREATE INDEX calendar_objects_start ON calendar_objects(calendar_id, long, first_start);
CREATE INDEX calendar_objects_seq ON calendar_objects(calendar_id, seq);

-- Deleted resources, for sync-collection (RFC 6578 section 3.5).
CREATE TABLE calendar_tombstones (
	calendar_id INTEGER NOT NULL REFERENCES calendar_calendars(id) ON DELETE CASCADE,
	name        TEXT    NOT NULL,
	seq         INTEGER NOT NULL,
	PRIMARY KEY (calendar_id, name)
);
CREATE INDEX calendar_tombstones_seq ON calendar_tombstones(calendar_id, seq);
`

// schema2 keeps, for an event that came to a member by mail (an iMIP
// REQUEST from outside, RFC 6047), who sent it and what caucus's MX found
// of the sender (mail/msgview's findings), so that the calendar page
// warns about it as webmail does about the mail.
const schema2 = `
CREATE TABLE calendar_received (
	calendar_id INTEGER NOT NULL REFERENCES calendar_calendars(id) ON DELETE CASCADE,
	uid         TEXT    NOT NULL,
	sender      TEXT    NOT NULL, -- the RFC5322.From address, lower-case
	level       TEXT    NOT NULL, -- msgview.Level's name: none, unchecked, outside, warning, danger
	from_domain TEXT    NOT NULL,
	claims_to_be TEXT   NOT NULL, -- the member whose name the sender uses, "" if none
	lookalike   TEXT    NOT NULL, -- the party domain the sender's imitates
	forged      INTEGER NOT NULL, -- the party's domain without authentication
	warning     TEXT    NOT NULL, -- the MX's X-Caucus-Warning
	received_at INTEGER NOT NULL,
	PRIMARY KEY (calendar_id, uid)
);
`

// Component returns the migrations of the calendar tables.
func Component() db.Component {
	return db.Component{Name: "calendar", Migrations: []db.Migration{{Version: 1, SQL: schema1}, {Version: 2, SQL: schema2}}}
}
