package previews

import (
	"context"
	"fmt"
	"io"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
)

// Workspace is the Backend of a Pulumi workspace: the stacks of its project
// in its backend (Pulumi Cloud or a self-managed one), destroyed with the
// real engine.
type Workspace struct {
	WS auto.Workspace
	// Progress receives the engine's output while a stack is destroyed.
	Progress io.Writer
}

// Stacks lists the project's pull-request stacks.
func (w Workspace) Stacks(ctx context.Context) ([]Stack, error) {
	sums, err := w.WS.ListStacks(ctx)
	if err != nil {
		return nil, fmt.Errorf("previews: list stacks: %w", err)
	}
	var out []Stack
	for _, s := range sums {
		st, ok, err := parseStack(s.Name, s.LastUpdate, s.UpdateInProgress)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, st)
		}
	}
	return out, nil
}

// Destroy destroys the stack's resources (its namespace, and with it every
// object and volume claim in it) and removes the stack. A stack that does
// not exist is no error: the pull request closed before it had one.
func (w Workspace) Destroy(ctx context.Context, name string) error {
	st, err := auto.SelectStack(ctx, name, w.WS)
	if err != nil {
		if auto.IsSelectStack404Error(err) {
			return nil
		}
		return fmt.Errorf("previews: select %s: %w", name, err)
	}
	opts := []optdestroy.Option{optdestroy.Color("never"), optdestroy.Remove()}
	if w.Progress != nil {
		opts = append(opts, optdestroy.ProgressStreams(w.Progress), optdestroy.ErrorProgressStreams(w.Progress))
	}
	if _, err := st.Destroy(ctx, opts...); err != nil {
		return fmt.Errorf("previews: destroy %s: %w", name, err)
	}
	return nil
}
