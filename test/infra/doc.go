// Package infra is the live acceptance suite of the Pulumi program: with the
// Pulumi Automation API it deploys a throwaway stack of the repository's own
// project to AWS (dev configuration, small sizes), validates it with
// Terratest's aws and k8s modules (encrypted private RDS, locked-down bucket,
// IRSA trust, hardened workload, NetworkPolicies), walks the journeys of
// package journey against the stack's appUrl, and destroys it.
//
// Its tests carry the build tag live, so `make test` never compiles them; run
// them with `make test-live` (GOPHEROPS_LIVE=1 and AWS credentials). See
// README.md in this directory for prerequisites, stages, time and cost.
package infra
