package queue

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/metrics"
)

// Run delivers queued messages until ctx ends, then waits for the attempts
// under way, which ctx's end interrupts (an interrupted recipient is tried
// again later, with no attempt counted), and returns. It looks for due
// deliveries when Enqueue or Retry wakes it, when an attempt ends, at the
// next due time, and at least every 30 seconds, so that changes made by
// another process (the command line tool) take effect. At most
// [Config.Workers] attempts run at once.
func (q *Queue) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		q.emptyTrash(ctx)
		next := q.dispatch(ctx, &wg)
		wait := pollInterval
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(q.now()), 10*time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-q.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// dispatch starts attempts for due deliveries, as many as there are free
// workers: members' own mail first, then bulk mail at the rates of
// [Config.Bulk] on at most its workers. It returns when it should look
// again: the next delivery not yet due, or the moment a bulk delivery
// held back by its rate may go (zero if none).
func (q *Queue) dispatch(ctx context.Context, wg *sync.WaitGroup) time.Time {
	now := q.now()
	q.mu.Lock()
	busy, busyBulk := len(q.inflight), 0
	for _, bulk := range q.inflight {
		if bulk {
			busyBulk++
		}
	}
	for id := range q.held {
		q.isHeld(id) // forgets expired holds
	}
	q.mu.Unlock()
	var paced time.Time
	if free := q.cfg.Workers - busy; free > 0 {
		ids, err := q.due(ctx, now.Unix(), free+busy)
		if err != nil && ctx.Err() == nil {
			q.log.Error("queue: looking for due deliveries", "err", err)
		}
		for _, id := range ids {
			if free > 0 && q.start(ctx, wg, id, false) {
				free--
			}
		}
		if bulkFree := min(free, q.cfg.Bulk.Workers-busyBulk); bulkFree > 0 {
			paced = q.dispatchBulk(ctx, wg, now, bulkFree, busyBulk)
		}
	}
	var next sql.NullInt64
	if err := q.db.QueryRowContext(ctx, `SELECT MIN(next_attempt) FROM queue_deliveries WHERE next_attempt > ?`, now.Unix()).Scan(&next); err != nil || !next.Valid {
		return paced
	}
	if t := time.Unix(next.Int64, 0); paced.IsZero() || t.Before(paced) {
		return t
	}
	return paced
}

// dispatchBulk starts up to free due bulk deliveries that their rates
// allow, and returns when the first one held back may go (zero if none
// was).
func (q *Queue) dispatchBulk(ctx context.Context, wg *sync.WaitGroup, now time.Time, free, busy int) time.Time {
	q.mu.Lock()
	skip := q.pacer.waiting(now, 500)
	q.mu.Unlock()
	cands, err := q.dueBulk(ctx, now.Unix(), free+busy+bulkScan, skip)
	if err != nil && ctx.Err() == nil {
		q.log.Error("queue: looking for due bulk deliveries", "err", err)
	}
	var wait time.Duration
	for _, c := range cands {
		if free == 0 {
			break
		}
		q.mu.Lock()
		if _, busy := q.inflight[c.id]; busy || q.isHeld(c.id) {
			q.mu.Unlock()
			continue
		}
		ok, w := q.pacer.take(c.domain, now)
		q.mu.Unlock()
		if !ok {
			if wait == 0 || w < wait {
				wait = w
			}
			continue
		}
		if q.start(ctx, wg, c.id, true) {
			free--
		}
	}
	if len(skip) > 0 && wait == 0 {
		wait = time.Duration(float64(time.Second) / q.cfg.Bulk.DomainRate)
	}
	if wait == 0 {
		return time.Time{}
	}
	return now.Add(wait)
}

// start starts an attempt of delivery id unless one is under way or it
// is held, and reports whether it did.
func (q *Queue) start(ctx context.Context, wg *sync.WaitGroup, id int64, bulk bool) bool {
	q.mu.Lock()
	if _, busy := q.inflight[id]; busy || q.isHeld(id) {
		q.mu.Unlock()
		return false
	}
	q.inflight[id] = bulk
	q.mu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer q.finished(id)
		q.attempt(ctx, id)
	}()
	return true
}

