package dav

import (
	"context"
	"net/url"
	"strings"
)

// ifCondition is one condition of an If header list (RFC 4918 section 10.4).
type ifCondition struct {
	not   bool
	token string // state token (lock token or DAV:no-lock)
	etag  string // entity tag, quotes included
}

// ifList is one list, for the resource tag (empty: the request URI).
type ifList struct {
	resource   string
	conditions []ifCondition
}

// maxIfHeader bounds the If header that is parsed.
const maxIfHeader = 8 << 10

// parseIf parses an If header; ok is false when it is malformed.
func parseIf(s string) (lists []ifList, ok bool) {
	if len(s) > maxIfHeader {
		return nil, false
	}
	resource := ""
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return lists, len(lists) > 0
		}
		switch s[0] {
		case '<':
			end := strings.IndexByte(s, '>')
			if end < 0 {
				return nil, false
			}
			resource, s = s[1:end], s[end+1:]
		case '(':
			l := ifList{resource: resource}
			s = s[1:]
			for {
				s = strings.TrimLeft(s, " \t")
				if s == "" {
					return nil, false
				}
				if s[0] == ')' {
					s = s[1:]
					break
				}
				var c ifCondition
				if len(s) >= 3 && strings.EqualFold(s[:3], "not") {
					c.not = true
					s = strings.TrimLeft(s[3:], " \t")
				}
				if s == "" {
					return nil, false
				}
				switch s[0] {
				case '<':
					end := strings.IndexByte(s, '>')
					if end < 0 {
						return nil, false
					}
					c.token, s = s[1:end], s[end+1:]
				case '[':
					end := strings.IndexByte(s, ']')
					if end < 0 {
						return nil, false
					}
					c.etag, s = s[1:end], s[end+1:]
				default:
					return nil, false
				}
				l.conditions = append(l.conditions, c)
			}
			if len(l.conditions) == 0 {
				return nil, false
			}
			lists = append(lists, l)
		default:
			return nil, false
		}
	}
}

// ifFails reports whether an If header cannot be satisfied whatever the
// lock tokens: every list holds a condition that is false by entity tag or
// by DAV:no-lock. x/net/webdav checks lock tokens but not entity tags; this
// adds the rest of RFC 4918 section 10.4, so such a request gets 412.
func (h *Handler) ifFails(ctx context.Context, fs *fileSystem, reqPath, header string) bool {
	lists, ok := parseIf(header)
	if !ok {
		return false // x/net/webdav answers malformed headers itself
	}
	etags := map[string]string{}
	etagOf := func(res string) string {
		p := reqPath
		if res != "" {
			u, err := url.Parse(res)
			if err != nil {
				return ""
			}
			p = u.Path
		}
		p, found := strings.CutPrefix(p, Prefix)
		if !found {
			return ""
		}
		if e, ok := etags[p]; ok {
			return e
		}
		n, err := fs.store.Stat(ctx, fs.actor, p)
		e := ""
		if err == nil {
			e = `"` + n.ETag + `"`
			if n.Virtual {
				e = `"virtual"`
			}
		}
		etags[p] = e
		return e
	}
	for _, l := range lists {
		falseList := false
		for _, c := range l.conditions {
			switch {
			case c.etag != "":
				match := etagOf(l.resource) == c.etag
				falseList = match == c.not
			case strings.EqualFold(c.token, "DAV:no-lock"):
				falseList = !c.not
			}
			if falseList {
				break
			}
		}
		if !falseList {
			return false
		}
	}
	return true
}
