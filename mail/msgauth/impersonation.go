package msgauth

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"

	"github.com/caucus-org/caucus/mail/message"
)

// Directory is what CheckImpersonation needs to know about the party. The
// caller implements it.
type Directory interface {
	// MemberNames returns the display names of the party's members, e.g.
	// "Party Leader", "Anna Svensson".
	MemberNames() []string
	// OwnDomains returns the party's mail domains.
	OwnDomains() []string
}

// Verdict says whether a message's sender may be impersonating the party.
type Verdict struct {
	// External: the From address is not in the party's domains, or it is
	// but the message did not authenticate as coming from them.
	External bool
	// Forged: the From address is in the party's domains, but the message
	// did not authenticate as coming from them (DMARC did not pass).
	Forged bool
	// NameMatch is the member name (as the Directory gives it) that the
	// display name of an external sender matches, or the party address
	// that the display name shows ("leader@example-party.org"
	// <x@gmail.com>); "" if none.
	NameMatch string
	// Lookalike is the party domain that the sender's domain imitates, ""
	// if none.
	Lookalike string
	// OnBehalf is the Sender, Resent-From or Resent-Sender field of an
	// external message that shows a party address or passes for a
	// member's name (clients show "<it> on behalf of <From>"); "" if
	// none. See CheckOnBehalf.
	OnBehalf string
	// Domain is the sender's domain, in A-label (xn--) form when it is
	// internationalized, so that a homograph shows as what it is.
	Domain string
	// Reason explains the verdict in a sentence or two for the reader of
	// the message, in ASCII; "" when there is nothing to warn about.
	Reason string
}

// Suspicious reports whether the message should carry a warning.
func (v Verdict) Suspicious() bool {
	return v.Forged || v.NameMatch != "" || v.Lookalike != "" || v.OnBehalf != ""
}

// onBehalfFields are the fields besides From that name who sent a message
// (RFC 5322 sections 3.6.2 and 3.6.6) and that mail clients show.
var onBehalfFields = []string{"Sender", "Resent-From", "Resent-Sender"}

// CheckOnBehalf extends the verdict on an external message (v.External)
// with its other author fields: a Sender, Resent-From or Resent-Sender
// mailbox in the party's domains, or whose display name passes for a
// member's (MatchMember), makes it suspicious, with the reason added. DMARC
// vouches for the From only; a message that did not authenticate as the
// party's may not show the party in these either. Verdicts on mail that is
// not external are returned as they are.
func CheckOnBehalf(v Verdict, h *message.Header, dir Directory) Verdict {
	if !v.External || h == nil || dir == nil {
		return v
	}
	var own []domainForms
	for _, d := range dir.OwnDomains() {
		if f := newDomainForms(d); f.ascii != "" {
			own = append(own, f)
		}
	}
	members := dir.MemberNames()
	for _, name := range onBehalfFields {
		for _, f := range h.Get(name) {
			list, _ := message.ParseAddressList(f.Value())
			for _, a := range message.Mailboxes(list) {
				d := newDomainForms(a.Host)
				isOwn := d.ascii != "" && slices.ContainsFunc(own, func(o domainForms) bool {
					return d.ascii == o.ascii || strings.HasSuffix(d.ascii, "."+o.ascii)
				})
				if !isOwn && matchMember(a.Name, members) == "" {
					continue
				}
				v.OnBehalf = name
				reason := fmt.Sprintf("The %s field names the party or one of its members, but the message was not authenticated as coming from the party", name)
				if v.Reason != "" {
					reason = v.Reason + "; " + reason
				}
				v.Reason = reason
				return v
			}
		}
	}
	return v
}

// maxName bounds the runes of a display name that CheckImpersonation
// compares.
const maxName = 256

