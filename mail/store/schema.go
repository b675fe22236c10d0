package store

import "github.com/caucus-org/caucus/internal/db"

// Component returns the message store's tables and their migrations. Times
// are Unix seconds.
//
// The store does not reference auth's accounts table: an account ID is
// whatever the caller says, so that the store can be tested and migrated on
// its own.
func Component() db.Component {
	return db.Component{Name: "mail", Migrations: []db.Migration{
		{Version: 1, SQL: schemaV1, Postgres: schemaPostgres}, {Version: 2, SQL: schemaV2, Postgres: db.NoPostgres},
		{Version: 3, SQL: schemaV3, Postgres: db.NoPostgres},
		{Version: 4, SQL: schemaV4, Postgres: db.NoPostgres},
		{Version: 5, SQL: schemaV5, Postgres: db.NoPostgres},
		{Version: 6, SQL: schemaRoles, Postgres: db.NoPostgres}, // shared.go
		// The mail routing memo's (db.Memo): which addresses are roles'.
		{Version: 7, SQL: "SELECT 1", Postgres: db.MemoTriggerPG(db.MailRouteChannel, "mail_roles")},
		{Version: 8, SQL: schemaV8, Postgres: db.NoPostgres},
	}}
}

// schemaV1 is the first schema.
//
//   - mail_accounts holds per-account settings (the quota).
//   - mailboxes holds each mailbox's UID and modseq state and its counters
//     (messages, unseen, size), which every write keeps exact in the same
//     transaction, so SELECT and STATUS read one row.
//   - blobs holds what is known about a message body, once per content:
//     its reference in the blob store, its size, and the envelope and body
//     structure parsed at delivery (JSON, see parse.go). orphaned_at is set
//     by CollectGarbage when no message refers to the blob any more.
//   - messages is clustered by (mailbox_id, uid), so listing a mailbox's
//     UIDs and fetching a batch of them read neighbouring pages. flags is a
//     bit set of the system flags; keywords is " kw1 kw2 " (sorted, with a
//     space on both sides for matching), or "".
//   - message_text and message_headers are the full-text index (FTS5 with
//     the trigram tokenizer: case-insensitive substring search), once per
//     blob (replaced in schemaV3). message_text's rowid is the blob id; message_headers's rowid is
//     blob id << 10 | field index, so the fields of one blob are a rowid
//     range.
//   - blob_orphans lists blobs written by a delivery that then failed, so
//     that CollectGarbage can remove them.
const schemaV1 = `
CREATE TABLE mail_accounts (
	account_id INTEGER PRIMARY KEY,
	quota      INTEGER NOT NULL DEFAULT 0 CHECK (quota >= 0),
	created_at INTEGER NOT NULL
);
CREATE TABLE mailboxes (
	id             INTEGER PRIMARY KEY,
	account_id     INTEGER NOT NULL REFERENCES mail_accounts(account_id),
	name           TEXT NOT NULL,
	attr           TEXT NOT NULL DEFAULT '',
	subscribed     INTEGER NOT NULL DEFAULT 0,
	uid_validity   INTEGER NOT NULL CHECK (uid_validity > 0),
	uid_next       INTEGER NOT NULL DEFAULT 1,
	highest_modseq INTEGER NOT NULL DEFAULT 1,
	messages       INTEGER NOT NULL DEFAULT 0,
	unseen         INTEGER NOT NULL DEFAULT 0,
	size           INTEGER NOT NULL DEFAULT 0,
	created_at     INTEGER NOT NULL,
	UNIQUE (account_id, name)
);
CREATE TABLE blobs (
	id          INTEGER PRIMARY KEY,
	ref         TEXT NOT NULL UNIQUE,
	size        INTEGER NOT NULL,
	envelope    TEXT NOT NULL,
	structure   TEXT NOT NULL,
	sent_day    INTEGER,
	created_at  INTEGER NOT NULL,
	orphaned_at INTEGER
);
CREATE TABLE messages (
	mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id),
	uid           INTEGER NOT NULL,
	blob_id       INTEGER NOT NULL REFERENCES blobs(id),
	flags         INTEGER NOT NULL DEFAULT 0,
	keywords      TEXT NOT NULL DEFAULT '',
	internal_date INTEGER NOT NULL,
	internal_tz   INTEGER NOT NULL DEFAULT 0,
	internal_day  INTEGER NOT NULL,
	sent_day      INTEGER NOT NULL,
	size          INTEGER NOT NULL,
	modseq        INTEGER NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX messages_blob ON messages(blob_id);
CREATE VIRTUAL TABLE message_text USING fts5(body, tokenize = 'trigram');
CREATE VIRTUAL TABLE message_headers USING fts5(name UNINDEXED, value, tokenize = 'trigram');
CREATE TABLE blob_orphans (
	ref   TEXT PRIMARY KEY,
	since INTEGER NOT NULL
);
`

