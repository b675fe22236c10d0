package admin

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/i18n"
)

// Words is a sentence of the message catalogue (internal/i18n) with its
// arguments: what the plain functions say to a person (an error, a step
// of a report, a DNS fix), kept apart from any one language so that the
// console says it in the reader's language and the CLI in English. Saved
// reports store it as JSON.
type Words struct {
	Key  string               `json:"key"`
	Text map[string]string    `json:"text,omitempty"`
	Num  map[string]int64     `json:"num,omitempty"`
	Day  map[string]time.Time `json:"day,omitempty"`  // written as a date in the party's time zone
	Size map[string]int64     `json:"size,omitempty"` // a count of bytes, written as 1.5 MB
	When map[string]time.Time `json:"when,omitempty"` // written to the minute in the party's time zone
}

// say makes Words from name, value pairs: a string, an integer, a time
// (written as a date), a [byteCount] or a [moment] (written to the
// minute). The key is always marked with i18n.Key, so that the
// catalogue's test sees it.
func say(key string, args ...any) Words {
	w := Words{Key: key}
	for i := 0; i+1 < len(args); i += 2 {
		name, _ := args[i].(string)
		switch v := args[i+1].(type) {
		case string:
			if w.Text == nil {
				w.Text = map[string]string{}
			}
			w.Text[name] = v
		case int:
			if w.Num == nil {
				w.Num = map[string]int64{}
			}
			w.Num[name] = int64(v)
		case int64:
			if w.Num == nil {
				w.Num = map[string]int64{}
			}
			w.Num[name] = v
		case byteCount:
			if w.Size == nil {
				w.Size = map[string]int64{}
			}
			w.Size[name] = int64(v)
		case moment:
			if w.When == nil {
				w.When = map[string]time.Time{}
			}
			w.When[name] = time.Time(v)
		case time.Time:
			if w.Day == nil {
				w.Day = map[string]time.Time{}
			}
			w.Day[name] = v
		default:
			if w.Text == nil {
				w.Text = map[string]string{}
			}
			w.Text[name] = fmt.Sprint(v)
		}
	}
	return w
}

// Say makes Words for another package (the console): key and name,
// value pairs of strings and integers, as say.
func Say(key string, args ...any) Words { return say(key, args...) }

// In writes w in l's language; the zero Words is "".
func (w Words) In(l *i18n.Localizer) string {
	if w.Key == "" {
		return ""
	}
	var args []any
	for _, k := range sortedKeys(w.Text) {
		args = append(args, k, w.Text[k])
	}
	for _, k := range sortedKeys(w.Num) {
		args = append(args, k, w.Num[k])
	}
	for _, k := range sortedKeys(w.Day) {
		args = append(args, k, l.Date(w.Day[k]))
	}
	for _, k := range sortedKeys(w.When) {
		args = append(args, k, l.DateTime(w.When[k]))
	}
	for _, k := range sortedKeys(w.Size) {
		args = append(args, k, l.Size(w.Size[k]))
	}
	return l.T(w.Key, args...) // i18n:keyed
}

// byteCount is a size argument of say.
type byteCount int64

// moment is a time argument of say written to the minute.
type moment time.Time

// English writes w in English, dates in UTC: for the CLI, logs and the
// audit log's stored text.
func (w Words) English() string { return w.In(i18n.Builtin().Localizer(i18n.Fallback, time.UTC)) }

// Problem is an error whose sentence for a person is in the catalogue:
// the console says it in the reader's language ([Explain]), the CLI in
// English (its Error). It is one of the sentinel errors (auth.ErrInvalid,
// ErrBadOptions, …) for errors.Is.
type Problem struct {
	Words
	Err error
}

// Error is the sentinel's text and the English sentence.
func (p *Problem) Error() string { return p.Err.Error() + ": " + p.English() }

// Unwrap returns the sentinel.
func (p *Problem) Unwrap() error { return p.Err }

// problem is err with the sentence key and its arguments (see say).
func problem(err error, key string, args ...any) error {
	return &Problem{Words: say(key, args...), Err: err}
}

// Explain is err as a sentence in l's language, for the console: a
// [Problem]'s own sentence, the sentence of a known sentinel error, else
// a general one with the error's text ([HumanError]).
func Explain(l *i18n.Localizer, err error) string {
	var p *Problem
	if errors.As(err, &p) {
		return p.In(l)
	}
	switch {
	case errors.Is(err, ErrLastAdmin):
		return l.T("admin.err.last_admin")
	case errors.Is(err, ErrSelf):
		return l.T("admin.err.self")
	case errors.Is(err, ErrSuccessor):
		return l.T("admin.err.successor")
	case errors.Is(err, ErrCSVTooBig):
		return l.T("admin.err.csv_too_big", "rows", MaxCSVRows, "kb", MaxCSVBytes>>10)
	case errors.Is(err, ErrNotAvailable):
		return l.T("admin.err.not_available")
	case errors.Is(err, auth.ErrNeedWebAuthn):
		return l.T("admin.err.need_webauthn")
	case errors.Is(err, auth.ErrExists):
		return l.T("admin.err.exists")
	case errors.Is(err, auth.ErrNotFound):
		return l.T("admin.err.not_found")
	}
	return l.T("admin.err.general", "why", HumanError(err))
}

// The checks of what an admin types, each a [Problem] that says what is
// expected in the reader's language.

func checkLogin(login string) error {
	if auth.ValidateLogin(login) != nil {
		return problem(auth.ErrInvalid, i18n.Key("admin.err.address"), "addr", login)
	}
	return nil
}

func checkName(name string) error {
	if auth.ValidateDisplayName(name) != nil {
		return problem(auth.ErrInvalid, i18n.Key("admin.err.name"))
	}
	return nil
}

func checkGroup(name string) error {
	if auth.ValidateGroupName(name) != nil {
		return problem(auth.ErrInvalid, i18n.Key("admin.err.group"), "group", name)
	}
	return nil
}

func checkRole(r auth.Role) error {
	if !r.Valid() {
		return problem(auth.ErrInvalid, i18n.Key("admin.err.role"), "role", string(r))
	}
	return nil
}

// sortedKeys are m's keys in order, so that the arguments come in one.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
