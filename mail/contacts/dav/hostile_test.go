package dav_test

import (
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/mail/contacts"
	"github.com/caucus-org/caucus/mail/contacts/dav"
)

// TestDeepXML: request bodies nested as deep as the body limit allows
// are answered (unknown elements are ignored, RFC 4918 section 17); over
// the limit, unclosed or unknown, they are refused with a client error.
func TestDeepXML(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice@example.org", auth.RoleMember)
	deep := func(n int) string {
		return `<?xml version="1.0"?><c:addressbook-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><c:filter><c:prop-filter name="FN">` +
			strings.Repeat("<x>", n) + strings.Repeat("</x>", n) + `</c:prop-filter></c:filter></c:addressbook-query>`
	}
	h := map[string]string{"Content-Type": "application/xml", "Depth": "1"}
	for _, tc := range []struct {
		name string
		body string
		ok   bool
	}{
		{"deep within the limit", deep(dav.MaxXMLBody / 8), true},
		{"over the limit", deep(dav.MaxXMLBody / 6), false},
		{"unclosed", `<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>`, false},
		{"unknown report", `<?xml version="1.0"?><d:expand-property xmlns:d="DAV:"/>`, false},
		{"bad sync level", `<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>9</d:sync-level><d:prop/></d:sync-collection>`, false},
		{"zero limit", `<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>1</d:sync-level><d:limit><d:nresults>0</d:nresults></d:limit><d:prop/></d:sync-collection>`, false},
	} {
		code, body := e.do(t, alice, "REPORT", alice.book("contacts"), h, tc.body)
		if code >= 500 || tc.ok != (code < 400) {
			t.Errorf("%s: %d %.200s", tc.name, code, body)
		}
	}
}

// TestRevocationCutsPut: a PUT whose body is still arriving when the
// member is offboarded is cut at once (the server closes the connection
// while the client still has most of the body to send), and nothing is
// stored.
func TestRevocationCutsPut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice@example.org", auth.RoleMember)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cred := base64.StdEncoding.EncodeToString([]byte(alice.login() + ":" + alice.secret))
	fmt.Fprintf(conn, "PUT %sslow.vcf HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic %s\r\nContent-Type: text/vcard\r\nContent-Length: 100000\r\n\r\nBEGIN:VCARD\r\n",
		alice.book("contacts"), cred)
	// Wait for the sign-in (the app password's last use), so that the
	// revocation finds the request in flight.
	for {
		ps, err := e.Auth.AppPasswords(t.Context(), alice.Account.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) == 1 && !ps[0].LastUsedAt.IsZero() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	rep, err := e.Auth.Revoke(t.Context(), "", alice.Account.ID, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Connections != 1 {
		t.Errorf("revocation closed %d connections, want 1", rep.Connections)
	}
	// Without the cut, this read waits for the rest of the body.
	b, err := io.ReadAll(conn)
	t.Logf("the client read %q, then %v", b, err)
	m := contacts.MemberOf(alice.Account)
	if cs, err := e.store.Cards(t.Context(), m, "contacts"); err != nil || len(cs) != 0 {
		t.Errorf("stored after the revocation: %v %v", cs, err)
	}
}

// FuzzPut sends anything as a vCard through the whole CardDAV stack: the
// answer is a client error or a success, never a server error, and a
// stored card reads back as a card caucus accepts.
func FuzzPut(f *testing.F) {
	f.Add(vcf("a", "Ada"))
	f.Add("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:x\r\nADR;LABEL=\"1 Via Roma\\nRoma\":;;Via Roma 1;Roma;;;IT\r\nEND:VCARD\r\n")
	f.Add("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nitem1.X-ABLABEL:a\r\nitem1.EMAIL;TYPE=INTERNET,pref:x@y\r\nEND:VCARD\r\n")
	f.Add("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:\xff\r\nEND:VCARD\r\n")
	e := newEnv(f)
	alice := e.person(f, "alice@example.org", auth.RoleMember)
	mux := http.NewServeMux()
	dav.New(e.store, e.Auth, nil, nil, "").Register(mux)
	m := contacts.MemberOf(alice.Account)
	f.Fuzz(func(t *testing.T, body string) {
		p := alice.book("contacts") + "f.vcf"
		req := httptest.NewRequest("PUT", p, strings.NewReader(body))
		req.SetBasicAuth(alice.login(), alice.secret)
		req.Header.Set("Content-Type", "text/vcard")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("PUT %q: %d %s", body, rec.Code, rec.Body)
		}
		if rec.Code >= 300 {
			return
		}
		c, err := e.store.Card(t.Context(), m, "contacts", "f.vcf")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := contacts.Parse(c.Data); err != nil {
			t.Fatalf("stored card does not parse: %v\n%q", err, c.Data)
		}
		req = httptest.NewRequest("GET", p, nil)
		req.SetBasicAuth(alice.login(), alice.secret)
		rec = httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET after PUT: %d %s", rec.Code, rec.Body)
		}
		req = httptest.NewRequest("DELETE", p, nil)
		req.SetBasicAuth(alice.login(), alice.secret)
		mux.ServeHTTP(httptest.NewRecorder(), req)
	})
}

// FuzzXMLRequest sends any body as a REPORT, PROPFIND or PROPPATCH to a
// book: no answer is a server error, and nothing panics (net/http would
// log the stack trace).
func FuzzXMLRequest(f *testing.F) {
	for _, s := range []string{
		`<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`,
		`<?xml version="1.0"?><c:addressbook-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><c:address-data><c:prop name="FN"/></c:address-data></d:prop><c:filter test="allof"><c:prop-filter name="EMAIL"><c:text-match match-type="starts-with" negate-condition="yes">a</c:text-match><c:param-filter name="TYPE"><c:is-not-defined/></c:param-filter></c:prop-filter></c:filter><c:limit><c:nresults>2</c:nresults></c:limit></c:addressbook-query>`,
		`<?xml version="1.0"?><c:addressbook-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><c:address-data/></d:prop><d:href>/carddav/alice@example.org/books/contacts/a.vcf</d:href><d:href>../../x</d:href></c:addressbook-multiget>`,
		`<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:allprop/></d:propfind>`,
		`<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>x</d:displayname></d:prop></d:set></d:propertyupdate>`,
	} {
		for _, m := range []string{"REPORT", "PROPFIND", "PROPPATCH"} {
			f.Add(m, s)
		}
	}
	e := newEnv(f)
	alice := e.person(f, "alice@example.org", auth.RoleMember)
	mux := http.NewServeMux()
	dav.New(e.store, e.Auth, nil, nil, "").Register(mux)
	m := contacts.MemberOf(alice.Account)
	if _, _, err := e.store.Put(f.Context(), m, "contacts", "a.vcf", card("a", "Ada"), contacts.Cond{}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, body string) {
		switch method {
		case "REPORT", "PROPFIND", "PROPPATCH":
		default:
			return
		}
		for _, p := range []string{alice.book("contacts"), alice.book("directory"), "/carddav/alice@example.org/books/"} {
			req := httptest.NewRequest(method, p, strings.NewReader(body))
			req.SetBasicAuth(alice.login(), alice.secret)
			req.Header.Set("Content-Type", "application/xml")
			req.Header.Set("Depth", "1")
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %s %q: %d %s", method, p, body, rec.Code, rec.Body)
			}
		}
	})
}
