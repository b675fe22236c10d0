package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Group commits concurrent write jobs together: callers of [Group.Do]
// queue their jobs, and whichever of them gets the turn runs every queued
// job (up to a bound) in one write transaction, each in a savepoint of its
// own, so that many small writes share one commit and its WAL fsync, and
// one job's failure rolls back only that job. Every caller returns only
// after the transaction holding its job has committed (or failed), so a
// nil error still means the write is durable.
//
// A group's commits never checkpoint the write-ahead log themselves:
// SQLite's automatic checkpoint (at 1000 frames) runs in the commit that
// crosses the bound, which copies the log into the database file and
// syncs it before returning, while every write queued behind it waits.
// Instead, every checkpointEvery commits the group starts a passive
// checkpoint in the background (one at a time), which runs beside the
// commits that follow (SQLite lets a checkpoint and a writer work at once).
type Group struct {
	db        *DB
	max       int
	afterTurn func(ctx context.Context)

	turn    chan struct{} // held by the caller committing a group
	mu      sync.Mutex
	pending []*job
	turns   TurnStats  // the turns so far, by kind (Turns); guarded by mu
	times   GroupTimes // see Stats; guarded by mu

	// beforeCommit, if set, runs in each group's transaction after the
	// jobs, before the commit (see SetBeforeCommit).
	beforeCommit func(ctx context.Context, tx *sql.Tx) error
	// committing, if set, runs on PostgreSQL just before a group's COMMIT
	// is sent (tests).
	committing func()

	commits, jobs atomic.Int64 // see Stats

	// sinceCheckpoint counts commits since a checkpoint was last
	// started; only the holder of the turn touches it.
	sinceCheckpoint int
	checkpointing   atomic.Bool    // a background checkpoint runs
	checkpoints     sync.WaitGroup // the background checkpoint, if any
	// checkpoint checkpoints the log (passiveCheckpoint); tests replace it.
	checkpoint func(ctx context.Context) error
	// bulkLogFrames and burstLogFrames are defaultBulkLogFrames and
	// defaultBurstLogFrames; tests lower them.
	bulkLogFrames, burstLogFrames int64
	// logFrames is how many frames the log held at the last checkpoint.
	logFrames atomic.Int64
	// conn carries the group's transactions on SQLite (see keptConn).
	conn *keptConn
}

// defaultBulkLogFrames is how many frames (64 MiB of 4 KiB pages) the
// write-ahead log may hold, at the last checkpoint, before a group that
// carries a bulk job (DoUnmapped) checkpoints it with the turn held and
// the log started over (catchUp).
// The background checkpoints run beside the commits that follow and so
// never catch up with a long import's: SQLite starts the log over only
// in a commit that begins once every frame is in the database file, and
// a 5 GB import's log grew to 573 MB. With the turn held, no group
// commits meanwhile; the checkpoint copies what is left, and the next
// commit starts the log over. Other writes wait for it: once per 64 MiB
// of log, during imports only.
const defaultBulkLogFrames = 16384

// defaultBurstLogFrames is how many frames (256 MiB) the write-ahead log
// may hold, at the last checkpoint, before any group catches up as a
// bulk one does past defaultBulkLogFrames. A long burst of ordinary
// writes grows the log the same way: a sync client's 2,000 uploads of
// 64 KiB (kept in the database) left a 161 MB log. Ordinary writes are
// interactive, so their bound is four times the imports': writers wait
// for a catch-up once per 256 MiB of log, in long bursts only.
const defaultBurstLogFrames = 65536

// checkpointEvery is how many group commits add to the write-ahead log
// before the group starts a checkpoint in the background. A commit of a
// few writes adds a dozen pages or so; SQLite's own bound is 1000.
const checkpointEvery = 64

// GroupStats counts a group's work since it was made.
type GroupStats struct {
	Commits int64      // transactions committed, each one WAL sync
	Jobs    int64      // jobs those transactions carried
	Turns   TurnStats  // the turns, by kind: group commits, lazy commits, holds
	Times   GroupTimes // where the commits' time went
}