// CheckImpersonation judges the RFC5322.From address of an incoming message
// (Result.From) against the party's members and domains. The caller says
// whether the message passed DMARC for one of the party's own domains
// (authenticatedOwnDomain); mail a member sends through caucus itself is
// authenticated.
//
//   - An external sender whose display name matches a member's is a name
//     match. Names are compared after normalisation (see nameTokens): case,
//     diacritics, white space, punctuation and homoglyphs do not count,
//     nor does word order ("Leader, Party" is "Party Leader"), and a
//     display name that holds all words of a member name of two or more
//     words matches too ("Party Leader (mobile)"). Names of fewer than
//     four letters are ignored. A display name that shows an address in
//     the party's domains is a name match as well.
//   - A sender's domain that is not the party's but looks like it is a
//     lookalike (see lookalikeOf).
//   - A From address in the party's domains without authentication is
//     forged.
func CheckImpersonation(from *mail.Address, dir Directory, authenticatedOwnDomain bool) Verdict {
	var own []domainForms
	var members []string
	if dir != nil {
		for _, d := range dir.OwnDomains() {
			if f := newDomainForms(d); f.uni != "" {
				own = append(own, f)
			}
		}
		members = dir.MemberNames()
	}
	if from == nil {
		return Verdict{External: true}
	}
	var sender domainForms
	if at := strings.LastIndexByte(from.Address, '@'); at >= 0 {
		sender = newDomainForms(from.Address[at+1:])
	}
	v := Verdict{Domain: sender.display()}
	isOwn := sender.ascii != "" && slices.ContainsFunc(own, func(o domainForms) bool {
		return o.ascii != "" && (sender.ascii == o.ascii || strings.HasSuffix(sender.ascii, "."+o.ascii))
	})
	v.External = !isOwn || !authenticatedOwnDomain
	if !v.External {
		return v
	}

	var reasons []string
	if isOwn {
		v.Forged = true
		reasons = append(reasons, "The sender's address is in the party's domain, but the message was not authenticated as coming from the party")
	} else if o := lookalikeOf(sender, own); o.uni != "" {
		v.Lookalike = o.display()
		reasons = append(reasons, fmt.Sprintf("The sender's domain looks like the party's domain: %s vs %s", o.display(), sender.display()))
	}
	if m := matchMember(from.Name, members); m != "" {
		v.NameMatch = m
		if !isOwn {
			reasons = append(reasons, "The sender's name matches a party member but the address is outside the party")
		}
	} else if a := ownAddressInName(from.Name, own); a != "" {
		v.NameMatch = a
		reasons = append(reasons, fmt.Sprintf("The sender's name shows the party address %s but the message does not come from the party", asciiText(a)))
	}
	v.Reason = strings.Join(reasons, "; ")
	return v
}

// domainForms is a domain name in the forms CheckImpersonation compares.
type domainForms struct {
	ascii string // lower-case A-label form; "" if not a valid domain name
	uni   string // lower-case, xn-- labels decoded (golang.org/x/net/idna)
}

func newDomainForms(d string) domainForms {
	d = strings.TrimSpace(d)
	f := domainForms{ascii: asciiDomain(d)}
	src := f.ascii
	if src == "" {
		src = strings.ToLower(strings.TrimSuffix(d, "."))
		if utf8.RuneCountInString(src) > 255 {
			src = ""
		}
	}
	labels := strings.Split(src, ".")
	for i, l := range labels {
		if strings.HasPrefix(l, "xn--") {
			if u, err := idna.Punycode.ToUnicode(l); err == nil {
				labels[i] = strings.ToLower(u)
			}
		}
	}
	f.uni = norm.NFC.String(strings.Join(labels, "."))
	return f
}

// display returns the form shown to readers: A-labels, so that a Cyrillic
// "а" shows as xn--; ASCII in any case.
func (f domainForms) display() string {
	if f.ascii != "" {
		return f.ascii
	}
	return asciiText(f.uni)
}

// lookalikeOf returns the party domain that the sender's domain (or its
// organisational domain) imitates, if any:
//
//   - the party's domain followed by more labels, "example-party.org.evil.com";
//   - one edit away (Damerau-Levenshtein distance 1: a letter added,
//     dropped, changed, or two swapped), "example-partv.org";
//   - equal or one edit away after the skeleton mapping of confusables.go,
//     "examp1e-party.org", "exarnple-party.org", "exаmple-party.org" with
//     a Cyrillic а, sent as xn--exmple-party-9hg.org (xn-- labels are
//     decoded first);
//   - the same name under another public suffix, "example-party.com".
//
// A domain equal to the party's, or below it, is the party's own and is not
// a lookalike.
func lookalikeOf(sender domainForms, own []domainForms) domainForms {
	if sender.uni == "" {
		return domainForms{}
	}
	senderOrg := sender.uni
	if sender.ascii != "" {
		senderOrg = newDomainForms(orgDomain(sender.ascii)).uni
	}
	candidates := []string{sender.uni}
	if senderOrg != sender.uni {
		candidates = append(candidates, senderOrg)
	}
	for _, o := range own {
		if sender.uni == o.uni || strings.HasSuffix(sender.uni, "."+o.uni) {
			return domainForms{}
		}
	}
	for _, o := range own {
		if strings.HasPrefix(sender.uni, o.uni+".") {
			return o
		}
		skelOwn := skeleton(o.uni)
		for _, c := range candidates {
			if c == o.uni {
				continue
			}
			if damerauLevenshtein(c, o.uni) <= 1 || damerauLevenshtein(skeleton(c), skelOwn) <= 1 {
				return o
			}
		}
		if o.ascii == "" {
			continue
		}
		ownOrg := newDomainForms(orgDomain(o.ascii)).uni
		sl, ss, _ := strings.Cut(senderOrg, ".")
		ol, os, _ := strings.Cut(ownOrg, ".")
		if ss != os && sl != "" && skeleton(sl) == skeleton(ol) {
			return o
		}
	}
	return domainForms{}
}

