package files_test

import (
	"bytes"
	"fmt"
	"io"
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

// BenchmarkOpenRead opens and reads a file's content, kept in the
// database (inline) or in a blob file, at 10 to 64 KiB.
func BenchmarkOpenRead(b *testing.B) {
	for _, size := range []int{10 << 10, 16 << 10, 32 << 10, 64 << 10} {
		for _, where := range []struct {
			name   string
			inline int
		}{{"inline", 64 << 10}, {"blob", -1}} {
			b.Run(fmt.Sprintf("%dKiB/%s", size>>10, where.name), func(b *testing.B) {
				e := filestest.New(b, files.Options{InlineBytes: where.inline})
				a := e.Member(b, "alice@example.org")
				home, err := e.Store.Stat(b.Context(), a, "/Home")
				if err != nil {
					b.Fatal(err)
				}
				const n = 100
				ids := make([]int64, n)
				buf := make([]byte, size)
				for i := range n {
					buf[0] = byte(i)
					f, err := e.Store.Put(b.Context(), a, home.ID, fmt.Sprintf("f%d", i), bytes.NewReader(buf), int64(size))
					if err != nil {
						b.Fatal(err)
					}
					ids[i] = f.ID
				}
				b.SetBytes(int64(size))
				for i := 0; b.Loop(); i++ {
					f, _, err := e.Store.Open(b.Context(), a, ids[i%n])
					if err != nil {
						b.Fatal(err)
					}
					if _, err := io.Copy(io.Discard, f); err != nil {
						b.Fatal(err)
					}
					f.Close()
				}
			})
		}
	}
}
