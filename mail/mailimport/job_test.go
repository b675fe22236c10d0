package mailimport

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/internal/audit"
)

// TestRestart stops caucus three times in the middle of a job (the
// importer's context ends, the database is closed) and starts a new
// importer on the same database each time: the result equals an
// uninterrupted import, message for message, with nothing copied twice.
func TestRestart(t *testing.T) {
	t.Parallel()
	fx := newMaildirFixture(t, t.TempDir(), 600, 3000)
	dir := t.TempDir()
	var id int64
	for run, at := range []int{100, 150, 200, 0} {
		reached := make(chan struct{})
		e := openEnv(t, dir, func(o *Options) {
			o.OpenSource = func(ctx context.Context, spec SourceSpec) (Source, error) {
				src, err := OpenMaildir(MaildirConfig{Path: spec.Paths[0]})
				if at == 0 || err != nil {
					return src, err
				}
				return &gatedSource{Source: src, after: at, reached: reached, ctx: ctx}, nil
			}
		})
		e.start()
		if run == 0 {
			var err error
			id, err = e.im.Start(context.Background(), Request{AccountID: 1, Actor: "admin", Source: SourceSpec{Kind: KindMaildir, Paths: []string{fx.root}}})
			if err != nil {
				t.Fatal(err)
			}
		}
		if at == 0 {
			rep := e.waitEnd(id)
			if rep.Job.State != StateDone || rep.Copied != 600 || rep.Duplicates != 0 || rep.Failed != 0 {
				t.Fatalf("report: %s, %d copied, %d duplicates, %d failed", rep.Job.State, rep.Copied, rep.Duplicates, rep.Failed)
			}
			compare(t, e.contents(1), fx.want)
			return
		}
		<-reached // the source handed out at messages; the next one waits for the stop
		e.stopRun()
		p, _, err := e.im.Progress(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if p.State != StateQueued || p.Copied >= 600 || p.Copied == 0 {
			t.Fatalf("after run %d: state %s, %d copied; want queued, partly copied", run, p.State, p.Copied)
		}
		e.db.Close()
	}
}

// gatedSource hands out after messages, then waits for ctx to end:
// a job stopped in the middle, whatever the machine's speed.
type gatedSource struct {
	Source
	after   int
	n       int
	reached chan struct{}
	ctx     context.Context
}

func (g *gatedSource) Fetch(ctx context.Context, f Folder, items []Item, fn func(Item, Body) error) error {
	return g.Source.Fetch(ctx, f, items, func(it Item, b Body) error {
		if g.n++; g.n > g.after {
			if g.n == g.after+1 {
				close(g.reached)
			}
			if b != nil {
				b.Close()
			}
			<-g.ctx.Done()
			return g.ctx.Err()
		}
		return fn(it, b)
	})
}

// TestQuota: a job that would take the member over quota stops before,
// with a clear message, and what it copied fits the quota.
func TestQuota(t *testing.T) {
	t.Parallel()
	fx := newMaildirFixture(t, t.TempDir(), 100, 5000)
	e := newEnv(t)
	ctx := context.Background()
	if err := e.store.EnsureAccount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	const quota = 120_000
	if err := e.store.SetQuota(ctx, 1, quota); err != nil {
		t.Fatal(err)
	}
	e.start()
	id, err := e.im.Start(ctx, Request{AccountID: 1, Actor: "admin", Source: SourceSpec{Kind: KindMaildir, Paths: []string{fx.root}}})
	if err != nil {
		t.Fatal(err)
	}
	rep := e.waitEnd(id)
	if rep.Job.State != StateFailed || !strings.Contains(rep.Job.Message, "full") || !strings.Contains(rep.Job.Message, "quota") {
		t.Fatalf("state %s, message %q; want failed, the mailbox is full", rep.Job.State, rep.Job.Message)
	}
	used, _, err := e.store.Usage(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	got := e.contents(1)
	if used > quota || len(got) == 0 || len(got) >= 100 || int64(len(got)) != rep.Copied {
		t.Errorf("used %d of %d with %d messages (report: %d copied)", used, quota, len(got), rep.Copied)
	}
}

// TestCredentials: the source password is sealed in the database,
// never logged, erased when the job ends; the audit log says who
// started the job; a refused login fails the job with a message that
// does not contain the password.
func TestCredentials(t *testing.T) {
	t.Parallel()
	g, tc := newFakeGmail(t)
	seedGmail(g, 0)
	e := newEnv(t, func(o *Options) { o.TLS = tc })
	ctx := context.Background()
	const wrong = "wrong-password-8472"
	id, err := e.im.Start(ctx, Request{AccountID: 1, Actor: "admin", Subject: "member", Source: SourceSpec{
		Kind: KindIMAP, Addr: g.ln.Addr().String(), Login: "member@gmail.test", Password: wrong}})
	if err != nil {
		t.Fatal(err)
	}
	var sealed []byte
	if err := e.db.QueryRowContext(ctx, `SELECT sealed FROM mailimport_jobs WHERE id = ?`, id).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if len(sealed) == 0 || bytes.Contains(sealed, []byte(wrong)) {
		t.Fatalf("sealed credentials: %q", sealed)
	}
	e.start()
	rep := e.waitEnd(id)
	if rep.Job.State != StateFailed || !strings.Contains(rep.Job.Message, "refused the login") || strings.Contains(rep.Job.Message, wrong) {
		t.Fatalf("state %s, message %q", rep.Job.State, rep.Job.Message)
	}
	if err := e.db.QueryRowContext(ctx, `SELECT sealed FROM mailimport_jobs WHERE id = ?`, id).Scan(&sealed); err != nil || sealed != nil {
		t.Errorf("sealed after the end: %q, %v", sealed, err)
	}
	if strings.Contains(e.logs.String(), wrong) {
		t.Error("the password is in the log")
	}
	recs, err := e.audit.List(ctx, audit.Filter{Kind: "mailimport.start"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Actor != "admin" || recs[0].Subject != "member" || strings.Contains(recs[0].Detail, wrong) {
		t.Errorf("audit: %+v", recs)
	}
}
