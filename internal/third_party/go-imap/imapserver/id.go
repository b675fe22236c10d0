package imapserver

import (
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/internal/imapwire"
)

// SessionID is a session that supports the ID command (RFC 2971).
type SessionID interface {
	Session

	// ID is given what the client says it is (nil for "ID NIL") and
	// returns what the server says it is (nil for NIL).
	ID(client *imap.IDData) *imap.IDData
}

// Limits of RFC 2971 section 3.3.
const (
	maxIDFields     = 30
	maxIDFieldName  = 30
	maxIDFieldValue = 1024
)

// handleID answers ID in any state (RFC 2971 section 3.1).
func (c *Conn) handleID(dec *imapwire.Decoder) error {
	if !dec.ExpectSP() {
		return dec.Err()
	}
	client, err := readIDParams(dec)
	if err != nil {
		return err
	}
	if !dec.ExpectCRLF() {
		return dec.Err()
	}
	var server *imap.IDData
	if s, ok := c.session.(SessionID); ok {
		server = s.ID(client)
	}
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("ID").SP()
	fields := idFields(server)
	if len(fields) == 0 {
		enc.NIL()
	} else {
		enc.List(len(fields)/2, func(i int) {
			enc.Quoted(fields[2*i]).SP().Quoted(fields[2*i+1])
		})
	}
	return enc.CRLF()
}

// readIDParams reads "NIL" or a list of field-value pairs.
func readIDParams(dec *imapwire.Decoder) (*imap.IDData, error) {
	var atom string
	if dec.Atom(&atom) {
		if !strings.EqualFold(atom, "NIL") {
			return nil, newClientBugError("ID takes NIL or a list")
		}
		return nil, nil
	}
	data := &imap.IDData{}
	var key string
	n := 0
	err := dec.ExpectList(func() error {
		if n++; n > 2*maxIDFields {
			return newClientBugError("Too many ID fields")
		}
		if n%2 == 1 {
			if !dec.ExpectString(&key) {
				return dec.Err()
			}
			if len(key) > maxIDFieldName {
				return newClientBugError("ID field name too long")
			}
			return nil
		}
		var value string
		if !dec.ExpectNString(&value) {
			return dec.Err()
		}
		if len(value) > maxIDFieldValue {
			return newClientBugError("ID field value too long")
		}
		setIDField(data, strings.ToLower(key), value)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n%2 == 1 {
		return nil, newClientBugError("ID field without a value")
	}
	return data, nil
}

func setIDField(data *imap.IDData, key, value string) {
	switch key {
	case "name":
		data.Name = value
	case "version":
		data.Version = value
	case "os":
		data.OS = value
	case "os-version":
		data.OSVersion = value
	case "vendor":
		data.Vendor = value
	case "support-url":
		data.SupportURL = value
	case "address":
		data.Address = value
	case "date":
		data.Date = value
	case "command":
		data.Command = value
	case "arguments":
		data.Arguments = value
	case "environment":
		data.Environment = value
	}
}

// idFields lists the non-empty fields of data as name, value pairs.
func idFields(data *imap.IDData) []string {
	if data == nil {
		return nil
	}
	var out []string
	for _, f := range []struct{ k, v string }{
		{"name", data.Name}, {"version", data.Version}, {"os", data.OS}, {"os-version", data.OSVersion},
		{"vendor", data.Vendor}, {"support-url", data.SupportURL}, {"address", data.Address}, {"date", data.Date},
		{"command", data.Command}, {"arguments", data.Arguments}, {"environment", data.Environment},
	} {
		if f.v != "" {
			out = append(out, f.k, f.v)
		}
	}
	return out
}
