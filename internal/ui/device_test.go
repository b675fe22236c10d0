package ui

import (
	"slices"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/internal/i18n"
)

// realUserAgents are User-Agent headers of real programs, with what people
// should read.
var realUserAgents = []struct{ ua, browser, system string }{
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox", "Windows"},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome", "Windows"},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge", "Windows"},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0", "Opera", "Windows"},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", "Safari", "macOS"},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox", "macOS"},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "Safari", "iPhone"},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1", "Chrome", "iPhone"},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15", "Firefox", "iPhone"},
	{"Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1", "Safari", "iPad"},
	{"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome", "Android"},
	{"Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36", "Samsung Internet", "Android"},
	{"Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0", "Firefox", "Android"},
	{"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox", "Linux"},
	{"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox", "Linux"},
	{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", "Chrome", "Linux"},
	{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome", "ChromeOS"},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0", "Thunderbird", "Windows"},
	{"Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.16.0", "Thunderbird", "Linux"},
	{"Microsoft-WebDAV-MiniRedir/10.0.19045", "Windows Explorer", "Windows"},
	{"WebDAVFS/3.0.0 (03008000) Darwin/22.1.0 (x86_64)", "Finder", "macOS"},
	{"davfs2/1.7.0 neon/0.33.0", "davfs2", ""},
	{"rclone/v1.68.2", "rclone", ""},
	{"curl/8.11.0", "curl", ""},
	{"Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko", "Internet Explorer", "Windows"},
	{"Go-http-client/1.1", "", ""},
	{"", "", ""},
}

// TestParseUserAgent: real User-Agent headers give the browser and system
// people know.
func TestParseUserAgent(t *testing.T) {
	t.Parallel()
	for _, c := range realUserAgents {
		if got := ParseUserAgent(c.ua); got != (Device{c.browser, c.system}) {
			t.Errorf("ParseUserAgent(%q) = %+v, want %s / %s", c.ua, got, c.browser, c.system)
		}
	}
}

// TestDeviceDescribe: the names in each language's words.
func TestDeviceDescribe(t *testing.T) {
	t.Parallel()
	b := i18n.Builtin()
	for _, c := range []struct {
		lang string
		d    Device
		want string
	}{
		{"en", Device{"Firefox", "Windows"}, "Firefox on Windows"},
		{"it", Device{"Safari", "iPhone"}, "Safari su iPhone"},
		{"de", Device{"Thunderbird", ""}, "Thunderbird"},
		{"fr", Device{"", "Android"}, "Application inconnue sur Android"},
		{"es", Device{}, "Dispositivo desconocido"},
	} {
		if got := c.d.Describe(b.Localizer(c.lang, nil)); got != c.want {
			t.Errorf("%s %+v: %q, want %q", c.lang, c.d, got, c.want)
		}
	}
}

// FuzzParseUserAgent: any header gives names from the fixed lists only,
// never text of the header's own, and a name only when the header carries
// a token of it ("" only when it carries none).
func FuzzParseUserAgent(f *testing.F) {
	for _, c := range realUserAgents {
		f.Add(c.ua)
	}
	// explained reports whether name is "" and ua carries no token of
	// list, or name is in list with a token that ua carries.
	explained := func(list []product, ua, name string) bool {
		if name == "" {
			return !slices.ContainsFunc(list, func(p product) bool { return strings.Contains(ua, p.token) })
		}
		return slices.ContainsFunc(list, func(p product) bool { return p.name == name && strings.Contains(ua, p.token) })
	}
	f.Fuzz(func(t *testing.T, ua string) {
		d := ParseUserAgent(ua)
		if !explained(browsers, ua, d.Browser) || !explained(systems, ua, d.System) {
			t.Errorf("ParseUserAgent(%q) = %+v: a name the header does not carry", ua, d)
		}
	})
}
