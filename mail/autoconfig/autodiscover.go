package autoconfig

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Autodiscover "POX" (plain old XML), as [MS-OXDSCLI] "Autodiscover
// Publishing and Lookup Protocol" specifies it: the client POSTs a request
// naming an address (section 2.2.3, the request schema) and reads the
// settings of the Outlook response schema 2006a, or an Error element
// (section 2.2.4, the response schema).
// Outlook and Thunderbird ask
//
//	https://autodiscover.<domain>/autodiscover/autodiscover.xml
//	https://<domain>/autodiscover/autodiscover.xml
//
// or the host named by the SRV record _autodiscover._tcp.<domain>.

// MaxAutodiscoverBody is the largest Autodiscover request read, in bytes. A
// real request is a few hundred bytes; a larger one is answered with 413
// Request Entity Too Large.
const MaxAutodiscoverBody = 64 << 10

// XML namespaces of [MS-OXDSCLI].
const (
	nsRequest  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	nsResponse = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	nsOutlook  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
)

// adRequest is the request ([MS-OXDSCLI] section 2.2.3). Elements match by
// local name, whatever their namespace.
type adRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request struct {
		EMailAddress             string `xml:"EMailAddress"`
		AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

// errBadRequest is an Autodiscover request that is not one.
var errBadRequest = errors.New("autoconfig: bad autodiscover request")

// parseAutodiscoverRequest reads the address and the acceptable response
// schema from a request body, which the caller has bounded. A UTF-8 byte
// order mark is skipped; other encodings than UTF-8 are refused, and so is
// a request without an address.
func parseAutodiscoverRequest(body []byte) (email, schema string, err error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	var req adRequest
	// encoding/xml expands no entities beyond the five predefined ones and
	// limits nesting depth, so a hostile document costs at most its size.
	if err := xml.Unmarshal(body, &req); err != nil {
		return "", "", fmt.Errorf("%w: %w", errBadRequest, err)
	}
	email = strings.TrimSpace(req.Request.EMailAddress)
	schema = strings.TrimSpace(req.Request.AcceptableResponseSchema)
	if email == "" {
		return "", "", fmt.Errorf("%w: no EMailAddress", errBadRequest)
	}
	return email, schema, nil
}

// adResponse is the response: settings in the Outlook 2006a namespace, or
// an error in the 2006 one.
type adResponse struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response adInner
}

type adInner struct {
	XMLName xml.Name   // "Response", in nsOutlook for settings, nsResponse for an error
	Account *adAccount `xml:"Account"`
	Error   *adError   `xml:"Error"`
}

// adAccount is the Account element of the 2006a schema.
type adAccount struct {
	AccountType string       `xml:"AccountType"` // "email"
	Action      string       `xml:"Action"`      // "settings"
	Protocol    []adProtocol `xml:"Protocol"`
}

// adProtocol is one server: the Protocol element of the 2006a schema. SSL
// "on" with no Encryption is implicit TLS; Encryption "TLS" is STARTTLS.
type adProtocol struct {
	Type           string `xml:"Type"` // "IMAP" or "SMTP"
	Server         string `xml:"Server"`
	Port           int    `xml:"Port"`
	LoginName      string `xml:"LoginName"`
	DomainRequired string `xml:"DomainRequired"`
	SPA            string `xml:"SPA"` // Microsoft's NTLM; never
	SSL            string `xml:"SSL"`
	Encryption     string `xml:"Encryption,omitempty"`
	AuthRequired   string `xml:"AuthRequired"`
}

// adError is the Error element of the response schema.
type adError struct {
	ErrorCode int    `xml:"ErrorCode"`
	Message   string `xml:"Message"`
	DebugData string `xml:"DebugData"`
}

// Error codes of [MS-OXDSCLI] (the ErrorCode element).
const (
	adAddressNotFound = 500 // the address is not one this server answers for
	adNoSettings      = 501 // the address is known but has no settings
	adInvalidRequest  = 600 // the request is not well formed
	adNoSchema        = 601 // the requested response schema is not provided
	adInternal        = 603 // the server failed
)

func adErrorResponse(code int, msg string) adResponse {
	return adResponse{Response: adInner{
		// The namespace of the root, said again: encoding/xml would
		// otherwise write xmlns="" and take the element out of it.
		XMLName: xml.Name{Space: nsResponse, Local: "Response"},
		Error:   &adError{ErrorCode: code, Message: msg},
	}}
}

// autodiscoverResponse answers a request for address email that accepts
// schema (empty: the Outlook one). Every outcome is a document: settings or
// an error.
func (s Settings) autodiscoverResponse(email, schema string) adResponse {
	if schema != "" && schema != nsOutlook {
		return adErrorResponse(adNoSchema, "The requested schema is not available.")
	}
	addr, err := s.address(email)
	switch {
	case errors.Is(err, errForeignDomain):
		return adErrorResponse(adAddressNotFound, "The email address cannot be found.")
	case err != nil:
		return adErrorResponse(adInvalidRequest, "Invalid Request")
	}
	in, out := s.incoming(), s.outgoing()
	if len(in) == 0 || len(out) == 0 {
		return adErrorResponse(adNoSettings, "No mail settings are available for this address.")
	}
	// Outlook takes one server per protocol: the preferred one.
	return adResponse{Response: adInner{
		XMLName: xml.Name{Space: nsOutlook, Local: "Response"},
		Account: &adAccount{
			AccountType: "email",
			Action:      "settings",
			Protocol:    []adProtocol{s.adProtocol("IMAP", in[0], addr), s.adProtocol("SMTP", out[0], addr)},
		},
	}}
}

func (s Settings) adProtocol(typ string, sv server, addr string) adProtocol {
	p := adProtocol{
		Type: typ, Server: s.Hostname, Port: sv.port, LoginName: addr,
		DomainRequired: "off", SPA: "off", SSL: "on", AuthRequired: "on",
	}
	if !sv.implicit {
		p.Encryption = "TLS"
	}
	return p
}

// autodiscover serves the Autodiscover POX endpoint.
func (h *Handler) autodiscover(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAutodiscoverBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		h.writeAutodiscover(w, http.StatusRequestEntityTooLarge, adErrorResponse(adInvalidRequest, "Invalid Request"))
		return
	case err != nil: // the client went away or the read timed out
		h.log.Debug("autodiscover: read request", "err", err)
		return
	}
	email, schema, err := parseAutodiscoverRequest(body)
	if err != nil {
		h.writeAutodiscover(w, http.StatusOK, adErrorResponse(adInvalidRequest, "Invalid Request"))
		return
	}
	h.writeAutodiscover(w, http.StatusOK, h.s.autodiscoverResponse(email, schema))
}

func (h *Handler) writeAutodiscover(w http.ResponseWriter, code int, resp adResponse) {
	b, err := marshalXML(resp)
	if err != nil {
		h.log.Error("autodiscover", "err", err)
		code = http.StatusInternalServerError
		b, _ = marshalXML(adErrorResponse(adInternal, "Internal Server Error"))
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	w.Write(b)
}
