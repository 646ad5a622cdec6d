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

// TestFlowLogBucketPolicy: log delivery may write only this account's flow
// logs under AWSLogs/<account>/, from log sources of this account and
// region; nothing reaches the bucket without TLS.
func TestFlowLogBucketPolicy(t *testing.T) {
	const bucket = "arn:aws:s3:::gopherops-dev-flow-logs-1a2b3c4"
	doc, err := FlowLogBucketPolicy(bucket, "aws", "us-east-1", "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Statement []struct {
			Sid       string
			Effect    string
			Principal any
			Action    any
			Resource  any
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, st := range p.Statement {
		seen[st.Sid] = true
		switch st.Sid {
		case "DenyInsecureTransport":
			if st.Effect != "Deny" || st.Condition["Bool"]["aws:SecureTransport"] != "false" {
				t.Errorf("TLS statement = %+v", st)
			}
		case "FlowLogDeliveryWrite", "FlowLogDeliveryCheck":
			if st.Condition["StringEquals"]["aws:SourceAccount"] != "123456789012" ||
				st.Condition["ArnLike"]["aws:SourceArn"] != "arn:aws:logs:us-east-1:123456789012:*" {
				t.Errorf("%s is not limited to this account's log sources: %+v", st.Sid, st.Condition)
			}
			if st.Sid == "FlowLogDeliveryWrite" && st.Resource != bucket+"/AWSLogs/123456789012/*" {
				t.Errorf("delivery writes to %v", st.Resource)
			}
		default:
			t.Errorf("unexpected statement %s", st.Sid)
		}
	}
	if len(seen) != 3 {
		t.Errorf("statements %v, want TLS, delivery check and delivery write", seen)
	}
	if _, err := FlowLogBucketPolicy("", "aws", "us-east-1", "123456789012"); err == nil {
		t.Error("a policy for no bucket")
	}
}
