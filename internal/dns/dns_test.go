package dns

import (
	"context"
	"errors"
	"net"
	"testing"
)

func TestMock(t *testing.T) {
	t.Parallel()
	temp := errors.New("temporary failure")
	m := &Mock{
		TXT:  map[string][]string{"Example.org.": {"v=spf1 -all"}},
		MX:   map[string][]*net.MX{"example.org": {{Host: "mx.example.org.", Pref: 10}}},
		IP:   map[string][]net.IPAddr{"mx.example.org": {{IP: net.ParseIP("127.0.0.2")}}},
		PTR:  map[string][]string{"127.0.0.2": {"mx.example.org."}},
		Fail: map[string]error{"broken.example": temp},
	}
	ctx := context.Background()
	var r Resolver = m
	if txt, err := r.LookupTXT(ctx, "example.ORG"); err != nil || len(txt) != 1 {
		t.Errorf("TXT: %v, %v", txt, err)
	}
	if mx, err := r.LookupMX(ctx, "example.org."); err != nil || mx[0].Pref != 10 {
		t.Errorf("MX: %v, %v", mx, err)
	}
	if ip, err := r.LookupIPAddr(ctx, "mx.example.org"); err != nil || !ip[0].IP.Equal(net.ParseIP("127.0.0.2")) {
		t.Errorf("IP: %v, %v", ip, err)
	}
	if ptr, err := r.LookupAddr(ctx, "127.0.0.2"); err != nil || ptr[0] != "mx.example.org." {
		t.Errorf("PTR: %v, %v", ptr, err)
	}
	if _, err := r.LookupTXT(ctx, "nothing.example"); !IsNotFound(err) {
		t.Errorf("missing name: %v, want not found", err)
	}
	if _, err := r.LookupMX(ctx, "broken.example"); !errors.Is(err, temp) || IsNotFound(err) {
		t.Errorf("failing name: %v, want the temporary error", err)
	}
}
