package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
)

const (
	// indexBatch is how many delivered bodies one indexing transaction
	// takes from blob_unindexed, and how many a delivery's committer
	// indexes per turn once the backlog is over Options.IndexBacklog.
	indexBatch = 256
	// defaultIndexBacklog is Options.IndexBacklog when it is zero: how
	// many bodies may wait for the index while deliveries keep coming.
	defaultIndexBacklog = 50000
	// defaultIndexIdle is Options.IndexIdle when it is zero.
	defaultIndexIdle = 2 * time.Second
	// indexMaxWait is how many times Options.IndexIdle RunIndexer waits
	// at most for a quiet spell.
	indexMaxWait = 15
	// indexGather is how long the indexer lets appended bodies gather
	// before it indexes them, so that one commit takes several. Longer
	// (250 ms) left more bodies for each search to check and held the
	// write lock longer: SEARCH and STORE p99 rose in the steady-session
	// load.
	indexGather = 50 * time.Millisecond
	// indexBusyBatch is how many appended bodies one indexing commit
	// takes at most, so that the writes queued behind it (a session's
	// STORE) wait little: it holds the write lock while FTS5 tokenizes
	// and flushes. (8 did worse than 32 in the steady-session load: more
	// commits, each with its flush, one after the other.)
	indexBusyBatch = 32
	// maxUrgent bounds the appended bodies the indexer is told of; more
	// wait in blob_unindexed for a quiet spell, as deliveries do.
	maxUrgent = 4096
	// reclaimMin is how many bytes must be free in the database file
	// before the indexer gives them back with VACUUM (reclaimSpace).
	reclaimMin = 64 << 20
	// indexMemory bounds the parsed text kept for them; bodies beyond it
	// are parsed again from the blob store when indexed.
	indexMemory = 64 << 20
)

// deferredIndex keeps the parsed text of delivered bodies that wait in
// blob_unindexed for the full-text index, so that indexing them need not
// read and parse them again.
type deferredIndex struct {
	mu     sync.Mutex
	parsed map[blob.Ref]*parsed
	bytes  int
	n      int    // about how many rows wait in blob_unindexed
	gen    uint64 // counts deliveries noted, for telling quiet spells
	wake   chan struct{}

	// urgent lists committed bodies of IMAP APPENDs, which the indexer
	// indexes within moments rather than at a quiet spell; hurried wakes
	// it for them.
	urgent  []waitingBody
	hurried chan struct{}
}

// waitingBody is a body noted in blob_unindexed.
type waitingBody struct {
	id  int64
	ref blob.Ref
}

func newDeferredIndex() *deferredIndex {
	x := &deferredIndex{parsed: map[blob.Ref]*parsed{}, wake: make(chan struct{}, 1), hurried: make(chan struct{}, 1)}
	x.wake <- struct{}{} // bodies may wait from before a restart
	return x
}

// defer_ notes blob id (content ref, parsed as p) in blob_unindexed, in the
// caller's transaction. A nil p (its text not parsed yet) is parsed when
// it is indexed.
func (x *deferredIndex) defer_(ctx context.Context, tx querier, id int64, ref blob.Ref, p *parsed) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO blob_unindexed (blob_id) VALUES (?)`, id); err != nil {
		return fmt.Errorf("store: noting unindexed blob: %w", err)
	}
	x.note(ref, p)
	return nil
}

// note is defer_ for a body whose blob_unindexed row the caller inserted.
func (x *deferredIndex) note(ref blob.Ref, p *parsed) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.n++
	x.gen++
	select {
	case x.wake <- struct{}{}:
	default:
	}
	if _, ok := x.parsed[ref]; !ok && p != nil && x.bytes+p.textSize() <= indexMemory {
		x.parsed[ref] = p
		x.bytes += p.textSize()
	}
}

// hurry tells the indexer of body id (content ref), noted in
// blob_unindexed by a committed APPEND, to index it soon. Past maxUrgent
// bodies it is left for a quiet spell.
func (x *deferredIndex) hurry(id int64, ref blob.Ref) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.urgent) >= maxUrgent {
		return
	}
	x.urgent = append(x.urgent, waitingBody{id, ref})
	select {
	case x.hurried <- struct{}{}:
	default:
	}
}

// takeUrgent returns and forgets up to n of the bodies hurry noted.
func (x *deferredIndex) takeUrgent(n int) []waitingBody {
	x.mu.Lock()
	defer x.mu.Unlock()
	n = min(n, len(x.urgent))
	b := append([]waitingBody(nil), x.urgent[:n]...)
	x.urgent = append(x.urgent[:0], x.urgent[n:]...)
	return b
}

// forget drops the parsed text of ref.
func (x *deferredIndex) forget(ref blob.Ref) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if p, ok := x.parsed[ref]; ok {
		x.bytes -= p.textSize()
		delete(x.parsed, ref)
	}
}

// take returns and forgets the parsed text of ref, nil if not kept.
func (x *deferredIndex) take(ref blob.Ref) *parsed {
	x.mu.Lock()
	defer x.mu.Unlock()
	p, ok := x.parsed[ref]
	if ok {
		x.bytes -= p.textSize()
		delete(x.parsed, ref)
	}
	return p
}

// over reports whether more than backlog bodies wait.
func (x *deferredIndex) over(backlog int) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.n > backlog
}

// generation is the count of bodies noted so far.
func (x *deferredIndex) generation() uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.gen
}

// indexed notes that n waiting bodies were indexed.
func (x *deferredIndex) indexed(n int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.n = max(x.n-n, 0)
}

// textSize is about how many bytes of text p holds for the index.
func (p *parsed) textSize() int {
	n := len(p.body)
	for _, h := range p.headers {
		n += len(h.name) + len(h.value)
	}
	return n
}

// indexPending adds every body listed in blob_unindexed to the full-text
// index, in write transactions of up to indexBatch bodies. Search calls it
// first, so that it finds every delivered message.
func (s *Store) indexPending(ctx context.Context) error {
	var pending bool
	if err := s.db.Stmts(nil).QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM blob_unindexed)`).Scan(&pending); err != nil {
		return fmt.Errorf("store: index: %w", err)
	}
	for more := pending; more; {
		var err error
		if more, err = s.indexSome(ctx, false); err != nil {
			return err
		}
	}
	return nil
}

