// Package password hashes and checks account passwords with argon2id
// (RFC 9106) stored as PHC strings, and enforces the password policy
// (NIST SP 800-63B §5.1.1.2).
//
// A Hasher bounds how many argon2 computations run at once, so that a flood
// of logins queues instead of exhausting memory, and offers Dummy so that a
// login for an unknown account costs the same time as one for a known
// account. CheckPolicy decides whether a new password may be chosen.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters (RFC 9106 §3.1).
type Params struct {
	Memory  uint32 // memory in KiB (m)
	Time    uint32 // number of passes (t)
	Threads uint8  // degree of parallelism (p)
	KeyLen  uint32 // length of the derived key in bytes
	SaltLen uint32 // length of the random salt in bytes
}

// DefaultParams returns the parameters new hashes use unless told otherwise:
// the OWASP Password Storage Cheat Sheet minimum for argon2id, 19 MiB of
// memory, 2 passes, 1 thread, with a 16-byte salt and a 32-byte key.
func DefaultParams() Params {
	return Params{Memory: 19 * 1024, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}
}

// Bounds that ParsePHC enforces, so that a damaged or hostile stored hash
// cannot make Verify allocate or compute without limit.
const (
	maxMemory  = 1 << 20 // KiB, 1 GiB
	maxTime    = 16
	maxThreads = 16
	minBytes   = 8 // salt and key length
	maxBytes   = 64
	maxPHCLen  = 256 // longer strings are refused before parsing
)

// ErrMalformed is returned for a PHC string that is not an argon2id hash
// this package can check: wrong syntax, another algorithm or version, or
// parameters outside the accepted bounds.
var ErrMalformed = errors.New("password: malformed hash")

// b64 is the PHC string format's base64: standard alphabet, no padding,
// and no stray bits in the last character.
var b64 = base64.RawStdEncoding.Strict()

// Hasher hashes and verifies passwords with fixed parameters for new hashes
// while allowing at most a fixed number of argon2 computations at once. It is
// safe for concurrent use.
type Hasher struct {
	params Params
	sem    chan struct{} // one token per running argon2 computation
	dummy  string        // PHC hash of a random password, for Dummy

	// kdf computes the key; tests replace it to observe concurrency.
	kdf func(password, salt []byte, p Params) []byte
}

// NewHasher returns a Hasher that makes new hashes with p and runs at most
// maxConcurrent argon2 computations at once; maxConcurrent <= 0 means
// runtime.NumCPU(). Zero fields of p take the value from DefaultParams.
// Each computation holds p.Memory KiB (or a stored hash's own memory
// parameter, for Verify), so memory use is bounded by about
// maxConcurrent × Memory.
//
// NewHasher computes one hash, for Dummy, so it takes about as long as Hash.
// It panics if p lies outside the bounds ParsePHC accepts, since its hashes
// could then never be verified: that is a programming or configuration error
// to be caught before serving.
func NewHasher(p Params, maxConcurrent int) *Hasher {
	d := DefaultParams()
	if p.Memory == 0 {
		p.Memory = d.Memory
	}
	if p.Time == 0 {
		p.Time = d.Time
	}
	if p.Threads == 0 {
		p.Threads = d.Threads
	}
	if p.KeyLen == 0 {
		p.KeyLen = d.KeyLen
	}
	if p.SaltLen == 0 {
		p.SaltLen = d.SaltLen
	}
	if err := checkParams(p); err != nil {
		panic(fmt.Sprintf("password: NewHasher: %v", err))
	}
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.NumCPU()
	}
	h := &Hasher{
		params: p,
		sem:    make(chan struct{}, maxConcurrent),
		kdf:    argon2id,
	}
	// The dummy's password is random and forgotten: nothing verifies against it.
	h.dummy = h.encode(rand.Text())
	return h
}

// Params returns the parameters h uses for new hashes.
func (h *Hasher) Params() Params { return h.params }

func argon2id(password, salt []byte, p Params) []byte {
	return argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}

// acquire waits for a free computation slot or for ctx to be done.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.sem }

// Hash returns a PHC string for password made with h's parameters and a
// fresh random salt, such as
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// with salt and key in unpadded standard base64. It waits for a free
// computation slot and returns ctx's error if ctx is done first. Hash does not
// apply the policy; call CheckPolicy before it when a password is chosen.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", fmt.Errorf("password: hash: %w", err)
	}
	defer h.release()
	return h.encode(password), nil
}

// encode hashes password with a fresh salt without taking a slot.
func (h *Hasher) encode(password string) string {
	salt := make([]byte, h.params.SaltLen)
	rand.Read(salt) // never fails; see crypto/rand.Read
	key := h.kdf([]byte(password), salt, h.params)
	return formatPHC(h.params, salt, key)
}

func formatPHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify reports whether password matches phc, comparing in constant time.
// It uses phc's own parameters, whatever h's are. It returns an error only
// when phc is malformed (wrapping ErrMalformed) or ctx is done before a
// computation slot frees up (wrapping ctx's error); a wrong password gives
// false and a nil error.
func (h *Hasher) Verify(ctx context.Context, password, phc string) (ok bool, err error) {
	p, salt, key, err := ParsePHC(phc)
	if err != nil {
		return false, fmt.Errorf("password: verify: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return false, fmt.Errorf("password: verify: %w", err)
	}
	defer h.release()
	got := h.kdf([]byte(password), salt, p)
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// Dummy does the work of a Verify of password against a fixed hash made in
// NewHasher, and throws the result away. Call it when a login names an
// unknown account, so that the answer takes as long as for a known one and
// does not tell which accounts exist. It returns early only if ctx is done
// while waiting for a slot.
func (h *Hasher) Dummy(ctx context.Context, password string) {
	_, _ = h.Verify(ctx, password, h.dummy)
}

// NeedsRehash reports whether phc should be replaced by a new hash of the
// same password, made with h's parameters: true when phc is malformed or its
// memory, time, salt length or key length is below h's. A different thread
// count alone does not weaken a hash and does not count. Call it after a
// successful Verify, when the password is at hand.
func (h *Hasher) NeedsRehash(phc string) bool {
	p, _, _, err := ParsePHC(phc)
	if err != nil {
		return true
	}
	return p.Memory < h.params.Memory ||
		p.Time < h.params.Time ||
		p.KeyLen < h.params.KeyLen ||
		p.SaltLen < h.params.SaltLen
}

// ParsePHC parses an argon2id PHC string as Hash makes it:
//
//	$argon2id$v=19$m=<memory>,t=<time>,p=<threads>$<salt>$<key>
//
// Parsing is strict: exactly these fields in this order, decimal numbers
// without sign or leading zeros, unpadded standard base64 with no stray bits,
// nothing else. It refuses, with an error wrapping ErrMalformed, any other
// algorithm or version, memory above 1 GiB or below 8 KiB per thread, time
// outside 1..16, threads outside 1..16, and salt or key lengths outside
// 8..64 bytes. The returned Params carry the salt and key lengths.
func ParsePHC(s string) (p Params, salt, key []byte, err error) {
	fail := func(what string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: %s", ErrMalformed, what)
	}
	if len(s) > maxPHCLen {
		return fail("too long")
	}
	f := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(f) != 6 || f[0] != "" {
		return fail("not a PHC string with five fields")
	}
	if f[1] != "argon2id" {
		return fail("algorithm is not argon2id")
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return fail("version is not 19")
	}
	ps := strings.Split(f[3], ",")
	if len(ps) != 3 {
		return fail("parameters are not m,t,p")
	}
	var m, t, th uint64
	for i, dst := range []*uint64{&m, &t, &th} {
		name := [...]string{"m=", "t=", "p="}[i]
		v, ok := strings.CutPrefix(ps[i], name)
		if !ok {
			return fail("parameters are not m,t,p")
		}
		n, ok := parseDecimal(v)
		if !ok {
			return fail("parameter " + name[:1] + " is not a decimal number")
		}
		*dst = n
	}
	if salt, err = decodeB64(f[4]); err != nil {
		return fail("salt is not base64")
	}
	if key, err = decodeB64(f[5]); err != nil {
		return fail("key is not base64")
	}
	if m > maxMemory || t > maxTime || th > maxThreads {
		return fail("parameters out of bounds")
	}
	p = Params{
		Memory:  uint32(m),
		Time:    uint32(t),
		Threads: uint8(th),
		SaltLen: uint32(len(salt)),
		KeyLen:  uint32(len(key)),
	}
	if err := checkParams(p); err != nil {
		return fail(err.Error())
	}
	return p, salt, key, nil
}

// checkParams checks the bounds that ParsePHC enforces.
func checkParams(p Params) error {
	switch {
	case p.Memory > maxMemory:
		return fmt.Errorf("memory %d KiB above %d", p.Memory, maxMemory)
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("threads %d outside 1..%d", p.Threads, maxThreads)
	case p.Memory < 8*uint32(p.Threads):
		return fmt.Errorf("memory %d KiB below 8 per thread", p.Memory)
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("time %d outside 1..%d", p.Time, maxTime)
	case p.SaltLen < minBytes || p.SaltLen > maxBytes:
		return fmt.Errorf("salt length %d outside %d..%d", p.SaltLen, minBytes, maxBytes)
	case p.KeyLen < minBytes || p.KeyLen > maxBytes:
		return fmt.Errorf("key length %d outside %d..%d", p.KeyLen, minBytes, maxBytes)
	}
	return nil
}

// parseDecimal parses a PHC decimal: 1 to 10 ASCII digits, no leading zero
// unless the number is 0.
func parseDecimal(s string) (uint64, bool) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// decodeB64 decodes unpadded standard base64, refusing the line breaks that
// encoding/base64 would otherwise skip.
func decodeB64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line break in base64")
	}
	return b64.DecodeString(s)
}
