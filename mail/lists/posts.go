package lists

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/mail/message"
	"github.com/caucus-org/caucus/mail/submit"
)

// Post states.
const (
	PostWaiting  = "waiting"
	PostSending  = "sending"
	PostSent     = "sent"
	PostRejected = "rejected"
)

// Post is a message sent to a list.
type Post struct {
	ID        int64
	ListID    int64
	State     string
	Author    string // the From address
	Subject   string
	Created   time.Time
	DecidedBy string
	Raw       []byte // only from [Service.Post] and [Service.ArchivedPost]
}

// Inbound is a message for a list's address, as mail/submit hands it over.
type Inbound struct {
	Rcpt  string // the list address as given, subaddress included
	From  string // the reverse-path; "" for a notification
	Login string // the account that signed in to send it; "" from outside
	Msg   []byte
}

// Accept takes a message for a list: a delivery status notification to
// one of its return paths is read as a bounce ([Service.Bounce]); a post
// from a moderator who signed in to send it goes out at once; any other
// post waits for a moderator in the console. Mail from outside never goes
// out unread, whatever its From says: a From is easily forged.
func (s *Service) Accept(ctx context.Context, in Inbound) error {
	l, tag, err := s.byAddress(ctx, in.Rcpt)
	if err != nil {
		return err
	}
	if tag != "" {
		if sub, ok := s.parseVERP(l.ID, tag); ok {
			return s.Bounce(ctx, l, sub, in.Msg)
		}
	}
	if in.From == "" {
		// Notifications without a valid return path tag are no posts.
		s.log.Info("lists: notification to a list address dropped", "list", l.Address)
		return nil
	}
	if len(in.Msg) > MaxPost {
		return refusal(ErrTooLarge, 552, [3]int{5, 3, 4}, submit.ErrTooLarge, "Message too large for the mailing list")
	}
	h, err := message.Parse(in.Msg)
	if err != nil {
		return fmt.Errorf("lists: post: %w", err)
	}
	author := in.From
	if from, err := h.From(); err == nil {
		author = from.Addr()
	}
	subject := oneLine(h.First("Subject"), 200)
	direct, err := s.isModerator(ctx, l, in.Login)
	if err != nil {
		return err
	}
	id, err := s.insertPost(ctx, l, author, subject, in.Msg)
	if err != nil || !direct {
		return err
	}
	return s.decide(ctx, in.Login, id, true)
}

// refusal is err carrying the SMTP reply mail/submit answers the sender
// with (a *submit.Error of the kind given).
func refusal(err error, code int, enh [3]int, kind error, text string) error {
	return fmt.Errorf("%w: %w", err, &submit.Error{Code: code, Enhanced: enh, Message: text, Kind: kind})
}

// oneLine returns v on one line, at most n bytes.
func oneLine(v string, n int) string {
	v = strings.Join(strings.Fields(v), " ")
	if len(v) > n {
		v = v[:n]
	}
	return strings.ToValidUTF8(v, "")
}

