package rules_test

import (
	"testing"
)

// TestDeclaredStacksPass: what the program declares for every committed
// stack passes every policy, advisory ones included, with nothing waived
// and nothing deferred.
func TestDeclaredStacksPass(t *testing.T) {
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			d := declare(t, stack)
			if len(d.inputs) < 10 {
				t.Fatalf("the program declared only %d resources for %s", len(d.inputs), stack)
			}
			for _, f := range run(t, d) {
				t.Errorf("%s: %s", f.Policy, f.Message)
			}
		})
	}
}
