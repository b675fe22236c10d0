package autoconfig

import (
	"bytes"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/login"
	"github.com/caucus-org/caucus/internal/i18n"
	"github.com/caucus-org/caucus/internal/ui"
	"github.com/caucus-org/caucus/internal/web"
)

// Apple configuration profile: a property list (Apple "Property List"
// XML 1.0 DTD) holding a profile of PayloadType "Configuration" with one
// Mail payload, PayloadType com.apple.mail.managed, as Apple's
// "Configuration Profile Reference" (now the Device Management "Mail"
// profile) describes them. iOS, iPadOS and macOS install it from Safari
// (then Settings, "Profile Downloaded").
//
// The profile is not signed, so the device shows it as "Unverified".
// Signing it (CMS SignedData, with a certificate the device trusts) is
// left for later.

// mobileconfigType is the media type of a configuration profile.
const mobileconfigType = "application/x-apple-aspen-config"

// maxProfileForm bounds the body of the profile form (token and device name).
const maxProfileForm = 8 << 10

// defaultDevice names the app password when the form gives no name.
const defaultDevice = "Apple device"

// plistDict is a property list dictionary, its keys in order.
type plistDict []plistKV

type plistKV struct {
	Key   string
	Value any // string, int, bool, plistDict or []plistDict
}

// plistDoctype is the document type declaration of XML property lists.
const plistDoctype = `DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd"`

// marshalPlist encodes d as an XML property list, version 1.0. Every
// string goes through encoding/xml's escaping; a character XML cannot
// hold becomes U+FFFD.
//
// Apple's parser (CFPropertyList) refuses <true></true>, the only form of
// an empty element encoding/xml writes: it wants <true/>. The encoder's
// output is rewritten for that, which is safe because in it "<" is only
// ever markup (in text and attribute values it is escaped as &lt;), so
// "<true></true>" can only be an empty true element.
func marshalPlist(d plistDict) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "\t")
	root := xml.StartElement{Name: xml.Name{Local: "plist"}, Attr: []xml.Attr{{Name: xml.Name{Local: "version"}, Value: "1.0"}}}
	err := enc.EncodeToken(xml.Directive(plistDoctype))
	if err == nil {
		err = enc.Flush()
		b.WriteByte('\n')
	}
	if err == nil {
		err = enc.EncodeToken(root)
	}
	if err == nil {
		err = encodePlistValue(enc, d)
	}
	if err == nil {
		err = enc.EncodeToken(root.End())
	}
	if err == nil {
		err = enc.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("autoconfig: encode profile: %w", err)
	}
	b.WriteByte('\n')
	out := bytes.ReplaceAll(b.Bytes(), []byte("<true></true>"), []byte("<true/>"))
	return bytes.ReplaceAll(out, []byte("<false></false>"), []byte("<false/>")), nil
}

func encodePlistValue(enc *xml.Encoder, v any) error {
	switch v := v.(type) {
	case string:
		return plistElement(enc, "string", v)
	case int:
		return plistElement(enc, "integer", strconv.Itoa(v))
	case bool:
		// Written <true></true>; marshalPlist makes it <true/>.
		name := "false"
		if v {
			name = "true"
		}
		start := xml.StartElement{Name: xml.Name{Local: name}}
		if err := enc.EncodeToken(start); err != nil {
			return err
		}
		return enc.EncodeToken(start.End())
	case plistDict:
		start := xml.StartElement{Name: xml.Name{Local: "dict"}}
		if err := enc.EncodeToken(start); err != nil {
			return err
		}
		for _, kv := range v {
			if err := plistElement(enc, "key", kv.Key); err != nil {
				return err
			}
			if err := encodePlistValue(enc, kv.Value); err != nil {
				return err
			}
		}
		return enc.EncodeToken(start.End())
	case []plistDict:
		start := xml.StartElement{Name: xml.Name{Local: "array"}}
		if err := enc.EncodeToken(start); err != nil {
			return err
		}
		for _, d := range v {
			if err := encodePlistValue(enc, d); err != nil {
				return err
			}
		}
		return enc.EncodeToken(start.End())
	}
	return fmt.Errorf("autoconfig: no property list type for %T", v)
}

