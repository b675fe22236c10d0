package msgview

import (
	"net/mail"
	"slices"
	"strings"

	"github.com/caucus-org/caucus/mail/message"
	"github.com/caucus-org/caucus/mail/msgauth"
)

// Level is how the page should present the findings.
type Level int

// Levels, from calm to alarming.
const (
	// LevelNone: nothing to show (a party member's authenticated mail).
	LevelNone Level = iota
	// LevelUnchecked: no Authentication-Results of this host: the
	// message did not come through caucus's MX (imported, appended by a
	// client, sent within caucus) and nothing is known of its sender.
	LevelUnchecked
	// LevelOutside: mail from outside the party that passed or had
	// nothing to check; "outside sender".
	LevelOutside
	// LevelWarning: authentication failed (DMARC fail, or neither SPF
	// nor DKIM passed for an outside sender).
	LevelWarning
	// LevelDanger: the sender impersonates the party: a member's name,
	// a look-alike domain, the party's own domain without
	// authentication, or the MX's X-Caucus-Warning.
	LevelDanger
)

// String returns the level's name, for a CSS class or a catalogue key:
// "none", "unchecked", "outside", "warning", "danger".
func (l Level) String() string {
	switch l {
	case LevelNone:
		return "none"
	case LevelUnchecked:
		return "unchecked"
	case LevelOutside:
		return "outside"
	case LevelWarning:
		return "warning"
	case LevelDanger:
		return "danger"
	}
	return "unknown"
}

// Findings is the typed summary of what caucus's MX found about a
// message's sender, for the page's banner.
type Findings struct {
	// Checked says the message carries an Authentication-Results field
	// of this host, at the top of its header: the MX checked it.
	Checked bool
	// SPF, DKIM and DMARC are the results (RFC 8601 section 2.7) the MX
	// wrote, "" when it wrote none. DKIM is "pass" when one signature
	// passed, else the first signature's result.
	SPF, DKIM, DMARC string
	// DMARCPolicy is the policy the From domain publishes ("" if none).
	DMARCPolicy string
	// FromDomain is the RFC5322.From domain the MX judged.
	FromDomain string
	// DKIMDomains are the domains whose signatures passed.
	DKIMDomains []string
	// External: the sender is outside the party (From not in its
	// domains, or not authenticated as coming from them). Known only
	// when Checked.
	External bool
	// Warning is the MX's X-Caucus-Warning text, "" if none.
	Warning string
	// Tagged says the subject carries the MX's "[External]" tag: it
	// starts with it and the MX warned (a sender may write the tag
	// itself; the page may then show the subject without it).
	Tagged bool
	// ClaimsToBe is the party member whose name an outside sender uses,
	// or the party address its name shows ("claims to be the party
	// leader from outside"); "" if none.
	ClaimsToBe string
	// Lookalike is the party domain the sender's domain imitates.
	Lookalike string
	// Forged: the From is in the party's domains but the message did not
	// authenticate as the party's.
	Forged bool
	// OnBehalf is the field (Sender, Resent-From, Resent-Sender) of an
	// outside message that shows the party or a member's name, "" if
	// none: clients show it as "<it> on behalf of <From>".
	OnBehalf string
	// Level sums it up.
	Level Level
}

// traceFields may stand above the MX's Authentication-Results: the
// Received field caucus adds as it delivers, and the fields delivery
// agents prepend.
var traceFields = []string{"received", "return-path", "delivered-to", "x-original-to"}

// findings reads the trusted Authentication-Results and warning.
func findings(h *message.Header, opt Options) Findings {
	var f Findings
	if h == nil {
		return f
	}
	ar, warning := trusted(h, opt.Hostname)
	if ar == "" {
		f.Level = LevelUnchecked
		return f
	}
	f.Checked = true
	readAuthResults(&f, ar)
	f.Warning = CleanText(warning)
	f.Tagged = f.Warning != "" && strings.HasPrefix(strings.ToLower(decodeHeaderText(h.First("Subject"))), "[external]")
	f.judge(h, opt.Directory)
	return f
}

