package blob

import "sync"

// syncGroup shares one sync among concurrent callers, as a group commit
// shares one fsync among transactions: a caller of [syncGroup.wait]
// returns after a run of sync that began after it called, and all who
// call while a run is going on share the next one. With fsync(2) per file
// and per directory, eight concurrent Puts cost sixteen disk cache
// flushes; through the group they cost two or three.
type syncGroup struct {
	sync func() error

	mu      sync.Mutex
	running bool
	next    *syncRound // the round the next run of sync serves
}

// syncRound is one run of sync and the callers it releases.
type syncRound struct {
	done chan struct{}
	err  error
}

// wait returns the error of a run of sync that began after wait was
// called. The caller that finds no run going on makes it.
func (g *syncGroup) wait() error {
	g.mu.Lock()
	if g.next == nil {
		g.next = &syncRound{done: make(chan struct{})}
	}
	r := g.next
	lead := !g.running
	if lead {
		g.running = true
		g.next = nil
	}
	g.mu.Unlock()
	if lead {
		g.run(r)
	}
	<-r.done
	return r.err
}

// run syncs for round r, then hands the round that gathered meanwhile, if
// any, to a new goroutine, so that its own caller returns at once.
func (g *syncGroup) run(r *syncRound) {
	r.err = g.sync()
	close(r.done)
	g.mu.Lock()
	next := g.next
	g.next = nil
	g.running = next != nil
	g.mu.Unlock()
	if next != nil {
		go g.run(next)
	}
}
