package autoconfig

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/web"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The two configurations every document is checked against.
func prodConfig() config.Config {
	c := config.Default()
	c.Hostname = "mail.example-party.org"
	c.MailDomains = []string{"example-party.org", "Example-Party.EU"}
	c.ACMEContact = "admin@example-party.org"
	return c
}

func prodSettings() Settings { return SettingsFrom(prodConfig(), "https://mail.example-party.org") }

func devSettings() Settings {
	return SettingsFrom(config.Dev("/var/lib/caucus-dev"), "https://localhost:8443")
}

func TestSettingsFrom(t *testing.T) {
	t.Parallel()
	if err := prodConfig().Validate(); err != nil {
		t.Fatalf("the test's production config does not validate: %v", err)
	}
	off := prodConfig()
	off.Listen.IMAP = ""
	off.Listen.Submission = ""
	odd := prodConfig()
	odd.Listen.IMAPS = "[::1]:993"
	odd.Listen.IMAP = "nonsense"
	odd.Listen.Submission = ":0"
	odd.Listen.Submissions = ":99999"
	for _, tc := range []struct {
		name string
		got  Settings
		want Settings
	}{
		{"production", prodSettings(), Settings{
			Hostname: "mail.example-party.org", IMAPS: 993, IMAP: 143, Submissions: 465, Submission: 587,
			Domains: []string{"example-party.org", "example-party.eu"}, AccountURL: "https://mail.example-party.org/account",
			WebHost: "mail.example-party.org", WebPort: 443,
		}},
		{"dev", devSettings(), Settings{
			Hostname: "localhost", IMAPS: 1993, IMAP: 1143, Submissions: 5465, Submission: 5587,
			Domains: []string{"localhost"}, AccountURL: "https://localhost:8443/account",
			WebHost: "localhost", WebPort: 8443,
		}},
		{"listeners off, no public URL", SettingsFrom(off, ""), Settings{
			Hostname: "mail.example-party.org", IMAPS: 993, Submissions: 465,
			Domains: []string{"example-party.org", "example-party.eu"}, AccountURL: "https://mail.example-party.org/account",
			WebHost: "mail.example-party.org", WebPort: 443,
		}},
		{"odd addresses, URL with slash", SettingsFrom(odd, "https://mail.example-party.org/"), Settings{
			Hostname: "mail.example-party.org", IMAPS: 993, Submissions: 0, Submission: 0,
			Domains: []string{"example-party.org", "example-party.eu"}, AccountURL: "https://mail.example-party.org/account",
			WebHost: "mail.example-party.org", WebPort: 443,
		}},
		{"web on its own name and port", SettingsFrom(prodConfig(), "https://web.example-party.org:8443"), Settings{
			Hostname: "mail.example-party.org", IMAPS: 993, IMAP: 143, Submissions: 465, Submission: 587,
			Domains: []string{"example-party.org", "example-party.eu"}, AccountURL: "https://web.example-party.org:8443/account",
			WebHost: "web.example-party.org", WebPort: 8443,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if fmt.Sprint(tc.got) != fmt.Sprint(tc.want) {
				t.Errorf("SettingsFrom:\n got %+v\nwant %+v", tc.got, tc.want)
			}
		})
	}
}

