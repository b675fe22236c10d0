package webmail

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/auth"
	iweb "github.com/caucus-org/caucus/internal/web"
	"github.com/caucus-org/caucus/mail/msgview"
	"github.com/caucus-org/caucus/mail/store"
)

// Inline images (cid: URLs, RFC 2392, in a multipart/related message,
// RFC 2387) are served to the message's sandboxed frame from URLs of
// their own, /mail/inline/{mb}/{uid}/{token}/{part}. The frame's origin
// is opaque, so the browser sends no session cookie with its image
// requests (SameSite counts them as cross-site); the URL carries the
// authority instead: a token that names the account, the session that
// opened the message and when it stops serving, with an HMAC over them,
// the mailbox and the UID. It serves only that message's PNG, JPEG, GIF
// and WebP parts that carry a Content-ID (msgview.View.InlineImages),
// only while the session lives (revoking it stops them at once), and
// only for inlineTTL. The frame's policy allows exactly the URLs its
// body names, nothing else.

// Bounds of inline images.
const (
	// inlineTTL is how long an inline image URL serves: long enough for
	// a frame to load, short enough that a URL copied out of a page soon
	// stops working.
	inlineTTL = 15 * time.Minute
	// maxInlineImages bounds the distinct cid: images one frame shows
	// (the frame's policy names each); the rest are dropped as unknown
	// cid: images are.
	maxInlineImages = 100
	// inlineKeyLen is the length of Deps.InlineKey, and of the key New
	// makes when it is nil.
	inlineKeyLen = 32
	// inlineMACLen is the bytes of HMAC-SHA256 a token keeps.
	inlineMACLen = 16
	// inlineTokenLen is a token's bytes: account, session, expiry, MAC.
	inlineTokenLen = 8 + 8 + 8 + inlineMACLen
)

// inlineToken is what an inline image URL's token says.
type inlineToken struct {
	account, session int64
	exp              int64 // Unix seconds
}

// mac is the token's HMAC over what it says and the message it serves.
func (t inlineToken) mac(key []byte, mb int64, uid imap.UID) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("caucus webmail inline image\x00"))
	var b [8 * 5]byte
	binary.BigEndian.PutUint64(b[0:], uint64(t.account))
	binary.BigEndian.PutUint64(b[8:], uint64(t.session))
	binary.BigEndian.PutUint64(b[16:], uint64(t.exp))
	binary.BigEndian.PutUint64(b[24:], uint64(mb))
	binary.BigEndian.PutUint64(b[32:], uint64(uid))
	m.Write(b[:])
	return m.Sum(nil)[:inlineMACLen]
}

// encode returns the token for the URL of message mb/uid's images.
func (t inlineToken) encode(key []byte, mb int64, uid imap.UID) string {
	b := make([]byte, 0, inlineTokenLen)
	b = binary.BigEndian.AppendUint64(b, uint64(t.account))
	b = binary.BigEndian.AppendUint64(b, uint64(t.session))
	b = binary.BigEndian.AppendUint64(b, uint64(t.exp))
	b = append(b, t.mac(key, mb, uid)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// errInline: an inline image URL that does not serve (any reason: the
// answer is 404 whatever it is).
var errInline = errors.New("webmail: no such inline image")

// decodeInlineToken checks a token for message mb/uid at now.
func decodeInlineToken(key []byte, s string, mb int64, uid imap.UID, now time.Time) (inlineToken, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s) // one spelling per token
	if err != nil || len(b) != inlineTokenLen {
		return inlineToken{}, errInline
	}
	t := inlineToken{
		account: int64(binary.BigEndian.Uint64(b[0:])),
		session: int64(binary.BigEndian.Uint64(b[8:])),
		exp:     int64(binary.BigEndian.Uint64(b[16:])),
	}
	if !hmac.Equal(b[24:], t.mac(key, mb, uid)) {
		return inlineToken{}, errInline
	}
	if now.Unix() >= t.exp {
		return inlineToken{}, fmt.Errorf("%w: expired", errInline)
	}
	return t, nil
}

// inlineImages returns the cid: mapper for the body of message mb/uid
// as sess sees it through request r, and the list the mapper fills with
// the absolute URLs it gave out, for the frame's policy. A request whose
// Host cannot be named in a policy gets no images (nil mapper).
func (h *Handler) inlineImages(r *http.Request, sess auth.Session, mb int64, uid imap.UID, v *msgview.View) (func(string) (string, bool), *[]string) {
	origin, ok := requestOrigin(r)
	parts := v.InlineImages()
	if !ok || len(parts) == 0 {
		return nil, nil
	}
	tok := inlineToken{account: sess.Account.ID, session: sess.ID, exp: h.d.Now().Add(inlineTTL).Unix()}.encode(h.inlineKey, mb, uid)
	prefix := fmt.Sprintf("/mail/inline/%d/%d/%s/", mb, uid, tok)
	given := map[string]string{} // part id → URL
	var sources []string
	return func(cid string) (string, bool) {
		p, ok := parts[cid]
		if !ok {
			return "", false
		}
		if u, ok := given[p.ID]; ok {
			return u, true
		}
		if len(given) == maxInlineImages {
			return "", false
		}
		u := prefix + p.ID
		given[p.ID] = u
		sources = append(sources, origin+u)
		return u, true
	}, &sources
}

// requestOrigin is the origin the browser reached r at ("https://host"),
// for a Content-Security-Policy source: false when Host holds anything
// but a host name or address and a port.
func requestOrigin(r *http.Request) (string, bool) {
	host := r.Host
	if host == "" || len(host) > 300 {
		return "", false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".-:[]", c) >= 0) {
			return "", false
		}
	}
	scheme := "https://"
	if r.TLS == nil {
		scheme = "http://"
	}
	return scheme + host, true
}

