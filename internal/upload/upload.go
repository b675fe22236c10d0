// Package upload is a private spool for large files a browser sends in
// pieces and may resume after a dropped connection or a reload (a Google
// Takeout archive of several gigabytes, an mbox): the size is declared
// first, each piece is written at the offset the server has, fsynced,
// and only then counted and acknowledged, so that the offset the server
// answers is always the length of the durable prefix. An upload belongs
// to one account; any other account is told it does not exist. Uploads
// left unfinished are deleted after a day ([Spool.Sweep]); a finished one
// is handed to a job and deleted when that job has ended.
//
// The files live under the spool's directory (in the data directory,
// mode 0700), named by the upload's random id; the rows in the database
// (component "upload") say whose each one is and how far it got.
package upload

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/caucus-org/caucus/internal/db"
)

// Upload states.
const (
	StateReceiving = "receiving" // pieces are coming
	StateHanded    = "handed"    // complete, and given to a job (JobID)
)

// Errors.
var (
	// ErrNotFound: no such upload, or another account's.
	ErrNotFound = errors.New("upload: no such upload")
	// ErrOffset: a piece that does not start where the upload stands.
	ErrOffset = errors.New("upload: the piece does not start at the upload's offset")
	// ErrTooLarge: more bytes than the declared size, or a declared size
	// over the limit.
	ErrTooLarge = errors.New("upload: larger than allowed")
	// ErrBusy: another piece of the same upload is being written.
	ErrBusy = errors.New("upload: a piece is being written already")
	// ErrComplete: the upload has all its bytes.
	ErrComplete = errors.New("upload: complete already")
	// ErrTooMany: the account has too many unfinished uploads.
	ErrTooMany = errors.New("upload: too many unfinished uploads")
	// ErrDiskFull: the spool's disk has no room for the upload (beyond
	// Spool.Reserve, kept for the mail itself).
	ErrDiskFull = errors.New("upload: no room on the disk")
)

// Component returns the spool's table's migrations. Times are Unix
// seconds; received counts the bytes written and fsynced.
func Component() db.Component {
	return db.Component{Name: "upload", Migrations: []db.Migration{{Version: 1, SQL: `
CREATE TABLE uploads (
	id          TEXT PRIMARY KEY,
	account_id  INTEGER NOT NULL,
	name        TEXT NOT NULL,
	kind        TEXT NOT NULL DEFAULT '',
	size        INTEGER NOT NULL,
	received    INTEGER NOT NULL DEFAULT 0,
	state       TEXT NOT NULL,
	job_id      INTEGER NOT NULL DEFAULT 0,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);
CREATE INDEX uploads_account ON uploads (account_id);
`, Postgres: schemaPG}}}
}

// schemaPG is the spool's table on PostgreSQL: SQLite's 64-bit INTEGER
// is BIGINT (a Takeout archive's size is over 2^31 bytes).
const schemaPG = `
CREATE TABLE uploads (
	id          TEXT PRIMARY KEY,
	account_id  BIGINT NOT NULL,
	name        TEXT NOT NULL,
	kind        TEXT NOT NULL DEFAULT '',
	size        BIGINT NOT NULL,
	received    BIGINT NOT NULL DEFAULT 0,
	state       TEXT NOT NULL,
	job_id      BIGINT NOT NULL DEFAULT 0,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL
);
CREATE INDEX uploads_account ON uploads (account_id);
`

// Upload is one upload.
type Upload struct {
	ID        string
	AccountID int64
	Name      string // the file's name as the browser gave it (shown, never used as a path)
	Kind      string // what the caller will do with it, e.g. "mbox"
	Size      int64  // declared
	Received  int64  // durable so far
	State     string
	JobID     int64
	Created   time.Time
	Updated   time.Time
}

// Complete says whether every byte is in.
func (u Upload) Complete() bool { return u.Received == u.Size }

// Spool keeps uploads. Its methods are safe for concurrent use.
type Spool struct {
	db  *db.DB
	dir string
	now func() time.Time
	log *slog.Logger

	// MaxOpen is how many unfinished uploads an account may have; default 3.
	MaxOpen int
	// Reserve is how much of the disk uploads leave free (the import
	// will store the same mail again); default 1 GiB.
	Reserve int64
	// Free says how many bytes the spool's disk has left (-1: unknown);
	// default statfs(2) of the directory.
	Free func() (int64, error)

	mu   sync.Mutex
	busy map[string]bool // uploads with a piece being written
}

// Open returns the spool of dir (created, mode 0700) on d, migrated
// with [Component].
func Open(d *db.DB, dir string, now func() time.Time, log *slog.Logger) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Spool{db: d, dir: dir, now: now, log: log, MaxOpen: 3, Reserve: 1 << 30,
		Free: func() (int64, error) { return diskFree(dir) }, busy: map[string]bool{}}, nil
}