// GroupTimes sums where the time of a group's commits went, over every
// group commit: what a load tool divides by Jobs or Commits to split an
// upload's or a delivery's wait for the disk. It counts failed commits
// too, which Commits and Jobs do not, so the quotients are exact only
// while nothing fails. A batch run again after a job failed (see
// [Group.DoBare]) counts its first attempt as Begin. On PostgreSQL the
// group's BEGIN, and its wait for the cluster's write lock, go to the
// server with the first statement: they fall in Run, and Begin is the
// writer's turn and a connection only. A job that joins a group already
// running (a piped job, see [Group.DoPiped]) adds no Wait.
type GroupTimes struct {
	Wait   time.Duration // jobs queued until a group took them, summed over the jobs
	Begin  time.Duration // the writer's turn, a connection and (on SQLite) BEGIN, per group
	Run    time.Duration // the jobs and the step before commit, per group
	Commit time.Duration // COMMIT: the log written and synced, per group
}

// Stats returns how many transactions the group committed and how many
// jobs they carried (Jobs/Commits is how many writes shared each sync),
// and where their time went (Times).
func (g *Group) Stats() GroupStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return GroupStats{Commits: g.commits.Load(), Jobs: g.jobs.Load(), Turns: g.turns, Times: g.times}
}

// job is one [Group.Do] waiting for its commit.
type job struct {
	fn       func(ctx context.Context, tx *sql.Tx) error
	err      error
	done     chan struct{}
	bare     bool   // see DoBare
	piped    *piped // see DoPiped; bare too
	taken    bool   // by a committer (take); guarded by Group.mu
	unmapped bool   // see DoUnmapped

	// Set if the job's context carries a JobTrace.
	trace  *JobTrace
	queued time.Time
	behind TurnStats // the group's turns when it was queued
}

// piped is a DoPiped job's statement and what reads its row.
type piped struct {
	query string
	args  []any
	then  func(ctx context.Context, tx *sql.Tx, row Row) error
}

// errRedo ends a group's transaction when a job without a savepoint of
// its own failed: the batch runs again, every job in one.
var errRedo = errors.New("db: group: a job without a savepoint failed")

// GroupTimeout bounds a group's transaction. It does not end with the
// committing caller's context, because it carries other callers' jobs.
const GroupTimeout = time.Minute

// NewGroup returns a group committing at most max jobs per transaction.
// afterTurn, if not nil, runs after each group's commit while the turn is
// still held (the mail store indexes a batch there when its backlog is
// over its bound).
func (db *DB) NewGroup(max int, afterTurn func(ctx context.Context)) *Group {
	g := &Group{db: db, max: max, afterTurn: afterTurn, turn: make(chan struct{}, 1),
		bulkLogFrames: defaultBulkLogFrames, burstLogFrames: defaultBurstLogFrames}
	g.checkpoint = g.passiveCheckpoint
	if db.engine == SQLite {
		g.conn = db.keepConn()
	}
	return g
}

// Do runs fn in a savepoint of a group transaction and returns once that
// transaction has committed: fn's error (its savepoint rolled back, the
// others' work kept), or the transaction's, or nil. fn gets the
// transaction's context, not ctx; if ctx ends while the job still waits,
// it is withdrawn and never runs. fn must not call Do or [DB.Tx].
func (g *Group) Do(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return g.do(ctx, &job{fn: fn, done: make(chan struct{})})
}

// DoBare is Do for a job that runs without a savepoint of its own and
// that may therefore run twice: if fn fails, the group cannot tell what
// is left of its transaction, so it rolls the transaction back and runs
// the whole batch again, every job in a savepoint as Do runs them, where
// fn's failure is its own again. Fit for jobs that seldom fail and whose
// fn only writes the database and sets its own results. On PostgreSQL
// opening a savepoint is a round trip, made while the cluster's write
// lock holds every other writer back; on SQLite it is two statements
// (SAVEPOINT, RELEASE) and a copy of every page the job changes into
// the statement journal (subjournalPage): 7% of the group commit's CPU
// for a 10 KiB upload.
func (g *Group) DoBare(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return g.do(ctx, &job{fn: fn, done: make(chan struct{}), bare: true})
}

// Row is the first row of a statement's result, as [sql.Row] gives it:
// Scan returns the statement's error, or [sql.ErrNoRows] if it returned
// no row.
type Row interface {
	Scan(dest ...any) error
}

