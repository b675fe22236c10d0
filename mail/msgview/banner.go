package msgview

import "github.com/caucus-org/caucus/internal/i18n"

// Banner is what a page says above a message about its sender, from what
// caucus's MX found (Findings): webmail shows it on the message, the
// calendar page on an invitation that came by mail, in the same words.
type Banner struct {
	Class string // danger, warning, outside, unchecked
	Title string
	Lines []string
}

// FindingsBanner says what the MX found about the sender, most alarming
// first; nil when there is nothing to say (a member's authenticated
// mail). A message that claims to be a member from outside must look
// dangerous. clean is how the page cleans a sender's text before showing
// it (the names and domains come from the message).
func FindingsBanner(l *i18n.Localizer, f Findings, clean func(string) string) *Banner {
	switch f.Level {
	case LevelDanger:
		b := &Banner{Class: "danger", Title: l.T("webmail.banner.danger")}
		if f.ClaimsToBe != "" {
			b.Lines = append(b.Lines, l.T("webmail.banner.claims_name", "name", clean(f.ClaimsToBe)))
		}
		if f.Lookalike != "" {
			b.Lines = append(b.Lines, l.T("webmail.banner.lookalike", "domain", clean(f.FromDomain), "ours", clean(f.Lookalike)))
		}
		if f.Forged {
			b.Lines = append(b.Lines, l.T("webmail.banner.forged"))
		}
		if f.Warning != "" {
			b.Lines = append(b.Lines, clean(f.Warning))
		}
		b.Lines = append(b.Lines, l.T("webmail.banner.advice"))
		return b
	case LevelWarning:
		return &Banner{Class: "warning", Title: l.T("webmail.banner.warning"),
			Lines: []string{l.T("webmail.banner.checks_failed", "domain", clean(f.FromDomain))}}
	case LevelOutside:
		return &Banner{Class: "outside", Title: l.T("webmail.banner.outside")}
	case LevelUnchecked:
		return &Banner{Class: "unchecked", Title: l.T("webmail.banner.unchecked")}
	}
	return nil
}
