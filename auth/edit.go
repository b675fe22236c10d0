package auth

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/caucus-org/caucus/internal/audit"
)

// AccountChange is what an admin changes of an account; nil fields stay.
type AccountChange struct {
	Name    *string
	Role    *Role
	Expires *time.Time // the instant access ends; zero: never
}

// ChangeAccount changes an account's display name, role or access end, in
// one transaction, with an audit record of each change. Making someone an
// admin needs a passkey or security key on the account when the policy
// asks admins for one ([ErrNeedWebAuthn]).
func (s *Service) ChangeAccount(ctx context.Context, actor string, id int64, ch AccountChange, c Client) error {
	acct, err := s.Account(ctx, id)
	if err != nil {
		return err
	}
	if ch.Name != nil {
		if err := validDisplayName(*ch.Name); err != nil {
			return err
		}
	}
	if ch.Role != nil {
		if !ch.Role.Valid() {
			return fmt.Errorf("%w: role must be member, volunteer, officer or admin", ErrInvalid)
		}
		if err := s.checkKeysForRole(ctx, acct, *ch.Role); err != nil {
			return err
		}
	}
	// A volunteer keeps a last day: made one without, or losing it.
	role, expires := acct.Role, acct.ExpiresAt
	if ch.Role != nil {
		role = *ch.Role
	}
	if ch.Expires != nil {
		expires = *ch.Expires
	}
	if role == RoleVolunteer && expires.IsZero() {
		return ErrVolunteerLastDay
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		rec := func(kind, detail string) error {
			return s.audit.RecordTx(ctx, tx, audit.Event{Actor: actor, Subject: acct.Login, Kind: kind, Detail: detail, Addr: c.addr(), UserAgent: c.UserAgent})
		}
		if ch.Name != nil && *ch.Name != acct.DisplayName {
			if _, err := tx.ExecContext(ctx, `UPDATE accounts SET display_name = ? WHERE id = ?`, *ch.Name, id); err != nil {
				return fmt.Errorf("auth: change name: %w", err)
			}
			if err := rec("account.name", acct.DisplayName+" -> "+*ch.Name); err != nil {
				return err
			}
		}
		if ch.Role != nil && *ch.Role != acct.Role {
			role, subrole := ch.Role.stored()
			if _, err := tx.ExecContext(ctx, `UPDATE accounts SET role = ?, subrole = ? WHERE id = ?`, role, subrole, id); err != nil {
				return fmt.Errorf("auth: change role: %w", err)
			}
			if err := rec("account.role", string(acct.Role)+" -> "+string(*ch.Role)); err != nil {
				return err
			}
		}
		if ch.Expires != nil && !ch.Expires.Equal(acct.ExpiresAt) {
			var v any
			detail := "none"
			if !ch.Expires.IsZero() {
				v, detail = ch.Expires.Unix(), ch.Expires.UTC().Format(time.RFC3339)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE accounts SET expires_at = ? WHERE id = ?`, v, id); err != nil {
				return fmt.Errorf("auth: change expiry: %w", err)
			}
			if err := rec("account.expiry", detail); err != nil {
				return err
			}
		}
		return nil
	})
}

// WithdrawInvite ends an invite that was not accepted: its links stop
// working and the account, which never had a password, is offboarded (its
// address stays taken, as every departed one's). ErrInvalid if the
// account is not an unaccepted invite.
func (s *Service) WithdrawInvite(ctx context.Context, actor string, id int64, c Client) error {
	acct, err := s.Account(ctx, id)
	if err != nil {
		return err
	}
	if acct.State != StateInvited || acct.hasPassword {
		return fmt.Errorf("%w: only an invite that was not accepted can be withdrawn", ErrInvalid)
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		now := s.now().Unix()
		if _, err := tx.ExecContext(ctx, `UPDATE invites SET expires_at = ? WHERE account_id = ? AND used_at IS NULL AND expires_at > ?`, now, id, now); err != nil {
			return fmt.Errorf("auth: withdraw invite: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET state = 'offboarded' WHERE id = ?`, id); err != nil {
			return fmt.Errorf("auth: withdraw invite: %w", err)
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Actor: actor, Subject: acct.Login, Kind: "invite.withdraw", Addr: c.addr(), UserAgent: c.UserAgent})
	})
}

// InviteAccepted reports whether an invited account has chosen its
// password (its enrolment link was used).
func (a Account) InviteAccepted() bool { return a.hasPassword }

// checkKeysForRole refuses to give an active account a role whose keys
// it does not hold yet ([Service.KeysRequired]): it would be signed in
// with less than the role demands. An invited account enrols with them.
func (s *Service) checkKeysForRole(ctx context.Context, acct Account, role Role) error {
	next := acct
	next.Role = role
	need := s.KeysRequired(next)
	if acct.State != StateActive || need <= s.KeysRequired(acct) {
		return nil
	}
	wa, _, err := s.factorCounts(ctx, s.db, acct.ID)
	if err != nil {
		return err
	}
	switch {
	case wa >= need:
		return nil
	case role == RoleOfficer:
		return fmt.Errorf("%w: they need two passkeys or security keys before they can be an officer", ErrNeedWebAuthn)
	}
	return fmt.Errorf("%w: they need a passkey or security key before they can be an admin", ErrNeedWebAuthn)
}
