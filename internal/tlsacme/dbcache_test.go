package tlsacme

import (
	"bytes"
	"errors"
	"testing"

	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/pgtest"
	"golang.org/x/crypto/acme/autocert"
)

// TestDBCache stores, reads, replaces and deletes entries from two nodes,
// checks that the database holds no entry in the clear, that a node with
// another key cannot read them, and that SQLite is refused.
func TestDBCache(t *testing.T) {
	nodes := pgtest.Nodes(t, 2)
	key := bytes.Repeat([]byte{7}, 32)
	da := nodes[0]
	a, err := NewDBCache(t.Context(), da, key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewDBCache(t.Context(), nodes[1], key)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := b.Get(ctx, "mail.example.org"); !errors.Is(err, autocert.ErrCacheMiss) {
		t.Fatalf("Get of nothing = %v, want ErrCacheMiss", err)
	}
	secret := []byte("-----BEGIN EC PRIVATE KEY----- the node's key")
	if err := a.Put(ctx, "mail.example.org", secret); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, "mail.example.org"); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("node B reads %q, %v", got, err)
	}
	var raw []byte
	if err := da.QueryRowContext(ctx, `SELECT data FROM acme_cache WHERE name = 'mail.example.org'`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("PRIVATE KEY")) {
		t.Fatal("the entry is stored in the clear")
	}
	// An entry moved under another name does not open (bound to its name).
	if _, err := da.ExecContext(ctx, `INSERT INTO acme_cache (name, data) VALUES ('other', ?)`, raw); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "other"); err == nil {
		t.Fatal("an entry opened under another name")
	}
	if err := b.Put(ctx, "mail.example.org", []byte("renewed")); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Get(ctx, "mail.example.org"); string(got) != "renewed" {
		t.Fatalf("after renewal node A reads %q", got)
	}
	wrong, err := NewDBCache(ctx, da, bytes.Repeat([]byte{8}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wrong.Get(ctx, "mail.example.org"); err == nil || errors.Is(err, autocert.ErrCacheMiss) {
		t.Fatalf("another key read the entry: %v", err)
	}
	if err := a.Delete(ctx, "mail.example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "mail.example.org"); !errors.Is(err, autocert.ErrCacheMiss) {
		t.Fatalf("after Delete: %v", err)
	}
	sq, err := db.Open(ctx, t.TempDir()+"/c.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	if _, err := NewDBCache(ctx, sq, key); !errors.Is(err, db.ErrNotPostgres) {
		t.Fatalf("on SQLite: %v", err)
	}
}
