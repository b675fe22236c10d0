package db

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Channel carries one kind of message between the nodes sharing a
// PostgreSQL database (revocations, mail store changes, throttle
// updates), as JSON in NOTIFY payloads marked with the sending node, so
// that each node hears the others and never itself.
type Channel struct {
	db   *DB
	name string
	node string
	log  *slog.Logger
	out  chan []byte // SendAsync's queue
}

// channelQueue is how many messages SendAsync keeps waiting.
const channelQueue = 4096

// sendTimeout bounds the sending of one message.
const sendTimeout = 5 * time.Second

// Channel returns the channel name of node on db (PostgreSQL).
func (db *DB) Channel(name, node string, log *slog.Logger) *Channel {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Channel{db: db, name: name, node: node, log: log, out: make(chan []byte, channelQueue)}
}

// envelope is a message on the wire.
type envelope struct {
	Node string          `json:"n"`
	Body json.RawMessage `json:"b"`
}

// encode wraps body for the wire; it fails if the result is too long.
func (c *Channel) encode(body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	p, err := json.Marshal(envelope{Node: c.node, Body: b})
	if err != nil {
		return nil, err
	}
	if len(p) > MaxNotifyPayload {
		return nil, fmt.Errorf("db: channel %s: a message of %d bytes, the most is %d", c.name, len(p), MaxNotifyPayload)
	}
	return p, nil
}

// Fits reports whether body is short enough to send.
func (c *Channel) Fits(body any) bool {
	_, err := c.encode(body)
	return err == nil
}

// Send sends body (marshalled as JSON) to the other nodes now.
func (c *Channel) Send(ctx context.Context, body any) error {
	p, err := c.encode(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	return c.db.Notify(ctx, c.name, string(p))
}

// SendAsync queues body for Run to send, without waiting; it reports
// false (and the message is lost) when the queue is full or body does not
// fit.
func (c *Channel) SendAsync(body any) bool {
	p, err := c.encode(body)
	if err != nil {
		c.log.Warn("db: channel message not sent", "channel", c.name, "err", err)
		return false
	}
	select {
	case c.out <- p:
		return true
	default:
		c.log.Warn("db: channel queue full; message not sent to the other nodes", "channel", c.name)
		return false
	}
}

// Run sends what SendAsync queued and hands each message of the other
// nodes to receive (its JSON body), until ctx is done. resync and ready
// are as for [DB.Listen].
func (c *Channel) Run(ctx context.Context, receive func(body []byte), resync func(), ready chan<- struct{}) error {
	go c.sendQueued(ctx)
	return c.db.Listen(ctx, []string{c.name}, func(_, payload string) {
		var e envelope
		if err := json.Unmarshal([]byte(payload), &e); err != nil {
			c.log.Warn("db: unreadable message from another node", "channel", c.name)
			return
		}
		if e.Node == c.node {
			return
		}
		receive(e.Body)
	}, resync, ready)
}

// sendBatch is how many queued messages sendQueued sends at most in one
// statement.
const sendBatch = 64

// sendQueued sends SendAsync's messages until ctx is done: what queued
// while it was sending goes in one statement (one round trip, where a
// busy node queues a message per delivery), in order.
func (c *Channel) sendQueued(ctx context.Context) {
	var next []byte // taken from the queue, left for the next batch
	for {
		batch := make([]string, 0, sendBatch)
		if next == nil {
			select {
			case <-ctx.Done():
				return
			case next = <-c.out:
			}
		}
		batch, next = append(batch, string(next)), nil
	fill:
		for len(batch) < sendBatch {
			select {
			case p := <-c.out:
				if slices.Contains(batch, string(p)) {
					// PostgreSQL folds identical notifications of one
					// transaction into one: the same again goes next.
					next = p
					break fill
				}
				batch = append(batch, string(p))
			default:
				break fill
			}
		}
		sctx, cancel := context.WithTimeout(ctx, sendTimeout)
		err := c.db.notifyAll(sctx, c.name, batch)
		cancel()
		if err != nil && ctx.Err() == nil {
			c.log.Warn("db: channel messages not sent to the other nodes", "channel", c.name, "messages", len(batch), "err", err)
		}
	}
}
