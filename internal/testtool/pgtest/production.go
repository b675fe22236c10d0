package pgtest

import (
	"fmt"

	"github.com/caucus-org/caucus/internal/testtool"
)

// Production returns the settings the benchmarks give their durable
// clusters beyond pgtest's own, as an operator sets them on a machine
// of this one's size: shared buffers a quarter of the memory, in huge
// pages (PostgreSQL 15 documentation, 20.4.1 "Memory" and 19.4.5
// "Linux Huge Pages"). Huge pages need the host's setting
// (vm.nr_hugepages), which a test cannot make: when the host has too few
// free, Production keeps pgtest's shared buffers and PostgreSQL's
// default huge_pages=try, which falls back to ordinary pages.
//
// Measured with BenchmarkDAVManyFiles on PostgreSQL + S3, 2000 small
// PUTs a run, a CHECKPOINT after each counted (README, "Running several
// nodes"): huge pages cut PostgreSQL's CPU per upload by 10-25% in the
// rounds after the first (its page faults from 2-5 to under 1.5 per
// file); large shared buffers without them cost more than they save
// (each process's first touch of each 4 KiB page of a buffer is a fault
// on a virtual machine, 20 per 64 KiB file), and with them were no
// better than 64 MB in a run's window. Larger max_wal_size and
// checkpoint_timeout, 16 MB of wal_buffers and wal_compression=lz4 made
// no difference there, and are left at PostgreSQL's defaults.
func Production() []string {
	// Free pages include those reserved by a cluster already running
	// (HugePages_Rsvd), which another cannot map.
	return production(testtool.Meminfo("MemTotal"), testtool.Meminfo("HugePages_Free")-testtool.Meminfo("HugePages_Rsvd"), testtool.Meminfo("Hugepagesize"))
}

// production is Production for a host with mem kB of memory and free
// huge pages of size kB each.
func production(mem, free, size int64) []string {
	shared := mem / 4
	// The shared memory is the buffers and some more (the locks and
	// connections' slots, a few percent with max_connections=300).
	if size <= 0 || free*size < shared+shared/16+64<<10 {
		return nil
	}
	return []string{fmt.Sprintf("shared_buffers=%dMB", shared>>10), "huge_pages=on"}
}
