package runner

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRoleIsOnlyForThisProject: CodeBuild may assume the role only for this
// project in this account, and the role may only log, attach build network
// interfaces in the runner's subnets, and use the one GitHub connection.
func TestRoleIsOnlyForThisProject(t *testing.T) {
	trust, err := TrustPolicy("aws", "us-east-1", "123456789012", "gopherops-prod-runner")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"aws:SourceAccount":"123456789012"`, `project/gopherops-prod-runner"`, `"codebuild.amazonaws.com"`} {
		if !strings.Contains(trust, want) {
			t.Errorf("trust %s lacks %s", trust, want)
		}
	}
	const conn = "arn:aws:codeconnections:us-east-1:123456789012:connection/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
	doc, err := ServicePolicy("aws", "us-east-1", "123456789012", "arn:aws:logs:us-east-1:123456789012:log-group:/aws/codebuild/x", conn, []string{"subnet-a", "subnet-b"})
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Statement []struct {
			Sid       string
			Action    any
			Resource  any
			Condition map[string]map[string]any
		}
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	for _, st := range p.Statement {
		res, _ := json.Marshal(st.Resource)
		switch st.Sid {
		case "Logs":
			if !strings.Contains(string(res), "/aws/codebuild/x") {
				t.Errorf("logs to %s", res)
			}
		case "NetworkInterfacesInRunnerSubnets":
			subnets, _ := json.Marshal(st.Condition["ArnEquals"]["ec2:Subnet"])
			if !strings.Contains(string(subnets), "subnet/subnet-a") || !strings.Contains(string(subnets), "subnet/subnet-b") {
				t.Errorf("network interfaces allowed in %s", subnets)
			}
		case "GitHubConnection":
			if string(res) != `"`+conn+`"` {
				t.Errorf("connection access on %s", res)
			}
		case "VpcNetworking":
		default:
			t.Errorf("unexpected statement %s", st.Sid)
		}
	}
}
