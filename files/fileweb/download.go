package fileweb

import (
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// DownloadCSP is the Content-Security-Policy of every file caucus sends
// back: a sandbox without any allowance (unique origin, no script, no
// forms, no plugins) that loads nothing. Even when a browser renders an
// uploaded HTML or SVG file in spite of Content-Disposition: attachment,
// its script cannot run in caucus's origin.
const DownloadCSP = "sandbox; default-src 'none'"

// ContentDisposition returns an "attachment" Content-Disposition value for
// a file named name (RFC 6266 section 4.1): an ASCII filename parameter for
// old clients, and, when the name is not plain ASCII, the exact name as
// filename* in UTF-8 with percent-encoding (RFC 8187 section 3.2), which
// RFC 6266 section 4.3 tells clients to prefer. Characters that cannot
// appear in a file name (controls, path separators) are replaced by "_";
// an empty name becomes "download".
func ContentDisposition(name string) string {
	name = strings.ToValidUTF8(name, "_")
	clean := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	if strings.Trim(clean, ". ") == "" {
		clean = "download"
	}
	ascii := strings.Map(func(r rune) rune {
		if r >= utf8.RuneSelf || r == '"' || r == '%' {
			return '_'
		}
		return r
	}, clean)
	v := `attachment; filename="` + ascii + `"`
	if ascii != clean {
		v += "; filename*=UTF-8''" + encodeRFC8187(clean)
	}
	return v
}

// encodeRFC8187 percent-encodes every byte of s that is not an attr-char
// (RFC 8187 section 3.2.1).
func encodeRFC8187(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAttrChar(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func isAttrChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}

// serveFile sends content as a download named name: attachment, never
// sniffed, sandboxed, with Range and conditional requests handled by
// [http.ServeContent]. The content type is always
// application/octet-stream: a type guessed from the name is what would let
// a browser render the file.
func serveFile(w http.ResponseWriter, r *http.Request, name string, modified time.Time, content io.ReadSeeker) {
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", ContentDisposition(name))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", DownloadCSP)
	h.Set("Cache-Control", "private, no-store")
	http.ServeContent(w, r, "", modified, content)
}
