package msgauth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/fsutil"
)

// ErrKeyFileMode says that a DKIM private key file can be read by users
// other than its owner.
var ErrKeyFileMode = errors.New("msgauth: DKIM key file readable by others")

// keyFileSuffix ends the name of every key file: a key for selector s of
// domain d is kept in "<s>._domainkey.<d>.pem", the name of its DNS record.
const keyFileSuffix = ".pem"

// KeyFileName returns the name, inside the key directory, of the file that
// holds the key for selector of domain.
func KeyFileName(domain, selector string) string {
	return selector + "._domainkey." + asciiDomain(domain) + keyFileSuffix
}

// LoadOrCreateKeys returns the DKIM keys for domain kept in dir, one per
// file named by KeyFileName, sorted by selector. When dir holds none for
// the domain, it makes a pair with GenerateKeys and writes them first,
// durably, as PKCS#8 PEM files of mode 0600 (dir is made 0700 if missing).
// It refuses key files that others may read (ErrKeyFileMode). Every key
// found is returned and Sign signs with all of them: to retire a key,
// remove its file after its successor's record is published.
func LoadOrCreateKeys(dir, domain string, now time.Time) ([]DKIMKey, error) {
	d := asciiDomain(domain)
	if d == "" {
		return nil, fmt.Errorf("%w: invalid domain %q", ErrKey, domain)
	}
	keys, err := loadKeys(dir, d)
	if err != nil || len(keys) > 0 {
		return keys, err
	}
	keys, err = GenerateKeys(d, now)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		data, err := MarshalKey(k)
		if err != nil {
			return nil, err
		}
		if err := fsutil.WriteFile(filepath.Join(dir, KeyFileName(d, k.Selector)), data, 0o600); err != nil {
			return nil, fmt.Errorf("msgauth: writing DKIM key: %w", err)
		}
	}
	return keys, nil
}

func loadKeys(dir, domain string) ([]DKIMKey, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("msgauth: reading DKIM key directory: %w", err)
	}
	suffix := "._domainkey." + domain + keyFileSuffix
	var keys []DKIMKey
	for _, e := range entries {
		selector, ok := strings.CutSuffix(e.Name(), suffix)
		if !ok || !e.Type().IsRegular() || !validSelector(selector) {
			continue
		}
		name := filepath.Join(dir, e.Name())
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("msgauth: %w", err)
		}
		if info.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("%w: %s has mode %v; run chmod 600 on it", ErrKeyFileMode, name, info.Mode().Perm())
		}
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("msgauth: reading DKIM key: %w", err)
		}
		k, err := ParseKey(domain, selector, data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b DKIMKey) int { return strings.Compare(a.Selector, b.Selector) })
	return keys, nil
}
