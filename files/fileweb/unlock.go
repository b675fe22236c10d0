package fileweb

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// unlockCookie remembers, for a while, that this browser gave the right
// password of one public link, so the download that follows the password
// form needs no second try. Its value is "expiry.mac", the MAC binding the
// link's token and the expiry under a key that lives only in this process
// (a restart asks for the password again). It names no link: the token in
// the URL is what the MAC is checked against.
const unlockCookie = "__Host-caucus-link"

// unlockLifetime is how long a password, once given, opens its link.
const unlockLifetime = 30 * time.Minute

func (h *Handler) unlockMAC(token string, exp int64) []byte {
	m := hmac.New(sha256.New, h.unlockKey)
	m.Write([]byte("caucus link unlock\x00"))
	m.Write([]byte(token))
	m.Write([]byte{0})
	m.Write([]byte(strconv.FormatInt(exp, 10)))
	return m.Sum(nil)
}

// setUnlocked gives the browser the cookie for token.
func (h *Handler) setUnlocked(w http.ResponseWriter, token string) {
	exp := h.now().Add(unlockLifetime).Unix()
	http.SetCookie(w, &http.Cookie{
		Name:     unlockCookie,
		Value:    strconv.FormatInt(exp, 10) + "." + base64.RawURLEncoding.EncodeToString(h.unlockMAC(token, exp)),
		Path:     "/",
		MaxAge:   int(unlockLifetime / time.Second),
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
}

// unlocked reports whether r carries a live cookie for token.
func (h *Handler) unlocked(r *http.Request, token string) bool {
	c, err := r.Cookie(unlockCookie)
	if err != nil || len(c.Value) > 100 {
		return false
	}
	e, m, ok := strings.Cut(c.Value, ".")
	if !ok {
		return false
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil || h.now().Unix() > exp {
		return false
	}
	mac, err := base64.RawURLEncoding.DecodeString(m)
	return err == nil && hmac.Equal(mac, h.unlockMAC(token, exp))
}
