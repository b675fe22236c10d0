package mailimport

import "testing"

// TestProgressWakesAtRunEnd: a page that waits on the progress of a
// running job (Progress, then its channel) is woken when the run ends,
// so that it asks again and reads the job's state from the database. A
// job that ended waiting (Gmail's OVERQUOTA) or done set its last
// progress before it left the running jobs; a waiter that read that
// progress while the job was still listed as running waited on the
// run's channel, which nothing closed: TestGmailOverquota hung for 13
// minutes in a CI run (session 14).
func TestProgressWakesAtRunEnd(t *testing.T) {
	im := &Importer{running: map[int64]*run{}, changed: make(chan struct{})}
	r := &run{id: 7, account: 1, progress: newProgressBox(7, 1)}
	im.running[r.id] = r
	r.progress.set(func(p *Progress) { p.State = StateWaiting })
	p, ch, err := im.Progress(t.Context(), r.id)
	if err != nil || p.State != StateWaiting {
		t.Fatalf("Progress = %+v, %v; want the run's own, waiting", p, err)
	}
	im.forget(r)
	select {
	case <-ch:
	default:
		t.Fatal("the run ended and the channel Progress gave for it is not closed: its waiter sleeps forever")
	}
}
