package msgauth

import (
	"strings"
)

// tagValue returns the value of the tag name in a tag=value list (RFC 6376
// section 3.2), white space removed, or "".
func tagValue(list, name string) string {
	for _, kv := range strings.Split(list, ";") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.TrimSpace(k) == name {
			return strings.Map(func(r rune) rune {
				if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
					return -1
				}
				return r
			}, v)
		}
	}
	return ""
}
