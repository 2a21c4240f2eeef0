package cmd

import (
	"context"
	"os"
	"path/filepath"

	"bootstrap/bootstrap"
	"bootstrap/remote"
	"bootstrap/workspace"
)

// userKnownHosts is the operator's own known_hosts, read (never written) to
// recognise hosts on first contact.
func userKnownHosts() []string {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil
	}
	return []string{filepath.Join(home, ".ssh", "known_hosts")}
}

// dialHost connects to a host the workspace bootstrapped: root, the deploy
// key alone, and the host key pinned in the workspace's known_hosts alone.
func dialHost(ctx context.Context, ws *workspace.Workspace, rec *bootstrap.Record) (*remote.Client, error) {
	deploy, err := ws.LoadDeployKey()
	if err != nil {
		return nil, err
	}
	port := rec.Port
	if port == 0 {
		port = 22
	}
	return remote.Dial(ctx, remote.Config{
		Host:     rec.Address,
		Port:     port,
		User:     "root",
		Keys:     []remote.Key{{Name: ws.Rel(deploy.Path), Signer: deploy.Signer}},
		HostKeys: &remote.HostKeys{KnownHosts: ws.KnownHosts()},
	})
}