func plistElement(enc *xml.Encoder, name, text string) error {
	start := xml.StartElement{Name: xml.Name{Local: name}}
	if err := enc.EncodeToken(start); err != nil {
		return err
	}
	if err := enc.EncodeToken(xml.CharData(text)); err != nil {
		return err
	}
	return enc.EncodeToken(start.End())
}

// newUUID returns a random (version 4) UUID, RFC 9562 section 5.4, in
// upper case as Apple's tools write them.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])         // never fails since Go 1.24
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // variant 10
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// profile is what one download puts in a configuration profile.
type profile struct {
	AccountID int64
	Address   string // the address, also the user name for IMAP and SMTP
	Name      string // the person's name, shown as the sender
	Device    string // the app password's name
	Password  string // the app password
	UUID      string // PayloadUUID of the profile
	MailUUID  string // PayloadUUID of the Mail payload
	CalUUID   string // PayloadUUID of the CalDAV payload
	CardUUID  string // PayloadUUID of the CardDAV payload
}

// profileScope is the scope of the profile's app password: mail, and
// calendar for the CalDAV and CardDAV accounts (not files).
const profileScope = auth.ScopeMail | auth.ScopeCalendar

// Where CalDAV and CardDAV answer (mail/contacts/dav and the calendar
// server). The profile gives the context paths: the device asks them for
// DAV:current-user-principal (RFC 6764 section 6) once signed in.
const (
	calDAVPath  = "/caldav/"
	cardDAVPath = "/carddav/"
)

// identifier is the profile's PayloadIdentifier: the host name reversed,
// then the account. It is the same for every download of one account, so
// installing a new profile on a device replaces the old one there instead
// of adding a second mail account; PayloadUUID is new each time.
func (s Settings) identifier(accountID int64) string {
	labels := strings.Split(strings.ToLower(s.Hostname), ".")
	slices.Reverse(labels)
	return strings.Join(labels, ".") + ".caucus.mail." + strconv.FormatInt(accountID, 10)
}

// mobileconfig builds the profile document. in and out are the IMAP and
// submission servers to use; UseSSL true on a STARTTLS port makes the
// device use STARTTLS.
func (s Settings) mobileconfig(p profile, in, out server) ([]byte, error) {
	id := s.identifier(p.AccountID)
	org := ""
	if len(s.Domains) > 0 {
		org = s.Domains[0]
	}
	mail := plistDict{
		{"EmailAccountDescription", p.Address},
		{"EmailAccountName", p.Name},
		{"EmailAccountType", "EmailTypeIMAP"},
		{"EmailAddress", p.Address},
		{"IncomingMailServerAuthentication", "EmailAuthPassword"},
		{"IncomingMailServerHostName", s.Hostname},
		{"IncomingMailServerPortNumber", in.port},
		{"IncomingMailServerUseSSL", true},
		{"IncomingMailServerUsername", p.Address},
		{"IncomingPassword", p.Password},
		{"OutgoingMailServerAuthentication", "EmailAuthPassword"},
		{"OutgoingMailServerHostName", s.Hostname},
		{"OutgoingMailServerPortNumber", out.port},
		{"OutgoingMailServerUseSSL", true},
		{"OutgoingMailServerUsername", p.Address},
		{"OutgoingPasswordSameAsIncomingPassword", true},
		{"PayloadDescription", "Mail account " + p.Address + ", with the app password \u201c" + p.Device + "\u201d."},
		{"PayloadDisplayName", "Mail (" + p.Address + ")"},
		{"PayloadIdentifier", id + ".account"},
		{"PayloadType", "com.apple.mail.managed"},
		{"PayloadUUID", p.MailUUID},
		{"PayloadVersion", 1},
	}
	root := plistDict{
		{"PayloadContent", []plistDict{mail, s.calDAV(p, id), s.cardDAV(p, id)}},
		{"PayloadDescription", "Sets up mail, calendars and contacts for " + p.Address + ". The password inside is the app password \u201c" + p.Device +
			"\u201d; if this device is lost, revoke it on " + s.AccountURL + "."},
		{"PayloadDisplayName", "caucus mail (" + p.Address + ")"},
		{"PayloadIdentifier", id},
		{"PayloadOrganization", org},
		{"PayloadRemovalDisallowed", false},
		{"PayloadType", "Configuration"},
		{"PayloadUUID", p.UUID},
		{"PayloadVersion", 1},
	}
	return marshalPlist(root)
}

