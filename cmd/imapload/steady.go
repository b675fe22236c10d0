package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// The steady-session loop (-steady): what a desktop or phone client does
// on a session it keeps open, one round after another, every command
// timed on its own:
//
//	APPEND        a generated message of 2 KB to 200 KB (sizes drawn
//	              log-uniformly: most are small, a few carry attachments)
//	SELECT        the mailbox again
//	STATUS        (MESSAGES UIDNEXT UNSEEN) of each other mailbox
//	SEARCH        UID SEARCH SUBJECT <word> (a header)
//	SEARCH BODY   UID SEARCH BODY <token> (body text): the token is
//	              unique to the appended message, which must be the one found
//	FETCH body    UID FETCH uid (BODY.PEEK[]), compared byte for byte
//	STORE         UID STORE uid +FLAGS (\Seen \Flagged $Work): flags and a
//	              keyword; STORE n -FLAGS or +FLAGS (\Seen) of an older message
//	FETCH flags   UID FETCH 1:* (FLAGS) of the whole mailbox
//	STORE         UID STORE uid +FLAGS.SILENT (\Deleted)
//	EXPUNGE       EXPUNGE
//	NOOP          NOOP
//
// so a mailbox keeps its size across rounds. Before the run, each
// account's other mailboxes are created if missing and its mailbox is
// filled (untimed) to -base messages of the same kind.

// steadyOthers are the mailboxes STATUS asks about: caucus makes them for
// every account; on another server the tool creates them.
var steadyOthers = []string{"Sent", "Drafts"}

// steadyKeyword is the keyword STORE sets with the flags.
const steadyKeyword = "$Work"

// steadySizes bounds the generated messages.
type steadySizes struct{ Min, Max int }

// draw returns a size between Min and Max, log-uniformly.
func (s steadySizes) draw(rng *rand.Rand) int {
	if s.Max <= s.Min {
		return s.Min
	}
	return int(float64(s.Min) * math.Pow(float64(s.Max)/float64(s.Min), rng.Float64()))
}

// realMessage generates an RFC 5322 message of about size bytes: a text
// part that contains token (for SEARCH BODY), and above 24 KB a base64
// attachment that makes up the rest, as mail of that size usually is.
func realMessage(rng *rand.Rand, size int, token string) []byte {
	n := msgCounter.Add(1)
	var b bytes.Buffer
	b.Grow(size + 1024)
	subject := words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))]
	fmt.Fprintf(&b, "Return-Path: <member%d@example.org>\r\n"+
		"From: Party Member <member%d@example.org>\r\n"+
		"To: Branch Council <council@example.org>\r\n"+
		"Cc: Secretary <secretary@example.org>\r\n"+
		"Subject: Re: %s\r\n"+
		"Date: %s\r\n"+
		"Message-ID: <%d.%d.%x@example.org>\r\n"+
		"In-Reply-To: <%x@example.org>\r\n"+
		"MIME-Version: 1.0\r\n",
		n%97, n%97, subject, time.Now().Format(time.RFC1123Z), time.Now().UnixNano(), n, rng.Uint32(), rng.Uint64())
	textSize := size
	attach := size > 24*1024
	const boundary = "=_imapload_boundary"
	if attach {
		textSize = 2048 + rng.IntN(4096)
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=%q\r\n\r\n--%s\r\n", boundary, boundary)
	}
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	start := b.Len()
	writeWords(&b, rng, start+textSize/2)
	b.WriteString("\r\nReference: " + token + "\r\n")
	writeWords(&b, rng, start+textSize)
	if attach {
		fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: application/pdf; name=\"minutes.pdf\"\r\n"+
			"Content-Disposition: attachment; filename=\"minutes.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", boundary)
		raw := make([]byte, max(0, size-b.Len()-64)*3/4*76/78) // base64 lines of 76 and CRLF
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		enc := base64.StdEncoding.EncodeToString(raw)
		for len(enc) > 0 {
			k := min(76, len(enc))
			b.WriteString(enc[:k] + "\r\n")
			enc = enc[k:]
		}
		fmt.Fprintf(&b, "--%s--\r\n", boundary)
	}
	return b.Bytes()
}

