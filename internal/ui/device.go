package ui

import (
	"strings"

	"github.com/caucus-org/caucus/internal/i18n"
)

// Device is what a User-Agent header (RFC 9110 section 10.1.5) says about
// the program and the system that sent a request, as names people know:
// "Firefox", "Windows". Either is "" when the header does not say. The
// names come from fixed lists, never from the header itself, so a forged
// header can show nothing but one of them.
type Device struct {
	Browser string
	System  string
}

// A product token names a program when the User-Agent contains it. The
// lists are in order: the first match wins, so a more specific token
// (Edge's "Edg/") precedes the one it also carries ("Chrome/").
type product struct{ token, name string }

// browsers are programs that send a User-Agent: browsers, and the mail
// and WebDAV clients people connect to caucus.
var browsers = []product{
	{"Thunderbird/", "Thunderbird"},
	{"Microsoft Outlook", "Outlook"},
	{"Microsoft Office", "Microsoft Office"},
	{"Microsoft-WebDAV-MiniRedir", "Windows Explorer"},
	{"WebDAVFS/", "Finder"},
	{"davfs2/", "davfs2"},
	{"gvfs/", "GNOME Files"},
	{"rclone/", "rclone"},
	{"curl/", "curl"},
	{"EdgA/", "Edge"},
	{"EdgiOS/", "Edge"},
	{"Edg/", "Edge"},
	{"OPR/", "Opera"},
	{"SamsungBrowser/", "Samsung Internet"},
	{"Vivaldi/", "Vivaldi"},
	{"FxiOS/", "Firefox"},
	{"Firefox/", "Firefox"},
	{"CriOS/", "Chrome"},
	{"Chromium/", "Chromium"},
	{"HeadlessChrome/", "Chrome"},
	{"Chrome/", "Chrome"},
	{"Trident/", "Internet Explorer"},
	{"MSIE ", "Internet Explorer"},
	{"Safari/", "Safari"},
}

// systems are operating systems and devices. iPhone and iPad precede
// "Mac OS X" (their User-Agent says "like Mac OS X"), Android precedes Linux.
var systems = []product{
	{"iPhone", "iPhone"},
	{"iPad", "iPad"},
	{"Android", "Android"},
	{"CrOS", "ChromeOS"},
	{"Windows", "Windows"},
	{"Microsoft-WebDAV-MiniRedir", "Windows"},
	{"Macintosh", "macOS"},
	{"Mac OS X", "macOS"},
	{"WebDAVFS/", "macOS"},
	{"Darwin/", "macOS"},
	{"FreeBSD", "FreeBSD"},
	{"Linux", "Linux"},
	{"X11", "Linux"},
}

// ParseUserAgent returns what ua says about the program and system that
// sent it. It only looks for known tokens (linear in len(ua) per token), so
// any header, of any size, is safe to give it.
func ParseUserAgent(ua string) Device {
	return Device{Browser: first(ua, browsers), System: first(ua, systems)}
}

func first(ua string, list []product) string {
	for _, p := range list {
		if strings.Contains(ua, p.token) {
			return p.name
		}
	}
	return ""
}

// Describe names d in l's language: "Firefox on Windows", "Thunderbird",
// "Unknown app on Android", "Unknown device".
func (d Device) Describe(l *i18n.Localizer) string {
	switch {
	case d.Browser != "" && d.System != "":
		return l.T("pages.device.on", "browser", d.Browser, "system", d.System)
	case d.Browser != "":
		return d.Browser
	case d.System != "":
		return l.T("pages.device.unknown_on", "system", d.System)
	}
	return l.T("pages.device.unknown")
}

// deviceFuncs gives templates {{device .UserAgent}}: the browser and
// system in l's language (see [Device.Describe]). A nil l is for parsing
// only.
func deviceFuncs(l *i18n.Localizer) map[string]any {
	return map[string]any{
		"device": func(ua string) string { return ParseUserAgent(ua).Describe(l) },
	}
}
