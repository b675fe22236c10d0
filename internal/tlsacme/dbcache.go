package tlsacme

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"

	"github.com/caucus-org/caucus/internal/db"
	"golang.org/x/crypto/acme/autocert"
)

// DBCache is an [autocert.Cache] in the database, for nodes that share a
// PostgreSQL database: whichever node obtains or renews a certificate,
// every node serves it, and a TLS-ALPN-01 challenge answered by one node
// is found by the node the CA happens to connect to. Entries (the ACME
// account key, certificates with their private keys) are sealed with
// AES-256-GCM under a key caucus holds, bound to their name, so the
// database's operator and its backups do not hold the private keys in the
// clear.
type DBCache struct {
	db   *db.DB
	aead cipher.AEAD
}

const createACMECache = `CREATE TABLE IF NOT EXISTS acme_cache (
	name TEXT PRIMARY KEY,
	data BYTEA NOT NULL
)`

// NewDBCache returns the cache in d, sealed with key (32 bytes), making
// its table if needed. Only PostgreSQL is supported: one SQLite node
// keeps its certificates in its data directory.
func NewDBCache(ctx context.Context, d *db.DB, key []byte) (*DBCache, error) {
	if d.Engine() != db.Postgres {
		return nil, fmt.Errorf("tlsacme: certificate cache in the database: %w", db.ErrNotPostgres)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("tlsacme: certificate cache key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if _, err := d.ExecContext(ctx, createACMECache); err != nil {
		return nil, fmt.Errorf("tlsacme: certificate cache: %w", err)
	}
	return &DBCache{db: d, aead: aead}, nil
}

// Get returns the entry name, or autocert.ErrCacheMiss.
func (c *DBCache) Get(ctx context.Context, name string) ([]byte, error) {
	var sealed []byte
	err := c.db.QueryRowContext(ctx, `SELECT data FROM acme_cache WHERE name = ?`, name).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, autocert.ErrCacheMiss
	}
	if err != nil {
		return nil, fmt.Errorf("tlsacme: cache get %s: %w", name, err)
	}
	n := c.aead.NonceSize()
	if len(sealed) < n {
		return nil, fmt.Errorf("tlsacme: cache entry %s is damaged", name)
	}
	data, err := c.aead.Open(nil, sealed[:n], sealed[n:], []byte(name))
	if err != nil {
		return nil, fmt.Errorf("tlsacme: cache entry %s does not open with this key (another node's key, or changed): %w", name, err)
	}
	return data, nil
}

// Put stores the entry name, replacing an older one.
func (c *DBCache) Put(ctx context.Context, name string, data []byte) error {
	nonce := make([]byte, c.aead.NonceSize())
	rand.Read(nonce)
	sealed := c.aead.Seal(nonce, nonce, data, []byte(name))
	_, err := c.db.ExecContext(ctx, `INSERT INTO acme_cache (name, data) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET data = excluded.data`, name, sealed)
	if err != nil {
		return fmt.Errorf("tlsacme: cache put %s: %w", name, err)
	}
	return nil
}

// Delete removes the entry name, if any.
func (c *DBCache) Delete(ctx context.Context, name string) error {
	if _, err := c.db.ExecContext(ctx, `DELETE FROM acme_cache WHERE name = ?`, name); err != nil {
		return fmt.Errorf("tlsacme: cache delete %s: %w", name, err)
	}
	return nil
}