// writeWords writes lines of words to b until it is size bytes long.
func writeWords(b *bytes.Buffer, rng *rand.Rand, size int) {
	line := 0
	for b.Len() < size {
		w := words[rng.IntN(len(words))]
		if line+len(w)+1 > 72 {
			b.WriteString("\r\n")
			line = 0
		} else if line > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	b.WriteString("\r\n")
}

// steadyWorker is one client of a steady-session run.
type steadyWorker struct {
	id      int
	c       *imapclient.Client
	rng     *rand.Rand
	mailbox string
	sizes   steadySizes
	base    uint32 // messages 1..base are never expunged during the run
	stats   [numOps]opStats
	lost    bool
	samples []string
}

// token returns a fresh word for SEARCH BODY to find in one message only.
func (w *steadyWorker) token() string {
	return fmt.Sprintf("zx%dq%08x", w.id, w.rng.Uint32())
}

// timed runs fn as one operation of kind o and records it. It returns
// false if the round must stop: the command failed.
func (w *steadyWorker) timed(o op, fn func() error) bool {
	t0 := time.Now()
	err := fn()
	d := time.Since(t0)
	if err == nil {
		w.stats[o].Durations = append(w.stats[o].Durations, d)
		return true
	}
	w.stats[o].Errors++
	if len(w.samples) < 3 {
		w.samples = append(w.samples, fmt.Sprintf("client %d: %s: %v", w.id, o, err))
	}
	var ierr *imap.Error
	if !errors.As(err, &ierr) {
		w.lost = true // not a NO or BAD: the connection is gone
	}
	return false
}

// round runs the loop once; false if the connection is lost.
func (w *steadyWorker) round() bool {
	c := w.c
	token := w.token()
	msg := realMessage(w.rng, w.sizes.draw(w.rng), token)
	var uid imap.UID
	ok := w.timed(opAppend, func() error {
		var err error
		uid, err = appendMessage(c, w.mailbox, msg)
		if err == nil && uid == 0 {
			err = errors.New("no APPENDUID: the server lacks UIDPLUS")
		}
		return err
	}) && w.timed(opSelect, func() error {
		data, err := c.Select(w.mailbox, nil).Wait()
		if err == nil && data.NumMessages < w.base {
			err = fmt.Errorf("mailbox shrank to %d messages, below the %d it started with", data.NumMessages, w.base)
		}
		return err
	})
	for _, name := range steadyOthers {
		ok = ok && w.timed(opStatus, func() error {
			_, err := c.Status(name, &imap.StatusOptions{NumMessages: true, UIDNext: true, NumUnseen: true}).Wait()
			return err
		})
	}
	ok = ok && w.timed(opSearch, func() error {
		crit := &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: words[w.rng.IntN(len(words))]}}}
		_, err := c.UIDSearch(crit, nil).Wait()
		return err
	}) && w.timed(opSearchBody, func() error {
		data, err := c.UIDSearch(&imap.SearchCriteria{Body: []string{token}}, nil).Wait()
		if err == nil && !slices.Equal(data.AllUIDs(), []imap.UID{uid}) {
			err = fmt.Errorf("SEARCH BODY %s found %v, want [%d]", token, data.AllUIDs(), uid)
		}
		return err
	}) && w.timed(opFetchBody, func() error {
		return w.fetchCompare(uid, msg)
	}) && w.timed(opStore, func() error {
		return c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen, imap.FlagFlagged, steadyKeyword}}, nil).Close()
	}) && w.timed(opStore, func() error {
		sop := imap.StoreFlagsAdd
		if w.rng.IntN(2) == 0 {
			sop = imap.StoreFlagsDel
		}
		return c.Store(imap.SeqSetNum(1+w.rng.Uint32N(w.base)), &imap.StoreFlags{Op: sop, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
	}) && w.timed(opFetchFlags, func() error {
		_, err := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
		return err
	}) && w.timed(opStore, func() error {
		return c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	}) && w.timed(opExpunge, func() error {
		return c.Expunge().Close()
	}) && w.timed(opNoop, func() error {
		return c.Noop().Wait()
	})
	return !w.lost
}

// fetchCompare fetches the whole message uid and compares it with want.
func (w *steadyWorker) fetchCompare(uid imap.UID, want []byte) error {
	msgs, err := w.c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		return err
	}
	if len(msgs) != 1 {
		return fmt.Errorf("FETCH of UID %d returned %d messages", uid, len(msgs))
	}
	for _, got := range msgs[0].BodySection {
		if !bytes.Equal(got.Bytes, want) {
			return fmt.Errorf("FETCH of UID %d returned %d bytes that differ from the %d appended", uid, len(got.Bytes), len(want))
		}
		return nil
	}
	return fmt.Errorf("FETCH of UID %d returned no body", uid)
}

