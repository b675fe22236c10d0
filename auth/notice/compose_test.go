package notice

import (
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/ui"
)

// TestComposeNoHeaderInjection: names someone chose (a display name, a
// file name) that carry line breaks cannot add header fields to a notice
// or lines to its text.
func TestComposeNoHeaderInjection(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	n := &Notifier{cfg: Config{From: "postmaster@example.org", BaseURL: "https://mail.example.org", Party: ui.Party{Name: "P"}},
		d: Deps{Now: func() time.Time { return now }}}
	acct := auth.Account{Login: "ben@example.org", DisplayName: "Ben\r\nBcc: eve@example.net"}
	sharer := auth.Account{Login: "eve@example.org", DisplayName: "Eve\r\nX-Evil: 1"}
	b := sendBatch{key: key{login: acct.Login, kind: KindShare, sharer: sharer.Login},
		items: []item{{At: now, What: "plan\r\nX-Evil: 2\n- fake line"}}}
	raw, err := n.compose(acct, sharer, b)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"X-Evil", "Bcc"} {
		if v := m.Header.Get(k); v != "" {
			t.Errorf("a name added the header %s: %q\n%s", k, v, raw)
		}
	}
	if strings.Contains(string(raw), "\n- fake line") {
		t.Errorf("a name added a line to the text:\n%s", raw)
	}
	if b.items[0].What != "plan\r\nX-Evil: 2\n- fake line" {
		t.Error("compose changed the caller's items")
	}
}
