package controllers

import (
	"encoding/json"
	"strings"
	"testing"
)

type policy struct {
	Statement []struct {
		Sid       string
		Action    any
		Resource  any
		Condition map[string]map[string]any
	}
}

func parse(t *testing.T, doc string, err error) policy {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	var p policy
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := []string{}
		for _, e := range x {
			out = append(out, e.(string))
		}
		return out
	}
	return nil
}

// TestLoadBalancerControllerPolicyTouchesOnlyItsCluster: every create asks
// for this cluster's tag, every change or delete needs it (or a k8s-*
// listener of the controller's own load balancers), ingress rules stay in
// the VPC, and nothing of ALB, WAF or Shield is granted.
func TestLoadBalancerControllerPolicyTouchesOnlyItsCluster(t *testing.T) {
	doc, err := LoadBalancerControllerPolicy("aws", "us-east-1", "123456789012", "gopherops-prod", "vpc-0abc")
	p := parse(t, doc, err)
	for _, st := range p.Statement {
		for _, a := range strs(st.Action) {
			if strings.HasPrefix(a, "wafv2:") || strings.HasPrefix(a, "shield:") || strings.HasPrefix(a, "cognito") || strings.HasSuffix(a, "Rule") {
				t.Errorf("%s grants %s, which an NLB-only controller does not need", st.Sid, a)
			}
			write := !strings.Contains(a, ":Describe") && !strings.HasPrefix(a, "acm:") && a != "iam:CreateServiceLinkedRole"
			if !write {
				continue
			}
			cond, _ := json.Marshal(st.Condition)
			res := strings.Join(strs(st.Resource), " ")
			scoped := strings.Contains(string(cond), ClusterTag+`":"gopherops-prod"`) ||
				strings.Contains(string(cond), "vpc/vpc-0abc") || strings.Contains(res, "vpc/vpc-0abc") || strings.Contains(res, "/k8s-*/")
			if !scoped || res == "*" {
				t.Errorf("%s allows %s on %s with %s: not limited to this cluster", st.Sid, a, res, cond)
			}
		}
	}
}

// TestClusterAutoscalerPolicyResizesOnlyOwnedGroups.
func TestClusterAutoscalerPolicyResizesOnlyOwnedGroups(t *testing.T) {
	doc, err := ClusterAutoscalerPolicy("aws", "us-east-1", "123456789012", "gopherops-dev")
	p := parse(t, doc, err)
	for _, st := range p.Statement {
		for _, a := range strs(st.Action) {
			switch a {
			case "autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup":
				if st.Condition["StringEquals"]["aws:ResourceTag/k8s.io/cluster-autoscaler/gopherops-dev"] != "owned" {
					t.Errorf("%s is not limited to node groups owned by gopherops-dev: %v", a, st.Condition)
				}
			case "eks:DescribeNodegroup":
				if r := strs(st.Resource); len(r) != 1 || !strings.Contains(r[0], "nodegroup/gopherops-dev/") {
					t.Errorf("DescribeNodegroup on %v", r)
				}
			default:
				if !strings.Contains(a, ":Describe") && !strings.Contains(a, ":Get") {
					t.Errorf("unexpected write %s", a)
				}
			}
		}
	}
}
