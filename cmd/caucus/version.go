package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// versionString reports the module version and the commit it was built from.
func versionString() string {
	v, rev, dirty := "(devel)", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+dirty"
	}
	if rev != "" {
		return fmt.Sprintf("caucus %s (%s) %s", v, rev, runtime.Version())
	}
	return fmt.Sprintf("caucus %s %s", v, runtime.Version())
}
