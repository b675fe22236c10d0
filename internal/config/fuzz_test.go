package config

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/BurntSushi/toml"
)

// FuzzParse checks that Parse never panics, and that whatever it accepts
// is valid and survives encoding and parsing again unchanged.
func FuzzParse(f *testing.F) {
	f.Add(Template("mail.example-party.org", "example-party.org", "/var/lib/caucus", "admin@example-party.org"))
	f.Add([]byte(`hostname = "localhost"
mail_domains = ["localhost", "example.org"]
data_dir = "/tmp/caucus"
[listen]
https = "127.0.0.1:8443"
http = ""
[tls]
cert_file = "/tmp/caucus/dev-cert.pem"
key_file = "/tmp/caucus/dev-key.pem"
[sessions]
idle_timeout = "1h"
step_up_window = "90s"
`))
	f.Add([]byte("hostname = 5\n[listen]\nimap = [\":143\"]\n"))
	f.Add([]byte("[sessions]\nidle_timeout = \"-1h\"\n[[log]]\nlevel = \"x\"\n"))
	f.Add([]byte("[unknown.table]\nk = 1\n"))
	f.Add([]byte("mail_domains = [\"a\", \"A\"]\nacme_contact = \"a@b\"\n"))
	f.Add([]byte{0xff, 0xfe, '=', '"'})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that does not validate: %v", err)
		}
		var b bytes.Buffer
		if err := toml.NewEncoder(&b).Encode(c); err != nil {
			t.Fatalf("encoding an accepted config: %v", err)
		}
		c2, err := Parse(b.Bytes())
		if err != nil {
			t.Fatalf("Parse of the encoded config: %v\n%s", err, b.Bytes())
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("config changed through encoding:\n%+v\n%+v\n%s", c, c2, b.Bytes())
		}
	})
}
