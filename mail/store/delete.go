package store

import (
	"context"
	"database/sql"
	"fmt"
)

// DeleteMailboxTree deletes a mailbox that is not special-use together with
// every mailbox below it, and their messages, in one transaction. It is
// what the offboarding of an account uses to take away the copy of the
// departed person's mail it gave a successor; IMAP's DELETE stays one
// mailbox at a time. A name that does not exist is [ErrNoMailbox]. The
// bodies stay until [Store.CollectGarbage] finds them unreferenced.
func (s *Store) DeleteMailboxTree(ctx context.Context, accountID int64, name string) (deleted int, err error) {
	cn, err := CanonicalName(name)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNoMailbox, err)
	}
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx, ch *changes) error {
		mb, err := mailboxByName(ctx, tx, accountID, cn)
		if err != nil {
			return err
		}
		if mb.isSpecial() {
			return fmt.Errorf("%w: %q", ErrSpecialUse, mb.Name)
		}
		deleted, err = deleteMailboxes(ctx, tx, `account_id = ? AND (name = ? OR `+childOf+`)`,
			accountID, mb.Name, mb.Name+string(Delimiter), mb.Name+string(Delimiter))
		ch.add(Change{Kind: ChangeMailboxes, AccountID: accountID, MailboxID: mb.ID})
		return err
	})
	return deleted, err
}

// DeleteAccount deletes every mailbox of the account, special-use ones
// included, their messages and the account's quota setting, in one
// transaction: the end of an offboarded person's mail after its retention
// period. An account the store never saw is no error. The bodies stay until
// [Store.CollectGarbage] finds them unreferenced; a later delivery to the
// account would start it afresh.
func (s *Store) DeleteAccount(ctx context.Context, accountID int64) (mailboxes int, err error) {
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx, ch *changes) error {
		if mailboxes, err = deleteMailboxes(ctx, tx, `account_id = ?`, accountID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM mailbox_subscriptions WHERE account_id = ?`, accountID); err != nil {
			return fmt.Errorf("store: delete account: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM mail_accounts WHERE account_id = ?`, accountID); err != nil {
			return fmt.Errorf("store: delete account: %w", err)
		}
		ch.add(Change{Kind: ChangeMailboxes, AccountID: accountID})
		return nil
	})
	return mailboxes, err
}

// deleteMailboxes deletes the mailboxes matching the condition on the
// mailboxes table, with their messages, and returns how many there were.
func deleteMailboxes(ctx context.Context, tx *sql.Tx, where string, args ...any) (int, error) {
	if _, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE `+where+`)`, args...); err != nil {
		return 0, fmt.Errorf("store: delete mailboxes: %w", err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM mailboxes WHERE `+where, args...)
	if err != nil {
		return 0, fmt.Errorf("store: delete mailboxes: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
