package i18n

import (
	"testing"
	"time"
)

// BenchmarkT: the cost of a message on a page (a big page has a few
// hundred): a plain text, a plural with a number, and a date.
func BenchmarkT(b *testing.B) {
	l := Builtin().Localizer("it", time.UTC)
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			l.T("files.browse.upload")
		}
	})
	b.Run("plural", func(b *testing.B) {
		for b.Loop() {
			l.T("files.trash.keep", "n", 30)
		}
	})
	b.Run("datetime", func(b *testing.B) {
		for b.Loop() {
			l.DateTime(at)
		}
	})
	b.Run("localizer", func(b *testing.B) {
		for b.Loop() {
			Builtin().Localizer("it", time.UTC)
		}
	})
}
