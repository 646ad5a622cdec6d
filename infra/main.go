// Command infra is the GopherOps Pulumi program (Pulumi.yaml: main: infra/):
// it loads the stack configuration and deploys the platform.
package main

import (
	"github.com/gopherops/gopherops/infra/config"
	"github.com/gopherops/gopherops/infra/platform"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		cfg, err := config.Load(ctx)
		if err != nil {
			return err
		}
		_, err = platform.Deploy(ctx, cfg)
		return err
	})
}
