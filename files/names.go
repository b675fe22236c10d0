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
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: not UTF-8", ErrInvalidName)
	}
	name = norm.NFC.String(name)
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
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`/\<>:"|?*`, r) || r == utf8.RuneError ||
			(unicode.Is(unicode.Cf, r) && r != 0x200d) { // format chars (bidi overrides) except ZWJ (emoji)
			return "", fmt.Errorf("%w: contains %q", ErrInvalidName, r)
		}
	}
	base, _, _ := strings.Cut(name, ".")
	if reservedNames[strings.ToUpper(strings.TrimRight(base, " "))] {
		return "", fmt.Errorf("%w: %q is reserved on Windows", ErrInvalidName, base)
	}
	return name, nil
}

// splitPath splits a slash-separated path into validated names. Empty
// elements (from "//" or a trailing "/") are skipped; "." and ".." are
// refused, never interpreted.
func splitPath(p string) ([]string, error) {
	if len(p) > MaxPathBytes {
		return nil, fmt.Errorf("%w: path longer than %d bytes", ErrInvalidName, MaxPathBytes)
	}
	var out []string
	for el := range strings.SplitSeq(p, "/") {
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
