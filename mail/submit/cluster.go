package submit

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/caucus-org/caucus/internal/db"
)

// sendLimitsChannel is the PostgreSQL notification channel of the hourly
// sending limits.
const sendLimitsChannel = "caucus_send_limits"

// ClusterSendLimits shares the hourly sending limits with the other nodes
// on one PostgreSQL database: each message a node counts against an
// account is counted on the others too, so a stolen app password cannot
// send the limit once per node. Sending is asynchronous (a submission
// never waits for it); nodes may briefly disagree by the messages in
// flight.
type ClusterSendLimits struct {
	rate *rateLimiter
	ch   *db.Channel
	log  *slog.Logger
}

// wireSent is one counted message as it travels between nodes.
type wireSent struct {
	AccountID int64 `json:"a"`
	At        int64 `json:"t"` // Unix nanoseconds
}

// ShareSendLimits makes s's hourly limits shared with the other nodes on
// d; the returned value's Run carries them. Call it before s takes
// submissions.
func (s *Service) ShareSendLimits(d *db.DB, node string, log *slog.Logger) *ClusterSendLimits {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &ClusterSendLimits{rate: s.rate, ch: d.Channel(sendLimitsChannel, node, log), log: log}
	s.rate.counted = func(accountID int64, at time.Time) {
		c.ch.SendAsync(wireSent{AccountID: accountID, At: at.UnixNano()})
	}
	return c
}

// Run sends this node's counts and applies the other nodes' until ctx is
// done.
func (c *ClusterSendLimits) Run(ctx context.Context, ready chan<- struct{}) error {
	return c.ch.Run(ctx, c.receive, nil, ready)
}

// receive counts one message of another node.
func (c *ClusterSendLimits) receive(body []byte) {
	var w wireSent
	if err := json.Unmarshal(body, &w); err != nil || w.AccountID == 0 {
		c.log.Warn("submit: unreadable sending count from another node")
		return
	}
	c.rate.add(w.AccountID, time.Unix(0, w.At))
}
