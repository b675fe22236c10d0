//go:build race

package files_test

// raceEnabled reports whether the race detector is on: under it,
// sync.Pool drops a quarter of what is put back (on purpose, to find
// code that relies on getting it again), so allocation counts are not
// those of a normal build.
const raceEnabled = true
