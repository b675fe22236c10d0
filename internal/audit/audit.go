// Package audit is the tamper-evident audit log of every security-relevant
// event in caucus: who, what, when, from where, and the outcome. Each record
// carries the SHA-256 of the one before it, so a deleted or edited record
// breaks the chain ([Log.Verify]).
//
// Failures that anyone can cause at will (wrong passwords, refused
// recipients) go through [Log.RecordFailure], which sums repeated ones up
// in one record per source, account and interval, so that an attacker
// cannot flood the log; the chain covers those records like any other.
//
// The chain detects a record edited or deleted by someone who does not also
// rewrite every later record; it cannot detect removal of the newest records
// on its own. Every record's id and hash also go to the slog log, which is
// kept apart from the database, so the two can be compared.
package audit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/caucus-org/caucus/internal/db"
)

// ErrBroken reports that the hash chain does not verify: a record was
// edited, inserted or deleted outside this package. Errors from
// [Log.Verify] wrap it in a [*BrokenError].
var ErrBroken = errors.New("audit: chain broken")

// BrokenError names the first record at which the chain fails to verify.
type BrokenError struct {
	ID     int64  // id of the first record that does not verify
	Reason string // what is wrong with it
}

// Error implements error.
func (e *BrokenError) Error() string {
	return fmt.Sprintf("%v at id %d: %s", ErrBroken, e.ID, e.Reason)
}

// Unwrap returns [ErrBroken].
func (e *BrokenError) Unwrap() error { return ErrBroken }

// Outcomes of an event.
const (
	OK      = "ok"
	Fail    = "fail"
	Refused = "refused"
)

// Field size limits, in bytes. Longer values are cut at a UTF-8 boundary.
const (
	MaxField     = 1024
	MaxUserAgent = 256
)

// Event is one security-relevant thing that happened. Every field is
// sanitized before it is stored: control characters removed (tab and line
// breaks become spaces), invalid UTF-8 replaced, length capped.
type Event struct {
	Actor     string // login of who did it; "" means the system
	Subject   string // login of the account it was done to ("" if none)
	Kind      string // dotted name, e.g. "login.password", "login.webauthn", "factor.add", "apppassword.revoke", "invite.create", "revoke"; required
	Outcome   string // [OK], [Fail] or [Refused]; [OK] when empty
	Reason    string // short machine-friendly reason for failures, e.g. "bad-password", "throttled"
	Detail    string // free text, never a secret
	Addr      string // remote IP
	UserAgent string // truncated to [MaxUserAgent] bytes
}

// Record is an event as stored: with its id, time and chain hashes.
type Record struct {
	ID   int64
	Time time.Time
	Event
	PrevHash []byte // Hash of the record before, 32 zero bytes for the first
	Hash     []byte // SHA-256 over PrevHash and this record's fields
}

// Log is the audit log, stored in the table audit_log of the caucus
// database. It is safe for concurrent use.
type Log struct {
	db   *db.DB
	now  func() time.Time
	log  *slog.Logger
	agg  *aggregator // counts of RecordFailure
	soon *soonQueue  // events of RecordSoon not yet written

	watch watchers // of Watch
}

const schemaV1 = `
CREATE TABLE audit_log (
	id         INTEGER PRIMARY KEY,
	time       INTEGER NOT NULL, -- unix nanoseconds
	actor      TEXT    NOT NULL,
	subject    TEXT    NOT NULL,
	kind       TEXT    NOT NULL,
	outcome    TEXT    NOT NULL,
	reason     TEXT    NOT NULL,
	detail     TEXT    NOT NULL,
	addr       TEXT    NOT NULL,
	user_agent TEXT    NOT NULL,
	prev_hash  BLOB    NOT NULL,
	hash       BLOB    NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log (subject);
CREATE INDEX audit_log_actor ON audit_log (actor);
CREATE INDEX audit_log_kind ON audit_log (kind);
CREATE INDEX audit_log_time ON audit_log (time);
`

// schemaPostgres is the whole schema on PostgreSQL. The id is a plain
// BIGINT key: [Log.insert] chooses each id itself (the newest plus one,
// under the write lock), never the database. The index on kind is in
// text_pattern_ops, so that the prefix match of [Filter.Kind] (LIKE
// 'prefix%' there, see kindPrefix) can use it whatever the database's
// collation; equality uses it as well.
const schemaPostgres = `
CREATE TABLE audit_log (
	id         BIGINT PRIMARY KEY,
	time       BIGINT NOT NULL, -- unix nanoseconds
	actor      TEXT   NOT NULL,
	subject    TEXT   NOT NULL,
	kind       TEXT   NOT NULL,
	outcome    TEXT   NOT NULL,
	reason     TEXT   NOT NULL,
	detail     TEXT   NOT NULL,
	addr       TEXT   NOT NULL,
	user_agent TEXT   NOT NULL,
	prev_hash  BYTEA  NOT NULL,
	hash       BYTEA  NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log (subject);
CREATE INDEX audit_log_actor ON audit_log (actor);
CREATE INDEX audit_log_kind ON audit_log (kind text_pattern_ops);
CREATE INDEX audit_log_time ON audit_log (time);
`