// prepareSteady makes the other mailboxes and fills the mailbox of every
// account to base messages, with the clients of each account appending
// in parallel. It returns how many messages the fullest-known mailbox
// has at least.
func prepareSteady(ctx context.Context, cfg config, cs []*imapclient.Client) error {
	var wg sync.WaitGroup
	errs := make([]error, len(cs))
	var mu sync.Mutex
	left := map[int]int{} // account index → messages still to append
	for a := range min(len(cfg.Accounts), len(cs)) {
		c := cs[a]
		for _, name := range steadyOthers {
			if err := c.Create(name, nil).Wait(); err != nil {
				var ierr *imap.Error
				if !errors.As(err, &ierr) {
					return fmt.Errorf("client %d: create %s: %w", a, name, err)
				}
			}
		}
		data, err := c.Select(cfg.Mailbox, nil).Wait()
		if err != nil {
			return fmt.Errorf("client %d: select %s: %w", a, cfg.Mailbox, err)
		}
		left[a] = max(0, cfg.Base-int(data.NumMessages))
	}
	for i, c := range cs {
		a := i % len(cfg.Accounts)
		rng := rand.New(rand.NewPCG(cfg.Seed+uint64(i), 0xf111))
		wg.Go(func() {
			for ctx.Err() == nil {
				mu.Lock()
				more := left[a] > 0
				left[a]--
				mu.Unlock()
				if !more {
					return
				}
				msg := realMessage(rng, cfg.Sizes.draw(rng), fmt.Sprintf("fill%08x", rng.Uint32()))
				if _, err := appendMessage(c, cfg.Mailbox, msg); err != nil {
					errs[i] = fmt.Errorf("client %d: fill: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}

// runSteady connects cfg.Clients clients, prepares the accounts, and runs
// the steady-session loop on every client for cfg.Duration.
func runSteady(ctx context.Context, cfg config) (*result, error) {
	cs, err := cfg.dialAll(ctx, cfg.Clients)
	if err != nil {
		return nil, err
	}
	defer closeAll(cs)
	if err := prepareSteady(ctx, cfg, cs); err != nil {
		return nil, err
	}
	ws := make([]*steadyWorker, len(cs))
	base := uint32(math.MaxUint32)
	for i, c := range cs {
		data, err := c.Select(cfg.Mailbox, nil).Wait()
		if err != nil {
			return nil, fmt.Errorf("client %d: select %s: %w", i, cfg.Mailbox, err)
		}
		base = min(base, data.NumMessages)
		ws[i] = &steadyWorker{id: i, c: c, rng: rand.New(rand.NewPCG(cfg.Seed+uint64(i), 0x57ead)), mailbox: cfg.Mailbox, sizes: cfg.Sizes}
	}
	if base == 0 {
		return nil, fmt.Errorf("mailbox %s is empty: give -base", cfg.Mailbox)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-runCtx.Done():
		case <-time.After(cfg.Duration + 30*time.Second):
		}
		closeAll(cs) // a server that stops answering must not hold the run
	}()
	res := &result{Messages: base}
	deadline := time.Now().Add(cfg.Duration)
	loops := make([]func(), len(ws))
	for i, w := range ws {
		w.base = base
		loops[i] = func() {
			for ctx.Err() == nil && time.Now().Before(deadline) && w.round() {
			}
		}
	}
	res.measure(loops)
	for _, w := range ws {
		res.add(&w.stats, w.lost, w.samples)
		if !w.lost {
			w.c.Logout().Wait()
		}
	}
	return res, nil
}

// summary is a run's figures in a form other programs read (-json).
type summary struct {
	Clients  int         `json:"clients"`
	Accounts int         `json:"accounts"`
	Seconds  float64     `json:"seconds"`
	Messages uint32      `json:"messages"`
	Ops      []opSummary `json:"ops"` // the operations that ran, then "total"
	Errors   int         `json:"errors"`
	Lost     int         `json:"lost"`
	Samples  []string    `json:"samples,omitempty"`
	ToolCPU  float64     `json:"tool_cpu"` // cores this tool kept busy
	Busy     float64     `json:"busy"`     // cores the machine kept busy, -1 if unknown
}

// opSummary is one operation's figures.
type opSummary struct {
	Name   string  `json:"name"`
	Count  int     `json:"count"`
	PerSec float64 `json:"per_sec"`
	P50    float64 `json:"p50_ms"`
	P99    float64 `json:"p99_ms"`
	Errors int     `json:"errors"`
}

// summarize computes the figures of r.
func (r *result) summarize(cfg config) summary {
	sec := r.Elapsed.Seconds()
	s := summary{Clients: cfg.Clients, Accounts: len(cfg.Accounts), Seconds: sec, Messages: r.Messages,
		Errors: r.Errors(), Lost: r.Lost, Samples: r.Samples, ToolCPU: r.ToolCPU.Seconds() / sec, Busy: r.Busy}
	var all []time.Duration
	msf := func(d time.Duration) float64 { return d.Seconds() * 1000 }
	for o := range numOps {
		st := r.Ops[o]
		if len(st.Durations) == 0 && st.Errors == 0 {
			continue
		}
		d := slices.Clone(st.Durations)
		slices.Sort(d)
		all = append(all, d...)
		s.Ops = append(s.Ops, opSummary{Name: opTitles[o], Count: len(d), PerSec: float64(len(d)) / sec,
			P50: msf(percentile(d, .5)), P99: msf(percentile(d, .99)), Errors: st.Errors})
	}
	slices.Sort(all)
	s.Ops = append(s.Ops, opSummary{Name: "total", Count: len(all), PerSec: float64(len(all)) / sec,
		P50: msf(percentile(all, .5)), P99: msf(percentile(all, .99)), Errors: r.Errors()})
	return s
}

// opNamed returns the figures of the operation titled name.
func (s *summary) opNamed(name string) (opSummary, bool) {
	i := slices.IndexFunc(s.Ops, func(o opSummary) bool { return strings.EqualFold(o.Name, name) })
	if i < 0 {
		return opSummary{}, false
	}
	return s.Ops[i], true
}