// DoPiped is DoBare for a job that begins with one statement, query with
// args, whose row then reads (and then may write more in tx, or fail):
// on PostgreSQL the statements of a group's piped jobs go to the server
// together, in one message, before any then runs, so that the group's
// round trips under the cluster's write lock no longer grow with its
// size. A statement must therefore not depend on what another job's then
// does, and then runs after the statements of the jobs queued beside it:
// it must read again whatever those may have changed. Jobs queued while
// those statements were on their way join the group (see join): their
// statements go in one more message, after the first jobs' thens. Like
// DoBare's fn, then may run twice.
func (g *Group) DoPiped(ctx context.Context, query string, args []any, then func(ctx context.Context, tx *sql.Tx, row Row) error) error {
	fn := func(ctx context.Context, tx *sql.Tx) error {
		return then(ctx, tx, g.db.Stmts(tx).QueryRowContext(ctx, query, args...))
	}
	return g.do(ctx, &job{fn: fn, done: make(chan struct{}), bare: true, piped: &piped{query: query, args: args, then: then}})
}

// DoUnmapped is [Group.Do] for a job that reads much of the database
// once (a batch of a mailbox import): the transaction that carries it
// runs without the connection's memory map of the database file (see
// mmapSize), so that the pages it reads do not stay in the process's
// resident memory. The other jobs of that transaction
// read unmapped too.
func (g *Group) DoUnmapped(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return g.do(ctx, &job{fn: fn, unmapped: true, done: make(chan struct{})})
}

// do queues j and waits for its outcome, committing a group itself when
// it gets the turn.
func (g *Group) do(ctx context.Context, j *job) error {
	j.trace = jobTraceOf(ctx)
	j.queued = time.Now()
	g.mu.Lock()
	if j.trace != nil {
		j.behind = g.turns
	}
	g.pending = append(g.pending, j)
	g.mu.Unlock()
	for {
		select {
		case <-j.done:
			return j.err
		case <-ctx.Done():
			if g.withdraw(j) {
				return fmt.Errorf("db: group: %w", ctx.Err())
			}
			<-j.done // taken by a committer: its outcome comes soon
			return j.err
		case g.turn <- struct{}{}:
			select {
			case <-j.done: // committed by the one before: select chose at random
				<-g.turn
				return j.err
			default:
			}
			if g.taken(j) {
				// In a group whose COMMIT is on its way (commitTurn
				// handed the turn on): wait for it, not for the turn
				// again and again.
				<-g.turn
				<-j.done
				return j.err
			}
			if !g.commitTurn(ctx) {
				<-g.turn
			}
		}
	}
}

// taken reports whether a committer has taken j from the queue.
func (g *Group) taken(j *job) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return j.taken
}

// commitTurn commits the queued jobs, the caller holding the turn, and
// reports whether it gave the turn back itself: on PostgreSQL, the
// writer slot and, when no afterTurn waits for the commit, the turn go
// to the next group just before the COMMIT is sent, so that the next
// group's BEGIN, write lock and statements are on their way while this
// one's commit is made durable; the server's write lock keeps the two
// transactions apart, the second's statements running once the first
// has committed.
func (g *Group) commitTurn(ctx context.Context) (handed bool) {
	batch := g.take()
	if len(batch) == 0 {
		return false
	}
	start := time.Now()
	var handOff func()
	if g.db.engine == Postgres {
		early := g.afterTurn == nil
		handOff = func() {
			if early {
				handed = true
				g.turnEnded("commit", start, len(batch))
				<-g.turn
			}
			if g.committing != nil {
				g.committing()
			}
		}
	}
	g.commit(ctx, &batch, handOff) // which jobs may join (see join)
	if handed {
		return true
	}
	g.catchUp(ctx, batch)
	if g.afterTurn != nil {
		g.afterTurn(ctx)
	}
	g.turnEnded("commit", start, len(batch))
	return false
}

// SetBeforeCommit sets fn to run in every group's transaction after all
// its jobs, in a savepoint of its own, just before the commit: work that
// is cheaper done once per group than once per job. fn's error rolls back fn's work alone and is
// logged; the jobs still commit. Call it before the first Do.
func (g *Group) SetBeforeCommit(fn func(ctx context.Context, tx *sql.Tx) error) {
	g.beforeCommit = fn
}

// Queued returns how many jobs wait for a commit.
func (g *Group) Queued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pending)
}