func TestAddress(t *testing.T) {
	t.Parallel()
	s := prodSettings()
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{"anna@example-party.org", "anna@example-party.org", nil},
		{" Anna.Berg@Example-Party.ORG. ", "anna.berg@example-party.org", nil},
		{"jörg@example-party.eu", "jörg@example-party.eu", nil},
		{"o'neil+news@example-party.org", "o'neil+news@example-party.org", nil},
		{"anna@evil.example", "", errForeignDomain},
		{"anna@example-party.org.evil.example", "", errForeignDomain},
		{"anna@mail.example-party.org", "", errForeignDomain},
		{"", "", errBadAddress},
		{"anna", "", errBadAddress},
		{"@example-party.org", "", errBadAddress},
		{"anna@", "", errBadAddress},
		{`"an na"@example-party.org`, "", errBadAddress},
		{"<anna@example-party.org>", "", errBadAddress},
		{"Anna <anna@example-party.org>", "", errBadAddress},
		{"an na@example-party.org", "", errBadAddress},
		{"anna@evil@example-party.org", "", errBadAddress},
		{".anna@example-party.org", "", errBadAddress},
		{"an..na@example-party.org", "", errBadAddress},
		{"anna\x00@example-party.org", "", errBadAddress},
		{"anna\u2028@example-party.org", "", errBadAddress},
		{"\xffanna@example-party.org", "", errBadAddress},
		{strings.Repeat("a", 65) + "@example-party.org", "", errBadAddress},
		{strings.Repeat("a", 64) + "@example-party.org", strings.Repeat("a", 64) + "@example-party.org", nil},
		{strings.Repeat("a", 300) + "@example-party.org", "", errBadAddress},
	} {
		got, err := s.address(tc.in)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("address(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// Documents as the apps read them, declared here apart from the package's
// own types so that a wrong tag there shows.

type tbDoc struct {
	XMLName  xml.Name `xml:"clientConfig"`
	Version  string   `xml:"version,attr"`
	Provider struct {
		ID            string     `xml:"id,attr"`
		Domains       []string   `xml:"domain"`
		DisplayName   string     `xml:"displayName"`
		Incoming      []tbServer `xml:"incomingServer"`
		Outgoing      []tbServer `xml:"outgoingServer"`
		Documentation []struct {
			URL   string   `xml:"url,attr"`
			Descr []string `xml:"descr"`
		} `xml:"documentation"`
	} `xml:"emailProvider"`
}

type tbServer struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`
	Username       string `xml:"username"`
	Authentication string `xml:"authentication"`
}

type adDoc struct {
	XMLName  xml.Name
	Response struct {
		XMLName xml.Name
		Account *struct {
			AccountType string
			Action      string
			Protocol    []struct {
				Type, Server string
				Port         int
				LoginName    string
				SPA, SSL     string
				Encryption   string
				AuthRequired string
			}
		}
		Error *struct {
			ErrorCode int
			Message   string
		}
	}
}

func decodeStrict(t testing.TB, data []byte, v any) {
	t.Helper()
	if !bytes.HasPrefix(data, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
		t.Fatalf("no XML declaration:\n%s", data)
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	if err := dec.Decode(v); err != nil {
		t.Fatalf("not well-formed: %v\n%s", err, data)
	}
}

// server is what a test expects of one server in a document.
type wantServer struct {
	port     int
	implicit bool
}

func checkThunderbird(t *testing.T, data []byte, s Settings, domain string, in, out []wantServer) {
	t.Helper()
	var d tbDoc
	decodeStrict(t, data, &d)
	p := d.Provider
	if d.Version != "1.1" || p.ID != domain || !slices.Equal(p.Domains, s.Domains) {
		t.Errorf("version %q, id %q, domains %q", d.Version, p.ID, p.Domains)
	}
	check := func(kind, typ string, got []tbServer, want []wantServer) {
		if len(got) != len(want) {
			t.Fatalf("%d %s servers, want %d:\n%s", len(got), kind, len(want), data)
		}
		for i, g := range got {
			st := "STARTTLS"
			if want[i].implicit {
				st = "SSL"
			}
			if g != (tbServer{Type: typ, Hostname: s.Hostname, Port: want[i].port, SocketType: st, Username: "%EMAILADDRESS%", Authentication: "password-cleartext"}) {
				t.Errorf("%s server %d: %+v", kind, i, g)
			}
		}
	}
	check("incoming", "imap", p.Incoming, in)
	check("outgoing", "smtp", p.Outgoing, out)
	if len(p.Documentation) != 1 || p.Documentation[0].URL != s.AccountURL || len(p.Documentation[0].Descr) != 1 ||
		!strings.Contains(p.Documentation[0].Descr[0], "app password") || !strings.Contains(p.Documentation[0].Descr[0], s.AccountURL) {
		t.Errorf("documentation %+v", p.Documentation)
	}
}

func checkAutodiscover(t *testing.T, data []byte, s Settings, login string, imap, smtp wantServer) {
	t.Helper()
	var d adDoc
	decodeStrict(t, data, &d)
	if d.XMLName != (xml.Name{Space: nsResponse, Local: "Autodiscover"}) || d.Response.XMLName != (xml.Name{Space: nsOutlook, Local: "Response"}) {
		t.Errorf("root %v, response %v", d.XMLName, d.Response.XMLName)
	}
	a := d.Response.Account
	if a == nil || d.Response.Error != nil {
		t.Fatalf("no settings:\n%s", data)
	}
	if a.AccountType != "email" || a.Action != "settings" || len(a.Protocol) != 2 {
		t.Fatalf("account %+v", a)
	}
	for i, want := range []struct {
		typ string
		wantServer
	}{{"IMAP", imap}, {"SMTP", smtp}} {
		p := a.Protocol[i]
		enc := "TLS"
		if want.implicit {
			enc = ""
		}
		if p.Type != want.typ || p.Server != s.Hostname || p.Port != want.port || p.LoginName != login || p.SSL != "on" ||
			p.Encryption != enc || p.SPA != "off" || p.AuthRequired != "on" {
			t.Errorf("protocol %d: %+v", i, p)
		}
	}
}

func adErrorCode(t *testing.T, data []byte) int {
	t.Helper()
	var d adDoc
	decodeStrict(t, data, &d)
	if d.XMLName != (xml.Name{Space: nsResponse, Local: "Autodiscover"}) || d.Response.XMLName != (xml.Name{Space: nsResponse, Local: "Response"}) {
		t.Errorf("root %v, response %v", d.XMLName, d.Response.XMLName)
	}
	if d.Response.Error == nil || d.Response.Account != nil || d.Response.Error.Message == "" {
		t.Fatalf("not an error response:\n%s", data)
	}
	return d.Response.Error.ErrorCode
}

func adRequestBody(email, schema string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	b.WriteString(`<Autodiscover xmlns="` + nsRequest + `"><Request><EMailAddress>`)
	xml.EscapeText(&b, []byte(email))
	b.WriteString(`</EMailAddress><AcceptableResponseSchema>`)
	xml.EscapeText(&b, []byte(schema))
	b.WriteString(`</AcceptableResponseSchema></Request></Autodiscover>`)
	return b.String()
}

// goldenProfile is the fixed profile of the golden files, with characters
// that need escaping in every field a person chooses.
var goldenProfile = profile{
	AccountID: 7, Address: "anna@example-party.org", Name: `Anna "A&B" <Berg>`, Device: "Anna's iPhone ]]> & <x>",
	Password: "abcd-efgh-ijkl-mnop-qrst-uvwx-yz23",
	UUID:     "0F0E0D0C-0B0A-4908-8706-050403020100", MailUUID: "00112233-4455-4677-8899-AABBCCDDEEFF",
	CalUUID: "10112233-4455-4677-8899-AABBCCDDEEFF", CardUUID: "20112233-4455-4677-8899-AABBCCDDEEFF",
}

// TestGolden compares the three documents, for a production and the --dev
// configuration, with testdata; go test -update rewrites them.
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		s    Settings
		addr string
	}{{"prod", prodSettings(), "anna@example-party.org"}, {"dev", devSettings(), "anna@localhost"}} {
		cc, err := c.s.clientConfig("", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		tb, err := marshalXML(cc)
		if err != nil {
			t.Fatal(err)
		}
		ad, err := marshalXML(c.s.autodiscoverResponse(c.addr, nsOutlook))
		if err != nil {
			t.Fatal(err)
		}
		p := goldenProfile
		p.Address = c.addr
		mc, err := c.s.mobileconfig(p, c.s.incoming()[0], c.s.outgoing()[0])
		if err != nil {
			t.Fatal(err)
		}
		for name, got := range map[string][]byte{"config-v1.1.xml": tb, "autodiscover.xml": ad, "mail.mobileconfig": mc} {
			golden := filepath.Join("testdata", c.name+"-"+name)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to make it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs (run go test -update if the change is intended):\n%s", golden, got)
			}
		}
	}
}

// TestDocuments checks the content of the documents for both configurations.
func TestDocuments(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name        string
		s           Settings
		addr, login string
		in, out     []wantServer
		domain      string
	}{
		{name: "prod", s: prodSettings(), addr: "Anna@Example-Party.EU", login: "anna@example-party.eu", domain: "example-party.eu",
			in: []wantServer{{993, true}, {143, false}}, out: []wantServer{{465, true}, {587, false}}},
		{name: "dev", s: devSettings(), addr: "anna@localhost", login: "anna@localhost", domain: "localhost",
			in: []wantServer{{1993, true}, {1143, false}}, out: []wantServer{{5465, true}, {5587, false}}},
		{name: "starttls only", s: func() Settings { s := prodSettings(); s.IMAPS, s.Submissions = 0, 0; return s }(),
			addr: "anna@example-party.org", login: "anna@example-party.org", domain: "example-party.org",
			in: []wantServer{{143, false}}, out: []wantServer{{587, false}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cc, err := c.s.clientConfig("", c.addr)
			if err != nil {
				t.Fatal(err)
			}
			b, err := marshalXML(cc)
			if err != nil {
				t.Fatal(err)
			}
			checkThunderbird(t, b, c.s, c.domain, c.in, c.out)
			b, err = marshalXML(c.s.autodiscoverResponse(c.addr, ""))
			if err != nil {
				t.Fatal(err)
			}
			checkAutodiscover(t, b, c.s, c.login, c.in[0], c.out[0])
		})
	}
}

// syncBuffer collects log lines from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// env is the web server of caucus with the sign-in pages and this
// package's routes, as cmd/caucus wires them, on a real auth service.
type env struct {
	*authtest.Env
	s    Settings
	h    http.Handler
	logs *syncBuffer // everything this package and the login pages logged
}

func newEnv(t *testing.T, s Settings) *env {
	t.Helper()
	ae := authtest.New(t, auth.Config{})
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), logs), &slog.HandlerOptions{Level: slog.LevelDebug}))
	pages, err := login.New(ae.Auth, log)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	pages.Register(mux)
	New(s, ae.Auth, log).Register(mux, pages)
	return &env{Env: ae, s: s, h: web.Secure(mux, 1<<20), logs: logs}
}

// do sends one request to the handler. body may be a string, an io.Reader
// or url.Values (a form); cookie is a session token or "".
func (e *env) do(t *testing.T, method, target string, body any, cookie string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		r, ct = strings.NewReader(b), "text/xml; charset=utf-8"
	case url.Values:
		r, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case io.Reader:
		r, ct = b, "text/xml"
	}
	if !strings.Contains(target, "://") {
		target = "https://" + e.s.Hostname + target
	}
	req := httptest.NewRequest(method, target, r)
	req.RemoteAddr = "192.0.2.7:50000"
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: cookie})
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

func TestAutoconfigHTTP(t *testing.T) {
	t.Parallel()
	prod := newEnv(t, prodSettings())
	dev := newEnv(t, devSettings())
	prodIn, prodOut := []wantServer{{993, true}, {143, false}}, []wantServer{{465, true}, {587, false}}
	devIn, devOut := []wantServer{{1993, true}, {1143, false}}, []wantServer{{5465, true}, {5587, false}}
	for _, tc := range []struct {
		name    string
		e       *env
		target  string
		code    int
		domain  string
		in, out []wantServer
	}{
		{"well-known", prod, "https://example-party.org/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=anna%40example-party.org", 200, "example-party.org", prodIn, prodOut},
		{"autoconfig host", prod, "https://autoconfig.example-party.eu/mail/config-v1.1.xml?emailaddress=anna%40example-party.eu", 200, "example-party.eu", prodIn, prodOut},
		{"host only", prod, "https://autoconfig.example-party.eu/mail/config-v1.1.xml", 200, "example-party.eu", prodIn, prodOut},
		{"domain host only", prod, "https://example-party.org:443/.well-known/autoconfig/mail/config-v1.1.xml", 200, "example-party.org", prodIn, prodOut},
		{"dev", dev, "https://localhost:8443/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=anna%40localhost", 200, "localhost", devIn, devOut},
		{"foreign domain", prod, "https://autoconfig.example-party.org/mail/config-v1.1.xml?emailaddress=anna%40evil.example", 404, "", nil, nil},
		{"foreign host", prod, "https://autoconfig.evil.example/mail/config-v1.1.xml", 404, "", nil, nil},
		{"server host", prod, "https://mail.example-party.org/mail/config-v1.1.xml", 404, "", nil, nil},
		{"bad address", prod, "https://example-party.org/mail/config-v1.1.xml?emailaddress=%3Cscript%3E", 400, "", nil, nil},
		{"long address", prod, "https://example-party.org/mail/config-v1.1.xml?emailaddress=" + strings.Repeat("a", 5000) + "%40example-party.org", 400, "", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.e.do(t, "GET", tc.target, nil, "")
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d:\n%s", rec.Code, tc.code, rec.Body)
			}
			if tc.code != 200 {
				if strings.Contains(rec.Body.String(), "<") {
					t.Errorf("error body echoes markup: %q", rec.Body)
				}
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/xml; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			checkThunderbird(t, rec.Body.Bytes(), tc.e.s, tc.domain, tc.in, tc.out)
		})
	}
	if rec := prod.do(t, "POST", "/mail/config-v1.1.xml", "", ""); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST autoconfig: %d", rec.Code)
	}
}

// infinite is a request body that never ends.
type infinite struct{}

func (infinite) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func TestAutodiscoverHTTP(t *testing.T) {
	t.Parallel()
	prod := newEnv(t, prodSettings())
	dev := newEnv(t, devSettings())

	for _, path := range []string{"/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"} {
		rec := prod.do(t, "POST", "https://autodiscover.example-party.org"+path, adRequestBody("Anna@example-party.org", nsOutlook), "")
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/xml; charset=utf-8" {
			t.Fatalf("%s: %d %q\n%s", path, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		checkAutodiscover(t, rec.Body.Bytes(), prod.s, "anna@example-party.org", wantServer{993, true}, wantServer{465, true})
	}
	rec := dev.do(t, "POST", "/autodiscover/autodiscover.xml", adRequestBody("anna@localhost", ""), "")
	checkAutodiscover(t, rec.Body.Bytes(), dev.s, "anna@localhost", wantServer{1993, true}, wantServer{5465, true})
	// With a byte order mark, without a namespace.
	rec = prod.do(t, "POST", "/autodiscover/autodiscover.xml",
		"\xef\xbb\xbf<Autodiscover><Request><EMailAddress>anna@example-party.org</EMailAddress></Request></Autodiscover>", "")
	checkAutodiscover(t, rec.Body.Bytes(), prod.s, "anna@example-party.org", wantServer{993, true}, wantServer{465, true})

	for _, tc := range []struct {
		name string
		body any
		code int // HTTP status
		err  int // ErrorCode
	}{
		{"foreign domain", adRequestBody("anna@evil.example", nsOutlook), 200, adAddressNotFound},
		{"bad address", adRequestBody("<anna>@example-party.org", nsOutlook), 200, adInvalidRequest},
		{"no address", adRequestBody("", nsOutlook), 200, adInvalidRequest},
		{"ActiveSync schema", adRequestBody("anna@example-party.org", "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"), 200, adNoSchema},
		{"not XML", "anna@example-party.org", 200, adInvalidRequest},
		{"empty", "", 200, adInvalidRequest},
		{"UTF-16", `<?xml version="1.0" encoding="utf-16"?><Autodiscover/>`, 200, adInvalidRequest},
		{"entity", `<!DOCTYPE a [<!ENTITY e "anna@example-party.org">]><Autodiscover><Request><EMailAddress>&e;</EMailAddress></Request></Autodiscover>`, 200, adInvalidRequest},
		{"too large", adRequestBody("anna@example-party.org", nsOutlook) + "<!--" + strings.Repeat("x", MaxAutodiscoverBody) + "-->", 413, adInvalidRequest},
		{"endless", io.MultiReader(strings.NewReader("<Autodiscover><Request><EMailAddress>"), infinite{}), 413, adInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan *httptest.ResponseRecorder, 1)
			go func() { done <- prod.do(t, "POST", "/autodiscover/autodiscover.xml", tc.body, "") }()
			var rec *httptest.ResponseRecorder
			select {
			case rec = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("no answer: the handler hangs")
			}
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d:\n%s", rec.Code, tc.code, rec.Body)
			}
			if got := adErrorCode(t, rec.Body.Bytes()); got != tc.err {
				t.Errorf("ErrorCode %d, want %d", got, tc.err)
			}
		})
	}
	if rec := prod.do(t, "GET", "/autodiscover/autodiscover.xml", nil, ""); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET autodiscover: %d", rec.Code)
	}
}

// plist reading, for the tests: a property list as Go values (string,
// int, bool, map[string]any, []any).

func parsePlist(t testing.TB, data []byte) map[string]any {
	t.Helper()
	// Apple's parser wants empty-element tags for booleans.
	if m := nonEmptyBool.Find(data); m != nil {
		t.Fatalf("plist: %s, which Apple's parser refuses", m)
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	doctype := false
	for {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("plist: %v\n%s", err, data)
		}
		switch tok := tok.(type) {
		case xml.Directive:
			doctype = string(tok) == plistDoctype
		case xml.StartElement:
			if tok.Name.Local != "plist" || len(tok.Attr) != 1 || tok.Attr[0].Value != "1.0" || !doctype {
				t.Fatalf("plist: root %v, doctype %v", tok, doctype)
			}
			v, err := readPlistValue(dec, nil)
			if err != nil {
				t.Fatalf("plist: %v\n%s", err, data)
			}
			d, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("plist: root is %T", v)
			}
			if end, err := nextElement(dec); err != nil || end.Name.Local != "/plist" {
				t.Fatalf("plist: after the root dict: %v %v", end, err)
			}
			return d
		}
	}
}

// nextElement returns the next start or end element, skipping white space
// and failing on any other text.
func nextElement(dec *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := dec.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			return tok, nil
		case xml.EndElement:
			return xml.StartElement{Name: xml.Name{Local: "/" + tok.Name.Local}}, nil
		case xml.CharData:
			if len(bytes.TrimSpace(tok)) > 0 {
				return xml.StartElement{}, fmt.Errorf("stray text %q", tok)
			}
		}
	}
}

func readText(dec *xml.Decoder) (string, error) {
	var b strings.Builder
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", err
		}
		switch tok := tok.(type) {
		case xml.CharData:
			b.Write(tok)
		case xml.EndElement:
			return b.String(), nil
		default:
			return "", fmt.Errorf("unexpected %T in text", tok)
		}
	}
}

// readPlistValue reads one value; start is its element, or nil to read the
// next one.
func readPlistValue(dec *xml.Decoder, start *xml.StartElement) (any, error) {
	if start == nil {
		s, err := nextElement(dec)
		if err != nil {
			return nil, err
		}
		start = &s
	}
	switch start.Name.Local {
	case "string":
		return readText(dec)
	case "integer":
		s, err := readText(dec)
		if err != nil {
			return nil, err
		}
		return strconv.Atoi(s)
	case "true", "false":
		if end, err := nextElement(dec); err != nil || end.Name.Local != "/"+start.Name.Local {
			return nil, fmt.Errorf("<%s> not empty", start.Name.Local)
		}
		return start.Name.Local == "true", nil
	case "array":
		var out []any
		for {
			s, err := nextElement(dec)
			if err != nil {
				return nil, err
			}
			if s.Name.Local == "/array" {
				return out, nil
			}
			v, err := readPlistValue(dec, &s)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	case "dict":
		out := map[string]any{}
		for {
			s, err := nextElement(dec)
			if err != nil {
				return nil, err
			}
			if s.Name.Local == "/dict" {
				return out, nil
			}
			if s.Name.Local != "key" {
				return nil, fmt.Errorf("<%s> where a key belongs", s.Name.Local)
			}
			k, err := readText(dec)
			if err != nil {
				return nil, err
			}
			if _, dup := out[k]; dup {
				return nil, fmt.Errorf("key %q twice", k)
			}
			if out[k], err = readPlistValue(dec, nil); err != nil {
				return nil, err
			}
		}
	}
	return nil, fmt.Errorf("unknown element <%s>", start.Name.Local)
}

var nonEmptyBool = regexp.MustCompile(`<(true|false)\s*>`)

var uuidRe = regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)

// checkProfile checks a downloaded profile and returns its app password.
func checkProfile(t *testing.T, data []byte, s Settings, a auth.Account) string {
	t.Helper()
	p := parsePlist(t, data)
	content, ok := p["PayloadContent"].([]any)
	if !ok || len(content) != 3 {
		t.Fatalf("PayloadContent %#v", p["PayloadContent"])
	}
	m := content[0].(map[string]any)
	cal, card := content[1].(map[string]any), content[2].(map[string]any)
	want := map[string]any{
		"PayloadType": "Configuration", "PayloadVersion": 1, "PayloadOrganization": s.Domains[0],
		"PayloadDisplayName": "caucus mail (" + a.Login + ")", "PayloadRemovalDisallowed": false,
		"PayloadIdentifier": s.identifier(a.ID),
	}
	wantMail := map[string]any{
		"PayloadType": "com.apple.mail.managed", "PayloadVersion": 1, "PayloadIdentifier": s.identifier(a.ID) + ".account",
		"EmailAccountType": "EmailTypeIMAP", "EmailAddress": a.Login, "EmailAccountName": a.DisplayName,
		"IncomingMailServerHostName": s.Hostname, "IncomingMailServerPortNumber": s.IMAPS, "IncomingMailServerUseSSL": true,
		"IncomingMailServerUsername": a.Login, "IncomingMailServerAuthentication": "EmailAuthPassword",
		"OutgoingMailServerHostName": s.Hostname, "OutgoingMailServerPortNumber": s.Submissions, "OutgoingMailServerUseSSL": true,
		"OutgoingMailServerUsername": a.Login, "OutgoingMailServerAuthentication": "EmailAuthPassword",
		"OutgoingPasswordSameAsIncomingPassword": true,
	}
	secret, _ := m["IncomingPassword"].(string)
	if secret == "" {
		t.Fatal("no IncomingPassword")
	}
	wantCal := map[string]any{
		"PayloadType": "com.apple.caldav.account", "PayloadVersion": 1, "PayloadIdentifier": s.identifier(a.ID) + ".caldav",
		"CalDAVHostName": s.WebHost, "CalDAVPort": s.WebPort, "CalDAVUseSSL": true, "CalDAVPrincipalURL": "/caldav/",
		"CalDAVUsername": a.Login, "CalDAVPassword": secret,
	}
	wantCard := map[string]any{
		"PayloadType": "com.apple.carddav.account", "PayloadVersion": 1, "PayloadIdentifier": s.identifier(a.ID) + ".carddav",
		"CardDAVHostName": s.WebHost, "CardDAVPort": s.WebPort, "CardDAVUseSSL": true, "CardDAVPrincipalURL": "/carddav/",
		"CardDAVUsername": a.Login, "CardDAVPassword": secret,
	}
	for _, c := range []struct {
		got, want map[string]any
	}{{p, want}, {m, wantMail}, {cal, wantCal}, {card, wantCard}} {
		for k, v := range c.want {
			if c.got[k] != v {
				t.Errorf("%s = %#v, want %#v", k, c.got[k], v)
			}
		}
		if u, _ := c.got["PayloadUUID"].(string); !uuidRe.MatchString(u) {
			t.Errorf("PayloadUUID %q is not a UUIDv4", u)
		}
	}
	if uuids := map[any]bool{p["PayloadUUID"]: true, m["PayloadUUID"]: true, cal["PayloadUUID"]: true, card["PayloadUUID"]: true}; len(uuids) != 4 {
		t.Error("the profile and its payloads share a UUID")
	}
	return secret
}

var (
	profileForm  = regexp.MustCompile(`(?s)<form method="post" action="/account/mail.mobileconfig">.*?name="csrf" value="([^"]+)".*?name="name".*?</form>`)
	appPasswords = func(t *testing.T, e *env, a auth.Account) []auth.AppPasswordInfo {
		t.Helper()
		l, err := e.Auth.AppPasswords(t.Context(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
)

// TestMobileconfig: the account page's form downloads a profile whose app
// password opens mail, calendars and contacts (not files), with a mail, a
// CalDAV and a CardDAV account; each download is a new app password.
func TestMobileconfig(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		s    Settings
		user string
	}{{"prod", prodSettings(), "anna@example-party.eu"}, {"dev", devSettings(), "anna@localhost"}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, c.s)
			u := e.User(t, c.user, auth.RoleMember)

			page := e.do(t, "GET", "/account", nil, u.Session)
			if page.Code != 200 {
				t.Fatalf("account page: %d", page.Code)
			}
			m := profileForm.FindStringSubmatch(page.Body.String())
			if m == nil {
				t.Fatalf("no profile form on the account page:\n%s", page.Body)
			}
			csrf := m[1]
			for _, s := range []string{"Set up mail on a phone or computer", "Download for iPhone/iPad/Mac", "Thunderbird, K-9 Mail and Outlook"} {
				if !strings.Contains(page.Body.String(), s) {
					t.Errorf("account page lacks %q", s)
				}
			}

			var secrets []string
			for i, device := range []string{"Anna's iPhone", "Anna's Mac"} {
				rec := e.do(t, "POST", "/account/mail.mobileconfig", url.Values{"csrf": {csrf}, "name": {device}}, u.Session)
				if rec.Code != 200 {
					t.Fatalf("download %d: %d\n%s", i, rec.Code, rec.Body)
				}
				h := rec.Header()
				if h.Get("Content-Type") != "application/x-apple-aspen-config" ||
					h.Get("Content-Disposition") != `attachment; filename="caucus-mail.mobileconfig"` || h.Get("Cache-Control") != "no-store" {
					t.Errorf("headers %v", h)
				}
				secret := checkProfile(t, rec.Body.Bytes(), c.s, u.Account)
				if strings.Contains(e.logs.String(), secret) {
					t.Error("the app password reached the log")
				}
				for _, old := range secrets {
					if old == secret {
						t.Error("a second download gave the same app password")
					}
				}
				secrets = append(secrets, secret)
			}
			for _, secret := range secrets {
				g, err := e.Auth.AppPassword(t.Context(), u.Account.Login, secret, auth.ScopeMail, auth.Client{})
				if err != nil || g.Account.ID != u.Account.ID {
					t.Errorf("the profile's app password does not open mail: %v", err)
				}
				if _, err := e.Auth.AppPassword(t.Context(), u.Account.Login, secret, auth.ScopeCalendar, auth.Client{}); err != nil {
					t.Errorf("the profile's app password does not open calendars and contacts: %v", err)
				}
				if _, err := e.Auth.AppPassword(t.Context(), u.Account.Login, secret, auth.ScopeFiles, auth.Client{}); !errors.Is(err, auth.ErrScope) {
					t.Errorf("the profile's app password opens files: %v", err)
				}
			}
			var names []string
			for _, ap := range appPasswords(t, e, u.Account) {
				if ap.Scope != auth.ScopeMail|auth.ScopeCalendar {
					t.Errorf("app password %q has scope %s", ap.Name, ap.Scope)
				}
				names = append(names, ap.Name)
			}
			slices.Sort(names)
			if !slices.Equal(names, []string{"Anna's Mac", "Anna's iPhone"}) {
				t.Errorf("app passwords %q", names)
			}
			// The account page lists the new app password.
			if page := e.do(t, "GET", "/account", nil, u.Session); !strings.Contains(page.Body.String(), "Anna&#39;s Mac") {
				t.Error("the account page does not list the new app password")
			}
		})
	}
}

