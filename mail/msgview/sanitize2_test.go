package msgview

import (
	"io"
	"strings"
	"testing"
)

// TestSanitizeLinks: kept links open in a new tab without opener or
// referrer and show their target; a text that shows another domain is
// marked and listed.
func TestSanitizeLinks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in   string
		present    []string
		absent     []string
		mismatches int
	}{
		{"plain", `<a href="https://party.example/x">Read</a>`,
			[]string{`href="https://party.example/x"`, `target="_blank"`, `rel="noopener noreferrer"`, `title="https://party.example/x"`, `data-caucus-href="https://party.example/x"`}, nil, 0},
		{"sender rel and target replaced", `<a href="https://a.example/" target="_self" rel="opener" title="Safe">x</a>`,
			[]string{`rel="noopener noreferrer"`, `title="https://a.example/"`}, []string{`_self`, `"opener"`, `"Safe"`}, 0},
		{"text shows other domain", `<a href="https://evil.example/login">https://www.mybank.de/login</a>`,
			[]string{`class="caucus-link-mismatch"`, "\u26a0 evil.example"}, nil, 1},
		{"text domain in markup", `<a href="https://evil.example/"><b>www.</b><i>mybank.de</i></a>`,
			[]string{`class="caucus-link-mismatch"`}, nil, 1},
		{"target is an address", `<a href="http://192.0.2.7/login">www.mybank.de</a>`, []string{"\u26a0 192.0.2.7"}, nil, 1},
		{"same registrable domain", `<a href="https://login.mybank.de/">www.mybank.de</a>`, nil, []string{"mismatch"}, 0},
		{"address in text", `<a href="https://evil.example/">help@mybank.de</a>`, nil, nil, 1},
		{"file name is no domain", `<a href="https://files.example/r.pdf">report.pdf</a>`, nil, []string{"mismatch"}, 0},
		{"zero-width in text", "<a href=\"https://evil.example/\">mybank\u200b.de</a>", nil, nil, 1},
		{"reversed text", "<a href=\"https://evil.example/\">\u202eelpmaxe.knab</a>", []string{"elpmaxe.knab"}, []string{"\u202e"}, 0},
		{"bdo reversal", `<a href="https://evil.example/"><bdo dir="rtl">elpmaxe.knab</bdo></a>`, nil, []string{"<bdo"}, 0},
		{"bidi override css", `<a href="https://evil.example/" style="unicode-bidi: bidi-override; direction: rtl">x</a>`, nil, []string{"bidi-override"}, 0},
		{"IDN host shown in A-labels", `<a href="https://bаnk.example/">bank</a>`, []string{`title="https://xn--bnk-6cd.example/"`}, nil, 0},
		{"sender cannot hide the mark", `<style>.caucus-link-mismatch{display:none} p{color:red}</style><span class="caucus-link-mismatch x">y</span>`,
			[]string{"color: red", `class="x"`}, []string{"display"}, 0},
		{"fragment", `<a href="#top">up</a>`, []string{`href="#top"`}, []string{"_blank"}, 0},
		{"relative link into caucus", `<a href="/admin/users/1/offboard">x</a>`, nil, []string{"admin"}, 0},
		{"mailto", `<a href="mailto:anna@party.example">Anna</a>`, []string{`href="mailto:anna@party.example"`}, nil, 0},
		{"nested links", `<a href="https://a.example/">a<a href="https://b.example/">b</a>`, []string{`href="https://a.example/"`, `href="https://b.example/"`}, nil, 0},
		{"link across block", `<div><a href="https://a.example/">x</div>y</a>`, []string{`</a></div>y`}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, res := sanitize(t, tc.in, SanitizeOptions{})
			for _, p := range tc.present {
				if !strings.Contains(out, p) {
					t.Errorf("output lacks %q:\n%s", p, out)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(out, a) {
					t.Errorf("output holds %q:\n%s", a, out)
				}
			}
			if len(res.Mismatches) != tc.mismatches {
				t.Errorf("Mismatches = %+v, want %d", res.Mismatches, tc.mismatches)
			}
			checkInert(t, out)
		})
	}
}

// TestSanitizeImages: cid: images map to caucus URLs, data: images of
// raster types stay, remote images are blocked and counted, or go
// through the proxy when the member asked.
func TestSanitizeImages(t *testing.T) {
	t.Parallel()
	cid := func(id string) (string, bool) {
		if id == "logo@x" {
			return "https://caucus.test/m/1/part/2", true
		}
		return "", false
	}
	in := `<img src="cid:logo@x" alt="Logo"><img src="CID:%3Clogo@x%3E"><img src="cid:other" alt="Missing">` +
		`<img src="data:image/png;base64,iVBORw0KGgo="><img src="https://tracker.example/p.gif" alt="Pixel">` +
		`<div style="background-image: url(https://tracker.example/bg)">x</div>`
	out, res := sanitize(t, in, SanitizeOptions{CID: cid})
	if strings.Count(out, `src="https://caucus.test/m/1/part/2"`) != 2 {
		t.Errorf("cid images not mapped:\n%s", out)
	}
	if !strings.Contains(out, "Missing") || !strings.Contains(out, "Pixel") || !strings.Contains(out, `src="data:image/png`) {
		t.Errorf("alt texts or data image lost:\n%s", out)
	}
	if res.RemoteBlocked != 2 || res.RemoteImages != 0 || strings.Contains(out, "tracker") {
		t.Errorf("remote: blocked %d, images %d:\n%s", res.RemoteBlocked, res.RemoteImages, out)
	}
	checkInert(t, out)

	proxy := func(u string) string { return "https://caucus.test/proxy?u=" + u }
	out, res = sanitize(t, in, SanitizeOptions{CID: cid, RemoteImage: proxy})
	if res.RemoteImages != 1 || res.RemoteBlocked != 1 || !strings.Contains(out, `src="https://caucus.test/proxy?u=https://tracker.example/p.gif"`) {
		t.Errorf("proxied: blocked %d, images %d:\n%s", res.RemoteBlocked, res.RemoteImages, out)
	}
	if strings.Contains(out, "url(") {
		t.Errorf("CSS url() must stay blocked with remote images on:\n%s", out)
	}
}

