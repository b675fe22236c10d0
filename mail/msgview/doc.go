// Package msgview turns a stored message (RFC 5322, MIME of RFC 2045 and
// RFC 2046) into what a browser may show: display headers, the MIME tree,
// the best body, the attachments, the sender findings banner, and the
// message's HTML made inert. It is the rendering and safety core of
// webmail (mail/webmail builds pages on it); it serves nothing itself.
//
// # Reading a message
//
// Parse reads the header with mail/message (the one header parser caucus
// has, so the From a member reads is the From the MX judged), decodes RFC
// 2047 encoded-words in any charset the WHATWG index knows
// (golang.org/x/text), reads 8-bit header bytes as UTF-8 or else as
// Windows-1252, and neutralises zero-width and bidirectional control
// characters in names and subjects (CleanText), so that "‮gpj.exe" or a
// name padded with invisible characters shows as what it is. It then walks
// the MIME tree (github.com/emersion/go-message/textproto's multipart
// reader) within Options' limits on depth, part count and bytes, and picks
// the body: text/html or text/plain from a multipart/alternative (the last
// one the reader prefers, RFC 2046 section 5.1.4). Nothing is kept in
// memory but the part list and the decoded text parts (4 MB at most);
// View.WritePart re-reads one part and streams it decoded
// (Content-Transfer-Encoding undone, RFC 2045 section 6), so a 50 MB
// attachment is never held. View.SanitizeBody writes the frame's
// document, View.BodyText the body as text (for replies, previews and
// search snippets; format=flowed text, RFC 3676, joined into
// paragraphs), and QuoteText, ForwardFields,
// ReplySubject, ReplyRecipients and ReplyReferences prepare a reply or a
// forward. Every word they return is data; the page translates the
// labels (Notice codes, ForwardField names, Level names).
//
// # Showing HTML
//
// SanitizeHTML is a small allow-list sanitizer on golang.org/x/net/html's
// tokenizer, not bluemonday: it needs no new dependency, it streams (a
// tree builder would hold 100 MB of tags in memory), and the mail-specific
// work (cid: images, blocked-remote counts, link targets, look-alike link
// texts, CSS without fetches) would be written either way. What it keeps
// is re-serialised from tokens: every text escaped, every attribute
// quoted, only allowed elements and attributes, only http, https and
// mailto links, only cid: and data:image images (and remote images only
// through Options.RemoteImage), CSS only without url(), @import, image
// functions or escapes. svg and math go whole: their parsing rules differ
// from HTML's, the root of mutation XSS.
//
// The result is meant for a frame that cannot run anything even if the
// sanitizer missed something: an <iframe sandbox="FrameSandbox"> whose
// src answers with the header Content-Security-Policy: FrameCSP (or
// FrameCSPWithImages, for cid: images served by caucus), text/html;
// charset=utf-8, and X-Content-Type-Options: nosniff. Use a src, not
// srcdoc: a srcdoc document inherits the page's policy, not FrameCSP.
// The policy is the issue's "sandbox; default-src 'none'; img-src data:
// cid:" with two changes: style-src 'unsafe-inline', without which no
// mail's layout survives (harmless in a frame that runs no script, loads
// no font and fetches no image the policy does not name), and no cid:
// source, which browsers do not fetch; cid: images are rewritten to
// caucus URLs instead. TestBrowserHostileFrame loads hostile HTML in
// Chromium both sanitized and raw under this policy, and sees nothing run
// and nothing leave.
//
// # Remote content
//
// Remote images, style sheets and fonts are removed by default, and
// Result.RemoteBlocked says how many, so the page can offer "load remote
// images". Webmail loads them, when the member asks for one message,
// through ImageProxy and never from the member's browser: the browser
// would give the sender the member's IP address, browser, language and
// time of reading, and cookies of the sender's site; through the proxy
// the sender learns only that the message was opened, and when.
// ImageProxy.URL is the SanitizeOptions.RemoteImage to pass then; the
// proxy fetches only URLs it signed, only from public addresses (the
// fetch is a server-side request whose target the sender chose), with no
// cookie, no Referer and a fixed User-Agent, and answers only with PNG,
// JPEG, GIF or WebP bytes of bounded size. Remote style sheets and fonts
// are never loaded, not even through the proxy: CSS url() can leak
// reading time and attribute values (CSS exfiltration), and mail reads
// well without them.
//
// # Findings
//
// Findings reads the Authentication-Results field caucus's MX wrote
// (mail/msgauth) and its X-Caucus-Warning, and only those: the field must
// carry this host's authserv-id (Options.Hostname) and stand at the top of
// the header with only trace fields above it, where the MX puts it after
// removing every field that claimed its name (RFC 8601 section 5).
package msgview

// FrameSandbox is the sandbox attribute value of the iframe that shows a
// message body: no scripts, no same origin (so the frame cannot read
// caucus's cookies or pages), no forms, no top navigation; links open in
// a new, unsandboxed tab (allow-popups-to-escape-sandbox), so that the
// sites they lead to work.
const FrameSandbox = "allow-popups allow-popups-to-escape-sandbox"

// FrameCSP is the Content-Security-Policy header value of the response
// that holds a message body for the frame: a sandbox (CSP Level 3 section
// 6.3.2.1) even if the frame attribute is missing, nothing loaded but
// data: images, inline CSS allowed (the sanitizer took every url() out of
// it, and img-src and font-src would stop one anyway), no form target, no
// base URL, and only caucus may frame it.
const FrameCSP = "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; " +
	"style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'; frame-ancestors 'self'"

// FrameCSPWithImages returns FrameCSP with img-src widened to the sources
// given (e.g. "https://mail.example.org" for cid: images served by caucus
// through Options.CID, or the remote-image proxy's origin). An origin, not
// 'self': a sandboxed document's own origin is opaque.
func FrameCSPWithImages(sources ...string) string {
	src := "img-src data:"
	for _, s := range sources {
		src += " " + cspSource(s)
	}
	return "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; " +
		"style-src 'unsafe-inline'; " + src + "; form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
}

// cspSource keeps a source expression from adding a directive: no ";" or
// "," (CSP Level 3 section 2.2), no white space.
func cspSource(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c > ' ' && c < 0x7f && c != ';' && c != ',' && c != '\'' {
			out = append(out, c)
		}
	}
	return string(out)
}
