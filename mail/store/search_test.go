package store

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// day is a date criterion as go-imap's parser makes it.
func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// searchCase is one search of the fixtures and the UIDs it must find.
type searchCase struct {
	name string
	c    imap.SearchCriteria
	want []imap.UID
}

// TestSearch runs every case on each way a text criterion is resolved
// (textCandidates): through the mailbox's messages, as for a small
// mailbox, and through the index's list, as for a large one; each with
// the appended bodies in the index, and still waiting for it (checked by
// the search itself, pendingForSearch). Header criteria are also
// resolved without the index, by checking every message of the mailbox
// (matchHeadersScan), with the header fields in the cache or read from
// the bodies, and with no cache at all.
func TestSearch(t *testing.T) {
	t.Parallel()
	type path struct {
		name    string
		small   int64
		indexed bool
		scan    int64 // Store.headerScan
		cache   int   // 0: as appended; -1: emptied; -2: none
	}
	for _, path := range []path{
		{"mailbox first", smallMailbox, true, 0, 0}, {"index first", 0, true, 0, 0},
		{"mailbox first, waiting", smallMailbox, false, 0, 0}, {"index first, waiting", 0, false, 0, 0},
		{"headers scanned", 0, true, maxHeaderScan, 0}, {"headers scanned, waiting", 0, false, maxHeaderScan, 0},
		{"headers scanned, not cached", 0, true, maxHeaderScan, -1}, {"no header cache", 0, true, maxHeaderScan, -2},
		{"no header cache, mailbox first", smallMailbox, true, maxHeaderScan, -2},
	} {
		t.Run(path.name, func(t *testing.T) {
			t.Parallel()
			e, mb, sizes, modseq := searchFixtures(t)
			e.s.smallMailbox, e.s.headerScan = path.small, path.scan
			switch path.cache {
			case -1:
				e.s.headers = newHeaderCache(defaultHeaderCache)
			case -2:
				e.s.headers = nil
			}
			if path.indexed {
				if err := e.s.indexPending(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			for _, tt := range append(searchTextCases(), searchOtherCases(sizes, modseq)...) {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					c := tt.c
					got, err := e.s.Search(t.Context(), mb.ID, &c)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
						t.Errorf("got %v, want %v", got, tt.want)
					}
				})
			}
			searchEdgeCases(t, e, mb)
		})
	}
}

// searchFixtures appends the fixtures to a new account's INBOX and returns
// it, with their sizes and the modseq of the last change.
func searchFixtures(t *testing.T) (e *env, mb Mailbox, sizes []int64, modseq uint64) {
	t.Helper()
	e = newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	mb = e.mailbox(t, acct, "INBOX")

	// The fixtures get UIDs 1..5 (index i has UID i+1), with these
	// internal dates. Sent dates (Date header): 2 Mar +0100, 10 Mar -0500
	// (11 Mar in UTC), 5 Feb, 31 Jan, none (falls back to the internal
	// date).
	cet := time.FixedZone("", 3600)
	dates := []time.Time{
		time.Date(2026, 3, 3, 9, 0, 0, 0, cet),
		time.Date(2026, 3, 11, 0, 30, 0, 0, cet), // 10 Mar 23:30 in UTC
		time.Date(2026, 2, 6, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC),
	}
	flags := [][]imap.Flag{
		{imap.FlagSeen, "$Important"},
		{imap.FlagSeen, imap.FlagAnswered},
		{imap.FlagFlagged},
		{imap.FlagDeleted, "$important"},
		nil,
	}
	for i, raw := range fixtures {
		if _, _, err := e.s.Append(ctx, acct, "INBOX", strings.NewReader(raw), flags[i], dates[i]); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, int64(len(raw)))
	}
	// A later change to message 5, for MODSEQ.
	if _, _, err := e.s.StoreFlags(ctx, mb.ID, []imap.UID{5}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDraft}, 0); err != nil {
		t.Fatal(err)
	}
	modseq = e.mailbox(t, acct, "INBOX").HighestModSeq
	// Also a message in another mailbox that matches everything textual:
	// it must never show up.
	e.append(t, acct, "Archive", msgPlain)

	return e, mb, sizes, modseq
}

