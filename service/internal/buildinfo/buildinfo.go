// Package buildinfo holds the version metadata stamped into the binary at
// build time with -ldflags "-X .../buildinfo.Version=...".
package buildinfo

import "runtime"

// Set at link time; the defaults mark a developer build.
var (
	Version = "dev"
	Commit  = "unknown"
	Date    = "unknown"
)

// Info is the build metadata of the running binary.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"build_date"`
	GoVersion string `json:"go_version"`
}

// Get returns the build metadata of this binary.
func Get() Info {
	return Info{Version: Version, Commit: Commit, Date: Date, GoVersion: runtime.Version()}
}