// Path is where an upload's bytes are: a directory named by its id
// holds one file with the upload's name (made safe), so that a job's
// report names the file the member chose. Only the spool and the job it
// is handed to read it.
func (s *Spool) Path(u Upload) string { return filepath.Join(s.dir, u.ID, fileName(u.Name)) }

// fileName is name as one safe path element: its last element, without
// control characters, at most 200 bytes; "upload" if nothing is left.
func fileName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return '/'
		}
		return r
	}, name)
	name = path.Base(name)
	for len(name) > 200 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" || name == "." || name == ".." || name == "/" {
		return "upload"
	}
	return name
}

const columns = `id, account_id, name, kind, size, received, state, job_id, created_at, updated_at`

func scan(row interface{ Scan(...any) error }) (Upload, error) {
	var u Upload
	var c, up int64
	err := row.Scan(&u.ID, &u.AccountID, &u.Name, &u.Kind, &u.Size, &u.Received, &u.State, &u.JobID, &c, &up)
	u.Created, u.Updated = time.Unix(c, 0), time.Unix(up, 0)
	return u, err
}

// Create starts an upload of size bytes for the account, or returns the
// account's unfinished upload of the same name, kind and size (the
// browser resumes it after a reload). size must be 1 to max, and fit on
// the disk with Reserve to spare (else [ErrDiskFull]). The account's
// unfinished uploads are counted again, and the one to resume looked for
// again, in the write transaction that records the new one, so that
// requests at once, through one node or several, never leave an account
// more than MaxOpen.
func (s *Spool) Create(ctx context.Context, accountID int64, name, kind string, size, max int64) (Upload, error) {
	if size <= 0 || size > max {
		return Upload{}, fmt.Errorf("%w: %d bytes (at most %d)", ErrTooLarge, size, max)
	}
	u, err := s.resumable(ctx, s.db, accountID, name, kind, size)
	if err == nil {
		return u, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Upload{}, fmt.Errorf("upload: %w", err)
	}
	if err := s.room(ctx, s.db, accountID); err != nil {
		return Upload{}, err
	}
	if free, err := s.Free(); err != nil {
		return Upload{}, fmt.Errorf("upload: %w", err)
	} else if free >= 0 && size > free-s.Reserve {
		return Upload{}, ErrDiskFull
	}
	b := make([]byte, 16)
	rand.Read(b)
	now := s.now()
	nu := Upload{ID: hex.EncodeToString(b), AccountID: accountID, Name: name, Kind: kind, Size: size, State: StateReceiving, Created: now, Updated: now}
	if err := s.createFile(nu); err != nil {
		return Upload{}, err
	}
	resumed := false
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		prev, err := s.resumable(ctx, tx, accountID, name, kind, size)
		if err == nil {
			u, resumed = prev, true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("upload: %w", err)
		}
		if err := s.room(ctx, tx, accountID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO uploads (`+columns+`) VALUES (?, ?, ?, ?, ?, 0, ?, 0, ?, ?)`,
			nu.ID, accountID, name, kind, size, StateReceiving, now.Unix(), now.Unix())
		if err != nil {
			return fmt.Errorf("upload: %w", err)
		}
		return nil
	})
	if err != nil || resumed {
		os.RemoveAll(filepath.Join(s.dir, nu.ID))
	}
	if err != nil {
		return Upload{}, err
	}
	if resumed {
		return u, nil
	}
	return nu, nil
}

// resumable returns the account's newest unfinished upload of name, kind
// and size, or sql.ErrNoRows.
func (s *Spool) resumable(ctx context.Context, q db.Querier, accountID int64, name, kind string, size int64) (Upload, error) {
	return scan(q.QueryRowContext(ctx, `SELECT `+columns+` FROM uploads WHERE account_id = ? AND name = ? AND kind = ? AND size = ? AND state = ?
		ORDER BY created_at DESC LIMIT 1`, accountID, name, kind, size, StateReceiving))
}

// room returns [ErrTooMany] if the account has MaxOpen unfinished uploads.
func (s *Spool) room(ctx context.Context, q db.Querier, accountID int64) error {
	var open int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM uploads WHERE account_id = ? AND state = ?`, accountID, StateReceiving).Scan(&open); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if open >= s.MaxOpen {
		return ErrTooMany
	}
	return nil
}

// createFile creates an upload's directory and empty file, durably.
func (s *Spool) createFile(u Upload) error {
	if err := os.Mkdir(filepath.Join(s.dir, u.ID), 0o700); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	f, err := os.OpenFile(s.Path(u), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if err := syncDir(filepath.Join(s.dir, u.ID)); err != nil {
		return err
	}
	return syncDir(s.dir)
}

// syncDir fsyncs a directory, so that a file created in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	return nil
}

