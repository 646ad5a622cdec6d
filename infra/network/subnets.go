package network

import (
	"fmt"
	"net/netip"
)

// SubnetPlan is the CIDR of each public and private subnet, one per AZ.
type SubnetPlan struct {
	Public  []string
	Private []string
}

// PlanSubnets splits a VPC range for up to three AZs: each private subnet gets
// a quarter of the VPC (pods take VPC addresses under the VPC CNI, so private
// space is what runs out first) and the public subnets share the last quarter.
// A /16 gives /18 private and /20 public subnets.
func PlanSubnets(vpcCidr string, azs int) (SubnetPlan, error) {
	vpc, err := netip.ParsePrefix(vpcCidr)
	if err != nil {
		return SubnetPlan{}, fmt.Errorf("vpc cidr %q: %w", vpcCidr, err)
	}
	if !vpc.Addr().Is4() || vpc.Masked() != vpc {
		return SubnetPlan{}, fmt.Errorf("vpc cidr %q is not an IPv4 network address", vpcCidr)
	}
	if vpc.Bits() > 24 {
		return SubnetPlan{}, fmt.Errorf("vpc cidr %q is too small to split (need /24 or larger)", vpcCidr)
	}
	if azs < 1 || azs > 3 {
		return SubnetPlan{}, fmt.Errorf("cannot plan subnets for %d availability zones (1 to 3)", azs)
	}
	var plan SubnetPlan
	for i := range azs {
		plan.Private = append(plan.Private, subnet(vpc, 2, i).String())
	}
	publicRange := subnet(vpc, 2, 3)
	for i := range azs {
		plan.Public = append(plan.Public, subnet(publicRange, 2, i).String())
	}
	return plan, nil
}

// subnet returns the index-th subnet of parent that is newBits longer, like
// Terraform's cidrsubnet.
func subnet(parent netip.Prefix, newBits, index int) netip.Prefix {
	bits := parent.Bits() + newBits
	base := parent.Addr().As4()
	v := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	v |= uint32(index) << (32 - bits)
	addr := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	return netip.PrefixFrom(addr, bits)
}
