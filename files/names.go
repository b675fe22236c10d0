package files

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// reservedNames are Windows' device names, refused with or without an
// extension ("Naming Files, Paths, and Namespaces", Microsoft Learn).
var reservedNames = map[string]bool{
	"CON": true, "PRN": true, "AUX": true, "NUL": true,
	"COM1": true, "COM2": true, "COM3": true, "COM4": true, "COM5": true, "COM6": true, "COM7": true, "COM8": true, "COM9": true,
	"LPT1": true, "LPT2": true, "LPT3": true, "LPT4": true, "LPT5": true, "LPT6": true, "LPT7": true, "LPT8": true, "LPT9": true,
}

func validName(name string) (string, error) {
	// An ASCII name is UTF-8 and in NFC already (Unicode Standard Annex
	// #15, section 9: no ASCII character changes under normalization):
	// the check for a name's every lookup is then one pass over its bytes.
	if !isASCII(name) {
		if !utf8.ValidString(name) {
			return "", fmt.Errorf("%w: not UTF-8", ErrInvalidName)
		}
		name = norm.NFC.String(name)
	}
	switch {
	case name == "":
		return "", fmt.Errorf("%w: empty", ErrInvalidName)
	case len(name) > MaxNameBytes:
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidName, MaxNameBytes)
	case name == "." || name == "..":
		return "", fmt.Errorf("%w: %q", ErrInvalidName, name)
	case strings.HasSuffix(name, ".") || strings.HasSuffix(name, " "):
		return "", fmt.Errorf("%w: ends with a dot or a space", ErrInvalidName)
	}
	for _, r := range name {
		bad := r < 0x20 || r == 0x7f || strings.IndexByte(`/\<>:"|?*`, byte(r)) >= 0
		if r >= utf8.RuneSelf {
			bad = r == utf8.RuneError ||
				(unicode.Is(unicode.Cf, r) && r != 0x200d) // format chars (bidi overrides) except ZWJ (emoji)
		}
		if bad {
			return "", fmt.Errorf("%w: contains %q", ErrInvalidName, r)
		}
	}
	base, _, _ := strings.Cut(name, ".")
	if reserved(strings.TrimRight(base, " ")) {
		return "", fmt.Errorf("%w: %q is reserved on Windows", ErrInvalidName, base)
	}
	return name, nil
}

// reserved reports whether base, upper-cased, is one of reservedNames
// (3 or 4 ASCII letters and digits): without an allocation for an ASCII
// base, as strings.ToUpper would make.
func reserved(base string) bool {
	if !isASCII(base) {
		return reservedNames[strings.ToUpper(base)]
	}
	if len(base) != 3 && len(base) != 4 {
		return false
	}
	var up [4]byte
	for i := range len(base) {
		c := base[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	return reservedNames[string(up[:len(base)])]
}

// isASCII reports whether s has only bytes below 0x80.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// splitPath splits a slash-separated path into validated names. Empty
// elements (from "//" or a trailing "/") are skipped; "." and ".." are
// refused, never interpreted.
func splitPath(p string) ([]string, error) {
	if len(p) > MaxPathBytes {
		return nil, fmt.Errorf("%w: path longer than %d bytes", ErrInvalidName, MaxPathBytes)
	}
	out := make([]string, 0, min(strings.Count(p, "/")+1, MaxDepth+4))
	for rest := p; rest != ""; {
		var el string
		el, rest, _ = strings.Cut(rest, "/")
		if el == "" {
			continue
		}
		n, err := validName(el)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
		if len(out) > MaxDepth+3 {
			return nil, ErrTooDeep
		}
	}
	return out, nil
}
