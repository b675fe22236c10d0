package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
)

// defaultMaxMessageSize is Options.MaxMessageSize when it is zero.
const defaultMaxMessageSize = 64 << 20

// Store is the message store. Its methods are safe for concurrent use.
//
// Methods that take a mailbox ID trust it: the caller (an IMAP session that
// selected the mailbox by name through [Store.Mailbox]) has checked that
// it belongs to the account. Methods that take an account ID and a name look
// the mailbox up in that account only.
type Store struct {
	db    *db.DB
	blobs blob.Store
	log   *slog.Logger
	opts  Options

	// pins counts, per blob, the writes between their blob.Put and their
	// commit, so that CollectGarbage leaves those blobs alone.
	mu   sync.Mutex
	pins map[blob.Ref]int

	group  *db.Group // group commit of deliveries (group.go) and of all other writes (write)
	index  *deferredIndex
	search *stmtCache // the statements of recent searches
	// memo keeps, on PostgreSQL, which addresses are roles' (SetMemo);
	// nil: none.
	memo *db.Memo
	// headers caches bodies' header fields for header searches
	// (headercache.go); nil if Options.HeaderCache is negative.
	headers *headerCache
	// headerScan is the number of messages up to which a header search
	// checks every message of the mailbox ([Store.matchHeadersScan]);
	// tests change it.
	headerScan int64

	// smallMailbox is the number of messages up to which a text search
	// goes through the mailbox first (textCandidates); tests change it.
	smallMailbox int64
	// maxPending is how many bodies may wait for the index for a text
	// search to check them itself (pendingForSearch); tests change it.
	maxPending int
	// gather is how long the indexer lets appended bodies gather
	// (indexGather); tests change it.
	gather time.Duration

	// testHookInWrite, if set, runs inside each write's job (tests only).
	testHookInWrite func()
	// testHookIndexed, if set, runs after each body indexSome indexes
	// (tests only).
	testHookIndexed func()
}

// New returns a store keeping metadata in d (migrated with [Component]) and
// bodies in blobs. A nil log discards log records. Log records never
// contain message contents, addresses or subjects.
func New(d *db.DB, blobs blob.Store, log *slog.Logger, opts Options) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = defaultMaxMessageSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.IndexIdle <= 0 {
		opts.IndexIdle = defaultIndexIdle
	}
	if opts.VanishedKeep <= 0 {
		opts.VanishedKeep = VanishedKeep
	}
	if opts.IndexBacklog <= 0 {
		opts.IndexBacklog = defaultIndexBacklog
	}
	if opts.Changes == nil {
		opts.Changes = NewBus()
	}
	if opts.HeaderCache == 0 {
		opts.HeaderCache = defaultHeaderCache
	}
	s := &Store{db: d, blobs: blobs, log: log, opts: opts, pins: map[blob.Ref]int{}, index: newDeferredIndex(), smallMailbox: smallMailbox, maxPending: maxPendingSearch, gather: indexGather}
	s.group = d.NewGroup(maxGroup, s.afterGroup)
	s.search = newStmtCache(d.DB)
	s.headers, s.headerScan = newHeaderCache(opts.HeaderCache), maxHeaderScan
	// The database is migrated before New; a failure here (a store made
	// before migrating, in tests) shows at the first search.
	if err := s.prepareIndexFile(context.Background()); err != nil {
		s.log.Warn("store: preparing the full-text index file", "err", err)
	}
	return s
}

// CommitStats returns how many group commits (each one WAL sync) the
// store's writes took so far and how many writes they carried.
func (s *Store) CommitStats() db.GroupStats { return s.group.Stats() }

// Changes returns the bus the store publishes its committed changes on.
func (s *Store) Changes() Changes { return s.opts.Changes }

// now is the store's clock.
func (s *Store) now() time.Time { return s.opts.Now() }

// pin marks ref as about to be referenced by a commit.
func (s *Store) pin(ref blob.Ref) {
	s.mu.Lock()
	s.pins[ref]++
	s.mu.Unlock()
}

