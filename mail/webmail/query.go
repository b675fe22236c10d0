package webmail

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
)

// Bounds of a search query.
const (
	maxQuery      = 1000 // bytes
	maxQueryTerms = 20
	minTextTerm   = 3 // runes: the full-text index holds trigrams
)

// query is a parsed search: what the search box takes.
//
//	from:anna to:ben subject:"budget 2027" after:2026-01-31
//	before:2026-03-01 has:attachment in:Sent is:unread is:flagged
//	words anywhere "or a phrase"
//
// Words without an operator match the header or body text. A word or
// phrase shorter than three characters is ignored (the full-text index
// holds trigrams) and said so. Unknown operators are taken as words.
type query struct {
	From, To, Subject, Body []string
	Text                    []string // anywhere: headers or body
	Since, Before           time.Time
	Attachment              bool
	Unread, Flagged         bool
	In                      string // mailbox name, "" for the current one, "*" for all
	Ignored                 []string
}

// parseQuery parses the search box. It never fails: what it cannot use
// lands in Ignored.
func parseQuery(s string) query {
	var q query
	if len(s) > maxQuery {
		s = s[:maxQuery]
	}
	s = strings.ToValidUTF8(s, "")
	terms := splitTerms(s)
	if len(terms) > maxQueryTerms {
		q.Ignored = append(q.Ignored, terms[maxQueryTerms:]...)
		terms = terms[:maxQueryTerms]
	}
	for _, t := range terms {
		q.term(t)
	}
	return q
}

// term adds one term, "op:value" or a word.
func (q *query) term(t string) {
	op, v, ok := strings.Cut(t, ":")
	if !ok || v == "" || strings.HasPrefix(t, "\"") {
		q.text(&q.Text, t)
		return
	}
	v = unquoteTerm(v)
	switch strings.ToLower(op) {
	case "from":
		q.text(&q.From, v)
	case "to":
		q.text(&q.To, v)
	case "subject":
		q.text(&q.Subject, v)
	case "body":
		q.text(&q.Body, v)
	case "after", "since":
		q.date(&q.Since, t, v, 0)
	case "before":
		q.date(&q.Before, t, v, 0)
	case "on":
		q.date(&q.Since, t, v, 0)
		q.date(&q.Before, t, v, 1)
	case "has":
		if strings.EqualFold(v, "attachment") {
			q.Attachment = true
		} else {
			q.Ignored = append(q.Ignored, t)
		}
	case "is":
		switch strings.ToLower(v) {
		case "unread":
			q.Unread = true
		case "flagged", "starred":
			q.Flagged = true
		default:
			q.Ignored = append(q.Ignored, t)
		}
	case "in":
		if v == "all" || v == "*" {
			q.In = "*"
		} else {
			q.In = v
		}
	default:
		q.text(&q.Text, t)
	}
}

// text adds a text term to list if it is long enough for the index.
func (q *query) text(list *[]string, v string) {
	v = strings.TrimSpace(unquoteTerm(v))
	if utf8.RuneCountInString(v) < minTextTerm {
		if v != "" {
			q.Ignored = append(q.Ignored, v)
		}
		return
	}
	*list = append(*list, v)
}

// date sets *t from v (YYYY-MM-DD) plus days.
func (q *query) date(t *time.Time, term, v string, days int) {
	d, err := time.Parse("2006-01-02", v)
	if err != nil {
		q.Ignored = append(q.Ignored, term)
		return
	}
	*t = d.AddDate(0, 0, days)
}

// splitTerms splits at white space outside double quotes; a quote opened
// and not closed runs to the end.
func splitTerms(s string) []string {
	var out []string
	var b strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			b.WriteRune(r)
		case !quoted && (r == ' ' || r == '\t' || r == '\n' || r == '\r'):
			if b.Len() > 0 {
				out = append(out, b.String())
				b.Reset()
			}
		default:
			b.WriteRune(r)
		}
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// unquoteTerm removes the double quotes of a phrase.
func unquoteTerm(s string) string {
	return strings.ReplaceAll(s, "\"", "")
}

// empty reports whether the query asks for nothing.
func (q query) empty() bool {
	return len(q.From)+len(q.To)+len(q.Subject)+len(q.Body)+len(q.Text) == 0 &&
		q.Since.IsZero() && q.Before.IsZero() && !q.Attachment && !q.Unread && !q.Flagged
}

// criteria is the query as IMAP search criteria (RFC 9051 6.4.4), which
// the store runs over its full-text index. Has-attachment is not an IMAP
// criterion; the caller filters on the body structure.
func (q query) criteria() *imap.SearchCriteria {
	c := &imap.SearchCriteria{Since: q.Since, Before: q.Before}
	for _, v := range q.From {
		c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: "From", Value: v})
	}
	for _, v := range q.To {
		c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: "To", Value: v})
	}
	for _, v := range q.Subject {
		c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: "Subject", Value: v})
	}
	c.Body = append(c.Body, q.Body...)
	c.Text = append(c.Text, q.Text...)
	if q.Unread {
		c.NotFlag = append(c.NotFlag, imap.FlagSeen)
	}
	if q.Flagged {
		c.Flag = append(c.Flag, imap.FlagFlagged)
	}
	return c
}