// Get returns the account's upload id.
func (s *Spool) Get(ctx context.Context, accountID int64, id string) (Upload, error) {
	u, err := scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM uploads WHERE id = ? AND account_id = ?`, id, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return u, ErrNotFound
	}
	if err != nil {
		return u, fmt.Errorf("upload: %w", err)
	}
	return u, nil
}

// List returns the account's uploads, newest first.
func (s *Spool) List(ctx context.Context, accountID int64) ([]Upload, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM uploads WHERE account_id = ? ORDER BY created_at DESC`, accountID)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	defer rows.Close()
	var out []Upload
	for rows.Next() {
		u, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("upload: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// lock marks an upload busy; unlock frees it.
func (s *Spool) lock(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[id] {
		return false
	}
	s.busy[id] = true
	return true
}

func (s *Spool) unlock(id string) {
	s.mu.Lock()
	delete(s.busy, id)
	s.mu.Unlock()
}

// Write writes the piece r at offset of the account's upload id. offset
// must be the upload's Received (else [ErrOffset], with the upload as it
// stands). What was read is fsynced and counted before Write returns,
// even when r fails midway (a dropped connection): the upload then
// resumes from there. A piece that would go past the declared size is
// refused ([ErrTooLarge]) and nothing of it is counted.
func (s *Spool) Write(ctx context.Context, accountID int64, id string, offset int64, r io.Reader) (Upload, error) {
	if !s.lock(id) {
		return Upload{}, ErrBusy
	}
	defer s.unlock(id)
	u, err := s.Get(ctx, accountID, id)
	if err != nil {
		return u, err
	}
	switch {
	case u.State != StateReceiving || u.Complete():
		return u, ErrComplete
	case offset != u.Received:
		return u, ErrOffset
	}
	n, rerr := s.writeAt(u, r)
	if n > 0 {
		u.Received += n
		u.Updated = s.now()
		if _, err := s.db.ExecContext(context.WithoutCancel(ctx), `UPDATE uploads SET received = ?, updated_at = ? WHERE id = ?`,
			u.Received, u.Updated.Unix(), id); err != nil {
			return u, fmt.Errorf("upload: %w", err)
		}
	}
	return u, rerr
}

// writeAt writes r at the upload's Received, at most up to its declared
// size, fsyncs, and returns how many bytes are durable. More bytes than
// the size allows fail the whole piece (nothing counted).
func (s *Spool) writeAt(u Upload, r io.Reader) (int64, error) {
	f, err := os.OpenFile(s.Path(u), os.O_WRONLY, 0)
	if err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(u.Received, io.SeekStart); err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	left := u.Size - u.Received
	n, rerr := io.Copy(f, io.LimitReader(r, left))
	if rerr == nil && n == left {
		// Anything after the declared size refuses the piece.
		var one [1]byte
		if m, _ := io.ReadFull(r, one[:]); m > 0 {
			return 0, ErrTooLarge
		}
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	if rerr != nil {
		rerr = fmt.Errorf("upload: reading the piece: %w", rerr)
	}
	return n, rerr
}

// Hand gives a complete upload to the job start makes, at most once:
// the upload is claimed (state handed) before start runs, so that a
// second request for the same upload (a retry racing the first) finds
// it handed and starts nothing; if start fails, the claim is undone.
// [Spool.Sweep] deletes the file when the job has ended (a claim whose
// job was never recorded, as after a crash, counts as ended).
func (s *Spool) Hand(ctx context.Context, id string, start func() (int64, error)) (int64, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE uploads SET state = ?, job_id = 0, updated_at = ? WHERE id = ? AND state = ? AND received = size`,
		StateHanded, s.now().Unix(), id, StateReceiving)
	if err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, ErrNotFound
	}
	job, err := start()
	if err != nil {
		if _, uerr := s.db.ExecContext(ctx, `UPDATE uploads SET state = ? WHERE id = ?`, StateReceiving, id); uerr != nil {
			err = errors.Join(err, fmt.Errorf("upload: %w", uerr))
		}
		return 0, err
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE uploads SET job_id = ? WHERE id = ?`, job, id); err != nil {
		return job, fmt.Errorf("upload: %w", err)
	}
	return job, nil
}

// Delete deletes the account's upload id (its file, then its row).
func (s *Spool) Delete(ctx context.Context, accountID int64, id string) error {
	if _, err := s.Get(ctx, accountID, id); err != nil {
		return err
	}
	return s.remove(ctx, id)
}

func (s *Spool) remove(ctx context.Context, id string) error {
	if err := os.RemoveAll(filepath.Join(s.dir, id)); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM uploads WHERE id = ?`, id); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	return nil
}