// indexSome adds up to indexBatch bodies listed in blob_unindexed to the
// full-text index in one write transaction, and reports whether more may
// wait. The blob_unindexed rows go in the same transaction as the index
// rows: if it does not commit, the bodies are indexed again later. The
// commit does not wait for the disk ([db.DB.TxLazy]): lost in a crash,
// it is lost together with its blob_unindexed deletions, so the bodies
// are indexed again after the restart. On SQLite the index is a file of
// its own, written without the group commit (indexInFile).
//
// With yield set, it stops after the body it is indexing when a delivery
// queues for the group commit, commits what it did and reports more: the
// delivery waits for one body, not for the batch (about 10 ms per body on
// PostgreSQL, where a batch of indexBatch held every node's writes for
// seconds; there it takes indexBusyBatch bodies at most).
func (s *Store) indexSome(ctx context.Context, yield bool) (more bool, err error) {
	if s.db.Index() != nil {
		// SQLite: the index file has a write lock of its own
		// (indexfile.go); no delivery waits for it.
		bodies, err := queuedBodies(ctx, s.db.Stmts(nil), indexBatch)
		if err != nil || len(bodies) == 0 {
			return false, err
		}
		_, err = s.indexInFile(ctx, bodies)
		return err == nil && len(bodies) == indexBatch, err
	}
	limit := indexBatch
	if yield {
		// The other nodes' writes wait for the write lock unseen: a
		// yielding batch is one indexBusyBatch long.
		limit = indexBusyBatch
	}
	var done int
	err = s.db.TxLazy(ctx, func(tx *sql.Tx) error {
		done = 0
		q := s.db.Stmts(tx)
		bodies, err := queuedBodies(ctx, q, limit)
		if err != nil {
			return err
		}
		todo := make([]*incoming, len(bodies))
		ids := make([]int64, len(bodies))
		for i, b := range bodies {
			todo[i], ids[i] = &incoming{ref: b.ref, size: b.size}, b.id
		}
		more = len(todo) == limit
		for i, in := range todo {
			if in.p = s.index.take(in.ref); in.p == nil {
				// Not kept in memory (or a restart since): parse
				// the stored body again. Garbage collection does
				// not delete it meanwhile: it runs under the same
				// write lock and removes the blob_unindexed row too.
				if err := s.parseText(in, true); err != nil {
					// It parsed at delivery; the file is damaged
					// or gone. Leave it out of the index rather
					// than fail every search from now on.
					s.log.Error("store: cannot index a delivered message", "blob", in.ref, "err", err)
				}
			}
			if in.p != nil {
				if err := indexBlob(ctx, q, s.db.Engine(), ids[i], in.p); err != nil {
					return err
				}
			}
			if _, err := q.ExecContext(ctx, `DELETE FROM blob_unindexed WHERE blob_id = ?`, ids[i]); err != nil {
				return err
			}
			done++
			if s.testHookIndexed != nil {
				s.testHookIndexed()
			}
			if yield && done < len(todo) && s.group.Queued() > 0 {
				more = true
				break
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: index: %w", err)
	}
	s.index.indexed(done)
	return more, nil
}

// RunIndexer adds waiting bodies to the full-text index until ctx ends.
// Bodies of IMAP APPENDs are indexed within moments of their commit
// (indexUrgent): a client that appends and then searches, as webmail and
// phones do, finds them either way (a search checks the waiting bodies
// itself, [Store.pendingForSearch]), but a search is cheapest when few
// wait. Delivered and imported bodies are indexed when mail is quiet:
// once no body has been noted for Options.IndexIdle (or 15 times that has
// passed with mail trickling in), it indexes what waits, one batch at a
// time, and stops as soon as deliveries queue again, so that indexing
// never delays an SMTP reply or an import. (Dovecot's FTS plugins
// likewise index lazily.) Without it, bodies wait until a search needs
// them or the backlog passes Options.IndexBacklog. When nothing waits,
// it gives a database file that is mostly free pages back to the file
// system (reclaimSpace).
func (s *Store) RunIndexer(ctx context.Context) {
	quiet, gather := time.NewTimer(0), time.NewTimer(0)
	defer quiet.Stop()
	defer gather.Stop()
	<-quiet.C
	<-gather.C
	var gen uint64
	waits := -1        // quiet spells timed so far; -1: none being timed
	gathering := false // the gather timer runs
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.index.hurried:
			// Not again while it runs: appends coming more often
			// than indexGather would put the indexing off for good.
			if !gathering {
				gathering = true
				gather.Reset(s.gather)
			}
			continue
		case <-gather.C:
			gathering = false
			if err := s.indexUrgent(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("store: indexing appended messages", "err", err)
			}
			continue
		case <-s.index.wake:
			if waits < 0 {
				waits, gen = 0, s.index.generation()
				quiet.Reset(s.opts.IndexIdle)
			}
			continue
		case <-quiet.C:
		}
		// A quiet spell is over. Another body noted
		// meanwhile starts another spell, up to indexMaxWait of them:
		// indexIdle still yields to every delivery that queues.
		if g := s.index.generation(); waits >= 0 && g != gen && waits+1 < indexMaxWait {
			waits, gen = waits+1, g
			quiet.Reset(s.opts.IndexIdle)
			continue
		}
		waits = -1
		err := s.indexIdle(ctx)
		if err == nil {
			err = s.reclaimSpace(ctx, reclaimMin)
		}
		if err == nil {
			err = s.reclaimIndexFile(ctx, reclaimMin)
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("store: indexing delivered messages", "err", err)
		}
	}
}

// indexUrgent indexes the bodies [deferredIndex.hurry] noted, up to
// indexBusyBatch per commit, each commit lazy, through the group commit
// ([db.Group.Lazy]): the writes queued when a batch's turn comes (a
// session's STORE, EXPUNGE or APPEND) commit first, so that none of them
// waits behind the indexer's tokenizing and FTS5 flush; the writes that
// come meanwhile wait for one batch at most and then share one commit.
// A body whose blob_unindexed row is gone (indexed already, or collected;
// the ref is checked too, as a collected blob's id may be used again) is
// skipped.
func (s *Store) indexUrgent(ctx context.Context) error {
	for {
		bodies := s.index.takeUrgent(indexBusyBatch)
		if len(bodies) == 0 {
			return nil
		}
		if s.db.Index() != nil {
			// SQLite: in the index file, beside the database's
			// writes (indexfile.go).
			queued, err := s.stillQueued(ctx, bodies)
			if err == nil && len(queued) > 0 {
				_, err = s.indexInFile(ctx, queued)
			}
			if err != nil {
				return err
			}
			continue
		}
		var done []blob.Ref
		err := s.group.Lazy(ctx, func(tx *sql.Tx) error {
			done = done[:0]
			q := s.db.Stmts(tx)
			for _, b := range bodies {
				res, err := q.ExecContext(ctx, `DELETE FROM blob_unindexed WHERE blob_id = ? AND blob_id IN (SELECT id FROM blobs WHERE ref = ?)`, b.id, string(b.ref))
				if err != nil {
					return err
				}
				if n, err := res.RowsAffected(); err != nil || n == 0 {
					continue
				}
				if err := s.indexWaiting(ctx, q, b); err != nil {
					return err
				}
				done = append(done, b.ref)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: index: %w", err) // the bodies stay in blob_unindexed
		}
		for _, ref := range done {
			s.index.forget(ref)
		}
		s.index.indexed(len(done))
	}
}

// indexWaiting indexes body b, with the text parsed at its append if it
// is still kept, else parsed again from the blob store. A body that no
// longer parses is left out of the index (logged), as in indexSome.
func (s *Store) indexWaiting(ctx context.Context, q querier, b waitingBody) error {
	s.index.mu.Lock()
	p := s.index.parsed[b.ref]
	s.index.mu.Unlock()
	if p == nil {
		in := &incoming{ref: b.ref}
		err := q.QueryRowContext(ctx, `SELECT size FROM blobs WHERE id = ?`, b.id).Scan(&in.size)
		if err != nil {
			return err
		}
		if err = s.parseText(in, true); err != nil {
			s.log.Error("store: cannot index an appended message", "blob", b.ref, "err", err)
			return nil
		}
		p = in.p
	}
	return indexBlob(ctx, q, s.db.Engine(), b.id, p)
}

// indexIdle indexes waiting bodies batch by batch while no delivery is
// queued, taking the group commit's turn for each batch. If deliveries
// interrupt it, it wakes the indexer again to wait for the next quiet
// spell. On SQLite, whose index file has its own write lock, it takes no
// turn and does not yield.
func (s *Store) indexIdle(ctx context.Context) error {
	for s.db.Index() != nil {
		if more, err := s.indexSome(ctx, false); err != nil || !more {
			return err
		}
	}
	for {
		release, err := s.group.Hold(ctx)
		if err != nil {
			return err
		}
		more, err := s.indexQuiet(ctx)
		release()
		if err != nil || !more {
			return err
		}
	}
}

// indexQuiet indexes one batch, the group commit's turn held, unless a
// delivery waits: then it yields, waking the indexer again for the next
// quiet spell.
func (s *Store) indexQuiet(ctx context.Context) (more bool, err error) {
	if s.group.Queued() > 0 {
		select {
		case s.index.wake <- struct{}{}:
		default:
		}
		return false, nil
	}
	return s.indexSome(ctx, true)
}

// reclaimSpace gives the free pages of the database file back to the file
// system with VACUUM, if there are at least minFree bytes of them and they
// are more than half of the file: once, after schemaV3 dropped the old
// full-text index (2.4 times the size of the mail), or after most mail was
// deleted. SQLite reuses free pages but never shrinks the file by itself.
// It waits until no body waits for the index, and holds the group
// commit's turn, so deliveries queue meanwhile; the write-ahead log, which
// VACUUM fills with the whole database, is truncated after it.
func (s *Store) reclaimSpace(ctx context.Context, minFree int64) error {
	if s.db.Engine() == db.Postgres {
		return nil // PostgreSQL's autovacuum reuses free space; VACUUM FULL would lock the tables
	}
	var pending bool
	if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM blob_unindexed)`).Scan(&pending); err != nil {
		return fmt.Errorf("store: reclaiming space: %w", err)
	} else if pending {
		return nil
	}
	free, err := freeBytes(ctx, s.db, minFree)
	if err != nil || free == 0 {
		return err
	}
	release, err := s.group.Hold(ctx)
	if err != nil {
		return err
	}
	defer release()
	start := s.now()
	if _, err := s.db.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("store: reclaiming space: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `PRAGMA main.wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("store: reclaiming space: %w", err)
	}
	s.log.Info("store: gave free database pages back to the file system", "bytes", free, "took", s.now().Sub(start))
	return nil
}

// reclaimIndexFile is reclaimSpace for the index file (SQLite): its free
// pages, left by the segments FTS5 merged and the entries of collected
// blobs, are given back with VACUUM when there are at least minFree
// bytes of them and they are more than half of the file. Only the
// indexer and CollectGarbage wait meanwhile; the database's writers do
// not, and searches read the file as it was.
func (s *Store) reclaimIndexFile(ctx context.Context, minFree int64) error {
	idx := s.db.Index()
	if idx == nil {
		return nil
	}
	free, err := freeBytes(ctx, idx, minFree)
	if err != nil || free == 0 {
		return err
	}
	start := s.now()
	if err := idx.Vacuum(ctx); err != nil {
		return fmt.Errorf("store: reclaiming the index file's space: %w", err)
	}
	s.log.Info("store: gave free index file pages back to the file system", "bytes", free, "took", s.now().Sub(start))
	return nil
}

// freeBytes returns the bytes of the free pages of the SQLite file q
// reads, if there are at least minFree of them and they are more than
// half of the file (worth a VACUUM); else 0.
func freeBytes(ctx context.Context, q querier, minFree int64) (int64, error) {
	var pageSize, pages, free int64
	err := q.QueryRowContext(ctx, `SELECT (SELECT page_size FROM pragma_page_size), (SELECT page_count FROM pragma_page_count),
		(SELECT freelist_count FROM pragma_freelist_count)`).Scan(&pageSize, &pages, &free)
	if err != nil {
		return 0, fmt.Errorf("store: reading free pages: %w", err)
	}
	if free*pageSize < minFree || free*2 <= pages {
		return 0, nil
	}
	return free * pageSize, nil
}
