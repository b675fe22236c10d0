package autoconfig

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzAutodiscoverRequest: any body gets a well-formed answer, settings
// only for an address in the mail domains, and never a panic.
func FuzzAutodiscoverRequest(f *testing.F) {
	for _, seed := range []string{
		adRequestBody("anna@example-party.org", nsOutlook),
		adRequestBody("Anna@Example-Party.EU.", ""),
		adRequestBody("anna@evil.example", nsOutlook),
		adRequestBody("anna@example-party.org", "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"),
		"\xef\xbb\xbf<Autodiscover><Request><EMailAddress>anna@example-party.org</EMailAddress></Request></Autodiscover>",
		`<Autodiscover><Request><EMailAddress>a&amp;b@example-party.org</EMailAddress><EMailAddress>x</EMailAddress></Request></Autodiscover>`,
		`<!DOCTYPE a [<!ENTITY e "x">]><Autodiscover>&e;</Autodiscover>`,
		`<?xml version="1.0" encoding="iso-8859-1"?><Autodiscover/>`,
		strings.Repeat("<a>", 20000),
		"",
	} {
		f.Add([]byte(seed))
	}
	s := prodSettings()
	h := New(s, nil, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		email, schema, err := parseAutodiscoverRequest(body)
		if err == nil && email == "" {
			t.Fatal("a request without an address was accepted")
		}
		rec := httptest.NewRecorder()
		h.autodiscover(rec, httptest.NewRequest("POST", "https://autodiscover.example-party.org/autodiscover/autodiscover.xml", bytes.NewReader(body)))
		if rec.Code != 200 && rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", rec.Code)
		}
		var d adDoc
		if err := xml.Unmarshal(rec.Body.Bytes(), &d); err != nil {
			t.Fatalf("answer not well-formed: %v\n%s", err, rec.Body)
		}
		if (d.Response.Account == nil) == (d.Response.Error == nil) {
			t.Fatalf("neither settings nor error, or both:\n%s", rec.Body)
		}
		if a := d.Response.Account; a != nil {
			if err != nil || (schema != "" && schema != nsOutlook) {
				t.Fatalf("settings for a refused request:\n%s", rec.Body)
			}
			want, werr := s.address(email)
			if werr != nil || len(a.Protocol) != 2 {
				t.Fatalf("settings for %q (%v):\n%s", email, werr, rec.Body)
			}
			for _, p := range a.Protocol {
				if got, aerr := s.address(p.LoginName); aerr != nil || got != p.LoginName {
					t.Fatalf("LoginName %q is not an address of ours: %v", p.LoginName, aerr)
				}
				if p.LoginName != want {
					t.Fatalf("LoginName %q for a request naming %q", p.LoginName, email)
				}
				if p.Server != s.Hostname {
					t.Fatalf("server %q", p.Server)
				}
			}
		}
	})
}

// FuzzAutoconfigQuery: any host and emailaddress parameter get 200 with a
// well-formed document for one of the mail domains, or 400 or 404; never
// a panic.
func FuzzAutoconfigQuery(f *testing.F) {
	for _, seed := range [][2]string{
		{"autoconfig.example-party.org", "anna@example-party.org"},
		{"example-party.eu:443", ""},
		{"autoconfig.evil.example", ""},
		{"[::1]:443", "Anna@EXAMPLE-PARTY.EU."},
		{"example-party.org", "anna@evil.example"},
		{"example-party.org", "<a>@example-party.org"},
		{"example-party.org", "\"a b\"@example-party.org"},
		{"", "a@b@example-party.org"},
		{"x", "jörg@example-party.org"},
		{"x", "\xff@example-party.org"},
	} {
		f.Add(seed[0], seed[1])
	}
	s := prodSettings()
	h := New(s, nil, nil)
	f.Fuzz(func(t *testing.T, host, email string) {
		cc, err := s.clientConfig(host, email)
		if err == nil {
			if !slices.Contains(s.Domains, cc.Provider.ID) {
				t.Fatalf("answered for %q", cc.Provider.ID)
			}
			if email != "" {
				if _, aerr := s.address(email); aerr != nil {
					t.Fatalf("answered for a refused address %q", email)
				}
			}
		}
		req := httptest.NewRequest("GET", "https://example-party.org/mail/config-v1.1.xml?"+url.Values{"emailaddress": {email}}.Encode(), nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.autoconfig(rec, req)
		switch rec.Code {
		case 200:
			var d tbDoc
			if err := xml.Unmarshal(rec.Body.Bytes(), &d); err != nil {
				t.Fatalf("not well-formed: %v\n%s", err, rec.Body)
			}
			if !slices.Contains(s.Domains, d.Provider.ID) || len(d.Provider.Incoming) == 0 || len(d.Provider.Outgoing) == 0 {
				t.Fatalf("document %+v", d)
			}
		case 400, 404:
			if rec.Body.String() != http.StatusText(rec.Code)+"\n" {
				t.Fatalf("error body %q: only the generic text may be sent", rec.Body)
			}
		default:
			t.Fatalf("status %d", rec.Code)
		}
	})
}

// FuzzMobileconfigEscaping: whatever a person's name, device name or
// password, the profile is a well-formed property list that gives them
// back (a character XML cannot hold comes back as U+FFFD).
func FuzzMobileconfigEscaping(f *testing.F) {
	f.Add(`Anna "A&B" <Berg>`, "Anna's iPhone ]]>", "abcd-efgh")
	f.Add("\x00\x1f\ufffe", "\r\n\t", "\xff\xfe")
	f.Add("</string><key>IncomingPassword</key><string>x", "&lt;", "]]>")
	s := prodSettings()
	f.Fuzz(func(t *testing.T, name, device, password string) {
		p := goldenProfile
		p.Name, p.Device, p.Password = name, device, password
		doc, err := s.mobileconfig(p, s.incoming()[0], s.outgoing()[0])
		if err != nil {
			t.Fatal(err)
		}
		got := parsePlist(t, doc)
		mail := got["PayloadContent"].([]any)[0].(map[string]any)
		if mail["EmailAccountName"] != xmlSafe(name) || mail["IncomingPassword"] != xmlSafe(password) ||
			!strings.Contains(got["PayloadDescription"].(string), xmlSafe(device)) {
			t.Fatalf("values changed:\n%s", doc)
		}
		if got["PayloadIdentifier"] != s.identifier(p.AccountID) || mail["EmailAddress"] != p.Address {
			t.Fatalf("fixed values changed:\n%s", doc)
		}
	})
}

// xmlSafe is s as it comes back from an XML document: every character XML
// 1.0 cannot hold (section 2.2), and every invalid UTF-8 byte, is U+FFFD.
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF {
			return r
		}
		return utf8.RuneError
	}, s)
}
