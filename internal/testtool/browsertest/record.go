package browsertest

import (
	"net/url"
	"strings"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// record is the tab's event listener with Options.Record.
func (b *Browser) record(ev any) {
	if r, ok := ev.(*network.EventRequestWillBeSent); ok {
		b.mu.Lock()
		b.reqs = append(b.reqs, r.Request.URL)
		b.mu.Unlock()
	}
}

// Requests returns the URLs the tab requested so far (Options.Record).
func (b *Browser) Requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.reqs...)
}

// Offsite returns the requests to anything but the server at b.URL (data:
// URLs and about:blank stay in the browser and do not count).
func (b *Browser) Offsite() []string {
	var out []string
	for _, r := range b.Requests() {
		if strings.HasPrefix(r, b.URL+"/") || strings.HasPrefix(r, "data:") || r == "about:blank" {
			continue
		}
		out = append(out, r)
	}
	return out
}

// NotLoopback returns the requests to any host but the loopback ones
// (localhost, 127.0.0.1, ::1); data:, blob: and about:blank stay in the
// browser and do not count.
func NotLoopback(reqs []string) []string {
	var out []string
	for _, r := range reqs {
		u, err := url.Parse(r)
		if err == nil && (u.Scheme == "data" || u.Scheme == "blob" || r == "about:blank" || u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1" || u.Hostname() == "::1") {
			continue
		}
		out = append(out, r)
	}
	return out
}

// PlatformPasskey is a phone's or computer's built-in authenticator: it
// keeps discoverable credentials and verifies the user.
func PlatformPasskey() webauthn.VirtualAuthenticatorOptions {
	return webauthn.VirtualAuthenticatorOptions{
		Protocol:                    webauthn.AuthenticatorProtocolCtap2,
		Transport:                   webauthn.AuthenticatorTransportInternal,
		HasResidentKey:              true,
		HasUserVerification:         true,
		IsUserVerified:              true,
		AutomaticPresenceSimulation: true,
	}
}

// USBSecurityKey is a plain USB key: user presence only, no PIN, no
// discoverable credentials.
func USBSecurityKey() webauthn.VirtualAuthenticatorOptions {
	return webauthn.VirtualAuthenticatorOptions{
		Protocol:                    webauthn.AuthenticatorProtocolCtap2,
		Transport:                   webauthn.AuthenticatorTransportUsb,
		AutomaticPresenceSimulation: true,
	}
}

// AddAuthenticator enables the WebAuthn domain on the tab (without the
// browser's own prompts) and plugs in a virtual authenticator.
func (b *Browser) AddAuthenticator(opts webauthn.VirtualAuthenticatorOptions) webauthn.AuthenticatorID {
	b.T.Helper()
	if _, err := chromedp.Call(b.Ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		b.T.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(b.Ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &opts})
	if err != nil {
		b.T.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}
