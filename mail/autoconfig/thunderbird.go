package autoconfig

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/caucus-org/caucus/internal/web"
)

// Thunderbird autoconfiguration, clientConfig version 1.1, as described on
// the Mozilla wiki page "Thunderbird:Autoconfiguration:ConfigFileFormat"
// (the "config file format"). Thunderbird asks
//
//	https://autoconfig.<domain>/mail/config-v1.1.xml?emailaddress=<address>
//	https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=<address>
//
// and K-9 Mail / Thunderbird for Android does the same.

// clientConfig is the document's root element.
type clientConfig struct {
	XMLName  xml.Name      `xml:"clientConfig"`
	Version  string        `xml:"version,attr"`
	Provider emailProvider `xml:"emailProvider"`
}

// emailProvider describes the servers of a set of domains.
type emailProvider struct {
	ID               string          `xml:"id,attr"`
	Domains          []string        `xml:"domain"`
	DisplayName      string          `xml:"displayName"`
	DisplayShortName string          `xml:"displayShortName"`
	Incoming         []mozServer     `xml:"incomingServer"`
	Outgoing         []mozServer     `xml:"outgoingServer"`
	Documentation    []documentation `xml:"documentation"`
}

// mozServer is an incomingServer (type "imap") or an outgoingServer (type
// "smtp"). The username is a placeholder the app fills in.
type mozServer struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"` // "SSL" (implicit TLS) or "STARTTLS"
	Username       string `xml:"username"`
	Authentication string `xml:"authentication"`
}

// documentation points to a page for the person setting up the account.
type documentation struct {
	URL   string  `xml:"url,attr"`
	Descr []descr `xml:"descr"`
}

type descr struct {
	Lang string `xml:"lang,attr"`
	Text string `xml:",chardata"`
}

// errNoServers is a configuration without IMAP or without submission: a
// mail app could not be set up with it.
var errNoServers = errors.New("autoconfig: IMAP or submission is switched off")

// clientConfig returns the autoconfiguration for a request to host with the
// emailaddress parameter email. Without an address, the domain is the host
// the app asked (autoconfig.<domain> or <domain>). It fails with
// errBadAddress, errForeignDomain or errNoServers.
func (s Settings) clientConfig(host, email string) (clientConfig, error) {
	var domain string
	if email != "" {
		addr, err := s.address(email)
		if err != nil {
			return clientConfig{}, err
		}
		domain = addr[strings.LastIndexByte(addr, '@')+1:]
	} else {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		d, ok := s.domain(host)
		if !ok {
			d, ok = s.domain(strings.TrimPrefix(normalizeDomain(host), "autoconfig."))
		}
		if !ok {
			return clientConfig{}, errForeignDomain
		}
		domain = d
	}
	in, out := s.incoming(), s.outgoing()
	if len(in) == 0 || len(out) == 0 {
		return clientConfig{}, errNoServers
	}
	p := emailProvider{
		ID:               domain,
		Domains:          s.Domains,
		DisplayName:      domain,
		DisplayShortName: domain,
		Documentation: []documentation{{
			URL: s.AccountURL,
			Descr: []descr{{Lang: "en", Text: "The password is an app password, not your sign-in password: " +
				"make one for this device on your account page, " + s.AccountURL + "."}},
		}},
	}
	for _, sv := range in {
		p.Incoming = append(p.Incoming, s.mozServer("imap", sv))
	}
	for _, sv := range out {
		p.Outgoing = append(p.Outgoing, s.mozServer("smtp", sv))
	}
	return clientConfig{Version: "1.1", Provider: p}, nil
}

func (s Settings) mozServer(typ string, sv server) mozServer {
	st := "STARTTLS"
	if sv.implicit {
		st = "SSL"
	}
	return mozServer{
		Type:       typ,
		Hostname:   s.Hostname,
		Port:       sv.port,
		SocketType: st,
		Username:   "%EMAILADDRESS%",
		// The app password as typed, inside TLS (every server listed here
		// uses TLS, implicit or STARTTLS).
		Authentication: "password-cleartext",
	}
}

// marshalXML encodes v as a whole XML document: declaration, indented
// elements, final newline.
func marshalXML(v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("autoconfig: encode: %w", err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// autoconfig serves the Thunderbird document.
func (h *Handler) autoconfig(w http.ResponseWriter, r *http.Request) {
	cc, err := h.s.clientConfig(r.Host, r.URL.Query().Get("emailaddress"))
	switch {
	case errors.Is(err, errBadAddress):
		web.Error(w, r, http.StatusBadRequest)
		return
	case err != nil: // a foreign domain, or no mail servers: nothing here
		web.Error(w, r, http.StatusNotFound)
		return
	}
	b, err := marshalXML(cc)
	if err != nil {
		h.log.Error("autoconfig", "err", err)
		web.Error(w, r, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Write(b)
}
