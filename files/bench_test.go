package files_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
)

// BenchmarkPut stores 10 KB files one after another: the cost of one
// durable upload (blob fsyncs and one SQLite commit).
func BenchmarkPut(b *testing.B) {
	e := filestest.New(b, files.Options{})
	a := e.Member(b, "alice@example.org")
	home, err := e.Store.Stat(b.Context(), a, "/Home")
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 10<<10)
	for i := 0; b.Loop(); i++ {
		buf[0], buf[1], buf[2] = byte(i), byte(i>>8), byte(i>>16)
		if _, err := e.Store.Put(b.Context(), a, home.ID, fmt.Sprintf("f%d", i), bytes.NewReader(buf), int64(len(buf))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStat resolves a path three folders deep.
func BenchmarkStat(b *testing.B) {
	e := filestest.New(b, files.Options{})
	a := e.Member(b, "alice@example.org")
	n, _ := e.Store.Stat(b.Context(), a, "/Home")
	for _, name := range []string{"a", "b", "c"} {
		n, _ = e.Store.Mkdir(b.Context(), a, n.ID, name)
	}
	for b.Loop() {
		if _, err := e.Store.Stat(b.Context(), a, "/Home/a/b/c"); err != nil {
			b.Fatal(err)
		}
	}
}
