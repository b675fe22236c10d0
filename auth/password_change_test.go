package auth

import (
	"errors"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth/password"
)

// TestChangePassword: a member changes their own password with the old
// one, within the step-up window, to one the policy accepts; the old one
// stops working; a wrong old password counts as a failed attempt.
func TestChangePassword(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "ana@example.org")
	sess := mustSession(t, s, m.Token)
	const newPW = "amber-lantern-quiet-4471"

	if err := s.ChangePassword(ctx, sess, "wrong-old-password-123", newPW, cl); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("wrong old password: %v, want ErrBadCredentials", err)
	}
	if err := s.ChangePassword(ctx, sess, m.Password, "short", cl); !errors.Is(err, password.ErrTooShort) {
		t.Errorf("short new password: %v, want ErrTooShort", err)
	}
	if err := s.ChangePassword(ctx, sess, m.Password, "ana-example-org-ana", cl); !errors.Is(err, password.ErrRelated) {
		t.Errorf("password with the login: %v, want ErrRelated", err)
	}
	if err := s.ChangePassword(ctx, sess, m.Password, newPW, cl); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	if _, _, err := s.PasswordSignIn(ctx, m.Login, m.Password, cl); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("old password after the change: %v", err)
	}
	forgetFailures(s, m.Login, cl)
	if _, _, err := s.PasswordSignIn(ctx, m.Login, newPW, cl); err != nil {
		t.Errorf("new password: %v", err)
	}

	clk.Advance(6 * time.Minute)
	if err := s.ChangePassword(ctx, sess, newPW, m.Password+"-x", cl); !errors.Is(err, ErrStepUp) {
		t.Errorf("after the step-up window: %v, want ErrStepUp", err)
	}
}

// TestChangeOwnName: a member sets their own display name, checked like
// an admin's change.
func TestChangeOwnName(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	ctx := t.Context()
	m := enrolMember(t, s, clk, "ana@example.org")
	sess := mustSession(t, s, m.Token)
	if err := s.SetDisplayName(ctx, sess, "Ana García", cl); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Account(ctx, m.ID); a.DisplayName != "Ana García" {
		t.Errorf("name %q", a.DisplayName)
	}
	if err := s.SetDisplayName(ctx, sess, "", cl); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty name: %v, want ErrInvalid", err)
	}
}
