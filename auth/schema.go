package auth

import "github.com/caucus-org/caucus/internal/db"

// Component returns the auth tables' migrations. Times are Unix seconds.
func Component() db.Component {
	return db.Component{Name: "auth", Migrations: []db.Migration{
		{Version: 1, SQL: schemaV1, Postgres: schemaPostgres},
		{Version: 2, SQL: schemaV2, Postgres: db.NoPostgres},
		{Version: 3, SQL: schemaV3, Postgres: db.NoPostgres},
		{Version: 4, SQL: schemaV4, Postgres: db.NoPostgres},
		{Version: 5, SQL: schemaV5, Postgres: db.NoPostgres},
		{Version: 6, SQL: schemaOfficer, Postgres: db.NoPostgres},
		{Version: 7, SQL: "SELECT 1", Postgres: cacheTriggersPG},
		// The mail routing memo's (db.Memo): who an address is.
		{Version: 8, SQL: "SELECT 1", Postgres: db.MemoTriggerPG(db.MailRouteChannel, "accounts", "login", "state")},
	}}
}

// flag is b as the 0 or 1 that the INTEGER (BIGINT) flag columns hold:
// SQLite's driver stores a Go bool so, PostgreSQL's refuses one there.
func flag(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// schemaOfficer marks officers and volunteers ([RoleOfficer],
// [RoleVolunteer]). The role column's CHECK allows only admin and member,
// and SQLite cannot change a CHECK without rebuilding the table, which
// every account's sessions, keys and app passwords reference (ON DELETE
// CASCADE): they are stored as members with this mark, and read back as
// their role (accountCols).
const schemaOfficer = `ALTER TABLE accounts ADD COLUMN subrole TEXT NOT NULL DEFAULT '' CHECK (subrole IN ('', 'officer', 'volunteer'));`

// schemaV2 records how a session last proved a second factor, so that the
// console can ask for a passkey or security key, not a TOTP code.
const schemaV2 = `ALTER TABLE sessions ADD COLUMN method TEXT NOT NULL DEFAULT '';`

// schemaV3 keeps each member's choice of language ("" for none: the
// browser's, else the party's default).
const schemaV3 = `ALTER TABLE accounts ADD COLUMN language TEXT NOT NULL DEFAULT '';`

// schemaV5 keeps whether a member gets a mail when something is shared
// with them (auth/notice); on unless they turn it off.
const schemaV5 = `ALTER TABLE accounts ADD COLUMN share_mail INTEGER NOT NULL DEFAULT 1;`

// schemaV4 makes group ids never reused (AUTOINCREMENT): a group's file
// space and the shares with it are keyed by its id, and a group made after
// one is deleted must not inherit them. SQLite cannot alter a primary key,
// so the table is rebuilt; dropping the old one deletes its memberships
// (ON DELETE CASCADE), so they are kept aside and put back.
const schemaV4 = `
CREATE TABLE groups_v4 (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
	created_at INTEGER NOT NULL
);
INSERT INTO groups_v4 (id, name, created_at) SELECT id, name, created_at FROM groups;
CREATE TEMP TABLE group_members_v4 AS SELECT group_id, account_id FROM group_members;
DROP TABLE groups;
ALTER TABLE groups_v4 RENAME TO groups;
INSERT INTO group_members (group_id, account_id) SELECT group_id, account_id FROM temp.group_members_v4;
DROP TABLE temp.group_members_v4;
`

const schemaV1 = `
CREATE TABLE accounts (
	id            INTEGER PRIMARY KEY,
	login         TEXT NOT NULL UNIQUE COLLATE NOCASE,
	display_name  TEXT NOT NULL,
	role          TEXT NOT NULL CHECK (role IN ('admin', 'member')),
	state         TEXT NOT NULL CHECK (state IN ('invited', 'active', 'suspended', 'offboarded')),
	expires_at    INTEGER,
	password_hash TEXT,
	webauthn_id   BLOB NOT NULL UNIQUE,
	totp_secret   BLOB,
	totp_name     TEXT,
	totp_added_at INTEGER,
	totp_last_step INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL,
	last_login_at INTEGER
);
CREATE TABLE groups (
	id         INTEGER PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
	created_at INTEGER NOT NULL
);
CREATE TABLE group_members (
	group_id   INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	PRIMARY KEY (group_id, account_id)
);
CREATE INDEX group_members_account ON group_members(account_id);
CREATE TABLE invites (
	id          INTEGER PRIMARY KEY,
	token_hash  BLOB NOT NULL UNIQUE,
	account_id  INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	created_by  TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	used_at     INTEGER
);
CREATE TABLE webauthn_credentials (
	id              INTEGER PRIMARY KEY,
	account_id      INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	credential_id   BLOB NOT NULL UNIQUE,
	name            TEXT NOT NULL,
	kind            TEXT NOT NULL CHECK (kind IN ('passkey', 'security-key')),
	data            TEXT NOT NULL,
	sign_count      INTEGER NOT NULL DEFAULT 0,
	clone_warning   INTEGER NOT NULL DEFAULT 0,
	backup_eligible INTEGER NOT NULL DEFAULT 0,
	backup_state    INTEGER NOT NULL DEFAULT 0,
	created_at      INTEGER NOT NULL,
	last_used_at    INTEGER
);
CREATE INDEX webauthn_credentials_account ON webauthn_credentials(account_id);
CREATE TABLE recovery_codes (
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	code_hash  BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	used_at    INTEGER,
	PRIMARY KEY (account_id, code_hash)
);
CREATE TABLE app_passwords (
	id             INTEGER PRIMARY KEY,
	account_id     INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name           TEXT NOT NULL,
	scope          INTEGER NOT NULL,
	hash           BLOB NOT NULL UNIQUE,
	created_at     INTEGER NOT NULL,
	created_addr   TEXT NOT NULL,
	last_used_at   INTEGER,
	last_used_addr TEXT,
	revoked_at     INTEGER,
	revoked_by     TEXT
);
CREATE INDEX app_passwords_account ON app_passwords(account_id);
CREATE TABLE sessions (
	id           INTEGER PRIMARY KEY,
	token_hash   BLOB NOT NULL UNIQUE,
	account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	stage        TEXT NOT NULL CHECK (stage IN ('second', 'enrol', 'full')),
	csrf         TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	last_seen_at INTEGER NOT NULL,
	auth_at      INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	addr         TEXT NOT NULL,
	user_agent   TEXT NOT NULL,
	ceremony     TEXT
);
CREATE INDEX sessions_account ON sessions(account_id);
CREATE TABLE ceremonies (
	token_hash BLOB PRIMARY KEY,
	data       TEXT NOT NULL,
	expires_at INTEGER NOT NULL
);
`

// schemaPostgres is the whole schema of migrations 1 to 6 on PostgreSQL
// (later migrations carry their own PostgreSQL form). Logins and group
// names are citext, PostgreSQL's case-insensitive text, for SQLite's
// COLLATE NOCASE: the same queries (login = ?, UNIQUE, ORDER BY) then
// ignore case on both engines. Ids are identities; groups' never come
// back after a delete, as AUTOINCREMENT promises on SQLite (schemaV4).
// Columns are in SQLite's order (the ones added by ALTER TABLE last).
const schemaPostgres = `
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TABLE accounts (
	id             BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	login          citext NOT NULL UNIQUE,
	display_name   TEXT NOT NULL,
	role           TEXT NOT NULL CHECK (role IN ('admin', 'member')),
	state          TEXT NOT NULL CHECK (state IN ('invited', 'active', 'suspended', 'offboarded')),
	expires_at     BIGINT,
	password_hash  TEXT,
	webauthn_id    BYTEA NOT NULL UNIQUE,
	totp_secret    BYTEA,
	totp_name      TEXT,
	totp_added_at  BIGINT,
	totp_last_step BIGINT NOT NULL DEFAULT 0,
	created_at     BIGINT NOT NULL,
	last_login_at  BIGINT,
	language       TEXT NOT NULL DEFAULT '',
	share_mail     BIGINT NOT NULL DEFAULT 1,
	subrole        TEXT NOT NULL DEFAULT '' CHECK (subrole IN ('', 'officer', 'volunteer'))
);
CREATE TABLE groups (
	id         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	name       citext NOT NULL UNIQUE,
	created_at BIGINT NOT NULL
);
CREATE TABLE group_members (
	group_id   BIGINT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	PRIMARY KEY (group_id, account_id)
);
CREATE INDEX group_members_account ON group_members(account_id);
CREATE TABLE invites (
	id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	token_hash  BYTEA NOT NULL UNIQUE,
	account_id  BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	created_by  TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	expires_at  BIGINT NOT NULL,
	used_at     BIGINT
);
CREATE TABLE webauthn_credentials (
	id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	account_id      BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	credential_id   BYTEA NOT NULL UNIQUE,
	name            TEXT NOT NULL,
	kind            TEXT NOT NULL CHECK (kind IN ('passkey', 'security-key')),
	data            TEXT NOT NULL,
	sign_count      BIGINT NOT NULL DEFAULT 0,
	clone_warning   BIGINT NOT NULL DEFAULT 0,
	backup_eligible BIGINT NOT NULL DEFAULT 0,
	backup_state    BIGINT NOT NULL DEFAULT 0,
	created_at      BIGINT NOT NULL,
	last_used_at    BIGINT
);
CREATE INDEX webauthn_credentials_account ON webauthn_credentials(account_id);
CREATE TABLE recovery_codes (
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	code_hash  BYTEA NOT NULL,
	created_at BIGINT NOT NULL,
	used_at    BIGINT,
	PRIMARY KEY (account_id, code_hash)
);
CREATE TABLE app_passwords (
	id             BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	account_id     BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name           TEXT NOT NULL,
	scope          BIGINT NOT NULL,
	hash           BYTEA NOT NULL UNIQUE,
	created_at     BIGINT NOT NULL,
	created_addr   TEXT NOT NULL,
	last_used_at   BIGINT,
	last_used_addr TEXT,
	revoked_at     BIGINT,
	revoked_by     TEXT
);
CREATE INDEX app_passwords_account ON app_passwords(account_id);
CREATE TABLE sessions (
	id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	token_hash   BYTEA NOT NULL UNIQUE,
	account_id   BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	stage        TEXT NOT NULL CHECK (stage IN ('second', 'enrol', 'full')),
	csrf         TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	last_seen_at BIGINT NOT NULL,
	auth_at      BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL,
	addr         TEXT NOT NULL,
	user_agent   TEXT NOT NULL,
	ceremony     TEXT,
	method       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_account ON sessions(account_id);
CREATE TABLE ceremonies (
	token_hash BYTEA PRIMARY KEY,
	data       TEXT NOT NULL,
	expires_at BIGINT NOT NULL
);
`

// cacheTriggersPG (migration 7, PostgreSQL only: one SQLite file is one
// node) tells every node of the writes that change what its caches of
// app passwords and of members' groups hold (see ClusterCaches), on the
// channel cacheChannel, from inside the writing transaction: the id of
// the account whose row, app passwords or group memberships changed, or
// "*" when a group changed (its members' caches all). An app password's
// last use, written every few seconds, changes nothing cached and is not
// sent.
const cacheTriggersPG = `
CREATE FUNCTION auth_cache_account() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	r RECORD;
BEGIN
	IF TG_OP = 'DELETE' THEN
		r := OLD;
	ELSE
		r := NEW;
	END IF;
	IF TG_TABLE_NAME = 'accounts' THEN
		PERFORM pg_notify('caucus_auth_cache', r.id::text);
	ELSE
		PERFORM pg_notify('caucus_auth_cache', r.account_id::text);
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER accounts_cache_notify AFTER UPDATE OR DELETE ON accounts
	FOR EACH ROW EXECUTE FUNCTION auth_cache_account();
CREATE TRIGGER group_members_cache_notify AFTER INSERT OR UPDATE OR DELETE ON group_members
	FOR EACH ROW EXECUTE FUNCTION auth_cache_account();
CREATE TRIGGER app_passwords_delete_notify AFTER DELETE ON app_passwords
	FOR EACH ROW EXECUTE FUNCTION auth_cache_account();
CREATE TRIGGER app_passwords_cache_notify AFTER UPDATE ON app_passwords
	FOR EACH ROW WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.scope IS DISTINCT FROM NEW.scope
		OR OLD.hash IS DISTINCT FROM NEW.hash OR OLD.account_id IS DISTINCT FROM NEW.account_id)
	EXECUTE FUNCTION auth_cache_account();

CREATE FUNCTION auth_cache_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('caucus_auth_cache', '*');
	RETURN NULL;
END $$;
CREATE TRIGGER groups_cache_notify AFTER UPDATE OR DELETE OR TRUNCATE ON groups
	FOR EACH STATEMENT EXECUTE FUNCTION auth_cache_all();
`
