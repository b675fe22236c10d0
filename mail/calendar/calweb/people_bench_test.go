package calweb

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/emersion/go-vcard"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/mail/contacts"
)

// bookOfCards is People with one book of the given cards.
type bookOfCards []contacts.Card

func (b bookOfCards) Books(context.Context, contacts.Member) ([]contacts.Book, error) {
	return []contacts.Book{{Slug: contacts.SlugDirectory}}, nil
}

func (b bookOfCards) Cards(context.Context, contacts.Member, string) ([]contacts.Card, error) {
	return b, nil
}

// BenchmarkFindPeople5000 is one keystroke of attendee completion over
// a directory of 5,000 members that holds no match (every card looked
// at), with and without the prefilter.
func BenchmarkFindPeople5000(b *testing.B) {
	var cards bookOfCards
	for i := range 5000 {
		c := vcard.Card{}
		c.SetValue(vcard.FieldFormattedName, fmt.Sprintf("Member %05d", i))
		c.SetValue(vcard.FieldEmail, fmt.Sprintf("m%05d@example-party.org", i))
		c.SetValue(vcard.FieldUID, fmt.Sprintf("uid-%05d", i))
		c.SetValue(vcard.FieldCategories, "Press,Canvassing")
		vcard.ToV4(c)
		var buf bytes.Buffer
		if err := vcard.NewEncoder(&buf).Encode(c); err != nil {
			b.Fatal(err)
		}
		cards = append(cards, contacts.Card{Name: fmt.Sprintf("%05d.vcf", i), Data: buf.Bytes()})
	}
	sess := auth.Session{Account: auth.Account{ID: 1, Login: "m00000@example-party.org"}}
	// The peer: every card parsed, as before the prefilter.
	for _, prefilter := range []bool{false, true} {
		h := &Handler{d: Deps{People: cards}, prefilter: prefilter}
		b.Run(fmt.Sprintf("prefilter=%v", prefilter), func(b *testing.B) {
			for b.Loop() {
				got, err := h.findPeople(b.Context(), sess, "nobody")
				if err != nil || len(got) != 0 {
					b.Fatal(got, err)
				}
			}
		})
	}
}
