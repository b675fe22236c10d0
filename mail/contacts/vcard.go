package contacts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-vcard"
)

// Limits of one vCard.
const (
	// MaxCardBytes bounds a vCard as received and as stored, a PHOTO
	// included (RFC 6352 section 6.2.3, CARDDAV:max-resource-size).
	MaxCardBytes = 1 << 20
	// MaxProperties bounds the properties (content lines) of one vCard.
	MaxProperties = 5000
	// MaxUID bounds the UID property's value.
	MaxUID = 512
	// MaxName bounds a resource name (the last segment of its URL).
	MaxName = 255
	// MaxCards bounds the cards of one book (ErrFull above).
	MaxCards = 50000
	// MaxGone bounds the deletions a book remembers for sync tokens;
	// beyond, the oldest are forgotten and tokens from before them are
	// refused (ErrBadToken), so a client that was away that long syncs
	// from scratch.
	MaxGone = 10000
)

// Parse reads exactly one vCard (RFC 6350) from data and checks it (see
// [Check]). Data larger than MaxCardBytes wraps ErrTooLarge; anything that
// is not one well-formed vCard in UTF-8 wraps ErrInvalid.
func Parse(data []byte) (vcard.Card, error) {
	if len(data) > MaxCardBytes {
		return nil, fmt.Errorf("%w: a vCard may have at most %d bytes", ErrTooLarge, MaxCardBytes)
	}
	if !utf8.Valid(data) {
		// RFC 6350 section 3.1: the default and only charset is UTF-8.
		return nil, fmt.Errorf("%w: the vCard is not UTF-8", ErrInvalid)
	}
	dec := vcard.NewDecoder(bytes.NewReader(data))
	card, err := dec.Decode()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := dec.Decode(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: one resource holds one vCard (RFC 6352 section 5.1)", ErrInvalid)
	}
	if err := allLinesRead(data, card); err != nil {
		return nil, err
	}
	if err := Check(card); err != nil {
		return nil, err
	}
	return card, nil
}

// allLinesRead checks that the decoder took every content line of data
// as a property of cards: go-vcard skips a line it cannot parse (no
// colon, a bad parameter), which would drop data without a word. Lines
// are unfolded as RFC 6350 section 3.2 says; empty lines are not content
// lines.
func allLinesRead(data []byte, cards ...vcard.Card) error {
	lines := 0
	for range contentLines(data) {
		lines++
	}
	fields := 0
	for _, card := range cards {
		fields += properties(card)
	}
	if lines != fields {
		if i := firstUnread(data, cards); i > 0 {
			name := cards[i-1].Value(vcard.FieldFormattedName)
			return &ImportError{Kind: NotProperties, Card: i, Name: name,
				Err: fmt.Errorf("%w: vCard %d (%q) has lines that are not properties (RFC 6350 section 3.3)", ErrInvalid, i, name)}
		}
		return &ImportError{Kind: NotProperties,
			Err: fmt.Errorf("%w: %d of the lines are not properties of a vCard (RFC 6350 section 3.3)", ErrInvalid, lines-fields)}
	}
	return nil
}

// ImportKind is the kind of fault for which [ParseAll] refuses a file.
type ImportKind int

// The faults of a .vcf file.
const (
	NotVCard      ImportKind = iota + 1 // no vCard, or not UTF-8
	NotProperties                       // lines that are no property of a card
	BadUID                              // a card with an empty UID, or several
	TooMany                             // more cards than asked for
	BadCard                             // a card that cannot be stored otherwise
	Unreadable                          // from a card on, no vCard (cut off, perhaps)
)

// ImportError is [ParseAll]'s refusal of a file: the kind of fault and,
// when it is one card's, which (Card, from 1; 0 for the file as a whole)
// and its name (its FN, not cleaned; may be empty). Err wraps ErrInvalid
// or ErrTooLarge and its text is the error's.
type ImportError struct {
	Kind ImportKind
	Card int
	Name string
	Err  error
}

func (e *ImportError) Error() string { return e.Err.Error() }
func (e *ImportError) Unwrap() error { return e.Err }

// firstUnread returns the number, from 1, of the first of cards whose
// content lines in data (up to its END:VCARD line) are more than the
// properties it was decoded from, so that a member whose export of
// thousands of cards is refused can find the line; 0 if none is (a line
// after the last card, or cards whose END lines it cannot find).
func firstUnread(data []byte, cards []vcard.Card) int {
	i, lines := 0, 0
	for t := range contentLines(data) {
		lines++
		if !bytes.EqualFold(t, []byte("END:VCARD")) {
			continue
		}
		if i == len(cards) {
			return 0
		}
		if lines > properties(cards[i]) {
			return i + 1
		}
		i, lines = i+1, 0
	}
	return 0
}

