package fileweb

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/i18n"
)

// Limits on what the forms of these pages take.
const (
	maxLinkPassword = 256     // bytes; more is refused, not cut
	maxDownloads    = 1000000 // a link's download limit
	maxFieldBytes   = 4096    // one ordinary form field (a path, a name)
)

// errForm is a form value the page refuses: the message key of the words
// shown to the person (in their language), with its arguments.
type errForm struct {
	key  string
	args []any
}

func formErr(key string, args ...any) errForm { return errForm{key, args} }

func (e errForm) Error() string { return "fileweb: form: " + e.key }

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
		return f, formErr(i18n.Key("files.form.days"), "n", maxDays)
	}
	f.Lifetime = time.Duration(d) * 24 * time.Hour
	if len(password) > maxLinkPassword {
		return f, formErr(i18n.Key("files.form.password_long"), "n", maxLinkPassword)
	}
	f.Password = password
	if limit = strings.TrimSpace(limit); limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 0 || n > maxDownloads {
			return f, formErr(i18n.Key("files.form.limit"), "n", maxDownloads)
		}
		f.MaxDownloads = n
	}
	switch kind {
	case "", "download":
	case "drop":
		if !isDir {
			return f, formErr(i18n.Key("files.form.drop_folder"))
		}
		f.Drop = true
	default:
		return f, formErr(i18n.Key("files.form.kind"))
	}
	if dropMB = strings.TrimSpace(dropMB); dropMB != "" && f.Drop {
		n, err := strconv.ParseInt(dropMB, 10, 64)
		if err != nil || n < 1 || n > maxDropMB {
			return f, formErr(i18n.Key("files.form.drop_mb"), "n", maxDropMB)
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
		return shareTarget{}, formErr(i18n.Key("files.form.with"))
	}
	if g, ok := strings.CutPrefix(s, "group:"); ok {
		g = strings.TrimSpace(g)
		if g == "" {
			return shareTarget{}, formErr(i18n.Key("files.form.group"))
		}
		return shareTarget{Group: g}, nil
	}
	if !strings.Contains(s, "@") {
		return shareTarget{}, formErr(i18n.Key("files.form.at"))
	}
	return shareTarget{Login: s}, nil
}

// errTooLong is returned for a form field over maxFieldBytes.
var errTooLong = errors.New("fileweb: form field too long")