// schemaV2 adds blob_unindexed: the blobs that SMTP delivery stored but
// has not yet added to the full-text index. Delivery indexes in batches
// after its commits (see index.go); a search checks the bodies still
// waiting itself, or indexes them first when many wait, so it never misses
// a message.
const schemaV2 = `
CREATE TABLE blob_unindexed (
	blob_id INTEGER PRIMARY KEY REFERENCES blobs(id)
);
`

// schemaV4 keeps the UIDs of expunged messages with the mod-sequence of
// their expunge, for QRESYNC's VANISHED responses (RFC 7162 3.2.5, 3.2.6).
//
//   - mail_vanished is filled by triggers, so that every way a message
//     leaves a mailbox (EXPUNGE, MOVE, RENAME of INBOX) is recorded, with
//     the mailbox's mod-sequence plus one: each of those writes bumps it by
//     one after removing the rows. A mailbox's rows go with it.
//   - mailboxes.vanished_floor is the highest mod-sequence whose expunges
//     may be missing from mail_vanished: what the retention rule pruned
//     (see vanished.go), and, for mailboxes that existed before this
//     version, everything up to then.
const schemaV4 = `
CREATE TABLE mail_vanished (
	mailbox_id INTEGER NOT NULL,
	uid        INTEGER NOT NULL,
	modseq     INTEGER NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX mail_vanished_modseq ON mail_vanished(mailbox_id, modseq);
ALTER TABLE mailboxes ADD COLUMN vanished_floor INTEGER NOT NULL DEFAULT 0;
UPDATE mailboxes SET vanished_floor = highest_modseq;
CREATE TRIGGER mail_vanished_delete AFTER DELETE ON messages BEGIN
	INSERT OR REPLACE INTO mail_vanished (mailbox_id, uid, modseq)
		SELECT old.mailbox_id, old.uid, highest_modseq + 1 FROM mailboxes WHERE id = old.mailbox_id;
END;
CREATE TRIGGER mail_vanished_move AFTER UPDATE OF mailbox_id ON messages WHEN old.mailbox_id != new.mailbox_id BEGIN
	INSERT OR REPLACE INTO mail_vanished (mailbox_id, uid, modseq)
		SELECT old.mailbox_id, old.uid, highest_modseq + 1 FROM mailboxes WHERE id = old.mailbox_id;
END;
CREATE TRIGGER mail_vanished_mailbox AFTER DELETE ON mailboxes BEGIN
	DELETE FROM mail_vanished WHERE mailbox_id = old.id;
END;
`

// schemaV5 adds mailbox_subscriptions: subscriptions to names that have no
// mailbox. DELETE does not unsubscribe (RFC 9051 6.3.4), so a subscribed
// mailbox's name moves here when it is deleted, and back to the mailbox's
// subscribed column when a mailbox of that name is created again; LIST
// (SUBSCRIBED) shows the names here as \NonExistent.
const schemaV5 = `
CREATE TABLE mailbox_subscriptions (
	account_id INTEGER NOT NULL REFERENCES mail_accounts(account_id),
	name       TEXT NOT NULL,
	PRIMARY KEY (account_id, name)
) WITHOUT ROWID;
`