// hdr is a HEADER criterion.
func hdr(k, v string) imap.SearchCriteria {
	return imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: k, Value: v}}}
}

// searchTextCases are the header, body and TEXT cases of TestSearch.
func searchTextCases() []searchCase {
	return []searchCase{
		{"ALL", imap.SearchCriteria{}, []imap.UID{1, 2, 3, 4, 5}},

		// Header fields (FROM, TO, CC, BCC, SUBJECT are HEADER criteria).
		{"FROM anna", hdr("From", "anna"), []imap.UID{1}},
		{"FROM upper case", hdr("FROM", "ANNA@EXAMPLE.ORG"), []imap.UID{1}},
		{"FROM decoded name", hdr("From", "müller"), []imap.UID{2}},
		{"TO", hdr("To", "anna@example.org"), []imap.UID{3, 4, 5}},
		{"CC", hdr("Cc", "dave"), []imap.UID{2}},
		{"BCC", hdr("Bcc", "treasurer"), []imap.UID{3}},
		{"SUBJECT UTF-8 encoded word", hdr("Subject", "ÜBERRASCHUNG"), []imap.UID{2}},
		{"SUBJECT ISO-8859-1 encoded word", hdr("Subject", "réunion"), []imap.UID{4}},
		{"SUBJECT short", hdr("Subject", "ok"), []imap.UID{5}},
		{"SUBJECT one letter", hdr("Subject", "q"), nil},
		{"SUBJECT no match", hdr("Subject", "nothing like this"), nil},
		{"HEADER custom", hdr("X-Campaign", "spring 20"), []imap.UID{3}},
		{"HEADER custom empty value", hdr("x-campaign", ""), []imap.UID{3}},
		{"HEADER Message-ID", hdr("Message-ID", "agenda-1"), []imap.UID{1}},
		{"HEADER In-Reply-To", hdr("In-Reply-To", "agenda-1"), []imap.UID{3}},
		{"HEADER value in another field", hdr("Subject", "anna@example.org"), nil},
		{"HEADER missing field", hdr("X-Nope", ""), nil},

		// Body text: decoded, HTML without tags, nested messages.
		{"BODY plain", imap.SearchCriteria{Body: []string{"CANVASSING"}}, []imap.UID{1}},
		{"BODY quoted-printable UTF-8", imap.SearchCriteria{Body: []string{"grüße aus köln"}}, []imap.UID{2}},
		{"BODY soft line break", imap.SearchCriteria{Body: []string{"wahlkampf"}}, []imap.UID{2}},
		{"BODY base64 HTML with entity", imap.SearchCriteria{Body: []string{"tickets & einladung"}}, []imap.UID{2}},
		{"BODY not in script", imap.SearchCriteria{Body: []string{"secretjs"}}, nil},
		{"BODY not in style", imap.SearchCriteria{Body: []string{"color:red"}}, nil},
		{"BODY nested message", imap.SearchCriteria{Body: []string{"venue is booked"}}, []imap.UID{3}},
		{"BODY nested message header", imap.SearchCriteria{Body: []string{"venue booking"}}, []imap.UID{3}},
		{"BODY ISO-8859-1", imap.SearchCriteria{Body: []string{"CAFÉ À MIDI"}}, []imap.UID{4}},
		{"BODY short", imap.SearchCriteria{Body: []string{"ja"}}, []imap.UID{5}},
		{"BODY not in headers", imap.SearchCriteria{Body: []string{"Meeting agenda"}}, nil},
		{"BODY not in attachment", imap.SearchCriteria{Body: []string{"fake pdf"}}, nil},
		{"BODY empty", imap.SearchCriteria{Body: []string{""}}, []imap.UID{1, 2, 3, 4, 5}},
		{"BODY two strings", imap.SearchCriteria{Body: []string{"agenda", "posters"}}, []imap.UID{1}},
		{"TEXT header", imap.SearchCriteria{Text: []string{"meeting agenda"}}, []imap.UID{1}},
		{"TEXT body", imap.SearchCriteria{Text: []string{"posters"}}, []imap.UID{1}},
		{"TEXT both", imap.SearchCriteria{Text: []string{"anna"}}, []imap.UID{1, 3, 4, 5}},
		{"TEXT short", imap.SearchCriteria{Text: []string{"ok"}}, []imap.UID{3, 5}}, // "booking" in 3's forwarded message

	}
}

