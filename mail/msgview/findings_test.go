package msgview

import "testing"

// party is a msgauth.Directory.
type party struct{}

func (party) MemberNames() []string { return []string{"Party Leader", "Anna Svensson"} }
func (party) OwnDomains() []string  { return []string{"party.example"} }

// TestFindings: only this host's Authentication-Results at the top of the
// header is believed; the banner level follows from it and the party's
// directory.
func TestFindings(t *testing.T) {
	t.Parallel()
	received := "Received: from x ([192.0.2.1])\n\tby mail.party.example with ESMTP; Sun, 6 Dec 2026 10:00:00 +0000\n"
	passOut := "Authentication-Results: mail.party.example;\n\tspf=pass smtp.mailfrom=sender.example;\n\tdkim=pass header.d=sender.example header.s=s;\n\tdmarc=pass (p=reject) header.from=sender.example\n"
	passOwn := "Authentication-Results: mail.party.example; spf=pass smtp.mailfrom=party.example; dkim=pass header.d=party.example; dmarc=pass header.from=party.example\n"
	failOut := "Authentication-Results: mail.party.example; spf=fail smtp.mailfrom=sender.example; dkim=none; dmarc=fail (p=none) header.from=sender.example\n"
	noneOwn := "Authentication-Results: mail.party.example; spf=softfail smtp.mailfrom=party.example; dkim=none; dmarc=fail (p=none) header.from=party.example\n"
	warning := "X-Caucus-Warning: The sender's name matches a party member but the address\n is outside the party\n"
	tests := []struct {
		name, header string
		checked      bool
		level        Level
		claims       string
		forged       bool
	}{
		{"outside, passes", received + passOut + "From: Jörg <j@sender.example>\n", true, LevelOutside, "", false},
		{"member, passes", received + passOwn + "From: Anna Svensson <anna@party.example>\n", true, LevelNone, "", false},
		{"outside, fails", received + failOut + "From: j@sender.example\n", true, LevelWarning, "", false},
		{"claims to be the leader from outside", received + passOut + warning + "From: Party Leader <leader@sender.example>\nSubject: [External] urgent\n", true, LevelDanger, "Party Leader", false},
		{"leader name with invisible characters", received + passOut + "From: =?utf-8?q?Party=E2=80=8B_Leader?= <l@sender.example>\n", true, LevelDanger, "Party Leader", false},
		{"own domain forged", received + noneOwn + "From: Party Leader <leader@party.example>\n", true, LevelDanger, "Party Leader", true},
		{"sender field names the leader", received + passOut + "From: x@sender.example\nSender: Party Leader <pl@sender.example>\n", true, LevelDanger, "", false},
		{"no results: not through the MX", "From: Party Leader <leader@party.example>\n", false, LevelUnchecked, "", false},
		{"forged results below the sender's fields", received + "From: leader@party.example\n" + passOwn, false, LevelUnchecked, "", false},
		{"other host's results", received + "Authentication-Results: mx.evil.example; dmarc=pass header.from=party.example\nFrom: leader@party.example\n", false, LevelUnchecked, "", false},
		{"ours below another host's", received + "Authentication-Results: mx.evil.example; dmarc=fail\n" + passOwn + "From: leader@party.example\n", false, LevelUnchecked, "", false},
		{"id in a comment", received + "Authentication-Results: (mail.party.example) mx.evil.example; dmarc=pass header.from=party.example\nFrom: leader@party.example\n", false, LevelUnchecked, "", false},
		{"id with a trailing dot and case", received + "Authentication-Results: Mail.Party.Example.; spf=pass; dkim=pass header.d=party.example; dmarc=pass header.from=party.example\nFrom: anna@party.example\n", true, LevelNone, "", false},
		{"forged warning without our results", "X-Caucus-Warning: all fine\nFrom: anna@party.example\n", false, LevelUnchecked, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := parse(t, tc.header+"\nbody\n", Options{Hostname: "mail.party.example", Directory: party{}})
			f := v.Findings
			if f.Checked != tc.checked || f.Level != tc.level || f.ClaimsToBe != tc.claims || f.Forged != tc.forged {
				t.Errorf("Findings = %+v\nwant checked %v, level %d, claims %q, forged %v", f, tc.checked, tc.level, tc.claims, tc.forged)
			}
		})
	}
	v := parse(t, received+passOut+warning+"From: Party Leader <leader@sender.example>\nSubject: [External] urgent\n\nbody\n", Options{Hostname: "mail.party.example", Directory: party{}})
	f := v.Findings
	if f.Warning != "The sender's name matches a party member but the address is outside the party" || !f.Tagged || !f.External ||
		f.SPF != "pass" || f.DKIM != "pass" || f.DMARC != "pass" || f.DMARCPolicy != "reject" || len(f.DKIMDomains) != 1 || f.DKIMDomains[0] != "sender.example" {
		t.Errorf("Findings = %+v", f)
	}
	// A tag the sender wrote is not the MX's.
	if v := parse(t, received+passOut+"From: x@sender.example\nSubject: [External] hi\n\nb\n", Options{Hostname: "mail.party.example"}); v.Findings.Tagged {
		t.Errorf("sender's own tag taken for the MX's")
	}
	// Without a hostname nothing is believed.
	if v := parse(t, received+passOwn+"From: a@party.example\n\nb\n", Options{}); v.Findings.Checked {
		t.Errorf("checked without a hostname")
	}
}
