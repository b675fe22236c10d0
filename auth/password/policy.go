package password

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

//go:generate go run gen_common.go -in john-password.lst -out common.txt

// Length bounds of a password, in Unicode code points (NIST SP 800-63B
// §5.1.1.2 asks for at least 8 and allows at least 64; caucus asks for 12
// because a password is one of two factors that a volunteer has to choose).
const (
	MinLength = 12
	MaxLength = 128
)

// Errors returned by CheckPolicy. Their text is meant to be shown to the
// person choosing the password; CheckPolicy may wrap them with more detail,
// so test with errors.Is.
var (
	// ErrTooShort means the password has fewer than MinLength characters.
	ErrTooShort = errors.New("password: must be at least 12 characters")
	// ErrTooLong means the password has more than MaxLength characters.
	ErrTooLong = errors.New("password: must be at most 128 characters")
	// ErrCommon means the password is on the list of common passwords, or is
	// a repeated character or pattern, or a keyboard or alphabet run.
	ErrCommon = errors.New("password: too common or too easy to guess, choose another (a few unrelated words make a good one)")
	// ErrRelated means the password contains the account's name or address,
	// or the name of the service.
	ErrRelated = errors.New("password: must not contain your name, your address or the word caucus")
	// ErrInvalid means the password is not valid UTF-8 text or holds control
	// characters, which no keyboard types.
	ErrInvalid = errors.New("password: contains characters that cannot be typed, such as control characters")
)

// common holds the embedded list of common passwords; see README.md for its
// source and licence.
//
//go:embed common.txt
var common string

// commonSet is the lower-cased common-password list as a set, built on first
// use and never changed after.
var commonSet = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, strings.Count(common, "\n"))
	// The keys are substrings of the embedded list, not copies.
	for line := range strings.Lines(common) {
		line = strings.TrimSuffix(line, "\n")
		if line == "" || strings.HasPrefix(line, "#!comment:") {
			continue
		}
		set[line] = struct{}{}
	}
	return set
})

// CheckPolicy reports whether password may be chosen, following NIST SP
// 800-63B §5.1.1.2: between MinLength and MaxLength Unicode code points of
// valid UTF-8 without control characters (ErrInvalid, ErrTooShort,
// ErrTooLong); not on the shipped list of common passwords, not a run along
// the keyboard or the alphabet, and not a string of fewer than MinLength
// characters repeated, nor a repetition of a common password or a run
// (ErrCommon); and not containing, case-insensitively, the word "caucus" or
// any of related (ErrRelated).
//
// related are the account's own words: its address's local part, its display
// name. Each is split at characters that are neither letters nor digits, and
// the whole and each part of at least 4 characters is refused; shorter parts
// ("Al", "Li") would refuse too many good passwords.
//
// CheckPolicy returns nil or an error whose text can be shown as it is.
func CheckPolicy(password string, related ...string) error {
	if !utf8.ValidString(password) {
		return ErrInvalid
	}
	for _, r := range password {
		if unicode.IsControl(r) {
			return ErrInvalid
		}
	}
	n := utf8.RuneCountInString(password)
	if n < MinLength {
		return fmt.Errorf("%w (this one has %d)", ErrTooShort, n)
	}
	if n > MaxLength {
		return fmt.Errorf("%w (this one has %d)", ErrTooLong, n)
	}
	lower := strings.ToLower(password)
	// A repeated string is only as strong as what it repeats.
	u, un := unit(lower)
	if u != lower && un < MinLength {
		return ErrCommon
	}
	for _, s := range [...]string{lower, u} {
		if _, ok := commonSet()[s]; ok || sequential(s) {
			return ErrCommon
		}
	}
	if word, ok := containsRelated(lower, related); ok {
		// The word is the person's own name or address, safe to show back.
		return fmt.Errorf("%w (it contains %q)", ErrRelated, word)
	}
	return nil
}

// unit returns the shortest string whose repetition makes s, and how many
// code points it has: "abcabcabc" gives "abc", 3; a string that repeats
// nothing gives itself.
func unit(s string) (string, int) {
	rs := []rune(s)
	n := len(rs)
outer:
	for p := 1; p < n; p++ {
		if n%p != 0 {
			continue
		}
		for i := p; i < n; i++ {
			if rs[i] != rs[i-p] {
				continue outer
			}
		}
		return string(rs[:p]), p
	}
	return s, n
}

// sequential reports whether s, already lower-cased, is a run along one of
// the sequences, forwards or backwards, wrapping around at the end.
func sequential(s string) bool {
	// Runs that people type to fill a length rule: digits, the alphabet, and
	// the rows and columns of QWERTY, AZERTY and QWERTZ keyboards.
	sequences := [...]string{
		"0123456789",
		"abcdefghijklmnopqrstuvwxyz",
		"qwertyuiopasdfghjklzxcvbnm",
		"azertyuiopqsdfghjklmwxcvbn",
		"qwertzuiopasdfghjklyxcvbnm",
		"1234567890qwertyuiopasdfghjklzxcvbnm",
		"1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
		"qazwsxedcrfvtgbyhnujmikolp",
		"1q2w3e4r5t6y7u8i9o0p",
		"!@#$%^&*()",
	}
	for _, seq := range sequences {
		// Enough copies that every wrapped run of len(s) appears.
		cyc := strings.Repeat(seq, len(s)/len(seq)+2)
		if strings.Contains(cyc, s) || strings.Contains(cyc, reverse(s)) {
			return true
		}
	}
	return false
}

func reverse(s string) string {
	rs := []rune(s)
	for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
		rs[i], rs[j] = rs[j], rs[i]
	}
	return string(rs)
}

// containsRelated reports the first word of related, or the service name,
// that lower contains.
func containsRelated(lower string, related []string) (string, bool) {
	const minWord = 4
	check := func(w string) bool {
		return utf8.RuneCountInString(w) >= minWord && strings.Contains(lower, strings.ToLower(w))
	}
	if check("caucus") {
		return "caucus", true
	}
	for _, r := range related {
		r = strings.TrimSpace(r)
		if check(r) {
			return r, true
		}
		for _, part := range strings.FieldsFunc(r, func(c rune) bool {
			return !unicode.IsLetter(c) && !unicode.IsDigit(c)
		}) {
			if check(part) {
				return part, true
			}
		}
	}
	return "", false
}
