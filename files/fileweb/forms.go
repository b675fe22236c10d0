package fileweb

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limits on what the forms of these pages take.
const (
	maxLinkPassword = 256     // bytes; more is refused, not cut
	maxDownloads    = 1000000 // a link's download limit
	maxFieldBytes   = 4096    // one ordinary form field (a path, a name)
)

// errForm is a form value the page refuses; its text is shown to the user.
type errForm string

func (e errForm) Error() string { return string(e) }

// linkForm is the parsed "Create link" form.
type linkForm struct {
	Lifetime     time.Duration // how long the link lives
	Password     string        // "" for none
	MaxDownloads int           // 0 for no limit
	Drop         bool          // upload-only
	DropBytes    int64         // a drop's limit in all; 0 for the store's
}

// parseLinkForm reads the link form's fields: days (whole days, 1 to
// maxDays), an optional password and download limit, the kind
// ("download", the default, or "drop", only for folders), and for a drop
// an optional limit in whole MB (10^6 bytes, 1 to maxDropMB).
func parseLinkForm(days, password, limit, kind, dropMB string, maxDays int, maxDropMB int64, isDir bool) (linkForm, error) {
	var f linkForm
	d, err := strconv.Atoi(strings.TrimSpace(days))
	if err != nil || d < 1 || d > maxDays {
		return f, errForm(fmt.Sprintf("The link must expire after 1 to %d days.", maxDays))
	}
	f.Lifetime = time.Duration(d) * 24 * time.Hour
	if len(password) > maxLinkPassword {
		return f, errForm(fmt.Sprintf("The password may have at most %d characters.", maxLinkPassword))
	}
	f.Password = password
	if limit = strings.TrimSpace(limit); limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 0 || n > maxDownloads {
			return f, errForm(fmt.Sprintf("The download limit must be a number from 0 (none) to %d.", maxDownloads))
		}
		f.MaxDownloads = n
	}
	switch kind {
	case "", "download":
	case "drop":
		if !isDir {
			return f, errForm("Only a folder can receive files.")
		}
		f.Drop = true
	default:
		return f, errForm("Unknown kind of link.")
	}
	if dropMB = strings.TrimSpace(dropMB); dropMB != "" && f.Drop {
		n, err := strconv.ParseInt(dropMB, 10, 64)
		if err != nil || n < 1 || n > maxDropMB {
			return f, errForm(fmt.Sprintf("A file drop may take from 1 to %d MB in all.", maxDropMB))
		}
		f.DropBytes = n * 1000 * 1000
	}
	return f, nil
}

// shareTarget is whom a share form names: a member by address, or a group.
type shareTarget struct {
	Login string
	Group string
}

// parseShareTarget reads "anna@example.org" or "group:press" (surrounding
// space ignored). It checks only the shape; the store checks the name.
func parseShareTarget(s string) (shareTarget, error) {
	s = strings.TrimSpace(s)
	if len(s) == 0 || len(s) > 320 || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return shareTarget{}, errForm("Give a member's address or group:name.")
	}
	if g, ok := strings.CutPrefix(s, "group:"); ok {
		g = strings.TrimSpace(g)
		if g == "" {
			return shareTarget{}, errForm("Give the group's name after group:.")
		}
		return shareTarget{Group: g}, nil
	}
	if !strings.Contains(s, "@") {
		return shareTarget{}, errForm("Give a member's address (with @) or group:name.")
	}
	return shareTarget{Login: s}, nil
}

// errTooLong is returned for a form field over maxFieldBytes.
var errTooLong = errors.New("fileweb: form field too long")