// TestSanitizeKeepsMailHTML: the HTML of ordinary mail survives.
func TestSanitizeKeepsMailHTML(t *testing.T) {
	t.Parallel()
	in := `<html><head><title>News</title><style>@media (max-width: 600px) { td.c { width: 100% !important } } .x { color: #333; font-family: "Helvetica Neue", Arial }</style></head>` +
		`<body><table width="600" cellpadding="0" bgcolor="#ffffff"><tr><td class="c" style="padding: 10px; color: rgb(0, 0, 0)">Hello &amp; welcome &lt;friend&gt;</td></tr></table>` +
		`<ul><li>One</li><li>Two</li></ul><p dir="rtl" lang="ar">مرحبا</p><font face="Arial" color="red">old</font></body></html>`
	out, _ := sanitize(t, in, SanitizeOptions{})
	for _, want := range []string{
		`@media (max-width: 600px) {`, `td.c { width: 100% !important }`, `font-family: "Helvetica Neue", Arial`,
		`<table width="600" cellpadding="0" bgcolor="#ffffff">`, `style="padding: 10px; color: rgb(0, 0, 0)"`,
		`Hello &amp; welcome &lt;friend&gt;`, `<li>One</li>`, `<p dir="rtl" lang="ar">مرحبا</p>`, `<font face="Arial" color="red">old</font>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "News") {
		t.Errorf("title shown:\n%s", out)
	}
}

// TestSanitizeDeepNesting: nesting beyond MaxDepth loses its tags, keeps
// its text, and the output closes every element it opens.
func TestSanitizeDeepNesting(t *testing.T) {
	t.Parallel()
	in := strings.Repeat("<div>", 100000) + "deep" + strings.Repeat("</div>", 100000)
	out, _ := sanitize(t, in, SanitizeOptions{})
	if n := strings.Count(out, "<div>"); n != DefaultMaxDepth {
		t.Errorf("%d divs kept, want %d", n, DefaultMaxDepth)
	}
	if strings.Count(out, "<div>") != strings.Count(out, "</div>") || !strings.Contains(out, "deep") {
		t.Errorf("unbalanced or text lost")
	}
	// Unclosed: closed at the end.
	out, _ = sanitize(t, strings.Repeat("<b><i>", 50)+"x", SanitizeOptions{})
	if strings.Count(out, "</b>") != 50 || strings.Count(out, "</i>") != 50 {
		t.Errorf("open elements not closed: %s", out)
	}
}

// repeatReader reads s again and again, n bytes in all, without holding
// them.
type repeatReader struct {
	s    string
	n, i int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.i >= r.n {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && r.i < r.n {
		p[k] = r.s[r.i%int64(len(r.s))]
		k++
		r.i++
	}
	return k, nil
}

// countWriter counts bytes.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// TestSanitizeBombs: 100 MB of tags, one endless tag, one endless text
// are cut at the limits: a truncated result, bounded output.
func TestSanitizeBombs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    io.Reader
	}{
		{"100 MB of tags", &repeatReader{s: "<div><span><b>", n: 100 << 20}},
		{"one huge tag", io.MultiReader(strings.NewReader("<p title=\""), &repeatReader{s: "a", n: 100 << 20})},
		{"huge text", &repeatReader{s: "text ", n: 100 << 20}},
		{"huge link", io.MultiReader(strings.NewReader(`<a href="https://a.example/">`), &repeatReader{s: "<b>x</b>", n: 100 << 20})},
		{"huge style", io.MultiReader(strings.NewReader(`<style>`), &repeatReader{s: "p{color:red}", n: 100 << 20})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var w countWriter
			res, err := SanitizeHTML(&w, tc.r, SanitizeOptions{MaxInput: 8 << 20, MaxOutput: 4 << 20})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Truncated {
				t.Errorf("not reported truncated")
			}
			if w.n > 5<<20 {
				t.Errorf("wrote %d bytes", w.n)
			}
		})
	}
}

// TestSanitizeTagByTag: what the sanitizer reads of each tag stays with
// that tag (the attributes of one start tag are held in a slice reused
// for the next), names are read in any case and with white space before
// the end, and a style attribute keeps its declarations in order without
// the ones it drops.
func TestSanitizeTagByTag(t *testing.T) {
	t.Parallel()
	in := `<P CLASS="a" dir="rtl" lang="en" title="first"><b>x</b></P ><span title="t">y</span><span>z</SPAN	>` +
		`<a href="https://a.example/" class="k">Read more</a><em>after</em>` +
		`<div style="color: red; background: url(https://evil.example/x); margin: 0; width: expression(1); padding: 2px">d</div>` +
		`<a href="https://login.evil-party.net/">www.mybank.de</a>`
	out, res := sanitize(t, in, SanitizeOptions{})
	for _, want := range []string{
		`<p class="a" dir="rtl" lang="en" title="first"><b>x</b></p>`,
		`<span title="t">y</span><span>z</span>`,
		`>Read more</a><em>after</em>`,
		`<div style="color: red; margin: 0; padding: 2px">d</div>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
	if len(res.Mismatches) != 1 || res.Mismatches[0].TextDomain != "mybank.de" || res.RemoteBlocked != 1 {
		t.Errorf("result %+v", res)
	}
}