// due returns up to limit deliveries of members' own mail (not bulk) due
// at now, the longest due first.
func (q *Queue) due(ctx context.Context, now int64, limit int) ([]int64, error) {
	free, args := q.unleased(now)
	rows, err := q.db.QueryContext(ctx, `SELECT id FROM queue_deliveries WHERE bulk = 0 AND next_attempt <= ?`+free+` ORDER BY next_attempt, id LIMIT ?`,
		append(append([]any{now}, args...), limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// isHeld reports whether delivery id is held back; q.mu is locked.
func (q *Queue) isHeld(id int64) bool {
	until, ok := q.held[id]
	if ok && !q.now().Before(until) {
		delete(q.held, id)
		return false
	}
	return ok
}

// hold keeps delivery id from being attempted for 5 minutes. It is for
// deliveries whose state could not be read or written (the disk is full,
// say): without it, Run would attempt them again at once, and again,
// sending the message each time.
func (q *Queue) hold(id int64) {
	q.mu.Lock()
	q.held[id] = q.now().Add(backoff(1))
	q.mu.Unlock()
}

// finished marks an attempt as ended and wakes Run, which may have due
// deliveries waiting for a worker.
func (q *Queue) finished(id int64) {
	q.mu.Lock()
	delete(q.inflight, id)
	q.mu.Unlock()
	q.notify()
}

// job is one delivery attempt: a message's pending recipients at one
// domain.
type job struct {
	deliveryID    int64
	messageID     int64
	domain        string
	attempts      int
	delayNotified bool
	ref           blob.Ref
	from          string
	size          int64
	eightBit      bool
	created       time.Time
	rcpts         []string
}

// loadJob reads delivery id; [ErrNotFound] if it is gone.
func (q *Queue) loadJob(ctx context.Context, id int64) (*job, error) {
	j := &job{deliveryID: id}
	var created int64
	var ref string
	err := q.db.QueryRowContext(ctx, `SELECT d.message_id, d.domain, d.attempts, d.delay_notified,
			m.blob_ref, m.sender, m.size, m.eight_bit, m.created_at
		FROM queue_deliveries d JOIN queue_messages m ON m.id = d.message_id WHERE d.id = ?`, id).
		Scan(&j.messageID, &j.domain, &j.attempts, &j.delayNotified, &ref, &j.from, &j.size, &j.eightBit, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	j.ref, j.created = blob.Ref(ref), time.Unix(created, 0)
	rows, err := q.db.QueryContext(ctx, `SELECT rcpt FROM queue_recipients WHERE delivery_id = ? ORDER BY rcpt`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		j.rcpts = append(j.rcpts, r)
	}
	return j, rows.Err()
}

// attempt makes one delivery attempt of delivery id, if it can claim it,
// and records its outcome.
func (q *Queue) attempt(ctx context.Context, id int64) {
	if ok, err := q.claim(ctx, id); err != nil {
		if ctx.Err() == nil {
			q.log.Error("queue: claiming a delivery", "delivery", id, "err", err)
			q.hold(id)
		}
		return
	} else if !ok {
		return // another node's, or no longer due
	}
	j, err := q.loadJob(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return // dropped meanwhile
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		q.log.Error("queue: loading a delivery", "delivery", id, "err", err)
		q.hold(id)
		return
	}

	actx, cancel := context.WithTimeout(ctx, q.timeouts.session)
	res, last := q.deliver(actx, j)
	timedOut := actx.Err() != nil
	cancel()
	shutdown := ctx.Err() != nil
	for i := range res {
		if res[i].class != 0 || shutdown {
			continue // a recipient interrupted by shutdown is left as it was
		}
		res[i] = last
		if timedOut {
			res[i] = tempf("4.4.7", last.remote, "the attempt took longer than %v", q.timeouts.session)
		}
	}
	// Record with a context of its own: the outcome of a delivery that
	// completed must be kept even when ctx ended meanwhile, or the message
	// would be sent again.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	q.record(rctx, j, res)
}

// backoff is the delay before the next attempt after the given number of
// failed ones: 5, 10, 20, 40 minutes, 1 and 2 hours, then 4 hours.
func backoff(attempts int) time.Duration {
	switch {
	case attempts <= 1:
		return 5 * time.Minute
	case attempts <= 4:
		return 5 * time.Minute << (attempts - 1)
	case attempts == 5:
		return time.Hour
	case attempts == 6:
		return 2 * time.Hour
	default:
		return 4 * time.Hour
	}
}

// pendingDSN is a notification stored as a blob, to be queued by the
// transaction that records the attempt that caused it.
type pendingDSN struct {
	ref      blob.Ref
	size     int64
	eightBit bool
}

// record stores the outcome of an attempt: delivered and bounced
// recipients go, the others are rescheduled, and notifications are sent
// (RFC 3464): one listing this attempt's permanent failures, and, once,
// one telling of the delay. Recipients still failing temporarily at
// MaxAge are bounced. A message with the null reverse-path gets no
// notification: a notification is never answered with another (RFC 5321
// section 4.5.5; RFC 3464 section 2).
func (q *Queue) record(ctx context.Context, j *job, res []outcome) {
	now := q.now()
	expiry := j.created.Add(q.cfg.MaxAge)
	expired := !now.Before(expiry)
	var delivered, failed, deferred []int
	for i, o := range res {
		switch o.class {
		case 2:
			delivered = append(delivered, i)
		case 5:
			failed = append(failed, i)
		case 4:
			if expired {
				failed = append(failed, i)
			} else {
				deferred = append(deferred, i)
			}
		}
	}
	decided := len(delivered)+len(failed)+len(deferred) > 0
	delayNotice := len(deferred) > 0 && !j.delayNotified && j.from != "" && now.Sub(j.created) >= q.cfg.DelayNotice

	var dsns []pendingDSN
	if len(failed) > 0 {
		if j.from == "" {
			q.log.Warn("queue: a notification could not be delivered; discarding it", "id", j.messageID, "domain", j.domain, "status", res[failed[0]].status)
		} else if p, ok := q.notify3464(ctx, j, "failed", failed, res, now, expiry); ok {
			dsns = append(dsns, p)
		}
	}
	if delayNotice {
		if p, ok := q.notify3464(ctx, j, "delayed", deferred, res, now, expiry); ok {
			dsns = append(dsns, p)
		}
	}

	next := now.Add(backoff(j.attempts + 1))
	if next.After(expiry) {
		next = expiry // one last attempt at MaxAge, then the bounce
	}
	var summary string
	switch {
	case len(deferred) > 0:
		summary = res[deferred[0]].String()
	case len(failed) > 0:
		summary = res[failed[0]].String()
	}

	trashed, gone := false, false
	err := q.db.Tx(ctx, func(tx *sql.Tx) error {
		trashed, gone = false, false
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM queue_deliveries WHERE id = ?`, j.deliveryID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			gone = true // dropped during the attempt
			return nil
		} else if err != nil {
			return err
		}
		for _, i := range append(delivered, failed...) {
			if _, err := tx.ExecContext(ctx, `DELETE FROM queue_recipients WHERE delivery_id = ? AND rcpt = ?`, j.deliveryID, j.rcpts[i]); err != nil {
				return err
			}
		}
		for _, i := range deferred {
			o := res[i]
			if _, err := tx.ExecContext(ctx, `UPDATE queue_recipients SET status = ?, diagnostic = ?, smtp_reply = ?, remote_mta = ?
				WHERE delivery_id = ? AND rcpt = ?`, o.status, o.diag, flag(o.smtp), o.remote, j.deliveryID, j.rcpts[i]); err != nil {
				return err
			}
		}
		var left int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM queue_recipients WHERE delivery_id = ?`, j.deliveryID).Scan(&left); err != nil {
			return err
		}
		if left == 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM queue_deliveries WHERE id = ?`, j.deliveryID); err != nil {
				return err
			}
			var others int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM queue_deliveries WHERE message_id = ?`, j.messageID).Scan(&others); err != nil {
				return err
			}
			if others == 0 {
				if err := deleteMessage(ctx, tx, j.messageID, j.ref); err != nil {
					return err
				}
				trashed = true
			}
		} else if decided {
			if _, err := tx.ExecContext(ctx, `UPDATE queue_deliveries SET attempts = attempts + 1, last_attempt = ?, last_error = ?,
				next_attempt = ?, delay_notified = CASE WHEN ? = 1 THEN 1 ELSE delay_notified END WHERE id = ?`,
				now.Unix(), summary, next.Unix(), flag(delayNotice), j.deliveryID); err != nil {
				return err
			}
		}
		if left > 0 {
			if err := q.release(ctx, tx, j.deliveryID); err != nil {
				return err
			}
		}
		for _, p := range dsns {
			g := []domainGroup{{domain: domainOf(j.from), rcpts: []string{j.from}}}
			if _, err := insertMessage(ctx, tx, p.ref, "", p.size, p.eightBit, g, now, false); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || gone {
		for _, p := range dsns {
			if derr := q.blobs.Delete(p.ref); derr != nil {
				q.log.Error("queue: deleting an unqueued notification", "err", derr)
			}
		}
	}
	if err != nil {
		// The recipients stay as they were and are tried again in 5
		// minutes: those delivered now may get the message twice, which
		// RFC 5321 section 6.1 prefers to losing it.
		q.log.Error("queue: recording an attempt", "id", j.messageID, "domain", j.domain, "err", err)
		q.hold(j.deliveryID)
		return
	}
	if trashed {
		q.emptyTrash(ctx, j.ref)
	}
	if !gone {
		q.cfg.Metrics.Delivered(metrics.Remote, len(delivered))
		q.cfg.Metrics.Bounced(len(failed))
	}
	if len(dsns) > 0 && !gone {
		q.notify()
	}
	interrupted := len(res) - len(delivered) - len(failed) - len(deferred)
	attrs := []any{"id", j.messageID, "delivery", j.deliveryID, "domain", j.domain,
		"delivered", len(delivered), "failed", len(failed), "deferred", len(deferred)}
	if interrupted > 0 {
		attrs = append(attrs, "interrupted", interrupted)
	}
	if len(deferred) > 0 {
		attrs = append(attrs, "next", next.UTC().Format(time.RFC3339), "status", res[deferred[0]].status)
	}
	if len(failed) > 0 {
		attrs = append(attrs, "fail_status", res[failed[0]].status)
	}
	q.log.Info("queue: attempt", attrs...)
}

// notify3464 writes a notification (action "failed" or "delayed") about
// the recipients at idx to j's sender and delivers it locally, or stores
// it for the queue, returned with ok. The notification quotes the
// message's header, never its body.
func (q *Queue) notify3464(ctx context.Context, j *job, action string, idx []int, res []outcome, now, expiry time.Time) (p pendingDSN, ok bool) {
	n := &notification{
		action:     action,
		hostname:   q.cfg.Hostname,
		postmaster: q.cfg.Postmaster,
		to:         j.from,
		arrival:    j.created,
		date:       now,
		retryUntil: expiry,
	}
	for _, i := range idx {
		n.rcpts = append(n.rcpts, j.rcpts[i])
		n.outcomes = append(n.outcomes, res[i])
	}
	if f, body, err := q.openBody(j.ref, j.size); err == nil {
		n.headers = readHeaders(body, maxQuotedHeader)
		f.Close()
	} else {
		q.log.Error("queue: reading a message's header for a notification", "id", j.messageID, "err", err)
	}
	msg := n.bytes()
	if q.cfg.Sign != nil {
		if signed, err := q.cfg.Sign(ctx, msg); err != nil {
			q.log.Warn("queue: signing a notification; it goes unsigned", "id", j.messageID, "err", err)
		} else {
			msg = signed
		}
	}

	if q.cfg.LocalDeliver != nil {
		err := q.cfg.LocalDeliver(ctx, j.from, bytes.NewReader(msg))
		if err == nil {
			q.log.Info("queue: notification delivered locally", "id", j.messageID, "action", action, "rcpts", len(idx))
			return pendingDSN{}, false
		}
		if !errors.Is(err, ErrNotLocal) {
			q.log.Warn("queue: local delivery of a notification failed; queueing it", "id", j.messageID, "err", err)
		}
	}
	sc := &eightBitScanner{r: bytes.NewReader(msg)}
	ref, size, err := q.putBlob(ctx, sc)
	if err != nil {
		q.log.Error("queue: storing a notification; it is lost", "id", j.messageID, "action", action, "err", err)
		return pendingDSN{}, false
	}
	return pendingDSN{ref: ref, size: size, eightBit: sc.eightBit}, true
}

// maxQuotedHeader bounds the original header quoted in a notification.
const maxQuotedHeader = 64 << 10

// String describes an outcome for Item.LastError.
func (o outcome) String() string {
	if o.remote != "" {
		return fmt.Sprintf("%s: %s", o.remote, o.diag)
	}
	return o.diag
}
