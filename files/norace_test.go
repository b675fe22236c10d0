//go:build !race

package files_test

// raceEnabled reports whether the race detector is on (race_test.go).
const raceEnabled = false
