package msgview

import (
	"strings"
	"testing"
)

// TestFlowed: format=flowed text is joined into paragraphs (RFC 3676).
func TestFlowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, params, body, want string
	}{
		{"soft breaks", "format=flowed", "Hello Anna, this is \nlong text \nin lines.\nNew line.\n", "Hello Anna, this is long text in lines.\nNew line.\n"},
		{"delsp", "format=flowed; delsp=yes", "Hel \nlo\n", "Hello\n"},
		{"space-stuffed", "format=flowed", " From here\n >not a quote\n", "From here\n>not a quote\n"},
		{"quotes", "format=flowed", "> quoted \n> text\n>> deeper \n>> still\nreply\n", "> quoted text\n>> deeper still\nreply\n"},
		{"depth change ends a paragraph", "format=flowed", "> a \nb\n", "> a \nb\n"},
		{"signature", "format=flowed", "bye \n-- \nAnna\n", "bye \n-- \nAnna\n"},
		{"not flowed", "", "a \nb\n", "a \nb\n"},
		{"no final newline", "format=flowed", "a \nb", "a b\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct := "text/plain; charset=utf-8"
			if tc.params != "" {
				ct += "; " + tc.params
			}
			v := parse(t, "Content-Type: "+ct+"\n\n"+tc.body, Options{})
			var b strings.Builder
			if err := v.BodyText(&b); err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if tc.params == "" {
				want = strings.ReplaceAll(want, "\n", "\r\n")
			}
			if got := strings.ReplaceAll(b.String(), "\r\n", "\n"); got != strings.ReplaceAll(want, "\r\n", "\n") {
				t.Errorf("text = %q, want %q", b.String(), tc.want)
			}
		})
	}
}

// TestFlowedLongLine: a line longer than the reader's buffer is kept
// whole.
func TestFlowedLongLine(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 64<<10) + "> y " + strings.Repeat("z", 200<<10)
	v := parse(t, "Content-Type: text/plain; format=flowed\n\n"+long+"\nend\n", Options{})
	var b strings.Builder
	if err := v.BodyText(&b); err != nil {
		t.Fatal(err)
	}
	if b.String() != long+"\nend\n" {
		t.Errorf("got %d bytes", b.Len())
	}
}
