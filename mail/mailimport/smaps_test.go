package mailimport

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
)

// residentParts is where a process's resident pages are, read from
// /proc/self/smaps (proc(5)) and the Go runtime's metrics: the part of
// the peak RSS each kind of mapping holds.
type residentParts struct {
	rss uint64 // the sum of every mapping's Rss

	db, dbMaps     uint64   // the database file's maps (one per connection that mapped it), and how many
	dbMapRss       []uint64 // each map's resident pages
	shm            uint64   // the write-ahead log's index (-shm)
	exe            uint64   // the binary's own pages (text, data)
	otherFile      uint64   // other files' pages
	anon           uint64   // anonymous pages: the Go runtime's, and SQLite's C-side allocations (modernc's libc)
	goResident     uint64   // the runtime's memory, less what it gave back (/memory/classes/total − heap/released)
	goHeapObjects  uint64   // /memory/classes/heap/objects
	goStacks       uint64   // /memory/classes/heap/stacks + os-stacks
	goOffHeap      uint64   // the runtime's memory outside the heap arenas (metadata, profiling, other)
	goHeapUnused   uint64   // /memory/classes/heap/unused + free: in the arenas, not in objects
	goHeapReleased uint64   // /memory/classes/heap/released: given back to the OS
}

// readResident reads the process's resident pages by mapping.
func readResident() (residentParts, error) {
	var p residentParts
	exe, _ := os.Executable()
	raw, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return p, err
	}
	kind := ""
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if isMappingLine(line) {
			kind = mappingKind(line, exe)
			if kind == "db" {
				p.dbMaps++
			}
			continue
		}
		v, ok := strings.CutPrefix(line, "Rss:")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		n := kb << 10
		p.rss += n
		switch {
		case kind == "db":
			p.db += n
			p.dbMapRss = append(p.dbMapRss, n>>20)
		case kind == "shm":
			p.shm += n
		case kind == "exe":
			p.exe += n
		case kind == "file":
			p.otherFile += n
		default:
			p.anon += n
		}
	}
	p.readRuntime()
	return p, sc.Err()
}

// isMappingLine reports whether line of smaps starts a mapping
// ("lo-hi perms offset dev inode [path]") rather than giving one of its
// fields ("Name:   value").
func isMappingLine(line string) bool {
	f, _, _ := strings.Cut(line, " ")
	return strings.Contains(f, "-") && !strings.HasSuffix(f, ":")
}

// mappingKind says what a mapping line of smaps maps: "db", "shm",
// "exe", "file" or "" (anonymous, [heap], [stack], …).
func mappingKind(line, exe string) string {
	f := strings.Fields(line)
	if len(f) < 6 || strings.HasPrefix(f[5], "[") {
		return ""
	}
	path := strings.Join(f[5:], " ")
	switch {
	case strings.HasSuffix(path, "caucus.db"):
		return "db"
	case strings.HasSuffix(path, "caucus.db-shm"):
		return "shm"
	case path == exe:
		return "exe"
	}
	return "file"
}

// readRuntime fills in the Go runtime's own account of its memory.
func (p *residentParts) readRuntime() {
	names := []string{
		"/memory/classes/heap/objects:bytes",
		"/memory/classes/heap/stacks:bytes",
		"/memory/classes/os-stacks:bytes",
		"/memory/classes/heap/unused:bytes",
		"/memory/classes/heap/free:bytes",
		"/memory/classes/heap/released:bytes",
		"/memory/classes/metadata/other:bytes",
		"/memory/classes/metadata/mcache/inuse:bytes",
		"/memory/classes/metadata/mspan/inuse:bytes",
		"/memory/classes/profiling/buckets:bytes",
		"/memory/classes/other:bytes",
		"/memory/classes/total:bytes",
	}
	s := make([]metrics.Sample, len(names))
	for i, n := range names {
		s[i].Name = n
	}
	metrics.Read(s)
	v := func(i int) uint64 { return s[i].Value.Uint64() }
	p.goHeapObjects = v(0)
	p.goStacks = v(1) + v(2)
	p.goHeapUnused = v(3) + v(4)
	p.goHeapReleased = v(5)
	p.goOffHeap = v(6) + v(7) + v(8) + v(9) + v(10)
	p.goResident = v(11) - v(5)
}

// cSide is about how much anonymous memory is not the Go runtime's:
// SQLite's page caches and other allocations through modernc's libc.
func (p residentParts) cSide() uint64 {
	if p.anon < p.goResident {
		return 0
	}
	return p.anon - p.goResident
}

// String is the parts in MB, for a benchmark's log.
func (p residentParts) String() string {
	mb := func(n uint64) string { return fmt.Sprintf("%.0f", float64(n)/(1<<20)) }
	return fmt.Sprintf("rss %s MB = db map %s (%d maps: %v) + shm %s + binary %s + other files %s + anonymous %s (Go %s, C side about %s); "+
		"Go: heap objects %s, unused %s, stacks %s, off-heap %s, released %s",
		mb(p.rss), mb(p.db), p.dbMaps, p.dbMapRss, mb(p.shm), mb(p.exe), mb(p.otherFile), mb(p.anon), mb(p.goResident), mb(p.cSide()),
		mb(p.goHeapObjects), mb(p.goHeapUnused), mb(p.goStacks), mb(p.goOffHeap), mb(p.goHeapReleased))
}

// report reports the parts as a benchmark's metrics.
func (p residentParts) report(b *testing.B) {
	b.ReportMetric(float64(p.db)/(1<<20), "atPeak-dbMap-MB")
	b.ReportMetric(float64(p.exe)/(1<<20), "atPeak-binary-MB")
	b.ReportMetric(float64(p.goResident)/(1<<20), "atPeak-go-MB")
	b.ReportMetric(float64(p.cSide())/(1<<20), "atPeak-cSide-MB")
}