// TestMobileconfigRefused: no profile (and no app password) without a full
// session, its CSRF token, a recent sign-in, a usable device name and an
// address in the mail domains.
func TestMobileconfigRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, prodSettings())
	u := e.User(t, "anna@example-party.org", auth.RoleMember)
	other := e.User(t, "bob@example-party.org", auth.RoleMember)
	sess, err := e.Auth.Session(t.Context(), u.Session)
	if err != nil {
		t.Fatal(err)
	}
	otherSess, err := e.Auth.Session(t.Context(), other.Session)
	if err != nil {
		t.Fatal(err)
	}
	// A session still enrolling.
	inv, err := e.Auth.CreateInvite(t.Context(), "", auth.NewAccount{Login: "carla@example-party.org", DisplayName: "Carla", Role: auth.RoleMember}, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	enrolling, err := e.Auth.AcceptInvite(t.Context(), inv, "correct horse battery staple 8841", auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	enrolSess, err := e.Auth.Session(t.Context(), enrolling)
	if err != nil {
		t.Fatal(err)
	}
	// A session that has only given its password.
	second, _, err := e.Auth.PasswordSignIn(t.Context(), u.Account.Login, u.Password, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	secondSess, err := e.Auth.Session(t.Context(), second)
	if err != nil {
		t.Fatal(err)
	}
	form := func(csrf string) url.Values { return url.Values{"csrf": {csrf}, "name": {"Evil"}} }
	for _, tc := range []struct {
		name     string
		cookie   string
		form     url.Values
		hdr      []string
		code     int
		location string
		body     string
	}{
		{"anonymous", "", form(sess.CSRF), nil, 303, "/login", ""},
		{"bogus cookie", "bogus", form(sess.CSRF), nil, 303, "/login", ""},
		{"enrolling", enrolling, form(enrolSess.CSRF), nil, 303, "/enrol", ""},
		{"password only", second, form(secondSess.CSRF), nil, 303, "/login/second", ""},
		{"no token", u.Session, url.Values{"name": {"Evil"}}, nil, 403, "", "Form expired"},
		{"empty token", u.Session, form(""), nil, 403, "", "Form expired"},
		{"wrong token", u.Session, form(strings.Repeat("A", len(sess.CSRF))), nil, 403, "", "Form expired"},
		{"other session's token", u.Session, form(otherSess.CSRF), nil, 403, "", "Form expired"},
		{"token in the query only", u.Session, url.Values{"name": {"Evil"}}, nil, 403, "", "Form expired"},
		{"cross-site", u.Session, form(sess.CSRF), []string{"Sec-Fetch-Site", "cross-site"}, 403, "", ""},
		{"other origin", u.Session, form(sess.CSRF), []string{"Origin", "https://evil.example"}, 403, "", ""},
		{"device name too long", u.Session, url.Values{"csrf": {sess.CSRF}, "name": {strings.Repeat("x", 65)}}, nil, 400, "", "1 to 64 characters"},
		{"device name with control characters", u.Session, url.Values{"csrf": {sess.CSRF}, "name": {"a\x01b"}}, nil, 400, "", "1 to 64 characters"},
		{"form too large", u.Session, url.Values{"csrf": {sess.CSRF}, "name": {"x"}, "pad": {strings.Repeat("x", maxProfileForm)}}, nil, 403, "", "Form expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := "/account/mail.mobileconfig"
			if tc.name == "token in the query only" {
				target += "?csrf=" + url.QueryEscape(sess.CSRF)
			}
			rec := e.do(t, "POST", target, tc.form, tc.cookie, tc.hdr...)
			if rec.Code != tc.code || rec.Header().Get("Location") != tc.location || !strings.Contains(rec.Body.String(), tc.body) {
				t.Fatalf("%d %q, want %d %q with %q:\n%s", rec.Code, rec.Header().Get("Location"), tc.code, tc.location, tc.body, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); strings.Contains(ct, "aspen") {
				t.Errorf("a refusal sent a profile (%s)", ct)
			}
		})
	}
	if rec := e.do(t, "GET", "/account/mail.mobileconfig", nil, u.Session); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", rec.Code)
	}

	// A sign-in older than the step-up window is asked again.
	e.Clock.Advance(6 * time.Minute)
	rec := e.do(t, "POST", "/account/mail.mobileconfig", form(sess.CSRF), u.Session)
	if want := "/reauth?next=" + url.QueryEscape("/account?device=Evil#mailsetup"); rec.Code != 303 || rec.Header().Get("Location") != want {
		t.Fatalf("stale sign-in: %d %q, want %q", rec.Code, rec.Header().Get("Location"), want)
	}
	for _, a := range []auth.Account{u.Account, other.Account} {
		if l := appPasswords(t, e, a); len(l) != 0 {
			t.Errorf("%s: refused requests made app passwords: %+v", a.Login, l)
		}
	}
	// After a new sign-in it works, with the default device name.
	tok := e.SignIn(t, u)
	sess, err = e.Auth.Session(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	rec = e.do(t, "POST", "/account/mail.mobileconfig", url.Values{"csrf": {sess.CSRF}}, tok)
	if rec.Code != 200 {
		t.Fatalf("after sign-in: %d\n%s", rec.Code, rec.Body)
	}
	checkProfile(t, rec.Body.Bytes(), e.s, u.Account)
	if l := appPasswords(t, e, u.Account); len(l) != 1 || l[0].Name != defaultDevice {
		t.Errorf("app passwords %+v", l)
	}
}

// TestMobileconfigNoMailbox: an account outside the mail domains, or a
// server without IMAP, gets no profile and no app password.
func TestMobileconfigNoMailbox(t *testing.T) {
	t.Parallel()
	noIMAP := prodSettings()
	noIMAP.IMAPS, noIMAP.IMAP = 0, 0
	for _, c := range []struct {
		name, login string
		s           Settings
	}{{"foreign address", "anna@elsewhere.example", prodSettings()}, {"IMAP off", "anna@example-party.org", noIMAP}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, c.s)
			u := e.User(t, c.login, auth.RoleMember)
			sess, err := e.Auth.Session(t.Context(), u.Session)
			if err != nil {
				t.Fatal(err)
			}
			rec := e.do(t, "POST", "/account/mail.mobileconfig", url.Values{"csrf": {sess.CSRF}, "name": {"Phone"}}, u.Session)
			if rec.Code != 404 || !strings.Contains(rec.Header().Get("Content-Type"), "text/html") {
				t.Fatalf("%d %s\n%s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
			if l := appPasswords(t, e, u.Account); len(l) != 0 {
				t.Errorf("app passwords %+v", l)
			}
		})
	}
}

// TestRoutesCoexist: this package's routes and the sign-in pages' share a
// mux without conflict, and the sign-in pages still answer.
func TestRoutesCoexist(t *testing.T) {
	t.Parallel()
	e := newEnv(t, prodSettings())
	if rec := e.do(t, "GET", "/login", nil, ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), "Sign in") {
		t.Errorf("GET /login: %d", rec.Code)
	}
	if rec := e.do(t, "GET", "/account", nil, ""); rec.Code != 303 {
		t.Errorf("GET /account signed out: %d", rec.Code)
	}
}

