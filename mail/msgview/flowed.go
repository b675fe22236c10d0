package msgview

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// maxFlowed bounds a paragraph joined from flowed lines; a longer one is
// written in pieces.
const maxFlowed = 256 << 10

// flowedReader decodes text/plain; format=flowed (RFC 3676 section 4):
// lines that end in a space continue on the next line of the same quote
// depth (the space dropped too with delsp=yes, section 4.2), a space
// stuffed before a line is removed (section 4.4), and the signature
// separator "-- " stays a line of its own (section 4.3). Quoted
// paragraphs come out as "> " lines of their depth. Its input is UTF-8.
type flowedReader struct {
	r     *bufio.Reader
	delSp bool
	out   bytes.Buffer // decoded, not yet read
	para  strings.Builder
	depth int  // quote depth of para
	open  bool // para holds a paragraph that continues
	mid   bool // the last piece read ended inside a line
	err   error
}

func (f *flowedReader) Read(p []byte) (int, error) {
	for f.out.Len() == 0 && f.err == nil {
		f.step()
	}
	if f.out.Len() > 0 {
		return f.out.Read(p)
	}
	return 0, f.err
}

// step reads one line and decodes it.
func (f *flowedReader) step() {
	b, err := f.r.ReadSlice('\n')
	line := string(b)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		f.err = err
		return
	}
	full := err != bufio.ErrBufferFull
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	switch {
	case f.mid:
		// The rest of a long line: no quote marks or stuffing here.
		soft := !full || strings.HasSuffix(line, " ")
		if full && soft && f.delSp {
			line = line[:len(line)-1]
		}
		f.para.WriteString(line)
		if !soft || f.para.Len() > maxFlowed {
			f.flush()
		}
	case line != "" || err != io.EOF:
		f.line(line, full)
	}
	f.mid = !full
	if err == io.EOF {
		f.flush()
		f.err = io.EOF
	}
}

// line decodes one line; full is false for the first piece of a line
// longer than the buffer, which always continues.
func (f *flowedReader) line(line string, full bool) {
	depth := 0
	for depth < len(line) && line[depth] == '>' {
		depth++
	}
	line = strings.TrimPrefix(line[depth:], " ") // space-stuffing
	if f.open && depth != f.depth {
		f.flush() // a quote depth change ends a paragraph (section 4.5)
	}
	f.depth = depth
	soft := line != "-- " && strings.HasSuffix(line, " ") || !full
	if soft && f.delSp && full {
		line = line[:len(line)-1]
	}
	if line == "-- " && f.open {
		f.flush()
	}
	f.para.WriteString(line)
	f.open = true
	if !soft || f.para.Len() > maxFlowed {
		f.flush()
	}
}

// flush ends the paragraph.
func (f *flowedReader) flush() {
	if !f.open {
		return
	}
	if f.depth > 0 {
		f.out.WriteString(strings.Repeat(">", f.depth) + " ")
	}
	f.out.WriteString(f.para.String())
	f.out.WriteByte('\n')
	f.para.Reset()
	f.open = false
}
