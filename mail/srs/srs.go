// Package srs rewrites the envelope sender of forwarded mail (the Sender
// Rewriting Scheme), so that a message caucus forwards to another domain
// passes that domain's SPF check as caucus's own, and a bounce of it comes
// back to caucus, which returns it to the original sender.
//
// An outside sender alice@example.com forwarded through party.org becomes
//
//	SRS0=HHHHHHHH=TT=example.com=alice@party.org
//
// where TT is the day (base32, modulo 1024) and HHHHHHHH a keyed hash
// (HMAC-SHA256, base32, 40 bits) of the day and the original address. The
// hash is case-insensitive, as mail systems may fold the case of local
// parts; addresses expire after [MaxAge], so an old one cannot be used to
// send bounces to its sender forever. Only the SRS0 form is made: caucus is
// the first and only forwarder, and it never rewrites an address that is
// already its own.
package srs

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MaxAge is how long a rewritten address is accepted back.
const MaxAge = 21 * 24 * time.Hour

const (
	prefix   = "SRS0="
	hashLen  = 8 // base32 characters: 40 bits
	dayRange = 1024
)

// Errors of [Rewriter.Reverse].
var (
	ErrNotSRS  = errors.New("srs: not a rewritten address")
	ErrBadHash = errors.New("srs: the address's hash does not match")
	ErrExpired = errors.New("srs: the address has expired")
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Rewriter rewrites senders into one domain of the party. It is safe for
// concurrent use.
type Rewriter struct {
	key    []byte
	domain string
	now    func() time.Time
}

// New returns a Rewriter making addresses at domain, with the secret key
// (at least 16 bytes). A nil now means time.Now.
func New(key []byte, domain string, now func() time.Time) (*Rewriter, error) {
	if len(key) < 16 {
		return nil, errors.New("srs: key shorter than 16 bytes")
	}
	if domain == "" {
		return nil, errors.New("srs: no domain")
	}
	if now == nil {
		now = time.Now
	}
	return &Rewriter{key: key, domain: strings.ToLower(domain), now: now}, nil
}

// day is t's day number modulo dayRange.
func day(t time.Time) int { return int(t.Unix()/86400) % dayRange }

func (r *Rewriter) hash(tt, domain, local string) string {
	m := hmac.New(sha256.New, r.key)
	m.Write([]byte(strings.ToLower(tt + "=" + domain + "=" + local)))
	return b32.EncodeToString(m.Sum(nil))[:hashLen]
}

// Forward returns the envelope sender for a forwarded copy of mail from
// sender: sender itself when it is empty (a bounce stays a bounce) or has
// no domain, or else its SRS0 form at the rewriter's domain.
func (r *Rewriter) Forward(sender string) string {
	at := strings.LastIndexByte(sender, '@')
	if sender == "" || at <= 0 || at == len(sender)-1 {
		return sender
	}
	local, domain := sender[:at], sender[at+1:]
	tt := encodeDay(day(r.now()))
	return prefix + r.hash(tt, domain, local) + "=" + tt + "=" + domain + "=" + local + "@" + r.domain
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// encodeDay writes d (0–1023) as two base32 characters.
func encodeDay(d int) string { return string([]byte{alphabet[d>>5&31], alphabet[d&31]}) }

// decodeDay reads two base32 characters, in either case.
func decodeDay(s string) (int, bool) {
	if len(s) != 2 {
		return 0, false
	}
	hi := strings.IndexByte(alphabet, upper(s[0]))
	lo := strings.IndexByte(alphabet, upper(s[1]))
	if hi < 0 || lo < 0 {
		return 0, false
	}
	return hi<<5 | lo, true
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// IsSRS reports whether address has the SRS0 form, whatever its domain
// and whether or not it verifies.
func IsSRS(address string) bool {
	return len(address) > len(prefix) && strings.EqualFold(address[:len(prefix)], prefix)
}

// Reverse returns the original sender of a rewritten address (its domain
// is the caller's to check): [ErrNotSRS] if it has not the form,
// [ErrBadHash] if the hash is wrong, [ErrExpired] past [MaxAge].
func (r *Rewriter) Reverse(address string) (string, error) {
	at := strings.LastIndexByte(address, '@')
	if at < 0 || !IsSRS(address) {
		return "", ErrNotSRS
	}
	// hash=TT=domain=local: the original local part may hold "=".
	parts := strings.SplitN(address[len(prefix):at], "=", 4)
	if len(parts) != 4 || parts[2] == "" || parts[3] == "" {
		return "", ErrNotSRS
	}
	h, tt, domain, local := parts[0], parts[1], parts[2], parts[3]
	d, ok := decodeDay(tt)
	if !ok || len(h) != hashLen {
		return "", ErrNotSRS
	}
	if !hmac.Equal([]byte(strings.ToUpper(h)), []byte(r.hash(tt, domain, local))) {
		return "", ErrBadHash
	}
	age := (day(r.now()) - d + dayRange) % dayRange
	if time.Duration(age)*24*time.Hour > MaxAge {
		return "", fmt.Errorf("%w: made %d days ago", ErrExpired, age)
	}
	return local + "@" + domain, nil
}