// trusted returns the value of the Authentication-Results field this
// host wrote and of the X-Caucus-Warning right after it, "" if the
// header has none. The field must carry opt.Hostname as authserv-id and
// be the first field after trace fields: the MX puts it there, having
// removed every field that claimed its name (RFC 8601 section 5); one
// further down came from the sender.
func trusted(h *message.Header, hostname string) (ar, warning string) {
	host := normalizeHost(hostname)
	if host == "" {
		return "", ""
	}
	for i, f := range h.Fields {
		if slices.Contains(traceFields, strings.ToLower(f.Name)) {
			continue
		}
		if !f.Is("Authentication-Results") || normalizeHost(authservID(f.Value())) != host {
			return "", ""
		}
		if i+1 < len(h.Fields) && h.Fields[i+1].Is("X-Caucus-Warning") {
			warning = h.Fields[i+1].Value()
		}
		return f.Value(), warning
	}
	return "", ""
}

func normalizeHost(s string) string {
	return strings.ToLower(strings.TrimSuffix(strings.Trim(strings.TrimSpace(s), `"`), "."))
}

// authservID returns the authserv-id an Authentication-Results value
// starts with (RFC 8601 section 2.2), comments skipped.
func authservID(v string) string {
	v = skipComments(v)
	if end := strings.IndexAny(v, " \t;("); end >= 0 {
		v = v[:end]
	}
	return v
}

// skipComments skips white space and comments at the start of v.
func skipComments(v string) string {
	for {
		v = strings.TrimLeft(v, " \t")
		if !strings.HasPrefix(v, "(") {
			return v
		}
		depth, i := 0, 0
		for ; i < len(v); i++ {
			switch v[i] {
			case '\\':
				i++
			case '(':
				depth++
			case ')':
				depth--
			}
			if depth == 0 {
				break
			}
		}
		if i >= len(v) {
			return ""
		}
		v = v[i+1:]
	}
}

// readAuthResults reads the resinfos (RFC 8601 section 2.2) the MX
// writes: "spf=R smtp.mailfrom=D", "dkim=R header.d=D", "dmarc=R (p=P)
// header.from=D".
func readAuthResults(f *Findings, v string) {
	infos := splitTop(v, ';')
	for _, info := range infos[1:] {
		words := strings.Fields(info)
		if len(words) == 0 {
			continue
		}
		method, result, ok := strings.Cut(words[0], "=")
		if !ok {
			continue
		}
		method, result = strings.ToLower(method), strings.ToLower(result)
		props := map[string]string{}
		for _, w := range words[1:] {
			if k, val, ok := strings.Cut(w, "="); ok {
				props[strings.ToLower(strings.TrimLeft(k, "("))] = strings.Trim(val, `"()`)
			}
		}
		switch method {
		case "spf":
			f.SPF = result
		case "dkim":
			if result == "pass" {
				f.DKIMDomains = append(f.DKIMDomains, strings.ToLower(props["header.d"]))
			}
			if f.DKIM == "" || result == "pass" {
				f.DKIM = result
			}
		case "dmarc":
			f.DMARC = result
			f.DMARCPolicy = props["p"]
			f.FromDomain = strings.ToLower(props["header.from"])
		}
	}
}

// judge sets External, the impersonation findings and Level.
func (f *Findings) judge(h *message.Header, dir msgauth.Directory) {
	var own []string
	if dir != nil {
		own = dir.OwnDomains()
	}
	from, err := h.From()
	domain := f.FromDomain
	if err == nil && domain == "" {
		domain = from.Domain()
	}
	isOwn := slices.ContainsFunc(own, func(d string) bool {
		d = strings.ToLower(d)
		return domain == d || strings.HasSuffix(domain, "."+d)
	})
	f.External = !isOwn || f.DMARC != "pass"
	if dir != nil && err == nil {
		v := msgauth.CheckImpersonation(&mail.Address{Name: from.Name, Address: from.Addr()}, dir, isOwn && f.DMARC == "pass")
		v = msgauth.CheckOnBehalf(v, h, dir)
		f.ClaimsToBe = CleanText(v.NameMatch)
		f.Lookalike = v.Lookalike
		f.Forged = v.Forged
		f.OnBehalf = v.OnBehalf
	}
	switch {
	case f.ClaimsToBe != "" || f.Lookalike != "" || f.Forged || f.OnBehalf != "" || f.Warning != "":
		f.Level = LevelDanger
	case f.DMARC == "fail" || f.External && f.SPF != "pass" && f.DKIM != "pass":
		f.Level = LevelWarning
	case f.External:
		f.Level = LevelOutside
	default:
		f.Level = LevelNone
	}
}