// Component returns the migrations that create the audit_log table, for
// [db.DB.Migrate].
func Component() db.Component {
	return db.Component{Name: "audit", Migrations: []db.Migration{{Version: 1, SQL: schemaV1, Postgres: schemaPostgres}}}
}

// New returns the audit log stored in d. now is the clock (time.Now when
// nil); log receives one Info line per record (discarded when nil).
func New(d *db.DB, now func() time.Time, log *slog.Logger) *Log {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Log{db: d, now: now, log: log, agg: newAggregator(Aggregation{}), soon: newSoonQueue()}
}

// Record stores e in its own transaction and logs it.
func (l *Log) Record(ctx context.Context, e Event) error {
	var r Record
	err := l.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = l.insert(ctx, tx, e)
		return err
	})
	if err != nil {
		return fmt.Errorf("audit: record %s: %w", e.Kind, err)
	}
	l.logRecord(r)
	return nil
}

// RecordTx stores e inside the caller's write transaction, so the record
// commits, or rolls back, together with the action it describes. The slog
// line is written at once, so it also appears for a transaction that later
// rolls back.
//
// tx must be a write transaction from [db.DB.Tx] (BEGIN IMMEDIATE on
// SQLite, the cluster-wide write lock on PostgreSQL): it holds the write
// lock while it reads the newest record, so concurrent writers, also
// those of other nodes, extend one chain (TestChainFromTwoNodes).
func (l *Log) RecordTx(ctx context.Context, tx *sql.Tx, e Event) error {
	r, err := l.insert(ctx, tx, e)
	if err != nil {
		return fmt.Errorf("audit: record %s: %w", e.Kind, err)
	}
	l.logRecord(r)
	return nil
}

