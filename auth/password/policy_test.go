package password

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		password string
		related  []string
		want     error // nil: accepted
	}{
		// Length, in code points.
		{"", nil, ErrTooShort},
		{"short", nil, ErrTooShort},
		{"elevenchars", nil, ErrTooShort},
		{"twelve chars", nil, nil},
		{"ŝĝĉĥĵŭŝĝĉĥĵ", nil, ErrTooShort}, // 11 code points, 22 bytes
		{"ŝĝĉĥĵŭ ŝĝĉĥĵ", nil, nil},        // 12 code points
		{"渡る世間に鬼はなし、です", nil, nil},
		{"a moderately long passphrase that fits", nil, nil},

		// Encoding.
		{"invalid \xff utf-8 text", nil, ErrInvalid},
		{"tab\tin the middle", nil, ErrInvalid},
		{"newline at the end\n", nil, ErrInvalid},

		// The shipped list and its variants, case-insensitively.
		{"password1234", nil, ErrCommon},
		{"Password1234", nil, ErrCommon},
		{"PASSWORD1234", nil, ErrCommon},
		{"passwordpassword", nil, ErrCommon},
		{"monkeymonkey", nil, ErrCommon},
		{"football1987", nil, ErrCommon},
		{"sunshine123!", nil, ErrCommon},
		{"iloveyou1234", nil, ErrCommon},
		{"1qaz2wsx3edc", nil, ErrCommon},

		// Repetition and runs.
		{"aaaaaaaaaaaa", nil, ErrCommon},
		{"            ", nil, ErrCommon},
		{"ééééééééééééé", nil, ErrCommon},
		{"abcabcabcabc", nil, ErrCommon},
		{"xyz1xyz1xyz1", nil, ErrCommon},
		{strings.Repeat("abcdefgh", 16), nil, ErrCommon},    // a unit shorter than 12, repeated
		{"abcdefghijklmabcdefghijklm", nil, ErrCommon},      // a run, repeated
		{"walrus tango spoon walrus tango spoon", nil, nil}, // a good unit, repeated
		{"password1234password1234", nil, ErrCommon},        // a common unit, repeated
		{"123456789012", nil, ErrCommon},
		{"098765432109", nil, ErrCommon},
		{"abcdefghijkl", nil, ErrCommon},
		{"ABCDEFGHIJKLMNOP", nil, ErrCommon},
		{"zyxwvutsrqpo", nil, ErrCommon},
		{"xyzabcdefghi", nil, ErrCommon}, // wraps around
		{"qwertyuiopas", nil, ErrCommon},
		{"QWERTYUIOPASDFGH", nil, ErrCommon},
		{"azertyuiopqsdf", nil, ErrCommon},
		{"qwertzuiopasdf", nil, ErrCommon},
		{"1q2w3e4r5t6y", nil, ErrCommon},
		{"!@#$%^&*()!@#", nil, ErrCommon},
		{"mnbvcxzlkjhgfdsa", nil, ErrCommon},
		{"qwerty mountain lake", nil, nil}, // a run inside a longer password is fine

		// Related words.
		{"my caucus password", nil, ErrRelated},
		{"MyCAUCUSpassword", nil, ErrRelated},
		{"purple alice dishwasher", []string{"alice"}, ErrRelated},
		{"purple ALICE dishwasher", []string{"alice.martin"}, ErrRelated},
		{"purple martin dishwasher", []string{"alice.martin"}, ErrRelated},
		{"purple Martinez dishwasher", []string{"Alice Martinez"}, ErrRelated},
		{"purple jo dishwasher bo", []string{"Jo Bo"}, nil}, // parts < 4 characters are ignored
		{"purple ada dishwasher", []string{"Ada"}, nil},
		{"purple dishwasher", []string{"", "  "}, nil},
		{"öffentlichkeit rocks", []string{"ÖFFENTLICHKEIT"}, ErrRelated},
		{"purple dishwasher", []string{"dishwasher"}, ErrRelated},
	}
	for _, tt := range tests {
		err := CheckPolicy(tt.password, tt.related...)
		if tt.want == nil {
			if err != nil {
				t.Errorf("CheckPolicy(%q, %q) = %v, want nil", tt.password, tt.related, err)
			}
			continue
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("CheckPolicy(%q, %q) = %v, want %v", tt.password, tt.related, err, tt.want)
		}
	}
}

func TestCheckPolicyLengthBounds(t *testing.T) {
	t.Parallel()
	// Build passwords of an exact length that are neither repeated nor runs.
	mk := func(n int) string {
		const words = "tangerine walrus quietly builds seven orange bridges "
		return strings.Repeat(words, n/len(words)+1)[:n]
	}
	for _, tt := range []struct {
		n    int
		want error
	}{{11, ErrTooShort}, {12, nil}, {128, nil}, {129, ErrTooLong}, {5000, ErrTooLong}} {
		if err := CheckPolicy(mk(tt.n)); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("CheckPolicy(%d characters) = %v, want %v", tt.n, err, tt.want)
		}
	}
}

func TestPolicyMessages(t *testing.T) {
	t.Parallel()
	err := CheckPolicy("short")
	if got, want := err.Error(), "password: must be at least 12 characters (this one has 5)"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	err = CheckPolicy("purple alice dishwasher", "alice")
	if got, want := err.Error(), `password: must not contain your name, your address or the word caucus (it contains "alice")`; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}

func TestCommonList(t *testing.T) {
	t.Parallel()
	set := commonSet()
	if len(set) < 80000 {
		t.Fatalf("common list has %d entries, want the generated ~86000", len(set))
	}
	// The whole source list is kept, short entries included.
	for _, w := range []string{"123456", "password", "qwerty", "letmein", "michael"} {
		if _, ok := set[w]; !ok {
			t.Errorf("common list lacks %q", w)
		}
	}
	for w := range set {
		if w != strings.ToLower(w) {
			t.Fatalf("common list entry %q is not lower-cased", w)
		}
	}
}
