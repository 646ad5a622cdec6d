// Package compose is the acceptance suite of the compose stack: it brings the
// repository's compose.yaml up under a project of its own (building the image,
// or running GOPHEROPS_IMAGE as CI's release workflow does), creates the first
// admin with `gopherops admin create` inside the stack, walks the journeys of
// package journey against it, and takes it down with its volumes.
//
// It runs whenever a Docker engine answers `docker info`, and otherwise skips
// saying so. Stages (SKIP_up, SKIP_journeys, SKIP_down) let a developer keep a
// stack up between runs: SKIP_down=1 once, then SKIP_up=1 SKIP_down=1 to
// iterate on the journeys, then SKIP_up=1 SKIP_journeys=1 to tear it down.
package compose
