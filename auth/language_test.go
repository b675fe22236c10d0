package auth

import (
	"context"
	"errors"
	"testing"
)

func TestValidateLanguage(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"", "it", "en", "pt-BR", "sr-Latn", "gsw"} {
		if err := ValidateLanguage(ok); err != nil {
			t.Errorf("ValidateLanguage(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"i", "italiano", "it_IT", "it-", "-it", "1t", "it-toolongpart", "it\n", "it-IT-" + string(make([]byte, 40))} {
		if err := ValidateLanguage(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateLanguage(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestSetLanguage(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	ctx := context.Background()
	id, _ := invite(t, s, "anna@example.org", RoleMember)
	if a, err := s.Account(ctx, id); err != nil || a.Language != "" {
		t.Fatalf("new account: language %q, %v; want none", a.Language, err)
	}
	if err := s.SetLanguage(ctx, id, "it"); err != nil {
		t.Fatal(err)
	}
	if a, err := s.AccountByLogin(ctx, "anna@example.org"); err != nil || a.Language != "it" {
		t.Fatalf("after SetLanguage: %q, %v; want it", a.Language, err)
	}
	if err := s.SetLanguage(ctx, id, "it'; DROP TABLE accounts; --"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad code: %v, want ErrInvalid", err)
	}
	if err := s.SetLanguage(ctx, id+1000, "de"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no such account: %v, want ErrNotFound", err)
	}
	if err := s.SetLanguage(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Account(ctx, id); a.Language != "" {
		t.Fatalf("cleared: %q", a.Language)
	}
}
