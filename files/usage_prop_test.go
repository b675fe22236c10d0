package files_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
	"github.com/caucus-org/caucus/internal/db"
)

// TestUsageMaintained checks, on both engines, that after each of a
// random sequence of operations (uploads, new versions and their
// pruning, copies, moves within and across spaces, trash, restore,
// purge, restored versions, file drops, folders deleted, and at the end
// a member's files handed over and a group's files handed over to a
// member) the usage the triggers keep (files_usage, files_usage_blobs)
// is what summing each space's versions finds.
func TestUsageMaintained(t *testing.T) {
	t.Parallel()
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			usageRun(t, rand.New(rand.NewPCG(seed, 21)), 300)
		})
	}
}

// usageWorld is what a run of TestUsageMaintained knows: its members,
// and the nodes and folders it made (some of them since gone).
type usageWorld struct {
	e       *filestest.Env
	actors  []files.Actor
	nodes   []int64
	folders []int64
	drop    files.Link
}

func usageRun(t *testing.T, r *rand.Rand, steps int) {
	e := filestest.New(t, files.Options{Versions: 3})
	s, ctx := e.Store, t.Context()
	w := &usageWorld{e: e, actors: []files.Actor{e.Member(t, "alice@example.org"), e.Member(t, "bob@example.org")}}
	for _, a := range w.actors {
		if err := e.Auth.AddToGroup(ctx, "", "press", a.ID); err != nil {
			t.Fatal(err)
		}
		home, err := s.Stat(ctx, a, "/Home")
		if err != nil {
			t.Fatal(err)
		}
		w.folders = append(w.folders, home.ID)
	}
	g, err := s.Stat(ctx, w.actors[0], "/Groups/press")
	if err != nil {
		t.Fatal(err)
	}
	w.folders = append(w.folders, g.ID)
	inbox, err := s.Mkdir(ctx, w.actors[0], w.folders[0], "Inbox")
	if err != nil {
		t.Fatal(err)
	}
	w.folders = append(w.folders, inbox.ID)
	tok, _, err := s.CreateLink(ctx, w.actors[0], inbox.ID, files.LinkOptions{Kind: files.LinkDrop})
	if err != nil {
		t.Fatal(err)
	}
	if w.drop, _, err = s.ResolveLink(ctx, tok); err != nil {
		t.Fatal(err)
	}
	done := map[string]int{}
	for i := range steps {
		op, err := w.step(t, r)
		checkUsage(t, files.DB(s), fmt.Sprintf("step %d (%s: %v)", i, op, err))
		if err != nil {
			op += " refused"
		}
		done[op]++
	}
	t.Logf("operations: %v", done)
	carol := e.Member(t, "carol@example.org")
	if _, err := s.TransferOwnership(ctx, "admin@example.org", w.actors[1].ID, carol.ID, files.LinksMove); err != nil {
		t.Fatal(err)
	}
	checkUsage(t, files.DB(s), "bob's files to carol")
	gid, err := e.Auth.GroupID(ctx, "press")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.HandOverGroup(ctx, "admin@example.org", gid, "press", carol.ID); err != nil {
		t.Fatal(err)
	}
	checkUsage(t, files.DB(s), "the group's files to carol")
}

// step does one random operation as a random member, names it and says
// whether it was done. An operation refused (another's file, a name
// taken, a node gone) is part of the sequence: it must change nothing.
func (w *usageWorld) step(t *testing.T, r *rand.Rand) (string, error) {
	s, ctx := w.e.Store, t.Context()
	a := w.actors[r.IntN(len(w.actors))]
	node := func() int64 {
		if len(w.nodes) == 0 {
			return 0
		}
		return w.nodes[r.IntN(len(w.nodes))]
	}
	folder := w.folders[r.IntN(len(w.folders))]
	name := fmt.Sprintf("f%d", r.IntN(6))
	content := strings.Repeat(string(rune('a'+r.IntN(5))), 1+r.IntN(4)*10)
	add := func(n files.Node, err error) error {
		if err == nil {
			w.nodes = append(w.nodes, n.ID)
		}
		return err
	}
	switch op := r.IntN(11); op {
	case 0, 1, 2:
		return "put", add(s.Put(ctx, a, folder, name, strings.NewReader(content), int64(len(content))))
	case 3:
		return "copy", add(s.Copy(ctx, a, node(), folder, name))
	case 4:
		return "move", add(s.Move(ctx, a, node(), folder, name))
	case 5:
		return "trash", s.Delete(ctx, a, node())
	case 6, 7:
		items, err := s.Trash(ctx, a)
		if err != nil || len(items) == 0 {
			return "trash list", errors.New("empty trash")
		}
		it := items[r.IntN(len(items))]
		if op == 6 {
			_, err := s.Restore(ctx, a, it.ID)
			return "restore", err
		}
		return "purge", s.Purge(ctx, a, it.ID)
	case 8:
		id := node()
		vs, err := s.Versions(ctx, a, id)
		if err != nil || len(vs) < 2 {
			return "restore version", errors.New("no older version")
		}
		_, err = s.RestoreVersion(ctx, a, id, vs[len(vs)-1].ID)
		return "restore version", err
	case 9:
		n, err := s.Mkdir(ctx, a, folder, "d"+name)
		if err == nil {
			w.folders = append(w.folders, n.ID)
		}
		return "mkdir", add(n, err)
	default:
		return "drop", add(s.DropPut(ctx, w.drop, name, strings.NewReader(content), int64(len(content)), w.actors[0].Client))
	}
}

// checkUsage fails t if the usage kept in files_usage and
// files_usage_blobs differs from what the versions say: each space's
// sum over its distinct contents (the query used() ran before migration
// 6), and each content's count of versions.
func checkUsage(t *testing.T, d *db.DB, after string) {
	t.Helper()
	want := usageRows(t, d, `SELECT space_kind || ' ' || space_id, SUM(size) FROM (SELECT n.space_kind, n.space_id, MAX(v.size) AS size
		FROM files_versions v JOIN files_nodes n ON n.id = v.node_id GROUP BY n.space_kind, n.space_id, v.blob) AS contents
		GROUP BY space_kind, space_id`)
	got := usageRows(t, d, `SELECT space_kind || ' ' || space_id, bytes FROM files_usage WHERE bytes <> 0`)
	if !maps.Equal(got, want) {
		t.Fatalf("after %s: usage kept %v, summed %v", after, got, want)
	}
	want = usageRows(t, d, `SELECT n.space_kind || ' ' || n.space_id || ' ' || v.blob || ' ' || MAX(v.size), COUNT(*)
		FROM files_versions v JOIN files_nodes n ON n.id = v.node_id GROUP BY n.space_kind, n.space_id, v.blob`)
	got = usageRows(t, d, `SELECT space_kind || ' ' || space_id || ' ' || blob || ' ' || size, refs FROM files_usage_blobs`)
	if !maps.Equal(got, want) {
		t.Fatalf("after %s: contents kept %v, counted %v", after, got, want)
	}
}

func usageRows(t *testing.T, d *db.DB, q string) map[string]int64 {
	t.Helper()
	rows, err := d.QueryContext(t.Context(), q)
	if err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	defer rows.Close()
	m := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		m[k] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}
