package mailimport

import "github.com/caucus-org/caucus/internal/db"

// Component returns the importer's tables' migrations. Times are Unix
// seconds.
//
// A job (mailimport_jobs) copies one source into one account. Its
// source's description with its credentials is sealed (AES-256-GCM under
// a key derived from the server key) and erased when the job ends.
// mailimport_folders holds the destination chosen for each source folder
// and label, so that a resumed job names them the same way.
// mailimport_items has one row per source message dealt with (copied,
// duplicate, failed), written in the same transaction as the message
// itself, so that a job that stops anywhere resumes without copying a
// message twice; mailimport_placed names the bodies (by content hash)
// placed in each destination, so that the same message found twice (in
// two mbox files, or after the source's UIDVALIDITY changed) is placed
// once.
//
// A Google Takeout job also records each archive entry it dealt with
// (mailimport_entries: a Drive file copied, a calendar kept, an entry
// refused and why), in the archive's order, so that a resumed job skips
// them. mailimport_kept holds the calendars (.ics) and contacts (.vcf)
// of Takeout archives, their content in the importer's blob store, until
// a calendar or contacts store takes them (delivered_at); they outlive
// their job.
func Component() db.Component {
	return db.Component{Name: "mailimport", Migrations: []db.Migration{{Version: 1, SQL: schemaV1}, {Version: 2, SQL: schemaV2}}}
}

const schemaV1 = `
CREATE TABLE mailimport_jobs (
	id          INTEGER PRIMARY KEY,
	account_id  INTEGER NOT NULL,
	kind        TEXT NOT NULL,
	source      TEXT NOT NULL,
	login       TEXT NOT NULL DEFAULT '',
	sealed      BLOB,
	started_by  TEXT NOT NULL,
	state       TEXT NOT NULL,
	message     TEXT NOT NULL DEFAULT '',
	not_before  INTEGER NOT NULL DEFAULT 0,
	backoff     INTEGER NOT NULL DEFAULT 0,
	attempts    INTEGER NOT NULL DEFAULT 0,
	created_at  INTEGER NOT NULL,
	finished_at INTEGER
);
CREATE INDEX mailimport_jobs_account ON mailimport_jobs(account_id);
CREATE INDEX mailimport_jobs_state ON mailimport_jobs(state, not_before);
CREATE TABLE mailimport_folders (
	job_id  INTEGER NOT NULL REFERENCES mailimport_jobs(id) ON DELETE CASCADE,
	key     TEXT NOT NULL,
	dest    TEXT NOT NULL,
	renamed INTEGER NOT NULL DEFAULT 0,
	done    INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (job_id, key)
) WITHOUT ROWID;
CREATE TABLE mailimport_items (
	job_id     INTEGER NOT NULL REFERENCES mailimport_jobs(id) ON DELETE CASCADE,
	folder     TEXT NOT NULL,
	source_id  TEXT NOT NULL,
	status     TEXT NOT NULL,
	reason     TEXT NOT NULL DEFAULT '',
	message_id TEXT NOT NULL DEFAULT '',
	blob_ref   TEXT NOT NULL DEFAULT '',
	size       INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (job_id, folder, source_id)
) WITHOUT ROWID;
CREATE TABLE mailimport_placed (
	job_id   INTEGER NOT NULL REFERENCES mailimport_jobs(id) ON DELETE CASCADE,
	dest     TEXT NOT NULL,
	blob_ref TEXT NOT NULL,
	PRIMARY KEY (job_id, dest, blob_ref)
) WITHOUT ROWID;
`

const schemaV2 = `
CREATE TABLE mailimport_entries (
	job_id  INTEGER NOT NULL REFERENCES mailimport_jobs(id) ON DELETE CASCADE,
	archive INTEGER NOT NULL, -- index in the job's paths
	idx     INTEGER NOT NULL, -- position in the archive; -1: the archive itself
	name    TEXT NOT NULL,
	kind    TEXT NOT NULL,
	status  TEXT NOT NULL,
	reason  TEXT NOT NULL DEFAULT '',
	size    INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (job_id, archive, idx)
) WITHOUT ROWID;
CREATE TABLE mailimport_kept (
	id           INTEGER PRIMARY KEY,
	job_id       INTEGER NOT NULL,
	account_id   INTEGER NOT NULL,
	kind         TEXT NOT NULL,
	name         TEXT NOT NULL,
	blob_ref     TEXT NOT NULL,
	size         INTEGER NOT NULL,
	kept_at      INTEGER NOT NULL,
	delivered_at INTEGER,
	UNIQUE (job_id, kind, name)
);
CREATE INDEX mailimport_kept_waiting ON mailimport_kept(kind, id) WHERE delivered_at IS NULL;
`
