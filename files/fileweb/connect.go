package fileweb

import (
	"net/http"
	"net/url"

	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/files/dav"
)

// davSetup is what the connect page shows: the WebDAV address (RFC 4918)
// in the forms each system's file manager takes, the member's user name,
// and an rclone command to set up a remote.
type davSetup struct {
	URL    string // https://host/dav/ (Windows, macOS, apps, rclone)
	Davs   string // davs://host/dav/ (GNOME Files)
	Webdav string // webdavs://host/dav/ (KDE Dolphin)
	Login  string
	Rclone string
}

// newDavSetup builds the setup for login on the server at origin
// ("https://host").
func newDavSetup(origin, login string) davSetup {
	host := origin
	if u, err := url.Parse(origin); err == nil && u.Host != "" {
		host = u.Host
	}
	u := origin + dav.Prefix + "/"
	return davSetup{
		URL:    u,
		Davs:   "davs://" + host + dav.Prefix + "/",
		Webdav: "webdavs://" + host + dav.Prefix + "/",
		Login:  login,
		Rclone: "rclone config create caucus webdav url=" + u + " vendor=other user=" + login + " pass=$(rclone obscure 'APP-PASSWORD')",
	}
}

// connect shows the WebDAV address with instructions per system, next to
// the way to an app password for files.
func (h *Handler) connect(w http.ResponseWriter, r *http.Request) {
	l := h.login.Localizer(r)
	p := h.base(r, l, l.T("files.connect.tab"), "/files/connect")
	sess, _ := login.SessionFrom(r.Context())
	p.Dav = newDavSetup(h.origin(r), sess.Account.Login)
	h.render(w, r, http.StatusOK, "connect", p)
}