// calDAV is the profile's calendar account (com.apple.caldav.account).
func (s Settings) calDAV(p profile, id string) plistDict {
	return plistDict{
		{"CalDAVAccountDescription", "Calendars (" + p.Address + ")"},
		{"CalDAVHostName", s.WebHost},
		{"CalDAVPassword", p.Password},
		{"CalDAVPort", s.WebPort},
		{"CalDAVPrincipalURL", calDAVPath},
		{"CalDAVUseSSL", true},
		{"CalDAVUsername", p.Address},
		{"PayloadDescription", "Calendars of " + p.Address + ", with the app password \u201c" + p.Device + "\u201d."},
		{"PayloadDisplayName", "Calendars (" + p.Address + ")"},
		{"PayloadIdentifier", id + ".caldav"},
		{"PayloadType", "com.apple.caldav.account"},
		{"PayloadUUID", p.CalUUID},
		{"PayloadVersion", 1},
	}
}

// cardDAV is the profile's contacts account (com.apple.carddav.account):
// the member's books, their groups' and the party directory.
func (s Settings) cardDAV(p profile, id string) plistDict {
	return plistDict{
		{"CardDAVAccountDescription", "Contacts (" + p.Address + ")"},
		{"CardDAVHostName", s.WebHost},
		{"CardDAVPassword", p.Password},
		{"CardDAVPort", s.WebPort},
		{"CardDAVPrincipalURL", cardDAVPath},
		{"CardDAVUseSSL", true},
		{"CardDAVUsername", p.Address},
		{"PayloadDescription", "Contacts and the party directory for " + p.Address + ", with the app password \u201c" + p.Device + "\u201d."},
		{"PayloadDisplayName", "Contacts (" + p.Address + ")"},
		{"PayloadIdentifier", id + ".carddav"},
		{"PayloadType", "com.apple.carddav.account"},
		{"PayloadUUID", p.CardUUID},
		{"PayloadVersion", 1},
	}
}

// messagePage is the page of the profile form's refusals.
type messagePage struct {
	ui.Base
	Message string
}

func (h *Handler) message(w http.ResponseWriter, r *http.Request, sess auth.Session, code int, title, msg string) {
	l := h.localizer(r)
	title, msg = l.T(title), l.T(msg) // i18n:keyed (the callers mark them with i18n.Key)
	p := messagePage{Base: ui.Base{Title: title, L: l, CSRF: sess.CSRF, UserName: sess.Account.DisplayName, IsAdmin: sess.Account.IsAdmin()}, Message: msg}
	if err := h.pages.Render(w, code, "message", p); err != nil {
		h.log.Error("render page", "page", "message", "err", err)
		web.Error(w, r, http.StatusInternalServerError)
	}
}

// localizer returns the reader's language, or the party's when the
// handler was not registered with sign-in pages.
func (h *Handler) localizer(r *http.Request) *i18n.Localizer {
	if h.loc == nil {
		return i18n.Builtin().Localizer(i18n.Fallback, time.UTC)
	}
	return h.loc(r)
}

