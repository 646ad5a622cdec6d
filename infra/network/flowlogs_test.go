package network

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestFlowLogPolicies: only VPC Flow Logs acting for this account may assume
// the delivery role, and it may write only into the one log group.
func TestFlowLogPolicies(t *testing.T) {
	trust, err := FlowLogTrustPolicy("aws", "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"vpc-flow-logs.amazonaws.com"`, `"aws:SourceAccount":"123456789012"`, `arn:aws:ec2:*:123456789012:vpc-flow-log/*`} {
		if !strings.Contains(trust, want) {
			t.Errorf("trust policy %s lacks %s", trust, want)
		}
	}
	const group = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vpc/flow-logs/gopherops-dev"
	doc, err := FlowLogDeliveryPolicy(group)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Statement []struct {
			Action   []string
			Resource []string
		}
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Statement) != 1 || len(p.Statement[0].Resource) != 2 || p.Statement[0].Resource[0] != group || p.Statement[0].Resource[1] != group+":*" {
		t.Errorf("delivery policy = %s, want only the flow-log group", doc)
	}
	for _, a := range p.Statement[0].Action {
		if !strings.HasPrefix(a, "logs:") || strings.Contains(a, "Delete") || strings.Contains(a, "*") {
			t.Errorf("delivery may %s", a)
		}
	}
}
