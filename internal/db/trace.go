package db

import (
	"context"
	"time"
)

// JobTrace is where one [Group.Do] job's time went, filled in by Do when
// the job's context carries it ([WithJobTrace]): for load tools and
// debugging, never logged.
type JobTrace struct {
	Wait   time.Duration // queued until its group's commit took it
	Begin  time.Duration // a connection and BEGIN for its transaction
	Ahead  time.Duration // in that transaction, running the jobs ahead of it
	Run    time.Duration // running the job itself
	After  time.Duration // running the jobs after it and the step before commit
	Commit time.Duration // COMMIT: the log written and synced
	Jobs   int           // jobs in its transaction
	// Behind counts the turns that ended while the job waited: what it
	// waited behind (a turn that ended during the wait is counted whole).
	Behind TurnStats
	// Checkpointing is set if a background checkpoint ran when the
	// transaction began or when it committed.
	Checkpointing bool
}

// TurnStats counts turns of a [Group] by kind and the time they held it.
type TurnStats struct {
	Commits, Lazy, Holds           int64         // group commits, Lazy calls, Hold calls
	CommitTime, LazyTime, HoldTime time.Duration // the turn held by each kind
	CommitJobs                     int64         // jobs those group commits carried
	LazyWork                       time.Duration // of LazyTime, in the lazy function (the rest: BEGIN, COMMIT)
}

// sub returns t - u, field by field.
func (t TurnStats) sub(u TurnStats) TurnStats {
	return TurnStats{
		Commits: t.Commits - u.Commits, Lazy: t.Lazy - u.Lazy, Holds: t.Holds - u.Holds,
		CommitTime: t.CommitTime - u.CommitTime, LazyTime: t.LazyTime - u.LazyTime, HoldTime: t.HoldTime - u.HoldTime,
		CommitJobs: t.CommitJobs - u.CommitJobs, LazyWork: t.LazyWork - u.LazyWork,
	}
}

type jobTraceKey struct{}

// WithJobTrace returns ctx carrying t: a [Group.Do] given that context
// fills t in before it returns.
func WithJobTrace(ctx context.Context, t *JobTrace) context.Context {
	return context.WithValue(ctx, jobTraceKey{}, t)
}

// jobTraceOf returns the trace ctx carries, or nil.
func jobTraceOf(ctx context.Context) *JobTrace {
	t, _ := ctx.Value(jobTraceKey{}).(*JobTrace)
	return t
}

// Turns returns the group's turns so far, by kind.
func (g *Group) Turns() TurnStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.turns
}

// lazyWorked adds d to the time lazy functions took.
func (g *Group) lazyWorked(d time.Duration) {
	g.mu.Lock()
	g.turns.LazyWork += d
	g.mu.Unlock()
}

// turnEnded adds a turn of kind ("commit", "lazy", "hold") that began at
// start to the group's counts.
func (g *Group) turnEnded(kind string, start time.Time, jobs int) {
	d := time.Since(start)
	g.mu.Lock()
	defer g.mu.Unlock()
	switch kind {
	case "commit":
		g.turns.Commits++
		g.turns.CommitTime += d
		g.turns.CommitJobs += int64(jobs)
	case "lazy":
		g.turns.Lazy++
		g.turns.LazyTime += d
	case "hold":
		g.turns.Holds++
		g.turns.HoldTime += d
	}
}

// batchTimes times one group commit: its BEGIN, jobs and COMMIT always
// (for GroupStats.Times, three clock reads a group), and each job for
// the jobs that carry a JobTrace, only if one does.
type batchTimes struct {
	on                   bool // some job carries a JobTrace; start, begin and commit are always set
	start, begin, commit time.Time
	jobStart, jobEnd     []time.Time
	checkpointingAtStart bool
}

func newBatchTimes(g *Group, batch []*job) *batchTimes {
	t := &batchTimes{start: time.Now()}
	for _, j := range batch {
		if j.trace != nil {
			t.on = true
			break
		}
	}
	if !t.on {
		return t
	}
	t.jobStart, t.jobEnd = make([]time.Time, len(batch)), make([]time.Time, len(batch))
	t.checkpointingAtStart = g.checkpointing.Load()
	return t
}

// grow makes room for the times of n jobs, once jobs joined the batch
// (see Group.join). A joined job's trace is filled in only if the
// batch's first jobs had one.
func (t *batchTimes) grow(n int) {
	if t.on && n > len(t.jobStart) {
		t.jobStart = append(t.jobStart, make([]time.Time, n-len(t.jobStart))...)
		t.jobEnd = append(t.jobEnd, make([]time.Time, n-len(t.jobEnd))...)
	}
}

func (t *batchTimes) began() { t.begin = time.Now() }

func (t *batchTimes) jobStarted(i int) {
	if t.on {
		t.jobStart[i] = time.Now()
	}
}

func (t *batchTimes) jobEnded(i int) {
	if t.on {
		t.jobEnd[i] = time.Now()
	}
}

func (t *batchTimes) committing() { t.commit = time.Now() }

// finish adds the batch's times to the group's (GroupStats.Times) and
// fills in the traces of its jobs.
func (t *batchTimes) finish(g *Group, batch []*job) {
	end := time.Now()
	if t.begin.IsZero() { // failed before BEGIN
		t.begin = end
	}
	if t.commit.IsZero() { // failed before the commit
		t.commit = end
	}
	g.mu.Lock()
	for _, j := range batch {
		g.times.Wait += max(t.start.Sub(j.queued), 0)
	}
	g.times.Begin += t.begin.Sub(t.start)
	g.times.Run += t.commit.Sub(t.begin)
	g.times.Commit += end.Sub(t.commit)
	g.mu.Unlock()
	if !t.on {
		return
	}
	ckpt := t.checkpointingAtStart || g.checkpointing.Load()
	turns := g.Turns()
	for i, j := range batch {
		if j.trace == nil || t.jobEnd[i].IsZero() {
			continue
		}
		*j.trace = JobTrace{
			Wait:  max(t.start.Sub(j.queued), 0), // 0 if it joined (Group.join)
			Begin: t.begin.Sub(t.start), Ahead: t.jobStart[i].Sub(t.begin), Run: t.jobEnd[i].Sub(t.jobStart[i]),
			After: t.commit.Sub(t.jobEnd[i]), Commit: end.Sub(t.commit), Jobs: len(batch),
			Behind: turns.sub(j.behind), Checkpointing: ckpt,
		}
	}
}
