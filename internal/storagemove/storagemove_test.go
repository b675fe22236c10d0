package storagemove

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
)

// schema is a small party's worth of the shapes the copy must handle: a
// folder tree that refers to itself, a table that refers to it, bytes,
// NULLs and text keys.
var schema = db.Component{Name: "t", Migrations: []db.Migration{{Version: 1, SQL: `
CREATE TABLE nodes (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES nodes(id), name TEXT NOT NULL);
CREATE TABLE versions (node_id INTEGER NOT NULL REFERENCES nodes(id), data BLOB, note TEXT, PRIMARY KEY (node_id));
CREATE TABLE props (name TEXT PRIMARY KEY, value TEXT);
`}}}

// open opens a new SQLite database migrated to schema.
func open(t *testing.T, name string) *db.DB {
	t.Helper()
	d := openEmpty(t, name)
	if err := d.Migrate(t.Context(), schema); err != nil {
		t.Fatal(err)
	}
	return d
}

// target opens a new SQLite database, marks it as a move's target and
// migrates it to schema, as the command does.
func target(t *testing.T) *db.DB {
	t.Helper()
	d := openEmpty(t, "dst.db")
	if err := Begin(t.Context(), d, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := d.Migrate(t.Context(), schema); err != nil {
		t.Fatal(err)
	}
	return d
}

// openEmpty opens a new SQLite database.
func openEmpty(t *testing.T, name string) *db.DB {
	t.Helper()
	d, err := db.Open(t.Context(), filepath.Join(t.TempDir(), name), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestCopySelfReference: a folder moved under a folder made after it
// has a smaller id than its parent, so rows copied in id order insert a
// child before its parent, which the foreign key refuses; the copy keeps
// such rows aside until their parent is in. The copy then verifies, and
// a row changed afterwards does not.
func TestCopySelfReference(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src, dst := open(t, "src.db"), target(t)
	for _, q := range []string{
		`INSERT INTO nodes (id, parent_id, name) VALUES (1, NULL, 'root')`,
		`INSERT INTO nodes (id, parent_id, name) VALUES (5, 1, 'newer')`,
		`INSERT INTO nodes (id, parent_id, name) VALUES (2, 5, 'moved')`,
		`INSERT INTO nodes (id, parent_id, name) VALUES (3, 2, 'under moved')`,
		`INSERT INTO versions (node_id, data, note) VALUES (3, x'00ff10', NULL)`,
		`INSERT INTO props (name, value) VALUES ('Zeta', 'z'), ('alpha', NULL)`,
	} {
		if _, err := src.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// A row the target's migrations made: the copy replaces it.
	if _, err := dst.ExecContext(ctx, `INSERT INTO props (name, value) VALUES ('seeded', 'x')`); err != nil {
		t.Fatal(err)
	}
	if err := CheckFinished(ctx, dst); !errors.Is(err, ErrUnfinished) {
		t.Fatalf("CheckFinished of a target being written: %v, want ErrUnfinished", err)
	}
	var out bytes.Buffer
	if err := CopyDatabase(ctx, src, dst, &out); err != nil {
		t.Fatalf("copy: %v\n%s", err, out.String())
	}
	if err := VerifyDatabase(ctx, src, dst, &out); err != nil {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	if err := Finish(ctx, dst); err != nil {
		t.Fatal(err)
	}
	if err := CheckFinished(ctx, dst); err != nil {
		t.Fatalf("CheckFinished after Finish: %v", err)
	}
	if _, err := dst.ExecContext(ctx, `UPDATE versions SET data = x'00ff11'`); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := VerifyDatabase(ctx, src, dst, &out); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "versions") {
		t.Errorf("verify after a change: %v, want ErrMismatch naming versions\n%s", err, out.String())
	}
}

// TestBeginRefusesAParty: a target that already holds a schema, and is
// no unfinished move's, is not written over.
func TestBeginRefusesAParty(t *testing.T) {
	t.Parallel()
	dst := open(t, "dst.db")
	if err := Begin(t.Context(), dst, time.Now()); !errors.Is(err, ErrTargetInUse) {
		t.Errorf("Begin on a migrated database: %v, want ErrTargetInUse", err)
	}
}

// TestOrder: parents come first; a cycle between tables is an error.
func TestOrder(t *testing.T) {
	t.Parallel()
	got, err := order(map[string]*table{
		"a": {name: "a", refs: []string{"b", "a"}},
		"b": {name: "b", refs: []string{"c"}},
		"c": {name: "c"},
	})
	if err != nil || strings.Join(got, ",") != "c,b,a" {
		t.Errorf("order: %v, %v; want c,b,a", got, err)
	}
	if _, err := order(map[string]*table{"a": {name: "a", refs: []string{"b"}}, "b": {name: "b", refs: []string{"a"}}}); err == nil {
		t.Error("order of a cycle: no error")
	}
}

// TestCanon: a value reads alike from both engines (text as a string or
// as bytes, a boolean as an integer); different values differ.
func TestCanon(t *testing.T) {
	t.Parallel()
	same := [][2]any{{"abc", []byte("abc")}, {true, int64(1)}, {false, int64(0)}}
	for _, p := range same {
		if canon(p[0]) != canon(p[1]) {
			t.Errorf("canon(%#v) = %q, canon(%#v) = %q; want equal", p[0], canon(p[0]), p[1], canon(p[1]))
		}
	}
	differ := [][2]any{{nil, ""}, {"1", int64(1)}, {int64(1), float64(1.5)}, {"a\x00", "a"}}
	for _, p := range differ {
		if canon(p[0]) == canon(p[1]) {
			t.Errorf("canon(%#v) = canon(%#v) = %q; want different", p[0], p[1], canon(p[0]))
		}
	}
}

// TestConvert: values go into the column type the target declares.
func TestConvert(t *testing.T) {
	t.Parallel()
	if v, ok := convert("ab", "bytea", db.Postgres).([]byte); !ok || string(v) != "ab" {
		t.Errorf("text into bytea: %#v", v)
	}
	if v := convert([]byte("ab"), "text", db.Postgres); v != "ab" {
		t.Errorf("bytes into text: %#v", v)
	}
	if v := convert(true, "integer", db.SQLite); v != int64(1) {
		t.Errorf("bool into SQLite: %#v", v)
	}
	if v := convert(float64(3), "bigint", db.Postgres); v != int64(3) {
		t.Errorf("integral float into bigint: %#v", v)
	}
}

// ctxDone is a cancelled context, for the copy's early stop.
func ctxDone() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// TestCopyCancelled: a copy whose context ends stops with an error and
// leaves the mark.
func TestCopyCancelled(t *testing.T) {
	t.Parallel()
	src, dst := open(t, "src.db"), target(t)
	if err := CopyDatabase(ctxDone(), src, dst, &bytes.Buffer{}); err == nil {
		t.Error("a cancelled copy: no error")
	}
	if err := CheckFinished(t.Context(), dst); !errors.Is(err, ErrUnfinished) {
		t.Errorf("after a cancelled copy: %v, want ErrUnfinished", err)
	}
}

// TestVerifyRefs: a blob the database refers to that the source's store
// has and the target's lacks fails the verification; one in neither
// store was dangling before the move and does not.
func TestVerifyRefs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d := openEmpty(t, "refs.db")
	if _, err := d.ExecContext(ctx, `CREATE TABLE blobs (ref TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	srcStore, err := blob.OpenDir(filepath.Join(t.TempDir(), "src"))
	if err != nil {
		t.Fatal(err)
	}
	dstStore, err := blob.OpenDir(filepath.Join(t.TempDir(), "dst"))
	if err != nil {
		t.Fatal(err)
	}
	ref, _, err := srcStore.Put(ctx, strings.NewReader("a message"), 0)
	if err != nil {
		t.Fatal(err)
	}
	gone := strings.Repeat("ab", 32)
	if _, err := d.ExecContext(ctx, `INSERT INTO blobs (ref) VALUES (?), (?)`, string(ref), gone); err != nil {
		t.Fatal(err)
	}
	cols := []BlobColumn{{Table: "blobs", Column: "ref", Owner: "mail"}, {Table: "absent", Column: "ref", Owner: "mail"}}
	src := map[string]blob.Store{"mail": srcStore}
	dst := map[string]blob.Store{"mail": dstStore}
	var out bytes.Buffer
	if err := VerifyRefs(ctx, d, cols, src, dst, &out); !errors.Is(err, ErrMismatch) || !strings.Contains(out.String(), string(ref)) {
		t.Errorf("a referenced blob missing from the target: %v, want ErrMismatch naming it\n%s", err, out.String())
	}
	out.Reset()
	if err := CopyBlobs(ctx, src, dst, &out); err != nil {
		t.Fatal(err)
	}
	if err := VerifyBlobs(ctx, src, dst, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if err := VerifyRefs(ctx, d, cols, src, dst, &out); err != nil || !strings.Contains(out.String(), "1 in neither store") {
		t.Errorf("after the copy: %v\n%s", err, out.String())
	}
}

// TestCopyBlobsDamaged: every blob is copied (the second time none), and
// a copy damaged in the target afterwards fails the verification.
func TestCopyBlobsDamaged(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srcStore, err := blob.OpenDir(filepath.Join(t.TempDir(), "src"))
	if err != nil {
		t.Fatal(err)
	}
	dstStore, err := blob.OpenDir(filepath.Join(t.TempDir(), "dst"))
	if err != nil {
		t.Fatal(err)
	}
	var refs []blob.Ref
	for i := range 40 {
		ref, _, err := srcStore.Put(ctx, strings.NewReader(strings.Repeat("x", i+1)), 0)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	src := map[string]blob.Store{"files": srcStore}
	dst := map[string]blob.Store{"files": dstStore}
	var out bytes.Buffer
	if err := CopyBlobs(ctx, src, dst, &out); err != nil || !strings.Contains(out.String(), "40 copied") {
		t.Fatalf("copy: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := CopyBlobs(ctx, src, dst, &out); err != nil || !strings.Contains(out.String(), "0 copied (0 bytes), 40 there already") {
		t.Fatalf("copy again: %v\n%s", err, out.String())
	}
	if err := VerifyBlobs(ctx, src, dst, &out); err != nil {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	if err := os.WriteFile(dstStore.Path(refs[7]), []byte("damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := VerifyBlobs(ctx, src, dst, &out); !errors.Is(err, ErrMismatch) || !strings.Contains(out.String(), string(refs[7])) {
		t.Errorf("verify of a damaged copy: %v, want ErrMismatch naming it\n%s", err, out.String())
	}
}
