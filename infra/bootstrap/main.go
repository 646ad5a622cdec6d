// Command bootstrap is the once-per-account Pulumi project (infra/bootstrap,
// its own Pulumi.yaml) that everything else stands on: the GitHub Actions
// OIDC provider, the least-privilege deploy and read-only preview roles the
// workflows assume, the ECR repository releases are mirrored into, and,
// for a self-managed backend, the S3 bucket holding Pulumi state.
package main

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		cfg, err := loadConfig(ctx)
		if err != nil {
			return err
		}
		_, err = deploy(ctx, cfg)
		return err
	})
}
