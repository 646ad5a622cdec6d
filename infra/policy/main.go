// Command policy is the GopherOps policy pack (PulumiPolicy.yaml, pack name
// gopherops): the engine starts it for `pulumi preview|up --policy-pack
// infra/policy` and asks it to judge every resource. The policies live in
// package rules.
package main

import (
	"fmt"
	"os"

	"github.com/gopherops/gopherops/infra/policy/rules"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

func main() {
	if err := policyx.Main(rules.NewPack); err != nil {
		fmt.Fprintln(os.Stderr, "gopherops policy pack:", err)
		os.Exit(1)
	}
}
