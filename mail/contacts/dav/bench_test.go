package dav_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-vcard"
	"github.com/emersion/go-webdav/carddav"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/mail/contacts"
)

// benchBook fills alice's own book with n cards of the size phones make
// (name, two addresses, two numbers, an address, a note) and returns a
// client signed in as her.
func benchBook(b *testing.B, n int) (*env, *person, *carddav.Client) {
	b.Helper()
	e := newEnv(b)
	alice := e.person(b, "alice@example.org", auth.RoleMember)
	cards := make([]vcard.Card, n)
	for i := range cards {
		c, err := contacts.Parse(fmt.Appendf(nil, "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:%08d-bench\r\nFN:Member %d Rossi\r\nN:Rossi;Member %d;;;\r\n"+
			"EMAIL;TYPE=INTERNET,HOME:m%d@example.net\r\nEMAIL;TYPE=INTERNET,WORK:m%d@work.example\r\nTEL;TYPE=CELL:+39 333 %07d\r\nTEL;TYPE=HOME:+39 06 %07d\r\n"+
			"ADR;TYPE=HOME:;;Via Roma %d;Roma;;00100;Italia\r\nNOTE:canvassing volunteer since 2019\\, ward %d\r\nEND:VCARD\r\n", i, i, i, i, i, i, i, i, i%40))
		if err != nil {
			b.Fatal(err)
		}
		cards[i] = c
	}
	if _, err := e.store.Import(b.Context(), contacts.MemberOf(alice.Account), contacts.SlugPersonal, cards); err != nil {
		b.Fatal(err)
	}
	return e, alice, e.client(b, alice)
}

// cpuTime is the process's CPU time so far (user and system): with the
// machine shared, the CPU a sync costs is steadier than its wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the CPU time per operation (client and server, which
// share the process) to b's figures.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric((cpuTime()-start).Seconds()*1000/float64(b.N), "cpu-ms/op")
}

// BenchmarkInitialSync10k is a phone's first sync of a book of 10,000
// cards, as DAVx5 does it: sync-collection from no token (entity tags),
// then addressbook-multiget of the cards, 100 at a time.
func BenchmarkInitialSync10k(b *testing.B) {
	_, alice, c := benchBook(b, 10000)
	book := alice.book("contacts")
	start := cpuTime()
	for b.Loop() {
		res, err := c.SyncCollection(b.Context(), book, &carddav.SyncQuery{})
		if err != nil || len(res.Updated) != 10000 {
			b.Fatalf("%d cards, %v", len(res.Updated), err)
		}
		got := 0
		for i := 0; i < len(res.Updated); i += 100 {
			var paths []string
			for _, ao := range res.Updated[i:min(i+100, len(res.Updated))] {
				paths = append(paths, ao.Path)
			}
			aos, err := c.MultiGetAddressBook(b.Context(), book, &carddav.AddressBookMultiGet{Paths: paths, DataRequest: carddav.AddressDataRequest{AllProp: true}})
			if err != nil {
				b.Fatal(err)
			}
			got += len(aos)
		}
		if got != 10000 {
			b.Fatalf("multiget gave %d cards", got)
		}
	}
	reportCPU(b, start)
}

// BenchmarkIncrementalSync10k is a phone's sync of the same book when
// nothing changed: one sync-collection with its last token.
func BenchmarkIncrementalSync10k(b *testing.B) {
	_, alice, c := benchBook(b, 10000)
	book := alice.book("contacts")
	first, err := c.SyncCollection(b.Context(), book, &carddav.SyncQuery{})
	if err != nil {
		b.Fatal(err)
	}
	start := cpuTime()
	for b.Loop() {
		res, err := c.SyncCollection(b.Context(), book, &carddav.SyncQuery{SyncToken: first.SyncToken})
		if err != nil || len(res.Updated)+len(res.Deleted) != 0 {
			b.Fatalf("%+v, %v", res, err)
		}
	}
	reportCPU(b, start)
}
