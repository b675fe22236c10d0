package mailimport

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCtl drives a job through the control-socket operations: start
// for a member by login, list, report, and cancel (refused once the job
// has ended).
func TestCtl(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start()
	var w mboxWriter
	w.add(testMessage(1, 300, ""), "Inbox")
	path := filepath.Join(t.TempDir(), "a.mbox")
	if err := os.WriteFile(path, w.b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h := e.im.CtlHandlers(func(ctx context.Context, login string) (int64, error) {
		if login != "member" {
			return 0, errors.New("no such account")
		}
		return 1, nil
	})
	call := func(op string, args any) (any, error) {
		raw, _ := json.Marshal(args)
		return h[op](ctx, "cli:root", raw)
	}
	if _, err := call(OpImportStart, map[string]any{"login": "member", "kind": "mbox", "paths": []string{path}, "bogus": 1}); !errors.Is(err, errArgs) {
		t.Fatalf("unknown field: %v", err)
	}
	res, err := call(OpImportStart, CtlStartArgs{Login: "member", Kind: KindMbox, Paths: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	job := res.(CtlStartResult).Job
	e.waitEnd(job)
	list, err := call(OpImportList, CtlJobArgs{Login: "member"})
	if err != nil || len(list.([]Job)) != 1 || list.([]Job)[0].StartedBy != "cli:root" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	rep, err := call(OpImportReport, CtlJobArgs{Job: job})
	if err != nil || !strings.Contains(rep.(CtlReportResult).Text, "Copied 1 messages") {
		t.Fatalf("report: %+v, %v", rep, err)
	}
	csvRes, err := call(OpImportCSV, CtlCSVArgs{CSV: "member,imap.example.org,m@example.org,pw\n"})
	if err == nil {
		t.Fatalf("a CSV whose first field is not an address (taken as a header) and nothing else: %+v", csvRes)
	}
	csvRes, err = call(OpImportCSV, CtlCSVArgs{CSV: "address,server,login,password\nmember@x,127.0.0.1:1,m@example.org,pw\n"})
	if err != nil || len(csvRes.([]CSVResult)) != 1 || csvRes.([]CSVResult)[0].Err == "" {
		t.Fatalf("CSV start of an unknown member: %+v, %v", csvRes, err)
	}
	if _, err := call(OpImportCancel, CtlJobArgs{Job: job}); !errors.Is(err, ErrFinished) {
		t.Fatalf("cancel of an ended job: %v", err)
	}
}

// TestCancel cancels a running job: it stops, its credentials are
// erased, and it does not resume.
func TestCancel(t *testing.T) {
	t.Parallel()
	fx := newMaildirFixture(t, t.TempDir(), 100, 1000)
	reached := make(chan struct{})
	e := newEnv(t, func(o *Options) {
		o.OpenSource = func(ctx context.Context, spec SourceSpec) (Source, error) {
			src, err := OpenMaildir(MaildirConfig{Path: spec.Paths[0]})
			return &gatedSource{Source: src, after: 10, reached: reached, ctx: ctx}, err
		}
	})
	e.start()
	id, err := e.im.Start(context.Background(), Request{AccountID: 1, Actor: "admin", Source: SourceSpec{Kind: KindMaildir, Paths: []string{fx.root}}})
	if err != nil {
		t.Fatal(err)
	}
	<-reached
	if err := e.im.Cancel(context.Background(), id, "admin"); err != nil {
		t.Fatal(err)
	}
	rep := e.waitEnd(id)
	var sealed []byte
	e.db.QueryRow(`SELECT sealed FROM mailimport_jobs WHERE id = ?`, id).Scan(&sealed)
	if rep.Job.State != StateCancelled || rep.Copied > 10 || sealed != nil {
		t.Fatalf("state %s, %d copied, sealed %q", rep.Job.State, rep.Copied, sealed)
	}
}

// TestMbox50MB imports a 50 MB message among small ones: it is stored
// whole, through a spool file, and the job goes on.
func TestMbox50MB(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start()
	var w mboxWriter
	w.add(testMessage(1, 300, ""), "Inbox")
	big := testMessage(2, 50<<20, "")
	w.add(big, "Inbox")
	w.add(testMessage(3, 300, ""), "Inbox")
	path := filepath.Join(t.TempDir(), "big.mbox")
	if err := os.WriteFile(path, w.b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	w.b.Reset()
	id, err := e.im.Start(context.Background(), Request{AccountID: 1, Actor: "admin", Source: SourceSpec{Kind: KindMbox, Paths: []string{path}}})
	if err != nil {
		t.Fatal(err)
	}
	rep := e.waitEnd(id)
	if rep.Copied != 3 || rep.Failed != 0 {
		t.Fatalf("report: %+v", rep)
	}
	if n := countHash(e.contents(1), hashOf(withLabels(big, "Inbox"))); n != 1 {
		t.Fatalf("the 50 MB message is stored %d times with its content, want 1", n)
	}
}