// schemaV3 replaces the full-text index by one that holds no text, only
// which blobs contain which trigrams (contentless FTS5, detail=none),
// and rebuilds it from the stored bodies: every blob is noted in
// blob_unindexed, and the indexer (index.go) parses and indexes them again
// when mail is quiet, or the first search does.
//
// The old tables kept a copy of every body's text, and detail=full kept
// the position of every trigram: 2.4 times the size of the messages
// themselves (issue 21). The new index is about a tenth of it; what it
// cannot tell (whether the trigrams are adjacent, and in which header
// field) a search checks on the stored body of each candidate (see
// textIndex in index.go for what is indexed and why, and the figures).
//
//   - message_text: the decoded text of a blob's text parts, rowid the
//     blob id.
//   - message_headers: a blob's header fields, rowid the blob id, as
//     "\nname: value" lines (signature values left out).
//
// contentless_delete=1 (SQLite 3.43) lets CollectGarbage delete a blob's
// rows by rowid. The pages the old tables held are reused by the new
// ones, and given back to the file system by the VACUUM that the indexer
// runs once most of the file is free (reclaimSpace).
const schemaV3 = `
DROP TABLE message_text;
DROP TABLE message_headers;
CREATE VIRTUAL TABLE message_text USING fts5(body, tokenize = 'trigram', content = '', contentless_delete = 1, detail = none);
CREATE VIRTUAL TABLE message_headers USING fts5(fields, tokenize = 'trigram', content = '', contentless_delete = 1, detail = none);
INSERT OR IGNORE INTO blob_unindexed (blob_id) SELECT id FROM blobs;
`

// schemaV8 moves the full-text index out of the database into the
// database's index file (indexfile.go): it drops the tables from the
// database and queues every body again; the store makes the index file's
// tables, and the indexer fills them as after schemaV3. The pages the old
// tables held are given back by reclaimSpace's VACUUM. PostgreSQL keeps
// its index in the database (its writers do not wait for one another's
// commits).
const schemaV8 = `
DROP TABLE main.message_text;
DROP TABLE main.message_headers;
INSERT OR IGNORE INTO blob_unindexed (blob_id) SELECT id FROM blobs;
`

