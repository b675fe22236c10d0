package server

import (
	"errors"
	"path/filepath"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/mail/dnsrec"
	"github.com/caucus-org/caucus/mail/msgauth"
)

// dkimKeys loads (or makes) the DKIM keys of every mail domain, by
// lower-case domain. Single-label names (the demo's "localhost") have no
// DNS to publish a key in and get none. The server signs with these keys;
// init and dns print their records.
func dkimKeys(cfg config.Config, now time.Time) (map[string][]msgauth.DKIMKey, error) {
	out := map[string][]msgauth.DKIMKey{}
	for _, d := range cfg.MailDomains {
		if !strings.Contains(d, ".") {
			continue
		}
		keys, err := msgauth.LoadOrCreateKeys(filepath.Join(cfg.DataDir, "dkim"), d, now)
		if err != nil {
			return nil, err
		}
		out[strings.ToLower(d)] = keys
	}
	return out, nil
}

// PublishedRecords is the zone text of the records to publish, making the
// DKIM keys first if there are none yet.
func PublishedRecords(cfg config.Config, now time.Time) (string, error) {
	keys, err := dkimKeys(cfg, now)
	if err != nil {
		return "", err
	}
	if len(keys) == 0 {
		return "", errors.New("no mail domain with a dot: nothing to publish")
	}
	return dnsrec.Zone(dnsrec.Records(cfg.Hostname, cfg.MailDomains, dnsKeys(keys))), nil
}

// dnsKeys are the DKIM keys as dnsrec publishes them.
func dnsKeys(keys map[string][]msgauth.DKIMKey) map[string][]dnsrec.DKIMKey {
	pub := map[string][]dnsrec.DKIMKey{}
	for d, ks := range keys {
		for _, k := range ks {
			pub[d] = append(pub[d], k)
		}
	}
	return pub
}
