package login

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
)

const fuzzOrigin = "https://caucus.example"

// fuzzEnv is the login handler without a network server, for fuzz targets
// that call it directly. Its logs are discarded; failures show in statuses.
type fuzzEnv struct {
	svc     *auth.Service
	clk     *fakeClock
	handler http.Handler
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	f.Helper()
	log := slog.New(slog.DiscardHandler)
	svc, clk := newService(f, fuzzOrigin, log)
	return &fuzzEnv{svc: svc, clk: clk, handler: newHandler(f, svc, log)}
}

// serve runs one request through the handler. A panic fails the fuzz
// target by itself.
func (e *fuzzEnv) serve(req *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec.Result()
}

// checkLocal fails unless loc stays on this site: a path, never "//host",
// "/\host" or a URL with a scheme or host, also after the clean-ups a
// browser does (tabs and newlines dropped, backslashes read as slashes).
func checkLocal(t *testing.T, what, loc string) {
	t.Helper()
	if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, `/\`) {
		t.Fatalf("%s: %q is not a local path", what, loc)
	}
	u, err := url.Parse(loc)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		t.Fatalf("%s: %q parses as %#v (%v)", what, loc, u, err)
	}
	browser := strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, strings.Trim(loc, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f "))
	base, _ := url.Parse(fuzzOrigin + "/login/totp")
	if v, err := base.Parse(browser); err == nil && v.Host != "caucus.example" {
		t.Fatalf("%s: %q leads a browser to %q", what, loc, v.Host)
	}
}

// FuzzLocalNext: whatever destination a request names, the redirect after
// sign-in stays on this site.
func FuzzLocalNext(f *testing.F) {
	for _, s := range []string{
		"", "/", "/account", "/files/a?b=c#d", "//evil.example", "///evil.example", `/\evil.example`, `\\evil.example`,
		"https://evil.example", "HTTPS://evil.example/", "http:evil.example", "javascript:alert(1)", "/\t/evil.example",
		"/%2F%2Fevil.example", "/.//evil.example", "/..//evil.example", "/a/../..//evil.example", "/@evil.example",
		"/?next=//evil.example", "/#//evil.example", "/\u3002evil.example", " //evil.example", "/ /evil.example",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := localNext(next)
		checkLocal(t, "localNext", got)
		if got != "/account" && got != next {
			t.Fatalf("localNext(%q) = %q: neither the input nor the default", next, got)
		}
		// As the handlers use it.
		rec := httptest.NewRecorder()
		http.Redirect(rec, httptest.NewRequest("POST", fuzzOrigin+"/login/totp", nil), got, http.StatusSeeOther)
		checkLocal(t, "Location", rec.Header().Get("Location"))
	})
}

// FuzzLoginForm: no sign-in form, however odd, makes the server fail.
func FuzzLoginForm(f *testing.F) {
	e := newFuzzEnv(f)
	ctx := context.Background()
	tok, err := e.svc.CreateInvite(ctx, testAdmin, auth.NewAccount{Login: "anna@example.org", DisplayName: "Anna", Role: auth.RoleMember}, auth.Client{})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := e.svc.AcceptInvite(ctx, tok, testPassword, auth.Client{}); err != nil {
		f.Fatal(err)
	}
	f.Add("anna@example.org", testPassword, "/account", []byte(nil))
	f.Add("Anna@Example.org ", testPassword, "//evil.example", []byte(nil))
	f.Add("anna@example.org", "wrong", "", []byte(nil))
	f.Add("nobody@example.org", testPassword, "https://evil.example", []byte(nil))
	f.Add("", "", "", []byte(nil))
	f.Add("<script>alert(1)</script>", "\x00\xff", "\"><script>", []byte(nil))
	f.Add(strings.Repeat("a", 300)+"@example.org", strings.Repeat("p", 2000), "", []byte(nil))
	f.Add("", "", "", []byte("login=anna%40example.org&password=%zz&login=x"))
	f.Add("", "", "", []byte("login=anna@example.org;password=x"))
	f.Fuzz(func(t *testing.T, login, pw, next string, raw []byte) {
		// Past any throttling delay, so the password is checked every time.
		e.clk.Advance(6 * time.Minute)
		body := url.Values{"login": {login}, "password": {pw}, "next": {next}}.Encode()
		if len(raw) > 0 {
			body = string(raw)
		}
		req := httptest.NewRequest("POST", fuzzOrigin+"/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res := e.serve(req)
		b, _ := io.ReadAll(res.Body)
		switch res.StatusCode {
		case http.StatusSeeOther:
			loc := res.Header.Get("Location")
			if loc != "/enrol" && !strings.HasPrefix(loc, "/login/second?next=") {
				t.Fatalf("redirect to %q", loc)
			}
			if c := findCookie(res.Cookies(), SessionCookie); c == nil || !c.Secure || !c.HttpOnly {
				t.Fatalf("sign-in without a proper session cookie: %v", res.Header.Values("Set-Cookie"))
			}
		case http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusBadRequest:
			if n := strings.Count(string(b), "<script"); n > 1 || res.StatusCode != http.StatusBadRequest && n != 1 {
				t.Fatalf("page has %d script tags:\n%s", n, b)
			}
			if len(res.Cookies()) != 0 {
				t.Fatalf("a refused sign-in set cookies: %v", res.Cookies())
			}
		default:
			t.Fatalf("status %d:\n%s", res.StatusCode, b)
		}
	})
}

// FuzzSessionCookie: an unknown, malformed or hostile cookie is never a
// session: the account page sends it to sign in.
func FuzzSessionCookie(f *testing.F) {
	e := newFuzzEnv(f)
	for _, s := range []string{
		"", "x", "AAAA", strings.Repeat("A", 43), strings.Repeat("A", 101), "\"quoted\"", "a;b", "a=b", "%00", "\x00", "\xff\xfe",
		"__Host-caucus=x; __Host-caucus=y", " ", "' OR 1=1 --",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, hdr := range []string{SessionCookie + "=" + v, v} {
			req := httptest.NewRequest("GET", fuzzOrigin+"/account", nil)
			req.Header.Set("Cookie", hdr)
			res := e.serve(req)
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=%2Faccount" {
				b, _ := io.ReadAll(res.Body)
				t.Fatalf("Cookie %q: status %d, Location %q:\n%s", hdr, res.StatusCode, res.Header.Get("Location"), b)
			}
		}
	})
}

// FuzzWebAuthnFinish: no answer to a passkey sign-in ceremony, however
// odd, fails the server or signs anyone in (there is no passkey at all).
func FuzzWebAuthnFinish(f *testing.F) {
	e := newFuzzEnv(f)
	b64 := base64.RawURLEncoding.EncodeToString
	clientData := func(typ, origin string) string {
		return b64([]byte(`{"type":"` + typ + `","challenge":"$CHALLENGE","origin":"` + origin + `","crossOrigin":false}`))
	}
	assertion := func(id, cd, authData, sig, user string) []byte {
		return []byte(`{"id":"` + id + `","rawId":"` + id + `","type":"public-key","clientExtensionResults":{},` +
			`"response":{"clientDataJSON":"` + cd + `","authenticatorData":"` + authData + `","signature":"` + sig + `","userHandle":"` + user + `"}}`)
	}
	authData := b64(append(make([]byte, 32), 0x05, 0, 0, 0, 1)) // rpIdHash, UP|UV, counter 1
	f.Add([]byte(`{}`))
	f.Add([]byte(``))
	f.Add([]byte(`null`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"id":"x"}`))
	f.Add(assertion("AAAA", clientData("webauthn.get", fuzzOrigin), authData, "MEUCIQ", "dXNlcg"))
	f.Add(assertion("AAAA", clientData("webauthn.create", "https://evil.example"), authData, "", ""))
	f.Add(assertion("AAAA", "e30", "", "", ""))
	f.Add(assertion("", "", "", "", ""))
	f.Fuzz(func(t *testing.T, body []byte) {
		res := e.serve(httptest.NewRequest("POST", fuzzOrigin+"/login/passkey/begin", nil))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("begin: status %d", res.StatusCode)
		}
		var opts struct {
			PublicKey struct {
				Challenge string `json:"challenge"`
			} `json:"publicKey"`
		}
		if err := json.NewDecoder(res.Body).Decode(&opts); err != nil || opts.PublicKey.Challenge == "" {
			t.Fatalf("begin: options %v %v", opts, err)
		}
		cer := findCookie(res.Cookies(), CeremonyCookie)
		if cer == nil {
			t.Fatal("begin set no ceremony cookie")
		}
		// Let an input carry the real challenge, inside or outside base64.
		s := strings.ReplaceAll(string(body), "$CHALLENGE", opts.PublicKey.Challenge)
		if i := strings.Index(s, `"clientDataJSON":"`); i >= 0 {
			rest := s[i+len(`"clientDataJSON":"`):]
			if j := strings.IndexByte(rest, '"'); j >= 0 {
				if cd, err := base64.RawURLEncoding.DecodeString(rest[:j]); err == nil {
					cd := strings.ReplaceAll(string(cd), "$CHALLENGE", opts.PublicKey.Challenge)
					s = s[:i+len(`"clientDataJSON":"`)] + b64([]byte(cd)) + rest[j:]
				}
			}
		}
		req := httptest.NewRequest("POST", fuzzOrigin+"/login/passkey/finish?next=%2Faccount", strings.NewReader(s))
		req.Header.Set("Content-Type", "application/json")
		req.AddCookie(cer)
		res = e.serve(req)
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusBadRequest && res.StatusCode != http.StatusUnauthorized && res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("finish: status %d:\n%s", res.StatusCode, b)
		}
		var v map[string]string
		if err := json.Unmarshal(b, &v); err != nil || v["error"] == "" {
			t.Fatalf("finish: not a JSON error: %q", b)
		}
		if findCookie(res.Cookies(), SessionCookie) != nil {
			t.Fatal("finish set a session cookie")
		}
	})
}
