package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// phaseTwoReserve is the most of the shutdown's time kept for the second
// phase: cancelling, closing connections and the database.
const phaseTwoReserve = 2 * time.Second

// Shutdown stops the server in two phases.
//
// Phase 1, on every listener at once: no new connection is accepted; IMAP
// says BYE to every session, IDLE included (RFC 9051 section 7.1.5); SMTP
// answers 421 to every session, mid-DATA included (RFC 5321 section 3.8),
// and a message that already got 250 stays stored; HTTPS takes no new
// request and lets the ones in flight (uploads) finish. It lasts until
// every session is gone or ctx's deadline nears (a quarter of the time
// left, at most two seconds, is kept for phase 2).
//
// Phase 2: the contexts of requests and housekeeping loops are cancelled,
// every connection left is closed, and the database is closed.
//
// The error joins what went wrong; when phase 1 ran out of time it
// includes [context.DeadlineExceeded].
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.shuttingDown {
		s.mu.Unlock()
		return errors.New("server: Shutdown called twice")
	}
	s.shuttingDown = true
	served := s.served
	s.mu.Unlock()
	if !served {
		s.closeUnserved()
		return nil
	}
	s.log.Info("shutdown phase 1: refusing new work, finishing what is in flight")
	// Phase 1 ends when the server says so, never on its own, so that
	// nothing is forced before phase 2 begins.
	p1, endPhase1 := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan []error, 1)
	go func() { done <- s.refuseNewWork(p1) }()
	limit, stop := phaseOneLimit(ctx)
	defer stop()
	var errs []error
	forced := false
	select {
	case errs = <-done:
	case <-limit.Done():
		forced = true
		errs = append(errs, fmt.Errorf("shutdown: phase 1 unfinished, forcing: %w", limit.Err()))
	}
	s.log.Info("shutdown phase 2: cancelling what is left and closing every connection")
	endPhase1()
	if forced {
		// Each protocol returns at once now, having closed what it had
		// left; that it was cut short is said above.
		for _, err := range <-done {
			if !errors.Is(err, context.Canceled) {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, s.forceClose()...)
	s.wg.Wait()
	// Audit records queued after its loop stopped (a download cut short
	// in phase 2) are written before the database closes.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	errs = append(errs, s.audit.Flush(fctx))
	cancel()
	errs = append(errs, s.db.Close())
	if s.blobCache != nil {
		s.blobCache.Wait() // the copies of the last blobs stored
	}
	s.log.Info("shutdown complete")
	return errors.Join(errs...)
}

// phaseOneLimit ends when phase 1 must end: with ctx, or earlier by what
// phase 2 needs (a quarter of the time left, at most phaseTwoReserve)
// when ctx has a deadline.
func phaseOneLimit(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	reserve := min(phaseTwoReserve, time.Until(d)/4)
	return context.WithDeadline(ctx, d.Add(-reserve))
}

// refuseNewWork is phase 1: every listener stops accepting and every
// protocol tells its sessions, in parallel; it returns when they are all
// done, or soon after ctx ends (each then closes what it has left).
func (s *Server) refuseNewWork(ctx context.Context) []error {
	var stops []func(context.Context) error
	stops = append(stops, s.ctl.Shutdown, s.imap.Shutdown, s.smtp.Shutdown, s.https.Shutdown)
	for _, h := range []*http.Server{s.http, s.mon} {
		if h != nil {
			stops = append(stops, h.Shutdown)
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, stop := range stops {
		wg.Go(func() {
			if err := stop(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errs
}

// forceClose is phase 2: contexts cancelled, connections closed.
func (s *Server) forceClose() []error {
	s.stopReqs()
	s.stopLoops()
	var errs []error
	for _, h := range []*http.Server{s.https, s.http, s.mon} {
		if h != nil {
			errs = append(errs, h.Close())
		}
	}
	return errs
}