// unpin undoes pin.
func (s *Store) unpin(ref blob.Ref) {
	s.mu.Lock()
	if s.pins[ref]--; s.pins[ref] <= 0 {
		delete(s.pins, ref)
	}
	s.mu.Unlock()
}

// pinned reports whether ref is pinned.
func (s *Store) pinned(ref blob.Ref) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pins[ref] > 0
}

// changes collects the announcements of one write transaction.
type changes []Change

// add records a change.
func (c *changes) add(ch Change) { *c = append(*c, ch) }

// write runs fn in a write transaction and, after it committed, announces
// the changes fn recorded on the change bus, with the origin from ctx.
// The transaction is the group commit's ([db.Group], s.group), shared with
// deliveries and other writes queued meanwhile, fn in a savepoint of its
// own: concurrent IMAP sessions' STORE, EXPUNGE and APPEND then share one
// commit and its WAL fsync instead of queueing for one each. fn's error
// rolls back fn's work alone; write returns once the transaction holding
// it has committed. fn gets the group's context and must use it, not ctx:
// the SQLite driver answers a statement whose context ends by interrupting
// the connection, which would roll back the other jobs' work too. fn must
// not call write or [db.DB.Tx].
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx, ch *changes) error) error {
	return s.writeWith(ctx, s.group.Do, fn)
}

// writeBulk is write for a batch of a bulk import ([Store.ImportBatch]),
// which reads more of the database than other writes do (the messages,
// blobs and mailboxes it adds to): its transaction reads the database
// file without a memory map ([db.Group.DoUnmapped]), so that those pages
// do not stay in the process's resident memory for the length of a
// mailbox's import (issue 17: a 5 GB mailbox imports in under 200 MB).
func (s *Store) writeBulk(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx, ch *changes) error) error {
	return s.writeWith(ctx, s.group.DoUnmapped, fn)
}

// writeWith is write through do, the group's Do or DoUnmapped.
func (s *Store) writeWith(ctx context.Context, do func(context.Context, func(context.Context, *sql.Tx) error) error, fn func(ctx context.Context, tx *sql.Tx, ch *changes) error) error {
	var ch changes
	err := do(ctx, func(gctx context.Context, tx *sql.Tx) error {
		ch = ch[:0]
		if s.testHookInWrite != nil {
			s.testHookInWrite()
		}
		return fn(gctx, tx, &ch)
	})
	if err != nil {
		return err
	}
	s.announce(ctx, ch)
	return nil
}

// announce publishes each change, in the order fn recorded them.
func (s *Store) announce(ctx context.Context, ch changes) {
	origin := ctx.Value(originKey{})
	for _, c := range ch {
		c.Origin = origin
		s.opts.Changes.Publish(c)
	}
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// QuotaError reports that a write would take one or more accounts over
// their quota. errors.Is(err, ErrQuota) holds for it; errors.As gives the
// accounts, so that SMTP can refuse just those recipients.
type QuotaError struct {
	Over []QuotaExcess
}

// QuotaExcess is one account that a write would take over quota.
type QuotaExcess struct {
	AccountID int64
	Used      int64 // bytes used before the write
	Adding    int64 // bytes the write would add
	Quota     int64
}

// Error says which accounts are over quota and by how much, for example
// "store: over quota: account 7: 1.2 GB used + 3.4 MB of 1.0 GB".
func (e *QuotaError) Error() string {
	var b strings.Builder
	b.WriteString(ErrQuota.Error())
	for i, o := range e.Over {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "account %d: %s used + %s of %s", o.AccountID, formatBytes(o.Used), formatBytes(o.Adding), formatBytes(o.Quota))
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrQuota) true.
func (e *QuotaError) Unwrap() error { return ErrQuota }

// formatBytes writes n in decimal units, one decimal place.
func formatBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("kMGTP"[exp]) + "B"
}

