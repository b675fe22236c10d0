package store

import (
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// System flags as bits of messages.flags.
const (
	bitSeen = 1 << iota
	bitAnswered
	bitFlagged
	bitDeleted
	bitDraft
)

// systemFlags maps the lower-case system flags to their bits and canonical
// spelling. \Recent is not here: it is never stored (RFC 9051 removed it).
var systemFlags = []struct {
	flag imap.Flag
	bit  int64
}{
	{imap.FlagSeen, bitSeen},
	{imap.FlagAnswered, bitAnswered},
	{imap.FlagFlagged, bitFlagged},
	{imap.FlagDeleted, bitDeleted},
	{imap.FlagDraft, bitDraft},
}

// Bounds on keywords.
const (
	maxKeywords   = 64  // per message
	maxKeywordLen = 100 // bytes
)

// flagSet is a message's flags as stored: system flag bits and keywords,
// sorted, without duplicates (compared case-insensitively).
type flagSet struct {
	bits     int64
	keywords []string
}

// validKeyword reports whether kw is an IMAP atom (RFC 9051 9, flag-keyword).
func validKeyword(kw string) bool {
	if kw == "" || len(kw) > maxKeywordLen {
		return false
	}
	for i := 0; i < len(kw); i++ {
		c := kw[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// parseFlags turns flags given by a client into a flagSet. \Recent is
// dropped; an unknown system flag or an invalid keyword is [ErrBadFlag].
func parseFlags(flags []imap.Flag) (flagSet, error) {
	var fs flagSet
	for _, f := range flags {
		s := string(f)
		if strings.HasPrefix(s, `\`) {
			if strings.EqualFold(s, `\Recent`) {
				continue
			}
			bit := systemBit(s)
			if bit == 0 {
				return fs, fmt.Errorf("%w: unknown system flag %q", ErrBadFlag, s)
			}
			fs.bits |= bit
			continue
		}
		if !validKeyword(s) {
			return fs, fmt.Errorf("%w: %q", ErrBadFlag, s)
		}
		fs.keywords = addKeyword(fs.keywords, s)
	}
	if len(fs.keywords) > maxKeywords {
		return fs, fmt.Errorf("%w: more than %d keywords", ErrBadFlag, maxKeywords)
	}
	return fs, nil
}

// systemBit returns the bit of system flag s (any case), or 0.
func systemBit(s string) int64 {
	for _, sf := range systemFlags {
		if strings.EqualFold(s, string(sf.flag)) {
			return sf.bit
		}
	}
	return 0
}

// addKeyword inserts kw into the sorted list kws unless it is there in some
// case.
func addKeyword(kws []string, kw string) []string {
	if slices.ContainsFunc(kws, func(k string) bool { return strings.EqualFold(k, kw) }) {
		return kws
	}
	i, _ := slices.BinarySearch(kws, kw)
	return slices.Insert(kws, i, kw)
}

// decodeKeywords parses the keywords column.
func decodeKeywords(s string) []string {
	return strings.Fields(s)
}

// encodeKeywords formats keywords for the keywords column: " a b " or "".
func encodeKeywords(kws []string) string {
	if len(kws) == 0 {
		return ""
	}
	return " " + strings.Join(kws, " ") + " "
}

// list returns the flags as IMAP flags, sorted. It never returns nil.
func (fs flagSet) list() []imap.Flag {
	out := make([]imap.Flag, 0, 5+len(fs.keywords))
	for _, sf := range systemFlags {
		if fs.bits&sf.bit != 0 {
			out = append(out, sf.flag)
		}
	}
	for _, kw := range fs.keywords {
		out = append(out, imap.Flag(kw))
	}
	slices.Sort(out)
	return out
}

// apply returns the flags after STORE op with arg (RFC 9051 6.4.6).
func (fs flagSet) apply(op imap.StoreFlagsOp, arg flagSet) flagSet {
	switch op {
	case imap.StoreFlagsSet:
		return flagSet{bits: arg.bits, keywords: slices.Clone(arg.keywords)}
	case imap.StoreFlagsAdd:
		out := flagSet{bits: fs.bits | arg.bits, keywords: slices.Clone(fs.keywords)}
		for _, kw := range arg.keywords {
			out.keywords = addKeyword(out.keywords, kw)
		}
		return out
	case imap.StoreFlagsDel:
		out := flagSet{bits: fs.bits &^ arg.bits}
		for _, kw := range fs.keywords {
			if !slices.ContainsFunc(arg.keywords, func(k string) bool { return strings.EqualFold(k, kw) }) {
				out.keywords = append(out.keywords, kw)
			}
		}
		return out
	}
	return fs
}

// equal reports whether two flag sets are the same.
func (fs flagSet) equal(o flagSet) bool {
	return fs.bits == o.bits && slices.Equal(fs.keywords, o.keywords)
}