// contentLines yields the content lines of data, each without its line
// break: a line that begins with a space or a tab continues the one
// before (RFC 6350 section 3.2) and is not one; an empty line is none.
func contentLines(data []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for l := range bytes.Lines(data) {
			if l[0] == ' ' || l[0] == '\t' {
				continue // a continuation of the line before
			}
			if t := bytes.TrimRight(l, "\r\n"); len(t) > 0 && !yield(t) {
				return
			}
		}
	}
}

// properties counts the content lines card was decoded from: its
// properties, and BEGIN and END.
func properties(card vcard.Card) int {
	n := 2
	for _, fs := range card {
		n += len(fs)
	}
	return n
}

// ParseAll reads the vCards of a .vcf file (an export, several cards one
// after the other), each checked as by [Parse]; at most max cards. A card
// without a UID property (Google Contacts and Outlook export none) is
// given one made from its content ([ContentUID]), so that importing the
// same file twice finds the same cards; one with a blank UID is refused,
// as Parse refuses it. A line that is no property of a card refuses the
// file, as Parse refuses such a card, rather than be dropped. A refusal
// is an [*ImportError], which says which card and why.
func ParseAll(data []byte, max int) ([]vcard.Card, error) {
	if !utf8.Valid(data) {
		return nil, &ImportError{Kind: NotVCard, Err: fmt.Errorf("%w: the file is not UTF-8", ErrInvalid)}
	}
	dec := vcard.NewDecoder(bytes.NewReader(data))
	var out, decoded []vcard.Card
	for {
		card, err := dec.Decode()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			ie := &ImportError{Kind: Unreadable, Card: len(out) + 1, Err: fmt.Errorf("%w: vCard %d: %v", ErrInvalid, len(out)+1, err)}
			if len(out) == 0 {
				ie.Kind, ie.Card = NotVCard, 0
			}
			return nil, ie
		}
		if len(out) == max {
			return nil, &ImportError{Kind: TooMany, Err: fmt.Errorf("%w: more than %d vCards", ErrTooLarge, max)}
		}
		decoded = append(decoded, card)
		if len(card[vcard.FieldUID]) == 0 {
			card = maps.Clone(card)
			card.SetValue(vcard.FieldUID, ContentUID(card))
		}
		if err := Check(card); err != nil {
			kind := BadCard
			if errors.Is(err, ErrUID) {
				kind = BadUID
			}
			return nil, &ImportError{Kind: kind, Card: len(out) + 1, Name: card.Value(vcard.FieldFormattedName), Err: fmt.Errorf("vCard %d: %w", len(out)+1, err)}
		}
		out = append(out, card)
	}
	if err := allLinesRead(data, decoded...); err != nil {
		if ie, ok := errors.AsType[*ImportError](err); ok && len(decoded) == 0 {
			ie.Kind = NotVCard // lines, none of them a card's
		}
		return nil, err
	}
	return out, nil
}

// ErrUID is [Check]'s refusal of a card with an empty UID, or several.
var ErrUID = fmt.Errorf("%w: a vCard needs exactly one UID (RFC 6352 section 5.1)", ErrInvalid)

// Check tells whether card can be stored: VERSION 3.0 (RFC 2426) or 4.0
// (RFC 6350), one non-empty UID (RFC 6352 section 5.1), at most
// MaxProperties properties, names made of letters, digits and hyphens
// (RFC 6350 section 3.3), text in UTF-8 without control characters, and
// at most MaxCardBytes once encoded. Properties caucus does not know are
// kept as they are. Errors wrap ErrInvalid or ErrTooLarge.
func Check(card vcard.Card) error {
	switch v := card.Value(vcard.FieldVersion); v {
	case "3.0", "4.0":
	default:
		return fmt.Errorf("%w: VERSION must be 3.0 or 4.0, not %q", ErrInvalid, clip(v))
	}
	if len(card[vcard.FieldUID]) != 1 || strings.TrimSpace(card.Value(vcard.FieldUID)) == "" {
		return ErrUID
	}
	if len(card.Value(vcard.FieldUID)) > MaxUID {
		return fmt.Errorf("%w: UID longer than %d bytes", ErrInvalid, MaxUID)
	}
	n := 0
	for k, fields := range card {
		if !validName(k, false) {
			return fmt.Errorf("%w: property name %q", ErrInvalid, clip(k))
		}
		n += len(fields)
		if n > MaxProperties {
			return fmt.Errorf("%w: more than %d properties", ErrTooLarge, MaxProperties)
		}
		for _, f := range fields {
			if err := checkField(k, f); err != nil {
				return err
			}
		}
	}
	if len(Encode(card)) > MaxCardBytes {
		return fmt.Errorf("%w: a vCard may have at most %d bytes", ErrTooLarge, MaxCardBytes)
	}
	return nil
}

