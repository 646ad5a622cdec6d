package rules

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Waivers: one policy waived for one resource, reviewed with the change that
// adds it. On a Kubernetes object it is an annotation, on an AWS resource a
// tag; the value is the last day the waiver holds (UTC) and why:
//
//	policy.gopherops.dev/waive-k8s-read-only-root-filesystem: "2026-03-31 the vendor image writes /tmp; upstream fix #123"
//	gopherops:waive:rds-iam-auth = "2026-03-31 migration tool cannot use IAM auth yet"
const (
	// AnnotationPrefix starts a waiver annotation on a Kubernetes object;
	// the policy name follows.
	AnnotationPrefix = "policy.gopherops.dev/waive-"
	// TagPrefix starts a waiver tag on an AWS resource; the policy name follows.
	TagPrefix = "gopherops:waive:"
	// MaxWaiverDays is how far ahead a waiver may expire: a waiver is a
	// dated exception, renewed in review, never a permanent switch.
	MaxWaiverDays = 90
	// minReasonLength keeps "ok" and "temp" out of the reasons.
	minReasonLength = 10
)

// waiverValue is "<YYYY-MM-DD> <reason>".
var waiverValue = regexp.MustCompile(`^([0-9]{4}-[0-9]{2}-[0-9]{2})\s+(\S.*)$`)

// Waiver is one waiver found on a resource.
type Waiver struct {
	// Policy is the policy it waives.
	Policy string
	// Key is the annotation or tag that carries it.
	Key string
	// Expires is the last day it holds.
	Expires time.Time
	// Reason is why.
	Reason string
	// Problem says why the waiver is invalid; empty for a valid one.
	Problem string
}

// Valid reports whether the waiver waives its policy.
func (w Waiver) Valid() bool { return w.Problem == "" }

// String describes the waiver for reports.
func (w Waiver) String() string {
	return fmt.Sprintf("%s waived until %s (%s): %s", w.Policy, w.Expires.Format(time.DateOnly), w.Key, w.Reason)
}

// waiverSource is where a resource's waivers live: the annotations of a
// Kubernetes object, the tags of an AWS resource.
func waiverSource(r *Resource) (f field, prefix string, ok bool) {
	switch {
	case r.isKubernetes():
		return r.props().at("metadata", "annotations"), AnnotationPrefix, true
	case r.isAWS():
		return r.props().get("tags"), TagPrefix, true
	}
	return field{}, "", false
}

// Waivers parses the waivers on r, checked against policies and now; unknown
// is true when the preview does not know the annotations or tags yet (then
// no waiver applies).
func Waivers(r *Resource, policies map[string]Policy, now time.Time) (ws []Waiver, unknown bool, path string) {
	src, prefix, ok := waiverSource(r)
	if !ok {
		return nil, false, ""
	}
	values, unknownKeys, whole := src.stringMap()
	unknown = whole
	for _, k := range unknownKeys {
		unknown = unknown || strings.HasPrefix(k, prefix)
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		ws = append(ws, parseWaiver(k, strings.TrimPrefix(k, prefix), values[k], policies, now))
	}
	return ws, unknown, src.path
}

// parseWaiver checks one waiver.
func parseWaiver(key, policy, value string, policies map[string]Policy, now time.Time) Waiver {
	w := Waiver{Policy: policy, Key: key}
	m := waiverValue.FindStringSubmatch(strings.TrimSpace(value))
	if m == nil {
		w.Problem = fmt.Sprintf("%q is not \"<YYYY-MM-DD> <reason>\"", value)
		return w
	}
	expires, err := time.Parse(time.DateOnly, m[1])
	if err != nil {
		w.Problem = fmt.Sprintf("%q is not a date: %v", m[1], err)
		return w
	}
	w.Expires, w.Reason = expires, strings.TrimSpace(m[2])
	p, known := policies[policy]
	today := time.Date(now.UTC().Year(), now.UTC().Month(), now.UTC().Day(), 0, 0, 0, 0, time.UTC)
	switch {
	case !known:
		w.Problem = fmt.Sprintf("no policy %q in the pack", policy)
	case !p.Waivable:
		w.Problem = fmt.Sprintf("policy %q cannot be waived", policy)
	case len(w.Reason) < minReasonLength:
		w.Problem = fmt.Sprintf("the reason %q is too short to review (at least %d characters)", w.Reason, minReasonLength)
	case expires.Before(today):
		w.Problem = fmt.Sprintf("expired on %s", m[1])
	case expires.After(today.AddDate(0, 0, MaxWaiverDays)):
		w.Problem = fmt.Sprintf("expires on %s, more than %d days ahead", m[1], MaxWaiverDays)
	}
	return w
}
