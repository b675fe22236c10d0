package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"os"
	"sync"

	"github.com/caucus-org/caucus/internal/fsutil"
)

// Keys are the server's own secrets, kept in a file beside (not inside) the
// database: a key for the keyed hashes of app passwords and recovery codes, and
// a key that seals TOTP secrets at rest. A stolen database alone then yields
// neither usable app passwords nor TOTP seeds.
type Keys struct {
	mac  []byte
	aead cipher.AEAD
	// macs holds keyed HMAC-SHA256 states (hash.Hash) for hash: a WebDAV
	// client checks its app password at every request, and a new state
	// is some ten allocations and two block hashes of the key.
	macs sync.Pool
}

const keyFileSize = 64

// LoadKeys reads the key file at path, creating it (0600, 64 random bytes)
// when it does not exist.
func LoadKeys(path string) (*Keys, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b = make([]byte, keyFileSize)
		rand.Read(b)
		if err := fsutil.WriteFile(path, b, 0o600); err != nil {
			return nil, fmt.Errorf("auth: create key file: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("auth: read key file: %w", err)
	}
	if len(b) != keyFileSize {
		return nil, fmt.Errorf("auth: key file %s: want %d bytes, have %d", path, keyFileSize, len(b))
	}
	return NewKeys(b)
}

// NewKeys builds Keys from 64 bytes of key material.
func NewKeys(material []byte) (*Keys, error) {
	if len(material) != keyFileSize {
		return nil, fmt.Errorf("auth: key material must be %d bytes", keyFileSize)
	}
	block, err := aes.NewCipher(material[32:])
	if err != nil {
		return nil, fmt.Errorf("auth: key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("auth: key: %w", err)
	}
	return &Keys{mac: append([]byte(nil), material[:32]...), aead: aead}, nil
}

// hash is the keyed hash stored for app passwords and recovery codes. Their
// secrets are long and random, so a fast keyed hash is enough (no argon2).
func (k *Keys) hash(domain, secret string) [32]byte {
	m, _ := k.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, k.mac)
	}
	m.Write([]byte(domain))
	m.Write([]byte{0})
	m.Write([]byte(secret))
	var out [32]byte
	m.Sum(out[:0])
	m.Reset() // back to the keyed state, nothing of secret kept
	k.macs.Put(m)
	return out
}

// Derive returns a 32-byte key for purpose (e.g. "srs"), derived from the
// key file's MAC key, so that another part of caucus gets a secret of its
// own without a file of its own. Different purposes give unrelated keys.
func (k *Keys) Derive(purpose string) []byte {
	h := k.hash("derive", purpose)
	return h[:]
}

// seal encrypts plaintext, binding it to additional data (the account id).
func (k *Keys) seal(plaintext, ad []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	rand.Read(nonce)
	return k.aead.Seal(nonce, nonce, plaintext, ad)
}

func (k *Keys) open(sealed, ad []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("auth: sealed value too short")
	}
	p, err := k.aead.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, fmt.Errorf("auth: unseal: %w", err)
	}
	return p, nil
}