// insertPost stores a waiting post, refusing when MaxWaiting wait
// already.
func (s *Service) insertPost(ctx context.Context, l List, author, subject string, raw []byte) (int64, error) {
	ref, err := s.putPost(ctx, raw)
	if err != nil {
		return 0, err
	}
	var id int64
	err = s.deps.DB.Tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM list_posts WHERE list_id = ? AND state = 'waiting'`, l.ID).Scan(&n); err != nil {
			return err
		}
		if n >= s.maxWaiting {
			return refusal(ErrTooMany, 452, [3]int{4, 2, 2}, submit.ErrMailboxFull, "The mailing list has too many posts waiting; try again later")
		}
		return tx.QueryRowContext(ctx, `INSERT INTO list_posts (list_id, state, author, subject, blob_ref, created_at) VALUES (?, 'waiting', ?, ?, ?, ?) RETURNING id`,
			l.ID, author, subject, string(ref), s.deps.Now().Unix()).Scan(&id)
	})
	if err != nil {
		// The blob is this post's alone (see putPost).
		if derr := s.deps.Blobs.Delete(ref); derr != nil {
			s.log.Error("lists: deleting the blob of a refused post", "err", derr)
		}
		if errors.Is(err, ErrTooMany) {
			return 0, err
		}
		return 0, fmt.Errorf("lists: post: %w", err)
	}
	s.log.Info("lists: post received", "list", l.Address, "post", id)
	return id, nil
}

// Approve sends a waiting post to the list's members; actor is the
// moderator or admin who approved it.
func (s *Service) Approve(ctx context.Context, actor string, postID int64) error {
	return s.decide(ctx, actor, postID, true)
}

// Reject drops a waiting post; its text is not kept.
func (s *Service) Reject(ctx context.Context, actor string, postID int64) error {
	return s.decide(ctx, actor, postID, false)
}

// decide approves or rejects a waiting post. An approved post's
// recipients, as they are at this moment, go into the outbox in the same
// transaction, and Run sends them.
func (s *Service) decide(ctx context.Context, actor string, postID int64, approve bool) error {
	var l List
	var state, author, subject string
	err := s.deps.DB.QueryRowContext(ctx, `SELECT list_id, state, author, subject FROM list_posts WHERE id = ?`, postID).Scan(&l.ID, &state, &author, &subject)
	if errors.Is(err, sql.ErrNoRows) || err == nil && state != PostWaiting {
		return ErrNoPost
	}
	if err != nil {
		return fmt.Errorf("lists: decide: %w", err)
	}
	if l, err = s.Get(ctx, l.ID); err != nil {
		return err
	}
	var rcpts []recipient
	if approve {
		if rcpts, err = s.recipients(ctx, l); err != nil {
			return err
		}
	}
	err = s.deps.DB.Tx(ctx, func(tx *sql.Tx) error {
		newState, kind := PostRejected, "list.reject"
		if approve {
			newState, kind = PostSending, "list.approve"
		}
		res, err := tx.ExecContext(ctx, `UPDATE list_posts SET state = ?, decided_by = ?, decided_at = ? WHERE id = ? AND state = 'waiting'`,
			newState, actor, s.deps.Now().Unix(), postID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmpErr(err, ErrNoPost)
		}
		if !approve {
			if err := trashPost(ctx, tx, postID); err != nil {
				return err
			}
		}
		for _, r := range rcpts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO list_outbox (post_id, address, sub_id) VALUES (?, ?, ?)`, postID, r.address, r.sub); err != nil {
				return err
			}
		}
		return s.deps.Auth.Audit().RecordTx(ctx, tx, audit.Event{Actor: actor, Kind: kind,
			Detail: fmt.Sprintf("list=%s post=%d author=%s subject=%q recipients=%d", l.Address, postID, author, subject, len(rcpts))})
	})
	if err != nil {
		if errors.Is(err, ErrNoPost) {
			return err
		}
		return fmt.Errorf("lists: decide: %w", err)
	}
	if !approve {
		if err := s.emptyTrash(ctx); err != nil {
			s.log.Warn("lists: emptying the trash", "err", err) // the next turn of Run does
		}
		return nil
	}
	s.notify()
	return nil
}

// cmpErr returns err if it is not nil, else alt.
func cmpErr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}

// Posts returns a list's posts in a state, newest first, without their
// text, at most limit.
func (s *Service) Posts(ctx context.Context, listID int64, state string, limit int) ([]Post, error) {
	rows, err := s.deps.DB.QueryContext(ctx, `SELECT id, list_id, state, author, subject, created_at, decided_by FROM list_posts
		WHERE list_id = ? AND state = ? ORDER BY id DESC LIMIT ?`, listID, state, limit)
	if err != nil {
		return nil, fmt.Errorf("lists: posts: %w", err)
	}
	defer rows.Close()
	var out []Post
	for rows.Next() {
		var p Post
		var created int64
		if err := rows.Scan(&p.ID, &p.ListID, &p.State, &p.Author, &p.Subject, &created, &p.DecidedBy); err != nil {
			return nil, fmt.Errorf("lists: posts: %w", err)
		}
		p.Created = time.Unix(created, 0)
		out = append(out, p)
	}
	return out, rows.Err()
}

// Post returns one post of a list with its text.
func (s *Service) Post(ctx context.Context, listID, postID int64) (Post, error) {
	var p Post
	var created int64
	var ref string
	err := s.deps.DB.QueryRowContext(ctx, `SELECT id, list_id, state, author, subject, created_at, decided_by, blob_ref FROM list_posts WHERE id = ? AND list_id = ?`, postID, listID).
		Scan(&p.ID, &p.ListID, &p.State, &p.Author, &p.Subject, &created, &p.DecidedBy, &ref)
	if errors.Is(err, sql.ErrNoRows) {
		return Post{}, ErrNoPost
	}
	if err != nil {
		return Post{}, fmt.Errorf("lists: post: %w", err)
	}
	p.Created = time.Unix(created, 0)
	if p.Raw, err = s.readPost(ref); err != nil {
		return Post{}, err
	}
	return p, nil
}

// Receive is [Service.Accept] in the shape mail/submit hands mail over.
func (s *Service) Receive(ctx context.Context, rcpt, from, login string, msg []byte) error {
	return s.Accept(ctx, Inbound{Rcpt: rcpt, From: from, Login: login, Msg: msg})
}