// Hold waits for the commit turn and keeps it until release is called: no
// group commits meanwhile, so the holder may write without the queued
// jobs (the mail store's indexer works in quiet spells this way). It fails
// if ctx ends first.
func (g *Group) Hold(ctx context.Context) (release func(), err error) {
	select {
	case g.turn <- struct{}{}:
		start := time.Now()
		return func() {
			g.turnEnded("hold", start, 0)
			<-g.turn
		}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// withdraw removes j from the queue; false if a committer has taken it.
func (g *Group) withdraw(j *job) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, p := range g.pending {
		if p == j {
			g.pending = append(g.pending[:i], g.pending[i+1:]...)
			return true
		}
	}
	return false
}

// take removes and returns up to max queued jobs, oldest first.
func (g *Group) take() []*job {
	return g.join(0)
}

// commit runs *batch in one transaction and then tells each job its
// outcome, also if a job panics (the panic goes on after). On
// PostgreSQL, jobs queued meanwhile may join the transaction (see join):
// *batch is every job it carried. handOff, if not nil, runs on
// PostgreSQL just before the COMMIT is sent (see commitTurn).
func (g *Group) commit(ctx context.Context, batch *[]*job, handOff func()) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), GroupTimeout)
	defer cancel()
	t := newBatchTimes(g, *batch)
	var err error
	defer func() {
		t.finish(g, *batch)
		p := recover()
		if p != nil {
			err = fmt.Errorf("db: group: a job panicked: %v", p)
		}
		for _, j := range *batch {
			if err != nil {
				j.err = err
			}
			close(j.done)
		}
		if p != nil {
			panic(p)
		}
	}()
	err = g.run(ctx, batch, true, t, handOff)
	if errors.Is(err, errRedo) {
		err = g.run(ctx, batch, false, t, handOff)
	}
	if err == nil {
		g.commits.Add(1)
		g.jobs.Add(int64(len(*batch)))
		g.committed()
	}
}

// run runs *batch in one transaction, each job in a savepoint but, with
// bare, the jobs queued by DoBare and DoPiped (on PostgreSQL the piped
// ones first, see runPiped, where more jobs may join *batch; on SQLite a
// piped job runs its fn as a bare job); a failed bare job ends it with
// errRedo. handOff is commit's.
func (g *Group) run(ctx context.Context, batchp *[]*job, bare bool, t *batchTimes, handOff func()) error {
	exec := func(tx *sql.Tx, query string) error {
		if _, err := g.db.Stmts(tx).ExecContext(ctx, query); err != nil {
			return fmt.Errorf("db: group: %w", err)
		}
		return nil
	}
	body := func(tx *sql.Tx, conn *sql.Conn) error {
		t.began()
		for _, j := range *batchp {
			j.err = nil // a batch run again starts afresh
		}
		piped := bare && conn != nil // on PostgreSQL, conn is tx's connection
		if piped {
			if err := g.runPiped(ctx, tx, conn, batchp, t); err != nil {
				return err
			}
		}
		batch := *batchp
		open := false // on PostgreSQL, a job's savepoint left for the next to release
		for i, j := range batch {
			if piped && j.piped != nil {
				continue // ran in runPiped
			}
			if bare && j.bare {
				t.jobStarted(i)
				j.err = j.fn(ctx, tx)
				t.jobEnded(i)
				if j.err != nil {
					return errRedo
				}
				continue
			}
			if err := g.savepoint(ctx, tx, open, exec); err != nil {
				return err
			}
			t.jobStarted(i)
			j.err = j.fn(ctx, tx)
			t.jobEnded(i)
			if j.err != nil {
				if err := exec(tx, `ROLLBACK TO job`); err != nil {
					return err
				}
			}
			if g.db.engine != Postgres {
				if err := exec(tx, `RELEASE job`); err != nil {
					return err
				}
				continue
			}
			open = true
		}
		err := g.runBeforeCommit(ctx, tx, exec)
		t.committing()
		return err
	}
	if g.db.engine == Postgres {
		return g.db.txPostgresConn(ctx, body, handOff)
	}
	// The kept connection reads unmapped (DoUnmapped) always.
	return g.conn.tx(ctx, nil, func(tx *sql.Tx) error { return body(tx, nil) })
}

