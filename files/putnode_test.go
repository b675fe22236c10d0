package files_test

import (
	"strings"
	"testing"
)

// TestPutNodeAsStat: the node Put returns for a new file is the one Stat
// then reads (it is built without reading it back). Stat runs on the
// second node, which has not looked the file up before.
func TestPutNodeAsStat(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, alice := twoNodes(t)
	home, err := a.Stat(ctx, alice, "/Home")
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"f.txt", "g.txt"} {
		content := strings.Repeat(name, i+1)
		put, err := a.Put(ctx, alice, home.ID, name, strings.NewReader(content), int64(len(content)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.Stat(ctx, alice, "/Home/"+name)
		if err != nil {
			t.Fatal(err)
		}
		if put != got {
			t.Errorf("put %d returned %+v; Stat reads %+v", i, put, got)
		}
	}
}
