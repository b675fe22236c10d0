package imapserver

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/caucus-org/caucus/internal/metrics"
)

// panicLogInterval is how often at most a recovered panic is logged with
// its stack: a client repeating the command that triggers a bug must not
// grow the log by a stack trace per command.
const panicLogInterval = 10 * time.Minute

// panicReporter receives the panics go-imap recovers while serving a
// connection (imapserver.Options.PanicHandler). The client has been
// answered NO [SERVERBUG] and its connection is closing; every panic is
// counted in caucus_panics_recovered_total, and logged with its stack at
// most once per panicLogInterval, the next log line saying how many were
// left out meanwhile.
type panicReporter struct {
	log     *slog.Logger
	metrics *metrics.Set

	mu         sync.Mutex
	last       time.Time // when a panic was last logged
	suppressed int       // panics not logged since
}

func newPanicReporter(log *slog.Logger, m *metrics.Set) *panicReporter {
	return &panicReporter{log: log, metrics: m}
}

// handle is an imapserver.Options.PanicHandler.
func (p *panicReporter) handle(c *imapserver.Conn, command string, v any, stack []byte) {
	p.metrics.Panic(metrics.IMAP)
	now := time.Now()
	p.mu.Lock()
	logIt := p.last.IsZero() || now.Sub(p.last) >= panicLogInterval
	suppressed := p.suppressed
	if logIt {
		p.last, p.suppressed = now, 0
	} else {
		p.suppressed++
	}
	p.mu.Unlock()
	if !logIt {
		return
	}
	addr := ""
	if c != nil {
		addr = c.NetConn().RemoteAddr().String()
	}
	p.log.Error("imap: recovered panic, answered as a server error", "command", command, "panic", fmt.Sprint(v),
		"addr", addr, "suppressed_since_last", suppressed, "stack", string(stack))
}
