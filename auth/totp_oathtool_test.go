package auth

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/caucus-org/caucus/internal/testtool"
)

// TestTOTPAgainstOathtool checks our TOTP verification against an
// independent implementation (oathtool, from oath-toolkit), as an
// authenticator app would produce the codes.
func TestTOTPAgainstOathtool(t *testing.T) {
	t.Parallel()
	oathtool := testtool.Need(t, "oathtool")
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "caucus", AccountName: "a@example.org", Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1, SecretSize: 20})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		offset time.Duration // where oathtool's clock is, relative to ours
		ok     bool
	}{
		{"same step", 0, true},
		{"one step behind", -30 * time.Second, true},
		{"one step ahead", 30 * time.Second, true},
		{"two steps behind", -60 * time.Second, false},
		{"two steps ahead", 60 * time.Second, false},
	} {
		at := base.Add(tc.offset).Format("2006-01-02 15:04:05 UTC")
		out, err := exec.Command(oathtool, "--totp", "--base32", "--now", at, key.Secret()).Output()
		if err != nil {
			t.Fatalf("%s: oathtool: %v", tc.name, err)
		}
		code := strings.TrimSpace(string(out))
		step, ok := matchTOTP(key.Secret(), code, base, 0)
		if ok != tc.ok {
			t.Errorf("%s: code %s from oathtool accepted=%v, want %v", tc.name, code, ok, tc.ok)
		}
		if ok && step != base.Add(tc.offset).Unix()/totpPeriod {
			t.Errorf("%s: matched step %d, want %d", tc.name, step, base.Add(tc.offset).Unix()/totpPeriod)
		}
		// The same code is refused once its step was used.
		if ok {
			if _, again := matchTOTP(key.Secret(), code, base, step); again {
				t.Errorf("%s: replayed code accepted", tc.name)
			}
		}
	}
}
