package audit

import (
	"testing"
)

// TestWatch: a watcher is woken after a record is written, never holds a
// writer up when it does not read (many records, one pending wake-up), and
// hears nothing once stopped.
func TestWatch(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	ch, stop := l.Watch()
	other, stopOther := l.Watch()
	defer stopOther()
	select {
	case <-ch:
		t.Fatal("woken before any record")
	default:
	}
	record(t, l, Event{Kind: "login.totp"}, Event{Kind: "login.totp"}, Event{Kind: "factor.add"})
	for name, c := range map[string]<-chan struct{}{"first": ch, "second": other} {
		select {
		case <-c:
		default:
			t.Fatalf("%s watcher not woken by the records", name)
		}
		select {
		case <-c:
			t.Fatalf("%s watcher woken twice for records it had not yet read", name)
		default:
		}
	}
	stop()
	stop() // twice is harmless
	record(t, l, Event{Kind: "login.totp"})
	select {
	case <-ch:
		t.Fatal("woken after stop")
	default:
	}
	select {
	case <-other:
	default:
		t.Fatal("the other watcher was stopped too")
	}
}
