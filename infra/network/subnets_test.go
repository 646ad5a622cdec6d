package network

import (
	"net/netip"
	"slices"
	"testing"
)

func TestPlanSubnets(t *testing.T) {
	cases := []struct {
		name    string
		vpc     string
		azs     int
		public  []string
		private []string
	}{
		{"dev /16 over 2 AZs", "10.20.0.0/16", 2,
			[]string{"10.20.192.0/20", "10.20.208.0/20"},
			[]string{"10.20.0.0/18", "10.20.64.0/18"}},
		{"prod /16 over 3 AZs", "10.30.0.0/16", 3,
			[]string{"10.30.192.0/20", "10.30.208.0/20", "10.30.224.0/20"},
			[]string{"10.30.0.0/18", "10.30.64.0/18", "10.30.128.0/18"}},
		{"/22 over 3 AZs", "172.16.4.0/22", 3,
			[]string{"172.16.7.0/26", "172.16.7.64/26", "172.16.7.128/26"},
			[]string{"172.16.4.0/24", "172.16.5.0/24", "172.16.6.0/24"}},
		{"the smallest VPC, a /24, over 3 AZs", "10.9.8.0/24", 3,
			[]string{"10.9.8.192/28", "10.9.8.208/28", "10.9.8.224/28"},
			[]string{"10.9.8.0/26", "10.9.8.64/26", "10.9.8.128/26"}},
		{"a single AZ", "10.40.0.0/16", 1,
			[]string{"10.40.192.0/20"},
			[]string{"10.40.0.0/18"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := PlanSubnets(tc.vpc, tc.azs)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(plan.Public, tc.public) || !slices.Equal(plan.Private, tc.private) {
				t.Fatalf("plan = %+v, want public %v private %v", plan, tc.public, tc.private)
			}
			// No two subnets overlap and all lie inside the VPC.
			vpc := netip.MustParsePrefix(tc.vpc)
			all := append(append([]string{}, plan.Public...), plan.Private...)
			for i, a := range all {
				pa := netip.MustParsePrefix(a)
				if !vpc.Contains(pa.Addr()) || pa.Bits() < vpc.Bits() {
					t.Errorf("%s is outside %s", a, tc.vpc)
				}
				for _, b := range all[i+1:] {
					if pa.Overlaps(netip.MustParsePrefix(b)) {
						t.Errorf("%s overlaps %s", a, b)
					}
				}
			}
		})
	}
}

func TestPlanSubnetsRejects(t *testing.T) {
	for _, tc := range []struct {
		vpc string
		azs int
	}{
		{"10.0.0.0/25", 2},
		{"10.0.0.1/16", 2},
		{"not-a-cidr", 2},
		{"10.0.0.0/16", 4},
		{"10.0.0.0/16", 0},
		{"fd00::/48", 2},
	} {
		if _, err := PlanSubnets(tc.vpc, tc.azs); err == nil {
			t.Errorf("PlanSubnets(%q, %d) succeeded, want an error", tc.vpc, tc.azs)
		}
	}
}