// schemaPostgres is the whole schema (versions 1 to 6) on PostgreSQL,
// table for table and column for column what the SQLite migrations build,
// with these differences:
//
//   - Integers are BIGINT (SQLite's are 64-bit); generated ids are
//     identity columns (never reused, as SQLite's AUTOINCREMENT; SQLite
//     may reuse a deleted blob's id, which the store allows for).
//   - Mailbox names sort by their bytes (COLLATE "C"), as SQLite's BINARY
//     collation does, whatever the database's locale.
//   - mail_roles.address, COLLATE NOCASE on SQLite, is unique by lower()
//     (an expression index): the store writes and looks addresses up in
//     lower case.
//   - The full-text index (message_text, message_headers) holds, per
//     blob, the set of its trigrams as an array of 32-bit keys, in a GIN
//     index; see trigramKeys in fts.go for why and what it costs. The key
//     column is named rowid, as the FTS5 tables' is, so that the statements
//     that join and delete by it serve both engines. A search looks keys
//     up through message_text_with and message_headers_with, which ask
//     for the GIN index (enable_seqscan off while they run): the arrays
//     are stored out of line (TOAST), which the planner does not count,
//     so on its own it scans the small main table and reads every
//     blob's array, 100-300 ms for a rare word in 3,000 messages. The GIN
//     indexes keep a pending list of at most 256 kB (gin_pending_list_limit;
//     the default 4 MB): every search reads the whole list, and with the
//     default a rare word took 17 ms in 4,000 messages, 0.9 ms with 256 kB,
//     for indexing twice as slow (off the delivery path) and an index
//     0.43 times the messages instead of 0.69 (BenchmarkStorage, same run,
//     load 27-33). fastupdate off (no list) made indexing 7 times slower.
//   - mail_vanished is filled by PL/pgSQL triggers doing what schemaV4's
//     do.
const schemaPostgres = `
CREATE TABLE mail_accounts (
	account_id BIGINT PRIMARY KEY,
	quota      BIGINT NOT NULL DEFAULT 0 CHECK (quota >= 0),
	created_at BIGINT NOT NULL
);
CREATE TABLE mailboxes (
	id             BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	account_id     BIGINT NOT NULL REFERENCES mail_accounts(account_id),
	name           TEXT COLLATE "C" NOT NULL,
	attr           TEXT NOT NULL DEFAULT '',
	subscribed     BIGINT NOT NULL DEFAULT 0,
	uid_validity   BIGINT NOT NULL CHECK (uid_validity > 0),
	uid_next       BIGINT NOT NULL DEFAULT 1,
	highest_modseq BIGINT NOT NULL DEFAULT 1,
	messages       BIGINT NOT NULL DEFAULT 0,
	unseen         BIGINT NOT NULL DEFAULT 0,
	size           BIGINT NOT NULL DEFAULT 0,
	created_at     BIGINT NOT NULL,
	vanished_floor BIGINT NOT NULL DEFAULT 0,
	UNIQUE (account_id, name)
);
CREATE TABLE blobs (
	id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	ref         TEXT NOT NULL UNIQUE,
	size        BIGINT NOT NULL,
	envelope    TEXT NOT NULL,
	structure   TEXT NOT NULL,
	sent_day    BIGINT,
	created_at  BIGINT NOT NULL,
	orphaned_at BIGINT
);
CREATE TABLE messages (
	mailbox_id    BIGINT NOT NULL REFERENCES mailboxes(id),
	uid           BIGINT NOT NULL,
	blob_id       BIGINT NOT NULL REFERENCES blobs(id),
	flags         BIGINT NOT NULL DEFAULT 0,
	keywords      TEXT NOT NULL DEFAULT '',
	internal_date BIGINT NOT NULL,
	internal_tz   BIGINT NOT NULL DEFAULT 0,
	internal_day  BIGINT NOT NULL,
	sent_day      BIGINT NOT NULL,
	size          BIGINT NOT NULL,
	modseq        BIGINT NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX messages_blob ON messages(blob_id);
CREATE TABLE message_text (
	rowid BIGINT PRIMARY KEY,
	body  INTEGER[] NOT NULL
);
CREATE INDEX message_text_trigrams ON message_text USING gin (body) WITH (gin_pending_list_limit = 256);
CREATE TABLE message_headers (
	rowid  BIGINT PRIMARY KEY,
	fields INTEGER[] NOT NULL
);
CREATE INDEX message_headers_trigrams ON message_headers USING gin (fields) WITH (gin_pending_list_limit = 256);
CREATE FUNCTION message_text_with(keys INTEGER[]) RETURNS TABLE (rowid BIGINT)
	LANGUAGE sql STABLE ROWS 100 SET enable_seqscan = off
	AS 'SELECT rowid FROM message_text WHERE body @> keys';
CREATE FUNCTION message_headers_with(keys INTEGER[]) RETURNS TABLE (rowid BIGINT)
	LANGUAGE sql STABLE ROWS 100 SET enable_seqscan = off
	AS 'SELECT rowid FROM message_headers WHERE fields @> keys';
CREATE TABLE blob_orphans (
	ref   TEXT PRIMARY KEY,
	since BIGINT NOT NULL
);
CREATE TABLE blob_unindexed (
	blob_id BIGINT PRIMARY KEY REFERENCES blobs(id)
);
CREATE TABLE mail_vanished (
	mailbox_id BIGINT NOT NULL,
	uid        BIGINT NOT NULL,
	modseq     BIGINT NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX mail_vanished_modseq ON mail_vanished(mailbox_id, modseq);
CREATE FUNCTION mail_vanished_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO mail_vanished (mailbox_id, uid, modseq)
		SELECT old.mailbox_id, old.uid, highest_modseq + 1 FROM mailboxes WHERE id = old.mailbox_id
		ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq;
	RETURN NULL;
END
$$;
CREATE TRIGGER mail_vanished_delete AFTER DELETE ON messages
	FOR EACH ROW EXECUTE FUNCTION mail_vanished_note();
CREATE TRIGGER mail_vanished_move AFTER UPDATE OF mailbox_id ON messages
	FOR EACH ROW WHEN (old.mailbox_id <> new.mailbox_id) EXECUTE FUNCTION mail_vanished_note();
CREATE FUNCTION mail_vanished_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM mail_vanished WHERE mailbox_id = old.id;
	RETURN NULL;
END
$$;
CREATE TRIGGER mail_vanished_mailbox AFTER DELETE ON mailboxes
	FOR EACH ROW EXECUTE FUNCTION mail_vanished_forget();
CREATE TABLE mailbox_subscriptions (
	account_id BIGINT NOT NULL REFERENCES mail_accounts(account_id),
	name       TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (account_id, name)
);
CREATE TABLE mail_roles (
	id         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	address    TEXT COLLATE "C" NOT NULL,
	name       TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX mail_roles_address ON mail_roles (lower(address));
CREATE TABLE mail_role_grants (
	role_id    BIGINT NOT NULL REFERENCES mail_roles(id) ON DELETE CASCADE,
	account_id BIGINT NOT NULL,
	send_as    BIGINT NOT NULL,
	granted_by TEXT NOT NULL,
	granted_at BIGINT NOT NULL,
	PRIMARY KEY (role_id, account_id)
);
CREATE INDEX mail_role_grants_account ON mail_role_grants(account_id);
`
