package msgauth

import (
	"fmt"
	"net/mail"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/mail/message"
)

type testDirectory struct {
	members, domains []string
}

func (d testDirectory) MemberNames() []string { return d.members }
func (d testDirectory) OwnDomains() []string  { return d.domains }

var party = testDirectory{
	members: []string{"Party Leader", "Anna Svensson", "Bjørn Ødegård", "Al", "Ian Byrne", "Madonna"},
	domains: []string{"example-party.org", "Example-Party.EU."},
}

func TestCheckImpersonation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		from          string // a From field value
		authenticated bool
		external      bool
		forged        bool
		nameMatch     string
		lookalike     string
		reason        string // expected in Reason
	}{
		// Name matches.
		{"leader from gmail", "Party Leader <leader@gmail.com>", false, true, false, "Party Leader", "", "The sender's name matches a party member but the address is outside the party"},
		{"lastname, firstname", `"Leader, Party" <x@gmail.com>`, false, true, false, "Party Leader", "", "matches a party member"},
		{"case and spaces", "  PARTY   leader <x@gmail.com>", false, true, false, "Party Leader", "", ""},
		{"run together", "PartyLeader <x@gmail.com>", false, true, false, "Party Leader", "", ""},
		{"punctuation", `"Party-Leader." <x@gmail.com>`, false, true, false, "Party Leader", "", ""},
		{"diacritics added", "Ånna Svensson <anna.svensson@outlook.com>", false, true, false, "Anna Svensson", "", ""},
		{"diacritics encoded", "=?utf-8?q?=C3=85nna_Sv=C3=A9nsson?= <a@outlook.com>", false, true, false, "Anna Svensson", "", ""},
		{"diacritics removed", "Bjorn Odegard <b@outlook.com>", false, true, false, "Bjørn Ødegård", "", ""},
		{"cyrillic homoglyphs in the name", "Pаrty Lеader <x@gmail.com>", false, true, false, "Party Leader", "", ""},
		{"fullwidth letters", "Ｐａｒｔｙ Ｌｅａｄｅｒ <x@gmail.com>", false, true, false, "Party Leader", "", ""},
		{"zero-width space", "Party\u200bLeader <x@gmail.com>", false, true, false, "Party Leader", "", ""},
		{"extra words", "Anna Svensson (mobile) <a@outlook.com>", false, true, false, "Anna Svensson", "", ""},
		{"rn for m", "Ian Byme <i@outlook.com>", false, true, false, "Ian Byrne", "", ""},
		{"single-word member needs the whole name", "Madonna Fan Club <m@outlook.com>", false, true, false, "", "", ""},
		{"single-word member, exact", "madonna <m@outlook.com>", false, true, false, "Madonna", "", ""},
		{"short names are ignored", "Al <al@gmail.com>", false, true, false, "", "", ""},
		{"different person", "Anna Larsson <a@outlook.com>", false, true, false, "", "", ""},
		{"one letter changed", "Anna Svenson <a@outlook.com>", false, true, false, "Anna Svensson", "", ""},
		{"one letter changed, words swapped", "Svensson Anne <a@outlook.com>", false, true, false, "Anna Svensson", "", ""},
		{"two letters off", "Anne Svenson <a@outlook.com>", false, true, false, "", "", ""},
		{"party address in the name", `"office@example-party.org" <x@gmail.com>`, false, true, false, "office@example-party.org", "", "shows the party address office@example-party.org"},
		{"party address in the name, fullwidth at", `"Secretary ＜office＠example-party.org＞" <x@gmail.com>`, false, true, false, "office@example-party.org", "", ""},
		{"name and party address in the name", `"Party Leader (leader@example-party.org)" <x@gmail.com>`, false, true, false, "Party Leader", "", "matches a party member"},

		// The party's own domains.
		{"member from own domain, authenticated", "Party Leader <leader@example-party.org>", true, false, false, "", "", ""},
		{"own domain, other case and a dot", "Party Leader <leader@EXAMPLE-PARTY.EU>", true, false, false, "", "", ""},
		{"own subdomain, authenticated", "Lists <l@lists.example-party.org>", true, false, false, "", "", ""},
		{"own domain, not authenticated", "Party Leader <leader@example-party.org>", false, true, true, "Party Leader", "", "not authenticated"},
		{"own domain, not authenticated, no name", "<someone@example-party.org>", false, true, true, "", "", "not authenticated"},
		{"authenticated other domain is still external", "Party Leader <leader@gmail.com>", true, true, false, "Party Leader", "", ""},

		// Lookalike domains.
		{"digit one for l", "News <news@examp1e-party.org>", false, true, false, "", "example-party.org", "The sender's domain looks like the party's domain: example-party.org vs examp1e-party.org"},
		{"v for y", "News <news@example-partv.org>", false, true, false, "", "example-party.org", "example-party.org vs example-partv.org"},
		{"rn for m", "News <news@exarnple-party.org>", false, true, false, "", "example-party.org", ""},
		{"swapped letters", "News <news@exmaple-party.org>", false, true, false, "", "example-party.org", ""},
		{"letter dropped", "News <news@example-pary.org>", false, true, false, "", "example-party.org", ""},
		{"letter added", "News <news@example-partyy.eu>", false, true, false, "", "example-party.eu", ""},
		{"cyrillic a, A-label", "News <news@xn--exmple-party-y9j.org>", false, true, false, "", "example-party.org", "vs xn--exmple-party-y9j.org"},
		{"cyrillic a, U-label", "News <news@exаmple-party.org>", false, true, false, "", "example-party.org", "vs xn--exmple-party-y9j.org"},
		{"greek omicron", "News <news@example-party.οrg>", false, true, false, "", "example-party.org", ""},
		{"digit zero", "News <news@example-party.0rg>", false, true, false, "", "example-party.org", ""},
		{"other suffix", "News <news@example-party.com>", false, true, false, "", "example-party.org", ""},
		{"subdomain of a lookalike", "News <news@mail.examp1e-party.org>", false, true, false, "", "example-party.org", ""},
		{"own domain as prefix", "News <news@example-party.org.evil.example>", false, true, false, "", "example-party.org", ""},
		{"lookalike and name", "Party Leader <leader@examp1e-party.org>", false, true, false, "Party Leader", "example-party.org", "looks like the party's domain"},

		// Unrelated senders: nothing to say.
		{"gmail", "Someone <someone@gmail.com>", false, true, false, "", "", ""},
		{"similar word, other name", "X <x@example.org>", false, true, false, "", "", ""},
		{"party of another name", "X <x@other-party.org>", false, true, false, "", "", ""},
		{"longer name", "X <x@example-party-watch.org>", false, true, false, "", "", ""},
		{"no domain", "X <x@localhost>", false, true, false, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := mail.AddressParser{WordDecoder: message.WordDecoder()}
			from, err := p.Parse(tc.from)
			if err != nil {
				t.Fatal(err)
			}
			v := CheckImpersonation(from, party, tc.authenticated)
			if v.External != tc.external || v.Forged != tc.forged || v.NameMatch != tc.nameMatch || v.Lookalike != tc.lookalike {
				t.Errorf("verdict %+v\nwant External %v Forged %v NameMatch %q Lookalike %q", v, tc.external, tc.forged, tc.nameMatch, tc.lookalike)
			}
			if tc.reason != "" && !strings.Contains(v.Reason, tc.reason) {
				t.Errorf("reason %q lacks %q", v.Reason, tc.reason)
			}
			if v.Suspicious() != (v.Reason != "") {
				t.Errorf("suspicious %v with reason %q", v.Suspicious(), v.Reason)
			}
			for _, r := range v.Reason {
				if r < ' ' || r > '~' {
					t.Errorf("reason not printable ASCII: %q", v.Reason)
					break
				}
			}
		})
	}
}

