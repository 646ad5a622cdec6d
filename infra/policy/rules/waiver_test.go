package rules_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gopherops/gopherops/infra/policy/rules"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

// annotation is the waiver annotation key of a policy.
func annotation(policy string) string { return rules.AnnotationPrefix + policy }

// day is now plus n days, as a waiver date.
func day(n int) string { return now.AddDate(0, 0, n).Format(time.DateOnly) }

// TestWaivers: a valid waiver silences exactly its policy on exactly its
// resource and is reported; an expired, malformed, too distant, unknown or
// unwaivable one is a violation and waives nothing.
func TestWaivers(t *testing.T) {
	const reason = "vendor image needs root until upstream fix #42"
	asRoot := []edit{{path: sc + ".runAsNonRoot", value: boolean(false)}}
	waive := func(policy, value string) edit {
		return edit{path: "metadata.annotations", value: property.New(map[string]property.Value{annotation(policy): str(value)})}
	}
	cases := []struct {
		name    string
		stack   string
		typ     string
		match   string
		outputs bool
		edits   []edit
		// want maps each policy that must report to a part of its message.
		want map[string]string
	}{
		{name: "valid waiver used", stack: "local", typ: tDeployment, match: "gopherops-local",
			edits: append(asRoot, waive("k8s-run-as-non-root", day(45)+" "+reason)),
			want:  map[string]string{rules.Report: "waiver used: k8s-run-as-non-root waived until " + day(45)}},
		{name: "waiver holds through its last day", stack: "local", typ: tDeployment, match: "gopherops-local",
			edits: append(asRoot, waive("k8s-run-as-non-root", day(0)+" "+reason)),
			want:  map[string]string{rules.Report: "waiver used"}},
		{name: "expired waiver", stack: "local", typ: tDeployment, match: "gopherops-local",
			edits: append(asRoot, waive("k8s-run-as-non-root", day(-1)+" "+reason)),
			want:  map[string]string{"k8s-run-as-non-root": "must run as non-root", rules.WaiverValid: "expired on " + day(-1)}},
		{name: "malformed waiver", stack: "local", typ: tDeployment, match: "gopherops-local",
			edits: append(asRoot, waive("k8s-run-as-non-root", "until further notice")),
			want:  map[string]string{"k8s-run-as-non-root": "must run as non-root", rules.WaiverValid: "is not \"<YYYY-MM-DD> <reason>\""}},
		{name: "waiver too far ahead", stack: "local", typ: tDeployment, match: "gopherops-local",
			edits: append(asRoot, waive("k8s-run-as-non-root", day(rules.MaxWaiverDays+1)+" "+reason)),
			want:  map[string]string{"k8s-run-as-non-root": "must run as non-root", rules.WaiverValid: "more than 90 days ahead"}},
		{name: "waiver without a real reason", stack: "local", typ: tDeployment, match: "gopherops-local",
			edits: append(asRoot, waive("k8s-run-as-non-root", day(10)+" temp")),
			want:  map[string]string{"k8s-run-as-non-root": "must run as non-root", rules.WaiverValid: "too short"}},
		{name: "waiver of an unknown policy", stack: "local", typ: tDeployment, match: "gopherops-local",
			edits: []edit{waive("k8s-run-as-anyone", day(10)+" "+reason)},
			want:  map[string]string{rules.WaiverValid: `no policy "k8s-run-as-anyone"`}},
		{name: "the waiver policy cannot be waived", stack: "local", typ: tDeployment, match: "gopherops-local",
			edits: []edit{waive(rules.WaiverValid, day(10)+" "+reason)},
			want:  map[string]string{rules.WaiverValid: "cannot be waived"}},
		{name: "waiver of another policy does not help", stack: "local", typ: tDeployment, match: "gopherops-local",
			edits: append(asRoot, waive("k8s-no-privileged", day(10)+" "+reason)),
			want: map[string]string{"k8s-run-as-non-root": "must run as non-root",
				rules.Report: "waiver not needed, remove it: k8s-no-privileged"}},
		{name: "waiver on a compliant resource is reported as not needed", stack: "local", typ: tDeployment, match: "gopherops-local",
			edits: []edit{waive("k8s-run-as-non-root", day(10)+" "+reason)},
			want:  map[string]string{rules.Report: "waiver not needed, remove it: k8s-run-as-non-root"}},
		{name: "AWS tag waiver", stack: "prod", typ: tRDS, match: ".*",
			edits: []edit{{path: "deletionProtection", value: boolean(false)},
				{path: "tags." + rules.TagPrefix + "rds-prod-protection", value: str(day(7) + " restore drill on a throwaway copy")}},
			want: map[string]string{rules.Report: "waiver used: rds-prod-protection waived until " + day(7)}},
		{name: "AWS tag waiver expired", stack: "prod", typ: tRDS, match: ".*",
			edits: []edit{{path: "deletionProtection", value: boolean(false)},
				{path: "tags." + rules.TagPrefix + "rds-prod-protection", value: str(day(-30) + " restore drill on a throwaway copy")}},
			want: map[string]string{"rds-prod-protection": "deletion protection", rules.WaiverValid: "expired"}},
		{name: "stack policy waived on its subject", stack: "prod", typ: tVersioning, match: "gopherops-prod-blobs", outputs: true,
			edits: []edit{{path: "versioningConfiguration.status", value: str("Suspended")}},
			want:  map[string]string{rules.StackReport: "waiver used: s3-versioning waived"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := declare(t, tc.stack)
			rs := d.inputs
			if tc.outputs {
				rs = d.outputs
			}
			r := find(t, rs, tc.typ, tc.match)
			for _, e := range tc.edits {
				r.Props = set(r.Props, e.path, e.value, e.remove)
			}
			if tc.name == "stack policy waived on its subject" {
				// The waiver sits on the bucket the versioning configures.
				bucket := find(t, d.outputs, tBucket, "gopherops-prod-blobs")
				bucket.Props = set(bucket.Props, "tags."+rules.TagPrefix+"s3-versioning", str(day(20)+" object lock migration in progress"), false)
				r = bucket
			}
			found := byPolicy(run(t, d))
			for policy, part := range tc.want {
				hit := false
				for _, f := range found[policy] {
					hit = hit || (f.URN == r.URN && strings.Contains(f.Message, part))
				}
				if !hit {
					t.Errorf("%s did not report %q on %s; it reported %v", policy, part, r.URN, found[policy])
				}
			}
			for policy, fs := range found {
				if _, ok := tc.want[policy]; !ok {
					t.Errorf("%s reported unexpectedly: %s", policy, fs[0].Message)
				}
			}
		})
	}
}
