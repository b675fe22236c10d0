package lists

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// mac is an HMAC-SHA-256 of the parts under the service's key, with a
// purpose first and a NUL between parts, so that a token made for one
// purpose never serves another.
func (s *Service) mac(purpose string, parts ...string) []byte {
	h := hmac.New(sha256.New, s.cfg.Key)
	h.Write([]byte("caucus-lists-" + purpose))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return h.Sum(nil)
}

// unsubToken signs (list, address): 128 bits, base64url.
func (s *Service) unsubToken(listID int64, address string) string {
	m := s.mac("unsub", strconv.FormatInt(listID, 10), strings.ToLower(address))
	return base64.RawURLEncoding.EncodeToString(m[:16])
}

// UnsubscribeURL is the one-click link of RFC 8058 for one recipient: it
// names the list and the address and carries their signature, so the
// POST needs no sign-in and nothing in it can be guessed for another
// address.
func (s *Service) UnsubscribeURL(listID int64, address string) string {
	v := url.Values{"l": {strconv.FormatInt(listID, 10)}, "a": {strings.ToLower(address)}, "t": {s.unsubToken(listID, address)}}
	return s.cfg.BaseURL + "/mail/lists/unsubscribe?" + v.Encode()
}

// checkUnsub checks an unsubscription link's token.
func (s *Service) checkUnsub(listID int64, address, token string) bool {
	return hmac.Equal([]byte(token), []byte(s.unsubToken(listID, address)))
}

// verpTag is the subaddress of the return path of a copy to subscriber
// sub: "b-<id>-<64-bit MAC>". A bounce to it names the subscriber, and
// no one can make one for another subscriber.
func (s *Service) verpTag(listID, sub int64) string {
	id := strconv.FormatInt(sub, 10)
	return "b-" + id + "-" + hex.EncodeToString(s.mac("verp", strconv.FormatInt(listID, 10), id)[:8])
}

// parseVERP returns the subscriber a return-path tag names, ok false if
// it is no valid tag of the list.
func (s *Service) parseVERP(listID int64, tag string) (int64, bool) {
	rest, ok := strings.CutPrefix(tag, "b-")
	if !ok {
		return 0, false
	}
	id, _, ok := strings.Cut(rest, "-")
	sub, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil || sub <= 0 {
		return 0, false
	}
	return sub, hmac.Equal([]byte(tag), []byte(s.verpTag(listID, sub)))
}

// confirmToken signs a subscription request of address to the list,
// made at requested (Unix seconds): the request row's time makes an old
// link useless once a newer request replaced it.
func (s *Service) confirmToken(listID int64, address string, requested int64) string {
	m := s.mac("confirm", strconv.FormatInt(listID, 10), strings.ToLower(address), strconv.FormatInt(requested, 10))
	return base64.RawURLEncoding.EncodeToString(m[:16])
}

// ConfirmURL is the link of a confirmation request.
func (s *Service) confirmURL(listID int64, address string, requested int64) string {
	v := url.Values{"l": {strconv.FormatInt(listID, 10)}, "a": {strings.ToLower(address)}, "t": {s.confirmToken(listID, address, requested)}}
	return s.cfg.BaseURL + "/mail/lists/confirm?" + v.Encode()
}

// confirmExpired reports whether a request made at requested is too old.
func (s *Service) confirmExpired(requested int64) bool {
	return s.deps.Now().Sub(time.Unix(requested, 0)) > confirmValid
}

// hmacEqual compares two tokens in constant time.
func hmacEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

// ValidUnsubscribe reports whether token is the unsubscription token of
// (list, address), for the page that shows the button before the POST.
func (s *Service) ValidUnsubscribe(listID int64, address, token string) bool {
	return s.checkUnsub(listID, strings.ToLower(strings.TrimSpace(address)), token)
}