// searchOtherCases are the cases of TestSearch on flags, dates, sizes,
// UIDs and MODSEQ, and their combinations with NOT and OR.
func searchOtherCases(sizes []int64, modseq uint64) []searchCase {
	sorted := slices.Clone(sizes)
	slices.Sort(sorted)
	return []searchCase{
		// Flags.
		{"SEEN", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, []imap.UID{1, 2}},
		{"UNSEEN", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, []imap.UID{3, 4, 5}},
		{"ANSWERED FLAGGED", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagAnswered, imap.FlagFlagged}}, nil},
		{"DELETED", imap.SearchCriteria{Flag: []imap.Flag{"\\deleted"}}, []imap.UID{4}},
		{"UNDELETED", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}, []imap.UID{1, 2, 3, 5}},
		{"DRAFT", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDraft}}, []imap.UID{5}},
		{"KEYWORD", imap.SearchCriteria{Flag: []imap.Flag{"$IMPORTANT"}}, []imap.UID{1, 4}},
		{"UNKEYWORD", imap.SearchCriteria{NotFlag: []imap.Flag{"$Important"}}, []imap.UID{2, 3, 5}},
		{"KEYWORD absent", imap.SearchCriteria{Flag: []imap.Flag{"$Nope"}}, nil},
		{"RECENT", imap.SearchCriteria{Flag: []imap.Flag{"\\Recent"}}, nil},
		{"NOT RECENT", imap.SearchCriteria{NotFlag: []imap.Flag{"\\Recent"}}, []imap.UID{1, 2, 3, 4, 5}},

		// Dates: calendar days, time and zone disregarded.
		{"SINCE", imap.SearchCriteria{Since: day(2026, 3, 11)}, []imap.UID{2, 5}},
		{"BEFORE", imap.SearchCriteria{Before: day(2026, 2, 6)}, []imap.UID{4}},
		{"ON", imap.SearchCriteria{Since: day(2026, 3, 11), Before: day(2026, 3, 12)}, []imap.UID{2}},
		{"SENTSINCE", imap.SearchCriteria{SentSince: day(2026, 3, 10)}, []imap.UID{2, 5}},
		{"SENTBEFORE", imap.SearchCriteria{SentBefore: day(2026, 2, 5)}, []imap.UID{4}},
		{"SENTON", imap.SearchCriteria{SentSince: day(2026, 3, 10), SentBefore: day(2026, 3, 11)}, []imap.UID{2}},
		{"SENTON without Date header", imap.SearchCriteria{SentSince: day(2026, 3, 15), SentBefore: day(2026, 3, 16)}, []imap.UID{5}},

		// Sizes.
		{"LARGER", imap.SearchCriteria{Larger: sorted[2]}, uidsWhere(sizes, func(n int64) bool { return n > sorted[2] })},
		{"SMALLER", imap.SearchCriteria{Smaller: sorted[2]}, uidsWhere(sizes, func(n int64) bool { return n < sorted[2] })},
		{"LARGER SMALLER", imap.SearchCriteria{Larger: sorted[0], Smaller: sorted[4]}, uidsWhere(sizes, func(n int64) bool { return n > sorted[0] && n < sorted[4] })},

		// UID sets.
		{"UID set", imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(1, 3, 4)}}, []imap.UID{1, 3, 4}},
		{"UID range with star", imap.SearchCriteria{UID: []imap.UIDSet{{imap.UIDRange{Start: 4, Stop: 0}}}}, []imap.UID{4, 5}},
		{"UID star beyond", imap.SearchCriteria{UID: []imap.UIDSet{{imap.UIDRange{Start: 9, Stop: 0}}}}, []imap.UID{5}},
		{"UID reversed range", imap.SearchCriteria{UID: []imap.UIDSet{{imap.UIDRange{Start: 3, Stop: 2}}}}, []imap.UID{2, 3}},
		{"UID two sets", imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(1, 2, 3), imap.UIDSetNum(3, 4)}}, []imap.UID{3}},
		{"UID empty set", imap.SearchCriteria{UID: []imap.UIDSet{{}}}, nil},
		{"UID many ranges", imap.SearchCriteria{UID: []imap.UIDSet{manyRanges()}}, []imap.UID{1, 3, 5}},

		// MODSEQ.
		{"MODSEQ", imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{ModSeq: modseq}}, []imap.UID{5}},
		{"MODSEQ 1", imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{ModSeq: 1}}, []imap.UID{1, 2, 3, 4, 5}},

		// NOT, OR, nesting.
		{"NOT", imap.SearchCriteria{Not: []imap.SearchCriteria{{Body: []string{"wahlkampf"}}}}, []imap.UID{1, 3, 4, 5}},
		{"OR", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{hdr("From", "anna"), hdr("Subject", "réunion")}}}, []imap.UID{1, 4}},
		{"NOT OR", imap.SearchCriteria{Not: []imap.SearchCriteria{{Or: [][2]imap.SearchCriteria{{
			{Flag: []imap.Flag{imap.FlagSeen}},
			{Flag: []imap.Flag{imap.FlagDeleted}},
		}}}}}, []imap.UID{3, 5}},
		{"AND of OR and text", imap.SearchCriteria{
			Text: []string{"anna"},
			Or:   [][2]imap.SearchCriteria{{{Since: day(2026, 3, 1)}, {UID: []imap.UIDSet{imap.UIDSetNum(3)}}}},
		}, []imap.UID{1, 3, 5}},
	}
}