func TestUUID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		u := newUUID()
		if !uuidRe.MatchString(u) || seen[u] {
			t.Fatalf("UUID %q (seen before: %v)", u, seen[u])
		}
		seen[u] = true
	}
}

// TestMobileconfigStepUpKeepsDevice: a member whose sign-in is older than
// the step-up window, downloading the profile from the phone set-up page,
// was sent to confirm and then to /account, the device name typed lost and
// the page left. The confirmation now leads back to the page the form was
// on with the name filled in; a "back" that is not one of those pages
// (an open redirect) leads to /account.
func TestMobileconfigStepUpKeepsDevice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, prodSettings())
	u := e.User(t, "anna@example-party.org", auth.RoleMember)
	sess, err := e.Auth.Session(t.Context(), u.Session)
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(6 * time.Minute)
	device := url.QueryEscape("Anna's iPhone")
	for _, tc := range []struct{ back, want string }{
		{"/setup/phone", "/reauth?next=" + url.QueryEscape("/setup/phone?device="+device)},
		{"/account", "/reauth?next=" + url.QueryEscape("/account?device="+device+"#mailsetup")},
		{"https://evil.example/", "/reauth?next=" + url.QueryEscape("/account?device="+device+"#mailsetup")},
		{"//evil.example/setup/phone", "/reauth?next=" + url.QueryEscape("/account?device="+device+"#mailsetup")},
	} {
		rec := e.do(t, "POST", "/account/mail.mobileconfig", url.Values{"csrf": {sess.CSRF}, "name": {"Anna's iPhone"}, "back": {tc.back}}, u.Session)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != tc.want {
			t.Errorf("back %q: %d %q, want 303 %q", tc.back, rec.Code, rec.Header().Get("Location"), tc.want)
		}
	}
	if l := appPasswords(t, e, u.Account); len(l) != 0 {
		t.Errorf("a refused request made app passwords: %+v", l)
	}
	// The account page fills the name in from the query.
	rec := e.do(t, "GET", "/account?device="+url.QueryEscape("Anna's iPhone"), nil, u.Session)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `id="mcname" name="name" maxlength="64" value="Anna&#39;s iPhone"`) {
		t.Errorf("account page does not keep the device name: %d\n%s", rec.Code, rec.Body)
	}
}

// TestMobileconfigRefusalInLanguage: the profile form's refusals were in
// English whatever the member's language.
func TestMobileconfigRefusalInLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, prodSettings())
	u := e.User(t, "anna@example-party.org", auth.RoleMember)
	if err := e.Auth.SetLanguage(t.Context(), u.Account.ID, "it"); err != nil {
		t.Fatal(err)
	}
	rec := e.do(t, "POST", "/account/mail.mobileconfig", url.Values{"name": {"x"}}, u.Session)
	body := rec.Body.String()
	if rec.Code != http.StatusForbidden || strings.Contains(body, "Form expired") || strings.Contains(body, "Back to your account") || !strings.Contains(body, `lang="it"`) {
		t.Fatalf("%d, want 403 in Italian:\n%s", rec.Code, body)
	}
}
