package browsertest

import (
	"slices"
	"testing"
)

// TestNotLoopback: the off-site check counts every host but the loopback
// ones, look-alikes included (it was cmd/caucus/server's TestShooterOffsite).
func TestNotLoopback(t *testing.T) {
	t.Parallel()
	reqs := []string{
		"https://localhost:4443/mail/", "https://127.0.0.1:4443/static/app.css", "https://[::1]:4443/x",
		"data:image/png;base64,AA==", "about:blank",
		"https://fonts.example/f.woff2", "https://localhost.evil.example/", "http://127.0.0.2.nip.example/",
	}
	got := NotLoopback(reqs)
	want := []string{"https://fonts.example/f.woff2", "https://localhost.evil.example/", "http://127.0.0.2.nip.example/"}
	if !slices.Equal(got, want) {
		t.Errorf("offsite = %q, want %q", got, want)
	}
	if got := NotLoopback(reqs[5:]); !slices.Equal(got, want) {
		t.Errorf("offsite from the 6th request = %q, want %q", got, want)
	}
}
