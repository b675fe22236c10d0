package submit

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// owners may call the sending primitives: mail/submit sends; mail/queue
// delivers what it was given and stores its own notifications; mail/store
// and mail/msgauth define the primitives (store.Deliver is DeliverTo
// INBOX, msgauth.Sign the DKIM algorithm).
var owners = []string{"mail/submit", "mail/queue", "mail/store", "mail/msgauth", "internal/third_party"}

// sendingCalls lists, as "file:line: call", the places in one file that
// send without mail/submit: a call of a method Enqueue or DeliverTo (the
// queue's, the store's), of Deliver on anything but the submission
// service (a field or variable named submit or Submit), of Sign on a
// signer (DKIMSigner among them) or of msgauth.Sign. Wiring may build a
// DKIMSigner to hand to mail/submit, not sign with it. It reads names only,
// no types: the methods carry these names nowhere else in caucus, and a
// new one that does is better renamed than excused.
func sendingCalls(fset *token.FileSet, f *ast.File) []string {
	var out []string
	report := func(n ast.Node, what string) {
		out = append(out, fset.Position(n.Pos()).String()+": "+what)
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			recv := lastName(sel.X)
			switch name := sel.Sel.Name; {
			case name == "Enqueue" || name == "EnqueueBulk" || name == "DeliverTo":
				report(n, recv+"."+name)
			case name == "Deliver" && !strings.EqualFold(recv, "submit"):
				report(n, recv+"."+name)
			case name == "Sign" && (recv == "msgauth" || strings.HasSuffix(strings.ToLower(recv), "signer")):
				report(n, recv+"."+name)
			}
		}
		return true
	})
	return out
}

// lastName is the last identifier of a receiver expression: "Queue" for
// s.deps.Queue, "q" for q.
func lastName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return e.Sel.Name
	case *ast.CallExpr:
		return lastName(e.Fun)
	case *ast.CompositeLit:
		return lastName(e.Type)
	case *ast.ParenExpr:
		return lastName(e.X)
	case *ast.UnaryExpr:
		return lastName(e.X)
	}
	return ""
}

// TestOnlyWayToSend keeps issue 14's rule: no package but mail/submit (and
// mail/queue's own delivery) enqueues, delivers into a mailbox or
// DKIM-signs. SMTP submission, the MX, auto-replies, invitations and
// delivery status notifications all go through mail/submit, and so must
// every later sender (webmail, calendar invitations).
func TestOnlyWayToSend(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	var bad []string
	seen := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && rel != "." || slices.Contains(owners, rel) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		seen++
		bad = append(bad, sendingCalls(fset, f)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The walk must see what it checks: the protocol packages and the
	// wiring are among the files read.
	if seen < 50 {
		t.Fatalf("read only %d files under %s", seen, root)
	}
	for _, b := range bad {
		t.Errorf("sending outside mail/submit: %s", b)
	}
}

// TestSendingCallsFound: the check sees each way of sending around
// mail/submit, and lets the submission service's own calls pass.
func TestSendingCallsFound(t *testing.T) {
	src := `package p
func f() {
	q.Enqueue(ctx, "", nil, r)
	q.EnqueueBulk(ctx, "", nil, r)
	s.deps.Store.DeliverTo(ctx, ids, "INBOX", r)
	st.Deliver(ctx, ids, r)
	signer.Sign(ctx, msg)
	d.Signer.Sign(ctx, msg)
	msgauth.Sign(w, r, keys)
	submit.DKIMSigner{}.Sign(ctx, msg)
	(&submit.DKIMSigner{}).Sign(ctx, msg)
	_ = submit.DKIMSigner{Keys: keys}
	ms.srv.deps.Submit.Deliver(ctx, env, msg, rcv, false)
	s.submit.Send(ctx, "", nil, msg)
	s.submit.Sign(ctx, msg)
}`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	got := sendingCalls(fset, f)
	want := []string{"q.Enqueue", "q.EnqueueBulk", "Store.DeliverTo", "st.Deliver", "signer.Sign", "Signer.Sign", "msgauth.Sign", "DKIMSigner.Sign", "DKIMSigner.Sign"}
	if len(got) != len(want) {
		t.Fatalf("found %d calls, want %d: %q", len(got), len(want), got)
	}
	for i, w := range want {
		if !strings.HasSuffix(got[i], ": "+w) {
			t.Errorf("call %d = %q, want %s", i, got[i], w)
		}
	}
}