// runPiped sends the statements of *batch's piped jobs to PostgreSQL in
// one message on conn, tx's connection, and then runs each job's then
// with its row, in the batch's order. The jobs queued meanwhile then
// join the transaction, once (see join), their statements piped in one
// more message. A failed statement (which aborts the transaction) or
// then ends the transaction with errRedo.
func (g *Group) runPiped(ctx context.Context, tx *sql.Tx, conn *sql.Conn, batch *[]*job, t *batchTimes) error {
	ran, err := g.pipeJobs(ctx, tx, conn, *batch, 0, t)
	if err != nil || !ran {
		return err
	}
	from := len(*batch)
	*batch = append(*batch, g.join(len(*batch))...)
	t.grow(len(*batch))
	_, err = g.pipeJobs(ctx, tx, conn, *batch, from, t)
	return err
}

// pipeJobs pipes the statements of the piped jobs of batch[from:] and
// runs their thens (see runPiped); ran reports whether there was any.
func (g *Group) pipeJobs(ctx context.Context, tx *sql.Tx, conn *sql.Conn, batch []*job, from int, t *batchTimes) (ran bool, err error) {
	var stmts []*piped
	for _, j := range batch[from:] {
		if j.piped != nil {
			stmts = append(stmts, j.piped)
		}
	}
	if len(stmts) == 0 {
		return false, nil
	}
	rows, err := g.db.pipe(ctx, conn, stmts)
	if err != nil {
		return true, errRedo
	}
	k := 0
	for i, j := range batch[from:] {
		if j.piped == nil {
			continue
		}
		t.jobStarted(from + i)
		j.err = j.piped.then(ctx, tx, rows[k])
		t.jobEnded(from + i)
		k++
		if j.err != nil {
			return true, errRedo
		}
	}
	return true, nil
}

// join takes the jobs queued while a group's first statements were on
// their way, up to the group's bound with n jobs taken: on PostgreSQL
// they often waited there for the cluster's write lock (held by the
// commit before, through its WAL flush), and every job that arrived
// meanwhile would otherwise wait for this group's commit and then make
// one of its own. Joined, they share this group's commit for one more
// round trip, made with the lock held.
func (g *Group) join(n int) []*job {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := min(len(g.pending), g.max-n)
	if k <= 0 {
		return nil
	}
	joined := slices.Clone(g.pending[:k])
	g.pending = append(g.pending[:0], g.pending[k:]...)
	for _, j := range joined {
		j.taken = true
	}
	return joined
}

// savepoint opens a job's savepoint. On PostgreSQL, where every
// statement is a round trip while the write lock is held, the savepoint
// of a job before (open) is released in the same message (simple
// protocol, no arguments) and the last one is left to COMMIT, which
// releases it: one round trip per job for its savepoint instead of two.
func (g *Group) savepoint(ctx context.Context, tx *sql.Tx, open bool, exec func(tx *sql.Tx, query string) error) error {
	if g.db.engine != Postgres || !open {
		return exec(tx, `SAVEPOINT job`)
	}
	if _, err := tx.ExecContext(ctx, `RELEASE job; SAVEPOINT job`); err != nil {
		return fmt.Errorf("db: group: %w", err)
	}
	return nil
}

// Lazy runs fn in a write transaction whose commit does not wait for the
// disk ([DB.TxLazy]), with the commit turn held, after committing the jobs
// queued when it got the turn: lazy work (the mail store's indexer) never
// goes before a durable write that waits, and the jobs that come while it
// runs wait for one lazy transaction at most. Like the group's commits,
// its commit leaves checkpoints to the background. fn must not call Do.
func (g *Group) Lazy(ctx context.Context, fn func(tx *sql.Tx) error) error {
	select {
	case g.turn <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("db: group: %w", ctx.Err())
	}
	defer func() { <-g.turn }()
	if batch := g.take(); len(batch) > 0 {
		start := time.Now()
		g.commit(ctx, &batch, nil)
		g.turnEnded("commit", start, len(batch))
	}
	start := time.Now()
	defer func() { g.turnEnded("lazy", start, 0) }()
	work := func(tx *sql.Tx) error {
		start := time.Now()
		defer func() { g.lazyWorked(time.Since(start)) }()
		return fn(tx)
	}
	var err error
	if g.conn != nil { // SQLite: noCheckpoint is the kept connection's already
		err = g.conn.tx(ctx, lazyPragmas, work)
	} else {
		err = g.db.TxLazy(ctx, work)
	}
	if err != nil {
		return err
	}
	g.committed()
	return nil
}

