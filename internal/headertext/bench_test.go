package headertext

import (
	"mime"
	"testing"
)

// BenchmarkUnstructured writes typical subjects, beside what
// mime.QEncoding.Encode (which wrote them before) costs for the same.
func BenchmarkUnstructured(b *testing.B) {
	for _, c := range []struct{ name, s string }{
		{"ascii", "Agenda for Thursday's board meeting"},
		{"latin", "Agenda för torsdagens styrelsemöte"},
		{"cyrillic", "Повестка дня заседания правления в четверг"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Unstructured("Subject", c.s)
			}
		})
		b.Run(c.name+"/mime", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				mime.QEncoding.Encode("utf-8", c.s)
			}
		})
	}
}