// insert appends e to the chain within tx.
func (l *Log) insert(ctx context.Context, tx *sql.Tx, e Event) (Record, error) {
	e = sanitize(e)
	if e.Kind == "" {
		return Record{}, errors.New("event has no kind")
	}
	var (
		lastID int64
		prev   []byte
	)
	err := tx.QueryRowContext(ctx, `SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&lastID, &prev)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		prev = make([]byte, sha256.Size)
	case err != nil:
		return Record{}, fmt.Errorf("reading newest record: %w", err)
	}
	r := Record{
		ID:       lastID + 1,
		Time:     time.Unix(0, l.now().UnixNano()).UTC(),
		Event:    e,
		PrevHash: prev,
	}
	r.Hash = r.computeHash()
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_log
		(id, time, actor, subject, kind, outcome, reason, detail, addr, user_agent, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Time.UnixNano(), e.Actor, e.Subject, e.Kind, e.Outcome, e.Reason, e.Detail, e.Addr, e.UserAgent, r.PrevHash, r.Hash)
	if err != nil {
		return Record{}, fmt.Errorf("inserting: %w", err)
	}
	return r, nil
}

// logRecord writes the slog line for r and wakes the watchers ([Log.Watch]).
// Detail is included: it is declared free of secrets.
func (l *Log) logRecord(r Record) {
	defer l.watch.wake()
	l.log.Info("audit",
		"id", r.ID,
		"kind", r.Kind,
		"actor", r.Actor,
		"subject", r.Subject,
		"outcome", r.Outcome,
		"reason", r.Reason,
		"addr", r.Addr,
		"detail", r.Detail,
		"hash", hex.EncodeToString(r.Hash))
}

// computeHash returns SHA-256 over PrevHash followed by a canonical encoding
// of the record: id and time (unix nanoseconds) as 8-byte big-endian
// integers, then actor, subject, kind, outcome, reason, detail, addr and
// user agent, each as a 4-byte big-endian length and its bytes, so no two
// different records encode alike.
func (r *Record) computeHash() []byte {
	h := sha256.New()
	h.Write(r.PrevHash)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(r.ID))
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(r.Time.UnixNano()))
	h.Write(b[:])
	for _, s := range [...]string{r.Actor, r.Subject, r.Kind, r.Outcome, r.Reason, r.Detail, r.Addr, r.UserAgent} {
		binary.BigEndian.PutUint32(b[:4], uint32(len(s)))
		h.Write(b[:4])
		h.Write([]byte(s))
	}
	return h.Sum(nil)
}

// sanitize cleans every field of e and fills in the default outcome.
func sanitize(e Event) Event {
	e.Actor = clean(e.Actor, MaxField)
	e.Subject = clean(e.Subject, MaxField)
	e.Kind = clean(e.Kind, MaxField)
	e.Outcome = clean(e.Outcome, MaxField)
	e.Reason = clean(e.Reason, MaxField)
	e.Detail = clean(e.Detail, MaxField)
	e.Addr = clean(e.Addr, MaxField)
	e.UserAgent = clean(e.UserAgent, MaxUserAgent)
	if e.Outcome == "" {
		e.Outcome = OK
	}
	return e
}

// clean replaces invalid UTF-8, turns tab and line breaks into spaces
// (the mandatory breaks of Unicode Standard Annex #14, section 5.1: also
// NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR), drops other control
// characters and the bidirectional-text controls that can make a log line
// read differently from what it holds, and cuts s to at most limit bytes
// at a character boundary.
func clean(s string, limit int) string {
	var b strings.Builder
	for _, c := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == '\u0085' || c == '\u2028' || c == '\u2029':
			c = ' '
		case unicode.IsControl(c) || isBidi(c):
			continue
		}
		if b.Len()+utf8.RuneLen(c) > limit {
			break
		}
		b.WriteRune(c)
	}
	return b.String()
}

// isBidi reports whether c is a Unicode bidirectional formatting character
// (Unicode Standard Annex #9, section 2).
func isBidi(c rune) bool {
	return c == '\u061C' || c == '\u200E' || c == '\u200F' ||
		(c >= '\u202A' && c <= '\u202E') || (c >= '\u2066' && c <= '\u2069')
}

// Filter selects records for [Log.List] and [Log.WriteCSV]. Zero fields
// select everything.
type Filter struct {
	Account  string    // records whose actor or subject is this login
	Kind     string    // records whose kind starts with this, e.g. "login." (case-sensitive)
	Since    time.Time // records at or after this time
	Until    time.Time // records before this time
	Limit    int       // at most this many; [DefaultLimit] when 0, never more than [MaxLimit]
	BeforeID int64     // paging: records with an id below this; 0 starts at the newest
	AfterID  int64     // paging back: the records with an id above this that are nearest to it (still returned newest first)
	Text     string    // records whose actor, subject, kind, outcome, reason, detail or address contain this (ASCII letters in any case)
}

// Limits on the number of records one [Log.List] call returns.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
)

// List returns the records f selects, newest (highest id) first. To page,
// call it again with BeforeID set to the id of the last record returned.
func (l *Log) List(ctx context.Context, f Filter) ([]Record, error) {
	recs, err := l.list(ctx, f, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return recs, nil
}

const selectColumns = `SELECT id, time, actor, subject, kind, outcome, reason, detail, addr, user_agent, prev_hash, hash FROM audit_log`

// list is List with the limit given apart.
func (l *Log) list(ctx context.Context, f Filter, limit int) ([]Record, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	var (
		where []string
		args  []any
	)
	if f.Account != "" {
		where = append(where, `(actor = ? OR subject = ?)`)
		args = append(args, f.Account, f.Account)
	}
	if f.Kind != "" {
		cond, arg := kindPrefix(l.db.Engine(), f.Kind)
		where = append(where, cond)
		args = append(args, arg)
	}
	if !f.Since.IsZero() {
		where = append(where, `time >= ?`)
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where = append(where, `time < ?`)
		args = append(args, f.Until.UnixNano())
	}
	if f.BeforeID > 0 {
		where = append(where, `id < ?`)
		args = append(args, f.BeforeID)
	}
	if f.AfterID > 0 {
		where = append(where, `id > ?`)
		args = append(args, f.AfterID)
	}
	if f.Text != "" {
		like := "%" + likeEscaper.Replace(f.Text) + "%"
		var ors []string
		for _, col := range []string{"actor", "subject", "kind", "outcome", "reason", "detail", "addr"} {
			// lower() on both sides: SQLite's LIKE ignores the case of
			// ASCII letters, PostgreSQL's does not.
			ors = append(ors, `lower(`+col+`) LIKE lower(?) ESCAPE '\'`)
			args = append(args, like)
		}
		where = append(where, `(`+strings.Join(ors, ` OR `)+`)`)
	}
	q := selectColumns
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	if f.AfterID > 0 { // the nearest above, then newest first again
		q = `SELECT * FROM (` + q + ` ORDER BY id ASC LIMIT ?) AS nearest ORDER BY id DESC`
	} else {
		q += ` ORDER BY id DESC LIMIT ?`
	}
	args = append(args, limit)

	rows, err := l.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var recs []Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, rows.Err()
}

