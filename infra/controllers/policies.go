package controllers

import (
	"encoding/json"
	"fmt"
)

// ClusterTag is the tag the AWS Load Balancer Controller puts on every load
// balancer, target group and security group it creates, with the cluster's
// name as value; the policy lets it change only what carries this cluster's.
const ClusterTag = "elbv2.k8s.aws/cluster"

// statement is one IAM policy statement.
type statement map[string]any

func document(sts ...statement) (string, error) {
	b, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": sts})
	if err != nil {
		return "", fmt.Errorf("controllers: policy document: %w", err)
	}
	return string(b), nil
}

// LoadBalancerControllerPolicy is what the controller needs for NLB
// Services with IP targets in one VPC, and no more: it reads the network and
// the load balancers, creates load balancers, target groups and security
// groups only tagged for this cluster, and changes or deletes only what
// carries that tag. ALB, WAF, Shield and Cognito permissions are left out:
// the stack has no Ingress.
func LoadBalancerControllerPolicy(partition, region, accountID, cluster, vpcID string) (string, error) {
	arn := func(service, resource string) string {
		return fmt.Sprintf("arn:%s:%s:%s:%s:%s", partition, service, region, accountID, resource)
	}
	elb := func(resource string) string { return arn("elasticloadbalancing", resource) }
	ec2 := func(resource string) string { return arn("ec2", resource) }
	tagged := map[string]any{"StringEquals": map[string]string{"aws:ResourceTag/" + ClusterTag: cluster}}
	requested := map[string]any{"StringEquals": map[string]string{"aws:RequestTag/" + ClusterTag: cluster}}
	lbs := []string{elb("loadbalancer/net/*/*"), elb("targetgroup/*/*")}
	return document(
		statement{
			"Sid":    "ReadNetworkAndLoadBalancers",
			"Effect": "Allow",
			"Action": []string{
				"ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones",
				"ec2:DescribeInternetGateways", "ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeRouteTables",
				"ec2:DescribeSecurityGroups", "ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces", "ec2:DescribeTags",
				"elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
				"elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerAttributes",
				"elasticloadbalancing:DescribeListenerCertificates", "elasticloadbalancing:DescribeSSLPolicies",
				"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetGroupAttributes",
				"elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeTags",
				"elasticloadbalancing:DescribeCapacityReservation",
				"acm:ListCertificates", "acm:DescribeCertificate",
			},
			"Resource": "*",
		},
		statement{
			"Sid":       "ElasticLoadBalancingServiceLinkedRole",
			"Effect":    "Allow",
			"Action":    "iam:CreateServiceLinkedRole",
			"Resource":  "*",
			"Condition": map[string]any{"StringEquals": map[string]string{"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}},
		},
		statement{
			"Sid":      "SecurityGroupsInTheVpc",
			"Effect":   "Allow",
			"Action":   "ec2:CreateSecurityGroup",
			"Resource": ec2("vpc/" + vpcID),
		},
		statement{
			"Sid":       "SecurityGroupsTaggedOnCreate",
			"Effect":    "Allow",
			"Action":    "ec2:CreateSecurityGroup",
			"Resource":  ec2("security-group/*"),
			"Condition": requested,
		},
		statement{
			"Sid":      "TagOwnSecurityGroupsOnCreate",
			"Effect":   "Allow",
			"Action":   "ec2:CreateTags",
			"Resource": ec2("security-group/*"),
			"Condition": map[string]any{
				"StringEquals": map[string]string{"ec2:CreateAction": "CreateSecurityGroup", "aws:RequestTag/" + ClusterTag: cluster},
			},
		},
		statement{
			"Sid":       "ManageOwnSecurityGroups",
			"Effect":    "Allow",
			"Action":    []string{"ec2:CreateTags", "ec2:DeleteTags", "ec2:DeleteSecurityGroup"},
			"Resource":  ec2("security-group/*"),
			"Condition": tagged,
		},
		statement{
			// The rule admitting the load balancer goes onto the cluster
			// security group of the nodes, which the controller did not create.
			"Sid":       "IngressRulesInTheVpc",
			"Effect":    "Allow",
			"Action":    []string{"ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"},
			"Resource":  ec2("security-group/*"),
			"Condition": map[string]any{"ArnEquals": map[string]string{"ec2:Vpc": ec2("vpc/" + vpcID)}},
		},
		statement{
			"Sid":       "CreateTaggedLoadBalancers",
			"Effect":    "Allow",
			"Action":    []string{"elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"},
			"Resource":  lbs,
			"Condition": requested,
		},
		statement{
			"Sid":      "TagOnCreate",
			"Effect":   "Allow",
			"Action":   "elasticloadbalancing:AddTags",
			"Resource": lbs,
			"Condition": map[string]any{
				"StringEquals": map[string]any{
					"elasticloadbalancing:CreateAction": []string{"CreateLoadBalancer", "CreateTargetGroup"},
					"aws:RequestTag/" + ClusterTag:      cluster,
				},
			},
		},
		statement{
			"Sid":    "ManageOwnLoadBalancers",
			"Effect": "Allow",
			"Action": []string{
				"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags",
				"elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType",
				"elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
				"elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
				"elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:RegisterTargets",
				"elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:DeleteTargetGroup",
			},
			"Resource":  lbs,
			"Condition": tagged,
		},
		statement{
			// Listeners belong to a load balancer the controller names k8s-*.
			"Sid":    "ListenersOfOwnLoadBalancers",
			"Effect": "Allow",
			"Action": []string{
				"elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener",
				"elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyListenerAttributes",
				"elasticloadbalancing:AddListenerCertificates", "elasticloadbalancing:RemoveListenerCertificates",
				"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags",
			},
			"Resource": []string{elb("loadbalancer/net/k8s-*/*"), elb("listener/net/k8s-*/*/*")},
		},
	)
}

// ClusterAutoscalerPolicy lets Cluster Autoscaler read Auto Scaling groups
// and instance types, and resize or shrink only the groups EKS tagged as
// owned by this cluster.
func ClusterAutoscalerPolicy(partition, region, accountID, cluster string) (string, error) {
	return document(
		statement{
			"Sid":    "Discover",
			"Effect": "Allow",
			"Action": []string{
				"autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
				"autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
				"autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
				"ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
			},
			"Resource": "*",
		},
		statement{
			"Sid":      "ResizeOwnNodeGroups",
			"Effect":   "Allow",
			"Action":   []string{"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"},
			"Resource": fmt.Sprintf("arn:%s:autoscaling:%s:%s:autoScalingGroup:*:autoScalingGroupName/*", partition, region, accountID),
			"Condition": map[string]any{"StringEquals": map[string]string{
				"aws:ResourceTag/k8s.io/cluster-autoscaler/" + cluster: "owned",
			}},
		},
		statement{
			"Sid":      "NodeGroupsOfThisCluster",
			"Effect":   "Allow",
			"Action":   "eks:DescribeNodegroup",
			"Resource": fmt.Sprintf("arn:%s:eks:%s:%s:nodegroup/%s/*", partition, region, accountID, cluster),
		},
	)
}
