package cluster

import "testing"

func TestPrincipalName(t *testing.T) {
	cases := map[string]string{
		"arn:aws:iam::123456789012:role/gopherops-deploy":          "gopherops-deploy",
		"arn:aws:iam::123456789012:user/alice":                     "alice",
		"arn:aws:iam::123456789012:role/AWSReservedSSO_Admin_0123": "AWSReservedSSO_Admin_0123",
		"arn:aws:iam::123456789012:root":                           "root",
		"arn:aws:iam::123456789012:role/team/ops":                  "ops",
		"gopherops-deploy":                                         "gopherops-deploy",
	}
	for in, want := range cases {
		if got := principalName(in); got != want {
			t.Errorf("principalName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLogGroupName(t *testing.T) {
	if got := LogGroupName("gopherops-prod"); got != "/aws/eks/gopherops-prod/cluster" {
		t.Errorf("LogGroupName = %q: EKS writes to /aws/eks/<cluster>/cluster and would create that group itself", got)
	}
}
