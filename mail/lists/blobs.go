package lists

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
)

// A post's text is a blob of the lists' own blob store, written and
// fsynced before the row naming it commits. Each blob starts with a line
// holding a random nonce, so that two posts never share one (the store
// counts no references): deleting a rejected post's blob, after the
// commit that put it in list_trash, can never take another post's text.
const blobMagic = "caucus-list "

// putPost stores a post's text as a new blob of its own.
func (s *Service) putPost(ctx context.Context, msg []byte) (blob.Ref, error) {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	head := blobMagic + hex.EncodeToString(nonce) + "\r\n"
	ref, _, err := s.deps.Blobs.Put(ctx, io.MultiReader(strings.NewReader(head), bytes.NewReader(msg)), int64(len(head)+MaxPost))
	if err != nil {
		return "", fmt.Errorf("lists: storing a post: %w", err)
	}
	return ref, nil
}

// readPost reads a post's text, at most MaxPost bytes.
func (s *Service) readPost(ref string) ([]byte, error) {
	if ref == "" {
		return nil, nil // a rejected post: its text is gone
	}
	r, err := blob.ParseRef(ref)
	if err != nil {
		return nil, err
	}
	f, err := s.deps.Blobs.Open(r)
	if err != nil {
		return nil, fmt.Errorf("lists: reading a post: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	head, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(head, blobMagic) {
		return nil, fmt.Errorf("lists: blob %s is not a post", ref)
	}
	return io.ReadAll(io.LimitReader(br, MaxPost))
}

// emptyTrash deletes the blobs of rejected posts named in list_trash,
// and their rows; what fails stays for the next call. It waits while a
// backup holds the blobs.
func (s *Service) emptyTrash(ctx context.Context) error {
	if held, err := db.BlobsHeld(ctx, s.deps.DB); err != nil || held {
		return err
	}
	rows, err := s.deps.DB.QueryContext(ctx, `SELECT blob_ref FROM list_trash`)
	if err != nil {
		return fmt.Errorf("lists: trash: %w", err)
	}
	var refs []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			rows.Close()
			return fmt.Errorf("lists: trash: %w", err)
		}
		refs = append(refs, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("lists: trash: %w", err)
	}
	for _, r := range refs {
		ref, err := blob.ParseRef(r)
		if err == nil {
			err = s.deps.Blobs.Delete(ref)
		}
		if err != nil && !errors.Is(err, blob.ErrNotFound) {
			s.log.Error("lists: deleting a rejected post", "err", err)
			continue
		}
		if _, err := s.deps.DB.ExecContext(ctx, `DELETE FROM list_trash WHERE blob_ref = ?`, r); err != nil {
			return fmt.Errorf("lists: trash: %w", err)
		}
	}
	return nil
}

// trashPost moves a post's blob to the trash, in tx.
func trashPost(ctx context.Context, tx *sql.Tx, postID int64) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO list_trash (blob_ref) SELECT blob_ref FROM list_posts WHERE id = ? AND blob_ref != '' ON CONFLICT DO NOTHING`, postID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE list_posts SET blob_ref = '' WHERE id = ?`, postID)
	return err
}