// likeEscaper quotes the metacharacters of LIKE with the escape character
// backslash.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// kindPrefix returns the condition and its argument that select the
// records whose kind starts with p, case-sensitively: GLOB on SQLite (its
// LIKE ignores case), LIKE on PostgreSQL (case-sensitive there; GLOB does
// not exist).
func kindPrefix(e db.Engine, p string) (cond string, arg string) {
	if e == db.Postgres {
		return `kind LIKE ? ESCAPE '\'`, likeEscaper.Replace(p) + "%"
	}
	return `kind GLOB ?`, globPrefix(p)
}

// globPrefix returns a GLOB pattern matching strings that start with p:
// the metacharacters of p are quoted by putting them in brackets.
func globPrefix(p string) string {
	var b strings.Builder
	for _, c := range p {
		switch c {
		case '*', '?', '[':
			b.WriteByte('[')
			b.WriteRune(c)
			b.WriteByte(']')
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('*')
	return b.String()
}

// scanRecord reads one row of selectColumns.
func scanRecord(rows *sql.Rows) (Record, error) {
	var (
		r     Record
		nanos int64
	)
	err := rows.Scan(&r.ID, &nanos, &r.Actor, &r.Subject, &r.Kind, &r.Outcome, &r.Reason, &r.Detail, &r.Addr, &r.UserAgent, &r.PrevHash, &r.Hash)
	if err != nil {
		return Record{}, fmt.Errorf("reading record: %w", err)
	}
	r.Time = time.Unix(0, nanos).UTC()
	return r, nil
}

// Verify walks the whole chain in id order and checks that every record
// links to the one before it and that its hash matches its fields. It
// returns the number of records that verified. If the chain is broken, the
// error is a [*BrokenError], wrapping [ErrBroken], that names the first
// record that does not verify; n then counts the good records before it.
func (l *Log) Verify(ctx context.Context) (n int, err error) {
	rows, err := l.db.QueryContext(ctx, selectColumns+` ORDER BY id`)
	if err != nil {
		return 0, fmt.Errorf("audit: verify: %w", err)
	}
	defer rows.Close()
	var (
		prevID   int64
		prevHash = make([]byte, sha256.Size)
	)
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return n, fmt.Errorf("audit: verify: %w", err)
		}
		var why string
		switch {
		case r.ID != prevID+1 && n > 0:
			why = fmt.Sprintf("records missing after id %d", prevID)
		case string(r.PrevHash) != string(prevHash):
			if n == 0 {
				why = "first record does not start the chain (records missing before it)"
			} else {
				why = fmt.Sprintf("does not link to id %d (record missing, inserted or edited)", prevID)
			}
		case string(r.Hash) != string(r.computeHash()):
			why = "hash does not match contents (record edited)"
		}
		if why != "" {
			return n, &BrokenError{ID: r.ID, Reason: why}
		}
		n++
		prevID, prevHash = r.ID, r.Hash
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("audit: verify: %w", err)
	}
	return n, nil
}

// WriteCSV writes the records f selects to w as CSV (RFC 4180), newest
// first: a header row, then one row per record with the time in RFC 3339
// (UTC, nanoseconds) and the hashes in hex. Unlike [Log.List], a zero
// f.Limit writes every selected record, not [DefaultLimit]; a positive one
// is not capped at [MaxLimit].
//
// A text field that a spreadsheet would take for a formula (starting with
// =, +, -, @, tab or carriage return) is written with a leading apostrophe,
// as OWASP advises against CSV injection; the hashes still cover the
// stored value.
func (l *Log) WriteCSV(ctx context.Context, w io.Writer, f Filter) error {
	cw := csv.NewWriter(w)
	header := []string{"id", "time", "actor", "subject", "kind", "outcome", "reason", "detail", "addr", "user_agent", "prev_hash", "hash"}
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("audit: csv: %w", err)
	}
	left := f.Limit // 0: no limit
	for {
		batch := MaxLimit
		if f.Limit > 0 {
			batch = min(batch, left)
		}
		recs, err := l.list(ctx, f, batch)
		if err != nil {
			return fmt.Errorf("audit: csv: %w", err)
		}
		for _, r := range recs {
			row := []string{
				strconv.FormatInt(r.ID, 10),
				r.Time.UTC().Format(time.RFC3339Nano),
				defuse(r.Actor), defuse(r.Subject), defuse(r.Kind), defuse(r.Outcome),
				defuse(r.Reason), defuse(r.Detail), defuse(r.Addr), defuse(r.UserAgent),
				hex.EncodeToString(r.PrevHash), hex.EncodeToString(r.Hash),
			}
			if err := cw.Write(row); err != nil {
				return fmt.Errorf("audit: csv: %w", err)
			}
		}
		left -= len(recs)
		if len(recs) < batch || (f.Limit > 0 && left <= 0) {
			break
		}
		f.BeforeID = recs[len(recs)-1].ID
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("audit: csv: %w", err)
	}
	return nil
}

// defuse prefixes s with an apostrophe if a spreadsheet would read it as a
// formula.
func defuse(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
