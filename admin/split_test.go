package admin

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// webOnly are the imports that belong to admin/console, the pages: package
// admin holds the plain operations the console and `caucus admin` both
// call, and its other subpackages (the control socket) serve no web page.
var webOnly = []string{
	"net/http",
	"html/template",
	"github.com/caucus-org/caucus/auth/login",
	"github.com/caucus-org/caucus/internal/ui",
	"github.com/caucus-org/caucus/internal/web",
}

// isWebOnly reports whether importing p is for pages: one of webOnly or a
// package under net/http.
func isWebOnly(p string) bool {
	return slices.Contains(webOnly, p) || strings.HasPrefix(p, "net/http/")
}

// imports returns the import paths of each non-test Go file under root,
// by its slash-separated path from root, read with go/parser (no
// go/packages, no build): every file, whatever its build tags.
func imports(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		ips := []string{}
		for _, is := range f.Imports {
			ip, err := strconv.Unquote(is.Path.Value)
			if err != nil {
				return err
			}
			ips = append(ips, ip)
		}
		out[filepath.ToSlash(rel)] = ips
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNoWebInOperations keeps the split of issue 14: package admin and its
// subpackages other than admin/console import no HTTP or template package,
// so that the CLI and any later front end reach the operations without the
// pages.
func TestNoWebInOperations(t *testing.T) {
	files := imports(t, ".")
	// The walk must see what it checks: the operations, the control
	// socket, and the console, which does use the web.
	var consoleWeb bool
	seen := map[string]bool{}
	for file, ips := range files {
		dir := path.Dir(file)
		seen[dir] = true
		if dir == "console" || strings.HasPrefix(dir, "console/") {
			consoleWeb = consoleWeb || slices.ContainsFunc(ips, isWebOnly)
			continue
		}
		for _, ip := range ips {
			if isWebOnly(ip) {
				t.Errorf("admin/%s imports %s: pages belong in admin/console; package admin keeps the plain operations", file, ip)
			}
		}
	}
	for _, want := range []string{".", "ctl", "console"} {
		if !seen[want] {
			t.Errorf("no Go file found in admin/%s: the walk is wrong", want)
		}
	}
	if !consoleWeb {
		t.Error("admin/console imports no web package: the import reading is wrong")
	}
}

// TestDomainsDoNotImportAdmin keeps the arrows one way: admin calls the
// domains (auth, mail, files) and the plumbing (internal), never the
// reverse.
func TestDomainsDoNotImportAdmin(t *testing.T) {
	for _, room := range []string{"auth", "mail", "files", "internal"} {
		files := imports(t, filepath.Join("..", room))
		if len(files) == 0 {
			t.Errorf("no Go file found under %s: the walk is wrong", room)
		}
		for file, ips := range files {
			for _, ip := range ips {
				if ip == "github.com/caucus-org/caucus/admin" || strings.HasPrefix(ip, "github.com/caucus-org/caucus/admin/") {
					t.Errorf("%s/%s imports %s: a domain offers plain functions that admin calls, and never imports admin", room, file, ip)
				}
			}
		}
	}
}
