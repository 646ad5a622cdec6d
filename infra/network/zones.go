package network

import (
	"fmt"
	"slices"
)

// EKSUnsupportedZoneIDs are the zone IDs in which EKS refuses to place a
// cluster's control-plane network interfaces (UnsupportedAvailabilityZoneException),
// as the EKS user guide lists them. They are zone IDs, not names: us-east-1c
// is use1-az3 in one account and another zone in the next.
var EKSUnsupportedZoneIDs = []string{"use1-az3", "usw1-az2", "cac1-az3"}

// PickZoneIDs returns the first n zone IDs, in the region's order, that EKS
// supports; the result is stable as long as the region's zones are.
func PickZoneIDs(zoneIDs []string, n int) ([]string, error) {
	var out []string
	for _, id := range zoneIDs {
		if slices.Contains(EKSUnsupportedZoneIDs, id) {
			continue
		}
		out = append(out, id)
		if len(out) == n {
			return out, nil
		}
	}
	return nil, fmt.Errorf("network: %d availability zones wanted but the region has only %d that EKS supports (%v)", n, len(out), out)
}