func TestCheckImpersonationEdges(t *testing.T) {
	t.Parallel()
	if v := CheckImpersonation(nil, party, false); !v.External || v.Suspicious() {
		t.Errorf("nil From: %+v", v)
	}
	if v := CheckImpersonation(&mail.Address{Name: "Party Leader", Address: "x@gmail.com"}, nil, false); v.Suspicious() {
		t.Errorf("nil directory: %+v", v)
	}
	empty := testDirectory{members: []string{"", "  ", "Party Leader"}, domains: []string{"", ".", "example-party.org"}}
	if v := CheckImpersonation(&mail.Address{Name: "", Address: "x@gmail.com"}, empty, false); v.Suspicious() {
		t.Errorf("empty names and domains: %+v", v)
	}
}

func TestSkeleton(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ a, b string }{
		{"example", "examp1e"},
		{"example", "exarnple"},
		{"example", "ехаmple"}, // Cyrillic е х а
		{"www", "vvvvvv"},
		{"Ånna", "anna"},
		{"ﬁle", "file"},
		{"ILL", "1ll"},
		{"Straße", "strasse"},
	} {
		if skeleton(tc.a) != skeleton(tc.b) {
			t.Errorf("skeleton(%q) = %q, skeleton(%q) = %q", tc.a, skeleton(tc.a), tc.b, skeleton(tc.b))
		}
	}
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"example", "example", 0},
		{"example", "exmaple", 1},
		{"example", "exampl", 1},
		{"example", "examples", 1},
		{"example", "exbmple", 1},
		{"example", "elpmaxe", 2},
		{"", "a", 1},
		{"å", "a", 1},
	} {
		if got := damerauLevenshtein(tc.a, tc.b); got != tc.want {
			t.Errorf("damerauLevenshtein(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// BenchmarkCheckImpersonation: one message against a party of 5,000.
func BenchmarkCheckImpersonation(b *testing.B) {
	dir := testDirectory{domains: party.domains}
	for i := range 5000 {
		dir.members = append(dir.members, fmt.Sprintf("Member Nummer%d Svensson-Ødegård", i))
	}
	from := &mail.Address{Name: "Someone Else", Address: "someone@exarnple-party.org"}
	for b.Loop() {
		CheckImpersonation(from, dir, false)
	}
}