// stepUp sends a member whose sign-in is too old to confirm it, and then
// back to the page the profile form was on (its field "back": the account
// page or the phone set-up page, nothing else) with the device name they
// typed filled in again.
func stepUp(w http.ResponseWriter, r *http.Request, device string) {
	next := "/account?device=" + url.QueryEscape(device) + "#mailsetup"
	if r.PostFormValue("back") == "/setup/phone" {
		next = "/setup/phone?device=" + url.QueryEscape(device)
	}
	http.Redirect(w, r, "/reauth?next="+url.QueryEscape(next), http.StatusSeeOther)
}

// mobileconfig answers the profile form: it makes a new app password of
// scope mail and calendar named after the device and returns a profile holding it. It
// needs a full session (the require middleware), the session's CSRF token
// and a recent sign-in, as every new app password does.
func (h *Handler) mobileconfig(w http.ResponseWriter, r *http.Request) {
	sess, ok := login.SessionFrom(r.Context())
	if !ok || sess.Stage != auth.StageFull {
		web.Error(w, r, http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxProfileForm)
	if !login.ValidCSRF(sess, r.PostFormValue("csrf")) {
		h.message(w, r, sess, http.StatusForbidden, i18n.Key("error.form_expired.title"), i18n.Key("error.form_expired.text"))
		return
	}
	device := strings.TrimSpace(r.PostFormValue("name"))
	if !h.svc.Fresh(sess) {
		stepUp(w, r, device)
		return
	}
	addr, err := h.s.address(sess.Account.Login)
	if err != nil {
		h.message(w, r, sess, http.StatusNotFound, i18n.Key("account.mailsetup.no_mailbox_title"), i18n.Key("account.mailsetup.no_mailbox"))
		return
	}
	in, out := h.s.incoming(), h.s.outgoing()
	if len(in) == 0 || len(out) == 0 {
		h.message(w, r, sess, http.StatusNotFound, i18n.Key("account.mailsetup.mail_off_title"), i18n.Key("account.mailsetup.mail_off"))
		return
	}
	if device == "" {
		device = defaultDevice
	}
	c := auth.Client{Addr: web.ClientAddr(r), UserAgent: r.UserAgent()}
	secret, info, err := h.svc.CreateAppPassword(r.Context(), sess, device, profileScope, c)
	switch {
	case errors.Is(err, auth.ErrStepUp):
		stepUp(w, r, device)
		return
	case errors.Is(err, auth.ErrSessionInvalid):
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	case errors.Is(err, auth.ErrInvalid):
		h.message(w, r, sess, http.StatusBadRequest, i18n.Key("error.title"), i18n.Key("error.invalid.name"))
		return
	case err != nil:
		h.log.Error("mail profile: create app password", "account", sess.Account.Login, "err", err)
		web.Error(w, r, http.StatusInternalServerError)
		return
	}
	doc, err := h.s.mobileconfig(profile{
		AccountID: sess.Account.ID, Address: addr, Name: sess.Account.DisplayName,
		Device: info.Name, Password: secret, UUID: newUUID(), MailUUID: newUUID(), CalUUID: newUUID(), CardUUID: newUUID(),
	}, in[0], out[0])
	if err != nil {
		// The secret cannot reach anyone: take the app password back.
		if rerr := h.svc.RevokeAppPassword(r.Context(), sess.Account.Login, sess.Account.ID, info.ID, c); rerr != nil {
			err = errors.Join(err, rerr)
		}
		h.log.Error("mail profile", "account", sess.Account.Login, "app_password", info.ID, "err", err)
		web.Error(w, r, http.StatusInternalServerError)
		return
	}
	h.log.Info("mail profile made", "account", sess.Account.Login, "app_password", info.ID, "device", info.Name, "addr", c.Addr)
	hd := w.Header()
	hd.Set("Content-Type", mobileconfigType)
	hd.Set("Content-Disposition", `attachment; filename="caucus-mail.mobileconfig"`)
	hd.Set("Content-Length", strconv.Itoa(len(doc)))
	hd.Set("Cache-Control", "no-store")
	w.Write(doc)
}