// committed counts a commit made with the turn held, and every
// checkpointEvery of them starts a checkpoint in the background, unless
// one still runs.
func (g *Group) committed() {
	if g.db.engine == Postgres {
		return // PostgreSQL checkpoints by itself, never inside a commit
	}
	g.sinceCheckpoint++
	if g.sinceCheckpoint < checkpointEvery || !g.checkpointing.CompareAndSwap(false, true) {
		return
	}
	g.sinceCheckpoint = 0
	g.checkpoints.Go(func() {
		defer g.checkpointing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), GroupTimeout)
		defer cancel()
		if err := g.checkpoint(ctx); err != nil {
			g.db.log.Warn("db: group: checkpointing the write-ahead log", "err", err)
		}
	})
}

// catchUp checkpoints the log with the turn held, after a batch that
// carried a bulk job, if the last checkpoint found more than
// bulkLogFrames in it (see defaultBulkLogFrames), or after any batch
// past burstLogFrames (defaultBurstLogFrames), holding the process's
// writer slot too ([DB.Tx] and autocommit writes wait).
func (g *Group) catchUp(ctx context.Context, batch []*job) {
	if g.db.engine == Postgres {
		return
	}
	bound := g.burstLogFrames
	if slices.ContainsFunc(batch, func(j *job) bool { return j.unmapped }) {
		bound = min(bound, g.bulkLogFrames)
	}
	if g.logFrames.Load() <= bound {
		return
	}
	g.checkpoints.Wait() // the one in the background, if any
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), GroupTimeout)
	defer cancel()
	if err := g.db.takeWriter(ctx); err != nil {
		return
	}
	defer g.db.releaseWriter()
	// RESTART (SQLITE_CHECKPOINT_RESTART): every frame copied, then it
	// waits (busy_timeout) until no reader reads from the log, so that
	// the next commit starts it over; a passive one would leave the
	// frames after the oldest reader's snapshot, and the readers of the
	// log's end keep it from starting over.
	if _, err := g.walCheckpoint(ctx, "RESTART"); err != nil {
		g.db.log.Warn("db: group: checkpointing the write-ahead log", "err", err)
		return
	}
	// The next checkpoint in the background says how long it is.
	g.logFrames.Store(0)
}

// passiveCheckpoint copies what it can of the write-ahead log into the
// database file without waiting for readers or writers (SQLite's
// SQLITE_CHECKPOINT_PASSIVE), on a connection of the pool.
func (g *Group) passiveCheckpoint(ctx context.Context) error {
	frames, err := g.walCheckpoint(ctx, "PASSIVE")
	if err != nil {
		return err
	}
	g.logFrames.Store(int64(frames))
	return nil
}

// walCheckpoint checkpoints the database's write-ahead log in mode
// (PASSIVE, RESTART: see SQLite's wal_checkpoint pragma), on a connection
// of the pool, and returns the log's length in frames. The schema is
// named: without it the pragma checkpoints the attached index file too,
// read-only, and fails.
func (g *Group) walCheckpoint(ctx context.Context, mode string) (frames int, err error) {
	var busy, done int
	if err := g.db.QueryRowContext(ctx, `PRAGMA main.wal_checkpoint(`+mode+`)`).Scan(&busy, &frames, &done); err != nil {
		return 0, fmt.Errorf("db: checkpoint: %w", err)
	}
	return frames, nil
}

// runBeforeCommit runs the beforeCommit step in a savepoint.
func (g *Group) runBeforeCommit(ctx context.Context, tx *sql.Tx, exec func(tx *sql.Tx, query string) error) error {
	if g.beforeCommit == nil {
		return nil
	}
	if err := exec(tx, `SAVEPOINT before_commit`); err != nil {
		return err
	}
	if err := g.beforeCommit(ctx, tx); err != nil {
		g.db.log.Warn("db: group: the step before commit failed; its work is undone", "err", err)
		if err := exec(tx, `ROLLBACK TO before_commit`); err != nil {
			return err
		}
	}
	return exec(tx, `RELEASE before_commit`)
}
