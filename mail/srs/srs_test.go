package srs

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/testtool"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	clk := testtool.NewClock(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
	r, err := New(testKey, "Party.org", clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	for _, sender := range []string{"alice@example.com", "a=b+c@sub.example.co.uk", "\"odd local\"@example.com", "x@[192.0.2.1]"} {
		fwd := r.Forward(sender)
		if !IsSRS(fwd) || !strings.HasSuffix(fwd, "@party.org") {
			t.Errorf("Forward(%q) = %q", sender, fwd)
			continue
		}
		if got, err := r.Reverse(fwd); err != nil || got != sender {
			t.Errorf("Reverse(Forward(%q)) = %q, %v", sender, got, err)
		}
		// Mail systems may fold the local part's case.
		if got, err := r.Reverse(strings.ToLower(fwd)); err != nil || !strings.EqualFold(got, sender) {
			t.Errorf("Reverse of the lower-cased %q = %q, %v", fwd, got, err)
		}
	}
	for _, same := range []string{"", "no-domain", "trailing@"} {
		if got := r.Forward(same); got != same {
			t.Errorf("Forward(%q) = %q, want it unchanged", same, got)
		}
	}
}

func TestReverseRefuses(t *testing.T) {
	t.Parallel()
	clk := testtool.NewClock(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
	r, _ := New(testKey, "party.org", clk.Now)
	other, _ := New([]byte("another key, also long enough.."), "party.org", clk.Now)
	fwd := r.Forward("alice@example.com")

	if _, err := other.Reverse(fwd); !errors.Is(err, ErrBadHash) {
		t.Errorf("another key's address: %v, want ErrBadHash", err)
	}
	tampered := strings.Replace(fwd, "=alice@", "=mallory@", 1)
	if _, err := r.Reverse(tampered); !errors.Is(err, ErrBadHash) {
		t.Errorf("changed sender %q: %v, want ErrBadHash", tampered, err)
	}
	for _, bad := range []string{"alice@party.org", "SRS0=@party.org", "SRS0=abc=AA=example.com=alice@party.org",
		"SRS0=ABCDEFGH=A1=example.com=alice@party.org", "SRS0=ABCDEFGH=AA==alice@party.org", "SRS0=ABCDEFGH=AA=example.com=@party.org", "SRS0=x"} {
		if _, err := r.Reverse(bad); !errors.Is(err, ErrNotSRS) {
			t.Errorf("Reverse(%q): %v, want ErrNotSRS", bad, err)
		}
	}
	clk.Advance(MaxAge)
	if _, err := r.Reverse(fwd); err != nil {
		t.Errorf("at MaxAge: %v", err)
	}
	clk.Advance(24 * time.Hour)
	if _, err := r.Reverse(fwd); !errors.Is(err, ErrExpired) {
		t.Errorf("past MaxAge: %v, want ErrExpired", err)
	}
	if _, err := New([]byte("short"), "party.org", nil); err == nil {
		t.Error("a short key accepted")
	}
}

func FuzzReverse(f *testing.F) {
	r, _ := New(testKey, "party.org", func() time.Time { return time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC) })
	f.Add(r.Forward("alice@example.com"))
	f.Add("SRS0=ABCDEFGH=AA=example.com=alice@party.org")
	f.Add("srs0====@")
	f.Fuzz(func(t *testing.T, addr string) {
		orig, err := r.Reverse(addr)
		if err != nil {
			return
		}
		// Whatever verifies must be what Forward made of the same sender.
		if fwd := r.Forward(orig); !strings.EqualFold(fwd[:strings.LastIndexByte(fwd, '@')], addr[:strings.LastIndexByte(addr, '@')]) {
			t.Fatalf("Reverse(%q) = %q, but Forward gives %q", addr, orig, fwd)
		}
	})
}
