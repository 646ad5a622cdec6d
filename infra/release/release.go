// Package release names how a release reaches an AWS stack, so that
// deploy.yml, the live suite and the program agree: the immutable ECR tag a
// release is mirrored under for a stack, the SSM parameter recording the
// digest the stack last rolled out successfully, and the variable through
// which a deploy hands `pulumi up` the release it is rolling out.
//
// The record moves only after `pulumi up` succeeded, so a later `pulumi up`,
// from CI or a laptop, rolls out what last worked, never a release that
// failed; and no tag ever moves, so the mirror can keep its tags immutable
// (AWS FSBP ECR.2).
package release

import (
	"regexp"
	"strings"
)

// DigestEnv is the environment variable that hands `pulumi up` the digest
// of the release being rolled out (deploy.yml, the live suite). Without it
// the program rolls out the stack's record.
const DigestEnv = "GOPHEROPS_RELEASE_DIGEST"

var digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// ValidDigest reports whether d is an image digest (sha256:<64 hex>).
func ValidDigest(d string) bool { return digestPattern.MatchString(d) }

// Tag is the immutable ECR tag a release is mirrored under for a stack:
// the stack's name, so the mirror's lifecycle policy keeps each stack's
// recent releases, and the digest's hex, so the tag can only ever name
// that image.
func Tag(stack, digest string) string {
	return stack + "-" + strings.TrimPrefix(digest, "sha256:")
}

// Parameter is the SSM parameter holding the digest a stack last rolled
// out successfully.
func Parameter(project, stack string) string {
	return "/" + project + "/" + stack + "/release"
}