// EnsureAccount creates the account's special-use mailboxes ([SpecialUse])
// that are missing, subscribed. It is idempotent and cheap when nothing is
// missing, so IMAP calls it at every login.
func (s *Store) EnsureAccount(ctx context.Context, accountID int64) error {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM mailboxes WHERE account_id = ? AND (attr != '' OR name = 'INBOX')`, accountID).Scan(&n)
	if err != nil {
		return fmt.Errorf("store: ensure account: %w", err)
	}
	if n >= len(SpecialUse) {
		return nil
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, ch *changes) error {
		return s.ensureAccount(ctx, tx, ch, accountID)
	})
}

// ensureAccount is EnsureAccount inside a transaction.
func (s *Store) ensureAccount(ctx context.Context, tx *sql.Tx, ch *changes, accountID int64) error {
	now := s.now().Unix()
	if _, err := tx.ExecContext(ctx, `INSERT INTO mail_accounts (account_id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING`, accountID, now); err != nil {
		return fmt.Errorf("store: ensure account: %w", err)
	}
	created := false
	for _, su := range SpecialUse {
		res, err := tx.ExecContext(ctx, `INSERT INTO mailboxes (account_id, name, attr, subscribed, uid_validity, created_at)
			VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT (account_id, name) DO UPDATE SET attr = excluded.attr WHERE mailboxes.attr != excluded.attr`,
			accountID, su.Name, string(su.Attr), newUIDValidity(), now)
		if err != nil {
			return fmt.Errorf("store: ensure account: creating %s: %w", su.Name, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			created = true
		}
	}
	if created {
		ch.add(Change{Kind: ChangeMailboxes, AccountID: accountID})
	}
	return nil
}

// SetQuota sets the account's storage quota in bytes; 0 means unlimited.
// The quota counts the size of every message in every mailbox of the
// account, also when its body is shared with other accounts.
func (s *Store) SetQuota(ctx context.Context, accountID int64, bytes int64) error {
	if bytes < 0 {
		return fmt.Errorf("store: set quota: negative quota %d", bytes)
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, _ *changes) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO mail_accounts (account_id, quota, created_at) VALUES (?, ?, ?)
			ON CONFLICT (account_id) DO UPDATE SET quota = excluded.quota`, accountID, bytes, s.now().Unix())
		if err != nil {
			return fmt.Errorf("store: set quota: %w", err)
		}
		return nil
	})
}

// Usage returns the bytes the account's messages take and its quota (0:
// unlimited). An account the store has never seen uses 0 of 0.
func (s *Store) Usage(ctx context.Context, accountID int64) (used, quota int64, err error) {
	used, quota, err = usage(ctx, s.db, accountID)
	if err != nil {
		return 0, 0, fmt.Errorf("store: usage: %w", err)
	}
	return used, quota, nil
}

// TotalSize returns the bytes all accounts' messages take, for the
// metrics. A body stored for several recipients counts once per copy, as
// quotas count it.
func (s *Store) TotalSize(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT coalesce(sum(size), 0) FROM mailboxes`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: total size: %w", err)
	}
	return n, nil
}

// usage reads an account's usage and quota with q.
func usage(ctx context.Context, q querier, accountID int64) (used, quota int64, err error) {
	err = q.QueryRowContext(ctx, `SELECT
		(SELECT coalesce(sum(size), 0) FROM mailboxes WHERE account_id = ?1),
		coalesce((SELECT quota FROM mail_accounts WHERE account_id = ?1), 0)`, accountID).Scan(&used, &quota)
	return used, quota, err
}

// checkQuota returns a *QuotaError if adding bytes to each account in add
// would exceed its quota, nil if not.
func checkQuota(ctx context.Context, tx querier, add map[int64]int64, order []int64) error {
	var qe QuotaError
	for _, acct := range order {
		n := add[acct]
		used, quota, err := usage(ctx, tx, acct)
		if err != nil {
			return fmt.Errorf("store: quota: %w", err)
		}
		if quota > 0 && used+n > quota {
			qe.Over = append(qe.Over, QuotaExcess{AccountID: acct, Used: used, Adding: n, Quota: quota})
		}
	}
	if len(qe.Over) > 0 {
		return &qe
	}
	return nil
}
