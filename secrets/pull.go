package secrets

import (
	"context"
	"fmt"
	"strings"
)

// Puller is what Pull needs of an SSH connection (*remote.Client).
type Puller interface {
	Output(ctx context.Context, cmd string) (string, error)
	ReadFile(ctx context.Context, path string) ([]byte, error)
}

// Pull reads the secrets in Dir on a host (files named like a key), for a
// clone of a machine outside the workspace. The values are in memory only:
// Wipe them when done.
func Pull(ctx context.Context, r Puller) (map[string][]byte, error) {
	out, err := r.Output(ctx, "find "+Dir+" -mindepth 1 -maxdepth 1 -type f ! -name '.*' -printf '%f\\n' 2>/dev/null || true")
	if err != nil {
		return nil, fmt.Errorf("list secrets on the source: %w", err)
	}
	vals := map[string][]byte{}
	for _, name := range strings.Fields(out) {
		if ValidKey(name) != nil {
			continue
		}
		data, err := r.ReadFile(ctx, Dir+"/"+name)
		if err != nil {
			Wipe(vals)
			return nil, fmt.Errorf("read secret %s on the source: %w", name, err)
		}
		vals[name] = data
	}
	return vals, nil
}
