package audit

import "sync"

// watchers are the channels [Log.Watch] handed out.
type watchers struct {
	mu   sync.Mutex
	next int
	chs  map[int]chan struct{}
}

// Watch returns a channel that receives a value after records are
// written, and the function that stops it. It lets a reader of the log
// (the security notices) follow it without polling in a tight loop: on a
// value, it lists the records after the last one it read.
//
// Values are hints, not records: a reader that has not yet taken the last
// value gets no second one, so a writer never waits for a reader. A
// record written by [Log.RecordTx] wakes the watchers before its
// transaction commits, when a reader may not see it yet; readers
// therefore also look again after a while.
func (l *Log) Watch() (<-chan struct{}, func()) {
	w := &l.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.chs == nil {
		w.chs = map[int]chan struct{}{}
	}
	id := w.next
	w.next++
	ch := make(chan struct{}, 1)
	w.chs[id] = ch
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.chs, id)
	}
}

// wake tells every watcher that a record was written.
func (w *watchers) wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.chs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
