package notice

import (
	"time"
)

// Kind is what a notice is about.
type Kind string

// Kinds of notice.
const (
	KindSignIn      Kind = "signin"      // a full sign-in from a browser new to the account
	KindAppPassword Kind = "apppassword" // an app password created
	KindFactor      Kind = "factor"      // a passkey, security key or authenticator app added or removed
	KindPassword    Kind = "password"    // the password changed
	KindIncident    Kind = "incident"    // incident mode: everyone signed out
	KindShare       Kind = "share"       // something shared with the member or a group of theirs
	KindCohort      Kind = "cohort"      // a cohort of volunteers the member sponsors ends soon
)

// item is one event a notice tells of.
type item struct {
	At        time.Time
	Addr      string // remote address, as recorded; only its network is shown
	UserAgent string // shown as browser and system names (ui.ParseUserAgent)

	What    string // app password or shared item name; factor kind ("totp", "passkey", "security-key", "")
	Name    string // the factor's name
	Removed bool   // a factor removed
	All     bool   // every factor removed (by an admin)
	Group   string // a share made to this group
	ID      int64  // the cohort
	Count   int    // the cohort's volunteers
}

// key is what notices are coalesced by: the member, the kind and, for
// shares, who shared.
type key struct {
	login  string
	kind   Kind
	sharer string
}

// maxItems bounds the events one coalesced notice lists; the others are
// counted.
const maxItems = 10

// window is a coalescing window: notices of its key until end are held
// and sent together when it ends.
type window struct {
	end   time.Time
	d     time.Duration // its length
	items []item
	more  int // events beyond maxItems
}

// batch of notices to send as one message.
type sendBatch struct {
	key   key
	items []item
	more  int
	prep  prepared // incident mode's prepared message, for KindIncident
}

// prepared is the message the admins prepared for incident mode, in one
// language; the zero value for none.
type prepared struct{ lang, subject, body string }

// coalescer holds the open windows. Its owner serialises calls.
type coalescer struct {
	wins map[key]*window
}

// add reports whether it is to be sent at once: no window of k is open,
// and one opens now for d. Otherwise it is held in the open window.
func (c *coalescer) add(k key, it item, now time.Time, d time.Duration) bool {
	w := c.wins[k]
	if w == nil || !now.Before(w.end) {
		if w != nil && len(w.items) > 0 {
			// A window that ended unsent (due not called yet): hold
			// this one with its items, to be sent by due at once.
			w.add(it)
			return false
		}
		c.wins[k] = &window{end: now.Add(d), d: d}
		return true
	}
	w.add(it)
	return false
}

func (w *window) add(it item) {
	if len(w.items) < maxItems {
		w.items = append(w.items, it)
	} else {
		w.more++
	}
}

// due returns the held notices of the windows that have ended, and
// forgets the empty ones. A window that held notices opens again for as
// long, so that a steady stream is sent once a window, not once an event.
func (c *coalescer) due(now time.Time) []sendBatch {
	var out []sendBatch
	for k, w := range c.wins {
		if now.Before(w.end) {
			continue
		}
		if len(w.items) == 0 {
			delete(c.wins, k)
			continue
		}
		out = append(out, sendBatch{key: k, items: w.items, more: w.more})
		c.wins[k] = &window{end: now.Add(w.d), d: w.d}
	}
	return out
}

// next is the end of the first window holding notices; zero if none.
func (c *coalescer) next() time.Time {
	var t time.Time
	for _, w := range c.wins {
		if len(w.items) > 0 && (t.IsZero() || w.end.Before(t)) {
			t = w.end
		}
	}
	return t
}
