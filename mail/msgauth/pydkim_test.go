package msgauth

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/testtool"
)

// pyVerify verifies every DKIM signature of the message in argv[1] with
// dkimpy (Debian's python3-dkim), an implementation independent of
// go-msgauth, answering key queries from the records given as name/value
// pairs in the remaining arguments instead of DNS. It prints one line per
// signature: its index and True or False.
const pyVerify = `
import sys, dkim
msg = open(sys.argv[1], 'rb').read()
records = {}
for i in range(2, len(sys.argv), 2):
    records[sys.argv[i].encode()] = sys.argv[i + 1].encode()
def dnsfunc(name, timeout=5):
    return records.get(name.rstrip(b'.').lower())
d = dkim.DKIM(msg)
n = sum(1 for k, v in d.headers if k.lower() == b'dkim-signature')
print('signatures', n)
for i in range(n):
    try:
        ok = d.verify(idx=i, dnsfunc=dnsfunc)
    except dkim.ValidationError as e:
        ok = False
        print(e, file=sys.stderr)
    print(i, ok)
`

// python3DKIM returns a python3 that can import dkim (python3-dkim) and
// nacl (for Ed25519), or skips (fails under CI=true). The python3 first on
// PATH may be another installation than Debian's, so /usr/bin/python3 is
// tried too.
func python3DKIM(t *testing.T) string {
	t.Helper()
	candidates := []string{testtool.Need(t, "python3"), "/usr/bin/python3"}
	for _, py := range candidates {
		if exec.Command(py, "-c", "import dkim, nacl").Run() == nil {
			return py
		}
	}
	msg := "python3 cannot import dkim and nacl; install python3-dkim (apt-get install python3-dkim, or run bash .ci/run)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestSignVerifiedByDKIMPy: signatures made by Sign verify with dkimpy,
// Ed25519 (RFC 8463) and RSA, and a changed message does not.
func TestSignVerifiedByDKIMPy(t *testing.T) {
	t.Parallel()
	py := python3DKIM(t)
	keys := testKeys(t, "example-party.org")
	msg := testMessage("Party Leader <leader@example-party.org>")
	signed := sign(t, msg, keys...)

	dir := t.TempDir()
	script := filepath.Join(dir, "verify.py")
	if err := os.WriteFile(script, []byte(pyVerify), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{script, ""}
	for _, k := range keys {
		name, value := k.DNSRecord()
		args = append(args, name, value)
	}

	for _, tc := range []struct {
		name string
		msg  []byte
		want string
	}{
		{"signed", signed, "signatures 2\n0 True\n1 True\n"},
		{"body changed", []byte(strings.Replace(string(signed), "See you there", "See you later", 1)), "signatures 2\n0 False\n1 False\n"},
	} {
		file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".eml")
		if err := os.WriteFile(file, tc.msg, 0o600); err != nil {
			t.Fatal(err)
		}
		args[1] = file
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, py, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		cancel()
		if err != nil {
			t.Fatalf("%s: dkimpy: %v\n%s%s", tc.name, err, out, stderr.String())
		}
		if stderr.Len() > 0 {
			t.Logf("%s: dkimpy: %s", tc.name, stderr.String())
		}
		if string(out) != tc.want {
			t.Errorf("%s: dkimpy says:\n%s\nwant:\n%s", tc.name, out, tc.want)
		}
	}
}
