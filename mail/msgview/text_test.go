package msgview

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func TestHTMLToText(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"paragraphs", "<p>Hello   <b>Anna</b>,</p><p>see\nyou</p>", "Hello Anna,\n\nsee you\n"},
		{"list", "<ul><li>one<li>two</ul>after", "- one\n- two\nafter\n"},
		{"link target shown", `<a href="https://x.example/a">the report</a>`, "the report <https://x.example/a>\n"},
		{"link text is target", `<a href="https://x.example/a">https://x.example/a</a>`, "https://x.example/a\n"},
		{"javascript link hidden", `<a href="javascript:alert(1)">click</a>`, "click\n"},
		{"script and style gone", "<style>p{}</style><script>alert(1)</script><head><title>T</title></head>text", "text\n"},
		{"pre kept", "<pre>a  b\n  c</pre>", "a  b\n  c\n"},
		{"br and entities", "a&amp;b<br>c&lt;d&gt;", "a&b\nc<d>\n"},
		{"image alt", `<img src="x" alt="Logo"> text`, "Logo text\n"},
		{"table cells", "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc\n"},
		{"invisible removed", "Par\u200bty\u202e Leader", "Party Leader\n"},
		{"svg text gone", "<svg><text>x</text></svg>y", "y\n"},
		{"hidden text gone", `<div style="display: none; max-height:0">preheader <div>inner</div> more</div><span hidden>h</span><span style="VISIBILITY:hidden">v</span>shown<p hidden>p, not skipped: its end is optional`, "shown\n\np, not skipped: its end is optional\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := HTMLToText(&b, strings.NewReader(tc.in)); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("HTMLToText(%q) = %q, want %q", tc.in, b.String(), tc.want)
			}
		})
	}
}

// TestHTMLToTextBound: output stops at MaxTextOutput.
func TestHTMLToTextBound(t *testing.T) {
	t.Parallel()
	var w countWriter
	if err := HTMLToText(&w, &repeatReader{s: "<p>word word</p>", n: 100 << 20}); err != nil {
		t.Fatal(err)
	}
	if w.n > MaxTextOutput {
		t.Errorf("wrote %d bytes", w.n)
	}
}

func TestQuoting(t *testing.T) {
	t.Parallel()
	if got, want := QuoteText("Hi Anna,\r\n\r\n> earlier\nthanks\n\n"), "> Hi Anna,\n>\n>> earlier\n> thanks\n"; got != want {
		t.Errorf("QuoteText = %q, want %q", got, want)
	}
	h := Header{
		From:       []Address{{Name: "Jörg", Addr: "j@x.example"}},
		To:         []Address{{Addr: "anna@party.example"}, {Addr: "bob@party.example"}},
		Cc:         []Address{{Addr: "J@x.example"}, {Addr: "carl@party.example"}},
		Subject:    "[External] Re: plans",
		Date:       time.Date(2026, 12, 5, 17, 30, 0, 0, time.UTC),
		MessageID:  "<m2@x>",
		References: []string{"<m0@x>", "<m1@x>"},
	}
	if got := ReplySubject(h.Subject); got != "Re: plans" {
		t.Errorf("ReplySubject = %q", got)
	}
	if got := ForwardSubject("plans"); got != "Fwd: plans" {
		t.Errorf("ForwardSubject = %q", got)
	}
	irt, refs := ReplyReferences(h)
	if irt != "<m2@x>" || strings.Join(refs, " ") != "<m0@x> <m1@x> <m2@x>" {
		t.Errorf("ReplyReferences = %q, %q", irt, refs)
	}
	to, cc := ReplyRecipients(h, true, []string{"Anna@party.example"})
	if len(to) != 1 || to[0].Addr != "j@x.example" || len(cc) != 2 || cc[0].Addr != "bob@party.example" || cc[1].Addr != "carl@party.example" {
		t.Errorf("ReplyRecipients = %+v, %+v", to, cc)
	}
	ff := ForwardFields(h, time.RFC1123Z, time.UTC)
	if len(ff) != 5 || ff[0].Name != "From" || ff[1].Value != "Sat, 05 Dec 2026 17:30:00 +0000" {
		t.Errorf("ForwardFields = %+v", ff)
	}
}

