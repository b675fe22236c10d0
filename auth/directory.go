package auth

import (
	"context"
	"fmt"
)

// FactorKindsByAccount returns the kinds of second factor each account
// holds (passkey, security key, TOTP; an account without any is absent),
// in one query: for the admin console's lists of a whole party, where
// [Service.Factors] per account would be one query per person.
func (s *Service) FactorKindsByAccount(ctx context.Context) (map[int64][]FactorKind, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT account_id, kind FROM webauthn_credentials
		UNION ALL SELECT id, 'totp' FROM accounts WHERE totp_secret IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("auth: factor kinds: %w", err)
	}
	defer rows.Close()
	out := map[int64][]FactorKind{}
	for rows.Next() {
		var id int64
		var k FactorKind
		if err := rows.Scan(&id, &k); err != nil {
			return nil, fmt.Errorf("auth: factor kinds: %w", err)
		}
		out[id] = append(out[id], k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auth: factor kinds: %w", err)
	}
	return out, nil
}
