package queue

import (
	"bytes"
	"testing"

	"github.com/caucus-org/caucus/internal/metrics"
)

// TestMetrics counts one message queued for three recipients: one
// delivered to the remote server, one bounced (550), one deferred (450)
// and counted nowhere yet.
func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := metrics.NewRegistry()
	set := metrics.NewSet(reg)
	e := newEnv(t, envOptions{cfg: func(c *Config) { c.Metrics = set }})
	e.enqueue("alice@example-party.org", "ok@example.org", "busy@example.org", "bad@example.org")
	e.run()
	var b bytes.Buffer
	if err := reg.Write(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	fams, err := metrics.Parse(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		labels []string
		v      float64
	}{
		"caucus_mail_queued_total":    {nil, 1},
		"caucus_mail_delivered_total": {[]string{"where", "remote"}, 1},
		"caucus_mail_bounced_total":   {nil, 1},
	}
	for _, f := range fams {
		w, ok := want[f.Name]
		if !ok {
			continue
		}
		delete(want, f.Name)
		if v, ok := f.Value(f.Name, w.labels...); !ok || v != w.v {
			t.Errorf("%s%v = %v (present %v), want %v", f.Name, w.labels, v, ok, w.v)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing series: %v", want)
	}
}