// nameTokens returns the words of a display name, normalised: the skeleton
// (confusables.go: compatibility forms, diacritics, case and homoglyphs
// folded) split at every rune that is neither letter nor digit, so that
// white space, punctuation and invisible characters do not count.
func nameTokens(name string) []string {
	if utf8.RuneCountInString(name) > maxName {
		name = string([]rune(name)[:maxName])
	}
	return strings.FieldsFunc(skeleton(name), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// minVariant is the length, in letters, from which a name one letter off
// a member's counts as the member's: "Maria Lindquist" for "Maria
// Lindqvist". Shorter names differ by a letter too often to be told apart.
const minVariant = 6

// MatchMember returns the member name that the display name passes for,
// or "": the same words after normalisation (see nameTokens), in any
// order; all the words of a member name of two or more words among
// others ("Party Leader (mobile)"); or, for names of at least minVariant
// letters, one letter added, dropped, changed or two swapped
// (Damerau-Levenshtein distance 1) in the words in either order. Names of
// fewer than four letters are ignored.
func MatchMember(display string, members []string) string {
	return matchMember(display, members)
}

func matchMember(display string, members []string) string {
	d := nameTokens(display)
	dj := strings.Join(d, "")
	if utf8.RuneCountInString(dj) < 4 {
		return ""
	}
	ds := slices.Sorted(slices.Values(d))
	dsj := strings.Join(ds, "")
	for _, m := range members {
		mt := nameTokens(m)
		mj := strings.Join(mt, "")
		if utf8.RuneCountInString(mj) < 4 {
			continue
		}
		ms := slices.Sorted(slices.Values(mt))
		if dj == mj || slices.Equal(ds, ms) ||
			len(mt) >= 2 && containsAll(d, mt) ||
			oneOff(dj, mj) || oneOff(dsj, strings.Join(ms, "")) {
			return m
		}
	}
	return ""
}

// oneOff reports whether two normalised names of at least minVariant
// letters are one edit apart.
func oneOff(a, b string) bool {
	return utf8.RuneCountInString(b) >= minVariant && utf8.RuneCountInString(a) >= minVariant &&
		damerauLevenshtein(a, b) <= 1
}

// containsAll reports whether every word of sub is in words, as many
// times as sub has it.
func containsAll(words, sub []string) bool {
	left := slices.Clone(words)
	for _, w := range sub {
		i := slices.Index(left, w)
		if i < 0 {
			return false
		}
		left = slices.Delete(left, i, i+1)
	}
	return true
}

// AddressInName returns an address in one of domains that the display
// name shows, as in "leader@example-party.org" <x@gmail.com>, or "".
func AddressInName(name string, domains []string) string {
	var own []domainForms
	for _, d := range domains {
		if f := newDomainForms(d); f.uni != "" {
			own = append(own, f)
		}
	}
	return ownAddressInName(name, own)
}

// ownAddressInName returns an address in the party's domains that the
// display name shows, as in "leader@example-party.org" <x@gmail.com>, or "".
func ownAddressInName(name string, own []domainForms) string {
	if utf8.RuneCountInString(name) > maxName {
		name = string([]rune(name)[:maxName])
	}
	name = norm.NFKC.String(name) // a fullwidth ＠ is an @
	words := strings.FieldsFunc(name, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune(`<>()[]"',;:`, r)
	})
	for _, w := range words {
		at := strings.LastIndexByte(w, '@')
		if at < 0 {
			continue
		}
		d := newDomainForms(strings.TrimRight(w[at+1:], "."))
		for _, o := range own {
			if d.uni != "" && (d.uni == o.uni || strings.HasSuffix(d.uni, "."+o.uni)) {
				return w
			}
		}
	}
	return ""
}

// asciiText returns s with everything but printable ASCII replaced by "?".
func asciiText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return '?'
		}
		return r
	}, s)
}
