package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caucus-org/caucus/mail/queue"
)

const queueUsage = `Usage:
  caucus queue list     [--config FILE | --data DIR]   show the outbound queue
  caucus queue retry ID [--config FILE | --data DIR]   make message ID due now
  caucus queue drop ID  [--config FILE | --data DIR]   remove message ID, telling no one
`

// queueCmd lists and manages the outbound mail queue.
//
// This first version opens the database directly (the one the
// configuration names, as the server does) instead of asking the running
// server over its control socket: list and drop need nothing
// else (the running server deletes a dropped message's body within 30
// seconds), and a retry takes effect at the server's next look at the
// queue, within 30 seconds.
func queueCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("queue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, queueUsage)
		fs.PrintDefaults()
	}
	conf := configFlags(fs)
	// Flags may come before or after the subcommand and its ID.
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return errors.New("missing subcommand")
	}
	sub := pos[0]
	var id int64
	switch sub {
	case "list":
		if len(pos) != 1 {
			fs.Usage()
			return errors.New("list takes no argument")
		}
	case "retry", "drop":
		if len(pos) != 2 {
			fs.Usage()
			return fmt.Errorf("%s takes one message ID", sub)
		}
		var err error
		if id, err = strconv.ParseInt(pos[1], 10, 64); err != nil || id <= 0 {
			return fmt.Errorf("bad message ID %q", pos[1])
		}
	default:
		fs.Usage()
		return fmt.Errorf("unknown subcommand %q", sub)
	}

	cfg, err := conf()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := openDatabase(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Migrate(ctx, queue.Component()); err != nil {
		return err
	}
	// No blob store: only the server opens it (opening clears its
	// temporary files, which a running server may be writing).
	q := queue.New(queue.Config{Hostname: "caucus-cli"}, d, nil, nil)

	switch sub {
	case "list":
		items, err := q.List(ctx)
		if err != nil {
			return err
		}
		printQueue(stdout, items, time.Now())
	case "retry":
		if err := q.Retry(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "message %d is due now; the server tries it within 30 seconds\n", id)
	case "drop":
		if err := q.Drop(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "message %d dropped\n", id)
	}
	return nil
}

// printQueue writes the queue as a table, one line per message and
// recipient domain.
func printQueue(w io.Writer, items []queue.Item, now time.Time) {
	if len(items) == 0 {
		fmt.Fprintln(w, "the queue is empty")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAGE\tSIZE\tFROM\tDOMAIN\tRCPTS\tATTEMPTS\tNEXT\tLAST ERROR")
	for _, it := range items {
		from := it.From
		if from == "" {
			from = "<>"
		}
		next := "now"
		if d := it.NextAttempt.Sub(now); d > 0 {
			next = "in " + d.Round(time.Second).String()
		}
		lastErr := it.LastError
		if len(lastErr) > 100 {
			lastErr = lastErr[:100] + "…"
		}
		if it.DelayNotified {
			lastErr = "(sender warned) " + lastErr
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%d\t%s\t%s\n", it.ID, now.Sub(it.Created).Round(time.Second), it.Size,
			from, it.Domain, strings.Join(it.Rcpts, ","), it.Attempts, next, lastErr)
	}
	tw.Flush()
}