func checkField(k string, f *vcard.Field) error {
	if f == nil {
		return fmt.Errorf("%w: empty property %s", ErrInvalid, k)
	}
	if f.Group != "" && !validName(f.Group, true) {
		return fmt.Errorf("%w: property group %q", ErrInvalid, clip(f.Group))
	}
	if !validText(f.Value, true) {
		return fmt.Errorf("%w: property %s has control characters or is not UTF-8", ErrInvalid, k)
	}
	for pk, pvs := range f.Params {
		if !validName(pk, false) {
			return fmt.Errorf("%w: parameter name %q", ErrInvalid, clip(pk))
		}
		for _, pv := range pvs {
			// RFC 6350 section 3.3: param-value is SAFE-CHAR or a
			// quoted string, neither of which holds DQUOTE.
			if !validText(pv, false) || strings.ContainsRune(pv, '"') {
				return fmt.Errorf("%w: parameter %s of %s", ErrInvalid, pk, k)
			}
		}
	}
	return nil
}

// validName reports whether s is a property, parameter or group name:
// letters, digits and hyphens (RFC 6350 section 3.3, iana-token and
// x-name); group names may be in lower case.
func validName(s string, lower bool) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || lower && c >= 'a' && c <= 'z'
		if !ok {
			return false
		}
	}
	return true
}

// validText reports whether s is UTF-8 without control characters but
// tab (and line feed where newlines is set: an escaped \n in a value).
func validText(s string, newlines bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == '\t' || newlines && r == '\n' {
			continue
		}
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// Encode returns card in the form caucus stores: BEGIN, VERSION, then the
// properties by name, each with its parameters by name (so that one card
// always gives the same bytes and the same ETag), values escaped as RFC
// 6350 section 3.4 says, lines ending in CRLF. It is go-vcard's own
// encoding with the parameters in a fixed order, so that what a client
// reads back is what was hashed.
func Encode(card vcard.Card) []byte {
	var b bytes.Buffer
	b.WriteString("BEGIN:VCARD\r\n")
	if v := card.Get(vcard.FieldVersion); v != nil {
		writeLine(&b, vcard.FieldVersion, v)
	}
	keys := make([]string, 0, len(card))
	for k := range card {
		if k != vcard.FieldVersion {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, f := range card[k] {
			writeLine(&b, k, f)
		}
	}
	b.WriteString("END:VCARD\r\n")
	return b.Bytes()
}

var valueEscaper = strings.NewReplacer("\\", "\\\\", "\n", "\\n", ",", "\\,")

func writeLine(b *bytes.Buffer, k string, f *vcard.Field) {
	if f.Group != "" {
		b.WriteString(f.Group)
		b.WriteByte('.')
	}
	b.WriteString(k)
	pks := make([]string, 0, len(f.Params))
	for pk := range f.Params {
		pks = append(pks, pk)
	}
	slices.Sort(pks)
	for _, pk := range pks {
		for _, pv := range f.Params[pk] {
			b.WriteByte(';')
			b.WriteString(pk)
			b.WriteByte('=')
			if strings.ContainsAny(pv, ";:") {
				// RFC 6350 section 3.3: a quoted-string.
				b.WriteByte('"')
				b.WriteString(pv)
				b.WriteByte('"')
				continue
			}
			b.WriteString(valueEscaper.Replace(pv))
		}
	}
	b.WriteByte(':')
	b.WriteString(valueEscaper.Replace(f.Value))
	b.WriteString("\r\n")
}

// ETag is the entity tag of stored vCard data: its SHA-256, shortened.
func ETag(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:16])
}

// ContentUID is a UID for a card that has none: a UUID URN (RFC 9562,
// the version 8 layout) of the SHA-256 of the card's encoding, so that
// the same card always gets the same one.
func ContentUID(card vcard.Card) string {
	var buf bytes.Buffer
	_ = vcard.NewEncoder(&buf).Encode(card) // an encoding error leaves what was written: still a stable input
	sum := sha256.Sum256(buf.Bytes())
	sum[6] = sum[6]&0x0f | 0x80 // version 8
	sum[8] = sum[8]&0x3f | 0x80 // RFC 9562 variant
	h := hex.EncodeToString(sum[:16])
	return "urn:uuid:" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
