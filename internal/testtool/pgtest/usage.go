package pgtest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/testtool"
)

// Usage is what a cluster's processes have used so far: CPU time by the
// role of the process, and minor page faults. It counts every process
// of the cluster, the postmaster and its children, those still running
// and those that have ended: the connections closed and the autovacuum
// workers, which the postmaster has reaped.
type Usage struct {
	// Backends is the CPU time of the processes that serve
	// connections, Checkpointer, BgWriter and WALWriter that of the
	// server's processes of those names (they write, in the background,
	// what the backends' commits left for later), and Other that of the
	// postmaster and the rest (autovacuum, the launchers) and of the
	// children that have ended.
	Backends, Checkpointer, BgWriter, WALWriter, Other time.Duration
	// Faults counts the minor page faults of all of them: on a virtual
	// machine without huge pages, each process's first touch of each
	// 4 KiB page of the shared buffers is one.
	Faults int64
}

// CPU returns the CPU time of all the cluster's processes.
func (u Usage) CPU() time.Duration {
	return u.Backends + u.Checkpointer + u.BgWriter + u.WALWriter + u.Other
}

// Background returns the CPU time of the processes that write what the
// backends leave for later: the checkpointer, the background writer and
// the WAL writer.
func (u Usage) Background() time.Duration {
	return u.Checkpointer + u.BgWriter + u.WALWriter
}

// Sub returns the usage between before and u. A connection that ends
// between the two moves its CPU time from Backends to Other (to its
// reaped share), so that the difference of one role may be negative;
// that of CPU is not.
func (u Usage) Sub(before Usage) Usage {
	return Usage{
		Backends:     u.Backends - before.Backends,
		Checkpointer: u.Checkpointer - before.Checkpointer,
		BgWriter:     u.BgWriter - before.BgWriter,
		WALWriter:    u.WALWriter - before.WALWriter,
		Other:        u.Other - before.Other,
		Faults:       u.Faults - before.Faults,
	}
}

// Usage reads the cluster's usage so far from /proc (Linux only). A
// running process's CPU time is its scheduler's count, in nanoseconds
// (the first field of /proc/PID/schedstat); an ended child's is what the
// kernel added to the postmaster's cutime and cstime when it was reaped,
// in clock ticks.
func (s *Server) Usage() (Usage, error) {
	var u Usage
	post, err := testtool.ReadProcStat(s.PID)
	if err != nil {
		return u, fmt.Errorf("pgtest: the postmaster (pid %d): %w", s.PID, err)
	}
	// Fields after the command (proc(5), from field 3 on): the
	// postmaster's own faults (10th field of the line: minflt) and its
	// reaped children's (cminflt, 11th), their CPU (cutime, cstime: 16th
	// and 17th).
	u.Faults = post.Field(10) + post.Field(11)
	u.Other = time.Duration(post.Field(16)+post.Field(17)) * testtool.ClockTick
	cpu, err := testtool.ProcCPU(s.PID)
	if err != nil {
		return u, err
	}
	u.Other += cpu
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return u, err
	}
	for _, p := range procs {
		id, err := strconv.Atoi(p.Name())
		if err != nil || id == s.PID {
			continue
		}
		st, err := testtool.ReadProcStat(id)
		if err != nil || st.Field(4) != int64(s.PID) { // ended, or not a child
			continue
		}
		cpu, err := testtool.ProcCPU(id)
		if err != nil {
			continue // ended since
		}
		u.Faults += st.Field(10)
		switch role(id) {
		case "checkpointer":
			u.Checkpointer += cpu
		case "background writer":
			u.BgWriter += cpu
		case "walwriter":
			u.WALWriter += cpu
		case "backend":
			u.Backends += cpu
		default:
			u.Other += cpu
		}
	}
	return u, nil
}

// role reads which of PostgreSQL's processes pid is from the title the
// server gives it (its command line, "postgres: checkpointer" and the
// like; a backend's is "postgres: USER DATABASE HOST(PORT) STATE").
func role(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	title, ok := strings.CutPrefix(strings.TrimRight(string(data), "\x00 "), "postgres: ")
	if !ok {
		return ""
	}
	switch {
	case strings.HasPrefix(title, "checkpointer"):
		return "checkpointer"
	case strings.HasPrefix(title, "background writer"):
		return "background writer"
	case strings.HasPrefix(title, "walwriter"):
		return "walwriter"
	case strings.HasPrefix(title, "autovacuum"), strings.HasPrefix(title, "logical replication"),
		strings.HasPrefix(title, "stats"), strings.HasPrefix(title, "archiver"):
		return ""
	}
	return "backend"
}
