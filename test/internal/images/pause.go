package images

import (
	"context"
	"fmt"
	"time"
)

// PauseUID is the user the pause process runs as (the upstream pause image's 65535).
const PauseUID = 65535

// BuildPause builds test/cmd/images/pause, static, to out.
func BuildPause(ctx context.Context, o BuildOptions, out string) error {
	if err := goBuild(ctx, o, o.RepoRoot, []string{"CGO_ENABLED=0"}, out, "-trimpath", "-ldflags", "-s -w", "./test/cmd/images/pause"); err != nil {
		return err
	}
	return requireStatic(out)
}

// Pause is the pods' sandbox image: the static pause binary as /pause.
func Pause(binary string, created time.Time, workDir string) (Image, error) {
	l, err := NewLayer(workDir)
	if err != nil {
		return Image{}, err
	}
	if err := l.CopyFile("pause", binary, 0o755, 0, 0); err != nil {
		l.Remove()
		return Image{}, fmt.Errorf("images: pause: %w", err)
	}
	return Image{
		Created: created,
		Layers:  []*Layer{l},
		Config: Config{
			User:       fmt.Sprintf("%d:%d", PauseUID, PauseUID),
			Entrypoint: []string{"/pause"},
		},
	}, nil
}
