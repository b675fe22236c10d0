package mailimport

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// SourceSpec says what a job copies from. Password is the only secret;
// the whole spec is sealed in the database while the job lives.
type SourceSpec struct {
	Kind     string   `json:"kind"` // KindIMAP, KindMbox, KindMaildir
	Addr     string   `json:"addr,omitempty"`
	Security string   `json:"security,omitempty"` // TLSImplicit or TLSStart
	Login    string   `json:"login,omitempty"`
	Password Secret   `json:"password,omitempty"`
	Paths    []string `json:"paths,omitempty"` // mbox files or directories, a Maildir
	MboxO    bool     `json:"mboxo,omitempty"`
	// Public: a member started the job, so its IMAP server is reached
	// through Options.PublicDial only (public addresses; no SSRF).
	Public bool `json:"public,omitempty"`
}

// Source kinds.
const (
	KindIMAP    = "imap"
	KindMbox    = "mbox"
	KindMaildir = "maildir"
)

// errSeal reports sealed credentials that do not open (a changed server
// key, a damaged row).
var errSeal = errors.New("mailimport: the job's sealed source does not open")

// seal encrypts spec with AES-256-GCM under key, bound to the account.
func seal(key []byte, accountID int64, spec SourceSpec) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(struct {
		SourceSpec
		Password string `json:"password,omitempty"`
	}{spec, string(spec.Password)})
	if err != nil {
		return nil, fmt.Errorf("mailimport: seal: %w", err)
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, plain, sealAAD(accountID)), nil
}

// unseal decrypts what seal made.
func unseal(key []byte, accountID int64, sealed []byte) (SourceSpec, error) {
	var spec SourceSpec
	aead, err := newAEAD(key)
	if err != nil {
		return spec, err
	}
	if len(sealed) < aead.NonceSize() {
		return spec, errSeal
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], sealAAD(accountID))
	if err != nil {
		return spec, errSeal
	}
	var raw struct {
		SourceSpec
		Password string `json:"password,omitempty"`
	}
	if err := json.Unmarshal(plain, &raw); err != nil {
		return spec, errSeal
	}
	spec = raw.SourceSpec
	spec.Password = Secret(raw.Password)
	return spec, nil
}

// newAEAD returns AES-256-GCM with key, which must be 32 bytes.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("mailimport: key of %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("mailimport: %w", err)
	}
	return cipher.NewGCM(block)
}

// sealAAD binds a sealed spec to its account.
func sealAAD(accountID int64) []byte {
	return []byte("caucus mailimport v1 account " + strconv.FormatInt(accountID, 10))
}
