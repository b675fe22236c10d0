package config

import (
	"strings"
	"testing"
	"time"
	"bytes"
	"github.com/BurntSushi/toml"
)

func TestSlowInputs(t *testing.T) {
	for _, n := range []int{1000, 3000, 10000} {
		for _, s := range []string{"a=" + strings.Repeat("{b=", n), "a=" + strings.Repeat("{b=", n)+"1"+strings.Repeat("}", n), strings.Repeat("x.", n) + "y=1", "[" + strings.Repeat("x.", n) + "y]", "a=" + strings.Repeat("[", n) + strings.Repeat("]", n), "a=" + strings.Repeat("[{b=", n)} {
			start := time.Now()
			var v any
			_, err := toml.NewDecoder(bytes.NewReader([]byte(s))).Decode(&v)
			e := ""
			if err != nil { e = err.Error(); if len(e) > 60 { e = e[:60] } }
			t.Logf("%d %q…: %v %s", n, s[:6], time.Since(start), e)
		}
	}
}
