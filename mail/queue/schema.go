package queue

import "github.com/caucus-org/caucus/internal/db"

// Component returns the queue's tables' migrations. Times are Unix seconds.
//
// A message (queue_messages) has one blob and one delivery per recipient
// domain (queue_deliveries), which holds the retry schedule; each delivery
// has the recipients still pending (queue_recipients), with the last reply
// each got. A recipient's row goes when it is delivered or bounced, a
// delivery's when it has no recipients left, a message's when it has no
// deliveries left; its blob is then named in queue_trash by the same
// transaction and deleted after the commit. queue_mtasts caches MTA-STS
// policies (RFC 8461 section 5.1). A delivery marked bulk (version 2) is
// a list's copy, paced behind members' own mail (see [Pacing]).
func Component() db.Component {
	return db.Component{Name: "queue", Migrations: []db.Migration{{Version: 1, SQL: schemaV1}, {Version: 2, SQL: schemaV2}}}
}

const schemaV2 = `
ALTER TABLE queue_deliveries ADD COLUMN bulk INTEGER NOT NULL DEFAULT 0;
CREATE INDEX queue_deliveries_bulk_due ON queue_deliveries(bulk, next_attempt);
`

const schemaV1 = `
CREATE TABLE queue_messages (
	id         INTEGER PRIMARY KEY,
	blob_ref   TEXT NOT NULL UNIQUE,
	sender     TEXT NOT NULL,
	size       INTEGER NOT NULL,
	eight_bit  INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL
);
CREATE TABLE queue_deliveries (
	id             INTEGER PRIMARY KEY,
	message_id     INTEGER NOT NULL REFERENCES queue_messages(id) ON DELETE CASCADE,
	domain         TEXT NOT NULL,
	next_attempt   INTEGER NOT NULL,
	attempts       INTEGER NOT NULL DEFAULT 0,
	last_attempt   INTEGER,
	last_error     TEXT NOT NULL DEFAULT '',
	delay_notified INTEGER NOT NULL DEFAULT 0,
	UNIQUE (message_id, domain)
);
CREATE INDEX queue_deliveries_due ON queue_deliveries(next_attempt);
CREATE TABLE queue_recipients (
	delivery_id INTEGER NOT NULL REFERENCES queue_deliveries(id) ON DELETE CASCADE,
	rcpt        TEXT NOT NULL,
	status      TEXT NOT NULL DEFAULT '',
	diagnostic  TEXT NOT NULL DEFAULT '',
	smtp_reply  INTEGER NOT NULL DEFAULT 0,
	remote_mta  TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (delivery_id, rcpt)
);
CREATE TABLE queue_trash (
	blob_ref TEXT PRIMARY KEY
);
CREATE TABLE queue_mtasts (
	domain     TEXT PRIMARY KEY,
	policy_id  TEXT NOT NULL,
	policy     TEXT NOT NULL,
	fetched_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
`