func TestPreview(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"Hello Anna,\n\n> old text\nsee you at\tthe meeting", 100, "Hello Anna, see you at the meeting"},
		{"Hello Anna, see you at the meeting", 20, "Hello Anna, see you…"},
		{"Grüße\u200b aus Berlin", 5, "Grüße…"},
		{"", 10, ""},
	}
	for _, tc := range tests {
		if got := Preview(tc.in, tc.n); got != tc.want {
			t.Errorf("Preview(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// failWriter takes n bytes, then fails with errFailWriter.
type failWriter struct{ n int }

var errFailWriter = errors.New("enough")

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k := f.n
		f.n = 0
		return k, errFailWriter
	}
	f.n -= len(p)
	return len(p), nil
}

// TestWriterErrors: a writer's error comes back wrapped, so a caller
// that stops writing on purpose can tell.
func TestWriterErrors(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("word ", 20000)
	for _, msg := range []string{
		"Content-Type: text/plain\n\n" + long,
		"Content-Type: text/html\n\n<p>" + long,
	} {
		v := parse(t, msg, Options{})
		if err := v.BodyText(&failWriter{n: 100}); !errors.Is(err, errFailWriter) {
			t.Errorf("BodyText: %v", err)
		}
		if _, err := v.SanitizeBody(&failWriter{n: 100}, "", SanitizeOptions{}); !errors.Is(err, errFailWriter) {
			t.Errorf("SanitizeBody: %v", err)
		}
		if _, err := v.WritePart(&failWriter{n: 100}, "1"); !errors.Is(err, errFailWriter) {
			t.Errorf("WritePart: %v", err)
		}
	}
}

// TestCleanText: invisible characters that hide or reorder text go; the
// joiners and variation selectors that emoji and several scripts are
// written with stay where they join or select.
func TestCleanText(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"Invoice\u202Efdp.exe", "Invoicefdp.exe"},
		{"\u2066Party\u2069 \u200eLeader\u200f", "Party Leader"},
		{"Par\u200Bty  Lea\u200Dder\u00AD", "Party Leader"},
		{"  a\tb\r\nc ", "a b c"},
		{"Caf\xe9", "Café"},
		// Kept: a ZWJ emoji sequence, an emoji's selector, a keycap,
		// Persian's non-joiner, a Devanagari half form.
		{"👩\u200D💻 Work", "👩\u200D💻 Work"},
		{"❤\uFE0F", "❤\uFE0F"},
		{"❤\uFE0F\u200D🔥", "❤\uFE0F\u200D🔥"},
		{"1\uFE0F\u20E3 first", "1\uFE0F\u20E3 first"},
		{"پیام\u200Cها", "پیام\u200Cها"},
		{"क्\u200Dष", "क्\u200Dष"},
		{"葛\U000E0100城市", "葛\U000E0100城市"},
		// Removed where they join or select nothing visible: between or
		// after ASCII letters, at the ends, beside a space.
		{"In\u200Cbox\uFE0F", "Inbox"},
		{"\u200D👩 \u200D💻\u200D", "👩 💻"},
		{"\uFE0FA", "A"},
	} {
		if got := CleanText(c.in); got != c.want {
			t.Errorf("CleanText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzCleanText: the result is valid UTF-8 of at most 2000 bytes, holds
// no control or removed character, a joiner only between two characters
// beyond ASCII, and is its own cleaning.
func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"Invoice\u202Efdp.exe", "👩\u200D💻 Work", "❤\uFE0F\u200D🔥", "پیام\u200Cها", "In\u200Cbox\uFE0F", "Caf\xe9", strings.Repeat("é\u200D", 700)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := CleanText(s)
		if !utf8.ValidString(out) || len(out) > maxHeaderText {
			t.Fatalf("CleanText(%q) = %q: not UTF-8 or too long", s, out)
		}
		rs := []rune(out)
		for i, r := range rs {
			if unicode.IsControl(r) || invisible(r) || r != ' ' && unicode.IsSpace(r) {
				t.Fatalf("CleanText(%q) = %q holds %U", s, out, r)
			}
			if (r == 0x200D || r == 0x200C) && (i == 0 || i == len(rs)-1 || rs[i-1] < utf8.RuneSelf || rs[i+1] < utf8.RuneSelf) {
				t.Fatalf("CleanText(%q) = %q: a joiner at %d joins nothing", s, out, i)
			}
		}
		if again := CleanText(out); again != out {
			t.Fatalf("CleanText(%q) = %q, cleaned again %q", s, out, again)
		}
	})
}