// inline serves an inline image to a message's frame, by the URL's token
// rather than by the session cookie the frame cannot send: the part's own
// type (PNG, JPEG, GIF or WebP only, never sniffed), inline, under the
// download sandbox, and loadable by the frame's opaque origin
// (Cross-Origin-Resource-Policy: cross-origin). Anything else answers
// 404: a bad, expired or forged token, a session that ended, a message
// that is not the account's, a part that is not one of its inline images.
func (h *Handler) inline(w http.ResponseWriter, r *http.Request) {
	m, p, v, err := h.inlinePart(r.Context(), r)
	if err != nil {
		if !errors.Is(err, errInline) && !errors.Is(err, store.ErrNoMailbox) && !errors.Is(err, store.ErrNoMessage) {
			// Logged without the path, which holds the token.
			if r.Context().Err() == nil {
				h.log.Error("webmail: inline image", "mailbox", r.PathValue("mb"), "uid", r.PathValue("uid"), "err", err)
			}
			iweb.Error(w, r, http.StatusInternalServerError)
			return
		}
		h.notFound(w, r)
		return
	}
	defer v.close()
	hdr := w.Header()
	hdr.Set("Content-Type", p.ServeType())
	hdr.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": partName(p)}))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", DownloadCSP)
	hdr.Set("Cross-Origin-Resource-Policy", "cross-origin")
	hdr.Set("Cache-Control", "private, no-store")
	if _, err := v.WritePart(w, p.ID); err != nil && !errors.Is(err, msgview.ErrNoPart) {
		h.log.Warn("webmail: inline image", "mailbox", r.PathValue("mb"), "uid", m.UID, "err", err)
	}
}

// openView is a parsed message with what must be closed after it.
type openView struct {
	*msgview.View
	closer interface{ Close() error }
}

func (v openView) close() { v.closer.Close() }

// inlinePart checks an inline image request and returns its message,
// part and parsed view (to close); errors wrap errInline, or the store's
// not-found errors, for what must answer 404.
func (h *Handler) inlinePart(ctx context.Context, r *http.Request) (store.Message, *msgview.Part, openView, error) {
	mb, err1 := strconv.ParseInt(r.PathValue("mb"), 10, 64)
	uid, err2 := strconv.ParseUint(r.PathValue("uid"), 10, 32)
	id := r.PathValue("part")
	if err1 != nil || err2 != nil || mb <= 0 || uid == 0 || !validPartID(id) {
		return store.Message{}, nil, openView{}, errInline
	}
	tok, err := decodeInlineToken(h.inlineKey, r.PathValue("tok"), mb, imap.UID(uid), h.d.Now())
	if err != nil {
		return store.Message{}, nil, openView{}, err
	}
	if err := h.sessionLive(ctx, tok); err != nil {
		return store.Message{}, nil, openView{}, err
	}
	m, err := h.d.Store.AccountMessage(ctx, tok.account, mb, imap.UID(uid))
	if err != nil {
		return m, nil, openView{}, err
	}
	v, closer, err := h.view(m)
	if err != nil {
		return m, nil, openView{}, err
	}
	ov := openView{v, closer}
	for _, p := range v.InlineImages() {
		if p.ID == id {
			return m, p, ov, nil
		}
	}
	ov.close()
	return m, nil, openView{}, fmt.Errorf("%w: part %s", errInline, id)
}

// sessionLive reports (nil) whether the token's session is still a full
// session of its account: ending it, or offboarding the account, stops
// its images at once.
func (h *Handler) sessionLive(ctx context.Context, tok inlineToken) error {
	ss, err := h.d.Accounts.Sessions(ctx, tok.account)
	if err != nil {
		return err
	}
	for _, s := range ss {
		if s.ID == tok.session && s.Stage == auth.StageFull {
			return nil
		}
	}
	return fmt.Errorf("%w: session ended", errInline)
}