// searchEdgeCases are the searches of TestSearch that are not a table row.
func searchEdgeCases(t *testing.T, e *env, mb Mailbox) {
	ctx := t.Context()
	t.Run("sequence numbers refused", func(t *testing.T) {
		t.Parallel()
		if _, err := e.s.Search(ctx, mb.ID, &imap.SearchCriteria{SeqNum: []imap.SeqSet{imap.SeqSetNum(1)}}); err == nil {
			t.Error("SeqNum criterion accepted")
		}
	})
	t.Run("nil criteria", func(t *testing.T) {
		t.Parallel()
		if got, err := e.s.Search(ctx, mb.ID, nil); err != nil || len(got) != 5 {
			t.Errorf("got %v, %v", got, err)
		}
	})
	t.Run("quote in string", func(t *testing.T) {
		t.Parallel()
		if got, err := e.s.Search(ctx, mb.ID, &imap.SearchCriteria{Text: []string{`a"b OR c`, `"`}}); err != nil || len(got) != 0 {
			t.Errorf("got %v, %v", got, err)
		}
	})
}

// manyRanges is a UID set with more ranges than Search writes as SQL,
// holding 1, 3, 5 of the mailbox and many UIDs that do not exist.
func manyRanges() imap.UIDSet {
	set := imap.UIDSetNum(1, 3, 5)
	for i := range 2 * maxUIDRanges {
		set.AddNum(imap.UID(100 + 2*i))
	}
	return set
}

// uidsWhere returns the UIDs (index+1) of the sizes that satisfy f.
func uidsWhere(sizes []int64, f func(int64) bool) []imap.UID {
	var out []imap.UID
	for i, n := range sizes {
		if f(n) {
			out = append(out, imap.UID(i+1))
		}
	}
	return out
}

// TestSearchLarge checks the index paths on a mailbox with many messages.
func TestSearchLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	mb := e.mailbox(t, acct, "INBOX")
	for i := range 300 {
		body := fmt.Sprintf("Message number %d about topic-%d.", i, i%7)
		e.append(t, acct, "INBOX", simple(fmt.Sprintf("subject %d", i), body))
	}
	got, err := e.s.Search(ctx, mb.ID, &imap.SearchCriteria{Body: []string{"topic-3"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 43 {
		t.Errorf("%d matches, want 43", len(got))
	}
	got, err = e.s.Search(ctx, mb.ID, &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "subject 29"}}})
	want := []imap.UID{30} // "subject 29", and "subject 290" to "subject 299"
	for uid := imap.UID(291); uid <= 300; uid++ {
		want = append(want, uid)
	}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("subject 29: %v %v", got, err)
	}
}
