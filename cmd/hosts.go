package cmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"bootstrap/workspace"
)

// lockHosts takes the locks of the named hosts for a run that changes
// them (see workspace.LockHost): a second run on one of them fails at once,
// naming this one. The returned func releases them. Without create, a host
// the workspace has no directory for is not locked (nor created): the
// command then says it does not know it.
func lockHosts(ws *workspace.Workspace, create bool, names ...string) (func(), error) {
	what := "bootstrap " + strings.Join(os.Args[1:], " ")
	var unlocks []func()
	release := func() {
		for _, u := range unlocks {
			u()
		}
	}
	for _, n := range names {
		if err := workspace.ValidName(n); err != nil {
			release()
			return nil, &UsageError{Msg: err.Error()}
		}
		if _, err := os.Stat(ws.HostDir(n)); err != nil && !create {
			continue
		}
		u, err := ws.LockHost(n, what)
		if err != nil {
			release()
			return nil, err
		}
		unlocks = append(unlocks, u)
	}
	return release, nil
}

// openHost opens the workspace for a command that changes a host it
// knows, holding the host's lock (see lockHosts), with ctx bounded by
// timeout (none when 0); release both with the returned func.
func openHost(ctx context.Context, g *globalOptions, name string, timeout time.Duration) (context.Context, *workspace.Workspace, func(), error) {
	if err := workspace.ValidName(name); err != nil {
		return nil, nil, nil, &UsageError{Msg: err.Error()}
	}
	ws, err := workspace.Load(g.Workspace)
	if err != nil {
		return nil, nil, nil, err
	}
	unlock, err := lockHosts(ws, false, name)
	if err != nil {
		return nil, nil, nil, err
	}
	cancel := func() {}
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	}
	return ctx, ws, func() { cancel(); unlock() }, nil
}

// userKnownHosts is the operator's own known_hosts, read (never written) to
// recognise hosts on first contact.
func userKnownHosts() []string {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil
	}
	return []string{filepath.Join(home, ".ssh", "known_hosts")}
}
