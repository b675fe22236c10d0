package testtool

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// The benchmarks measure the processes they start (PostgreSQL, Apache,
// versitygw) from Linux's /proc (proc(5)).

// ClockTick is the unit of the times in /proc/PID/stat (USER_HZ, which
// Linux fixes at 100 for user space on every architecture it supports;
// see proc(5), "sysconf(_SC_CLK_TCK)").
const ClockTick = 10 * time.Millisecond

// ProcStat is the fields of /proc/PID/stat, numbered as proc(5) numbers
// them: 4 is the parent's pid, 10 the minor faults (minflt), 11 those of
// the reaped children, 14 and 15 the user and system time, 16 and 17
// those of the reaped children (in ClockTick).
type ProcStat []string

// ReadProcStat reads /proc/PID/stat. The command (field 2) may hold
// spaces and parentheses; it ends at the last ')'.
func ReadProcStat(pid int) (ProcStat, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil, errors.New("testtool: /proc/PID/stat without a command")
	}
	// Fields 1 and 2 (the pid and the command) are not kept.
	return append(ProcStat{"", "", ""}, strings.Fields(string(data[i+1:]))...), nil
}

// Field returns field n as a number, 0 if there is none.
func (s ProcStat) Field(n int) int64 {
	if n >= len(s) {
		return 0
	}
	v, _ := strconv.ParseInt(s[n], 10, 64)
	return v
}

// ProcCPU returns the CPU time of process pid's main thread (all of a
// single-threaded process's), as the scheduler counts it in nanoseconds
// (the first field of /proc/PID/schedstat); on a kernel without
// CONFIG_SCHED_INFO, its utime and stime from /proc/PID/stat.
func ProcCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	if errors.Is(err, fs.ErrNotExist) {
		st, err := ReadProcStat(pid)
		if err != nil {
			return 0, err
		}
		return time.Duration(st.Field(14)+st.Field(15)) * ClockTick, nil
	}
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0, errors.New("testtool: empty schedstat")
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	return time.Duration(ns), err
}

// Meminfo returns the field of /proc/meminfo named key (kB, or pages
// for the HugePages_ counts); 0 if it cannot tell.
func Meminfo(key string) int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}
