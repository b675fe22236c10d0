package imapserver

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

var _ imapserver.SessionID = (*session)(nil)

// ID answers the ID command (RFC 2971), in any state: caucus says its name
// and nothing else (no version, which would only help an attacker pick an
// exploit), and logs what the client says it is, which helps to tell
// which app a member's failing device runs.
func (ss *session) ID(client *imap.IDData) *imap.IDData {
	if client != nil {
		ss.log.Info("imap: client id", "name", client.Name, "version", client.Version,
			"os", client.OS, "os_version", client.OSVersion, "vendor", client.Vendor)
	}
	return &imap.IDData{Name: "caucus"}
}
