package cluster

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// addonConfig is each add-on's configuration values (JSON), when it has any.
var addonConfig = map[string]string{
	// The VPC CNI enforces NetworkPolicy only when asked to.
	"vpc-cni": `{"enableNetworkPolicy":"true"}`,
}

// addons creates the named EKS add-ons at their pinned versions, after the
// given resources. A pinned version moves only when the stack file does.
func (c *Cluster) addons(ctx *pulumi.Context, name string, args Args, names []string, after []pulumi.Resource, parent pulumi.ResourceOption) ([]pulumi.Resource, error) {
	if c.Addons == nil {
		c.Addons = map[string]*eks.Addon{}
	}
	var out []pulumi.Resource
	for _, addon := range names {
		version, ok := args.AddonVersions[addon]
		if !ok || version == "" {
			return nil, fmt.Errorf("cluster: add-on %s has no pinned version", addon)
		}
		a := &eks.AddonArgs{
			ClusterName:              c.Cluster.Name,
			AddonName:                pulumi.String(addon),
			AddonVersion:             pulumi.String(version),
			ResolveConflictsOnCreate: pulumi.String("OVERWRITE"),
			ResolveConflictsOnUpdate: pulumi.String("PRESERVE"),
		}
		if v, ok := addonConfig[addon]; ok {
			a.ConfigurationValues = pulumi.String(v)
		}
		res, err := eks.NewAddon(ctx, name+"-"+addon, a, parent, pulumi.DependsOn(after))
		if err != nil {
			return nil, fmt.Errorf("cluster: %s add-on: %w", addon, err)
		}
		c.Addons[addon] = res
		out = append(out, res)
	}
	return out, nil
}
