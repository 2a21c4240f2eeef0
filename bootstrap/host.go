package bootstrap

import (
	"context"
	"fmt"

	"bootstrap/remote"
	"bootstrap/workspace"
)

// A host of the workspace after its bootstrap: what push, generations,
// rollback, secrets push and clone act on.

// NotReadyError is a workspace host that cannot be acted on: the workspace
// does not have it, or its bootstrap has not got far enough. Nothing was
// contacted.
type NotReadyError struct {
	Name   string
	Reason string // the whole message
}

func (e *NotReadyError) Error() string { return e.Reason }

// LoadHost loads the record of a host the workspace bootstrapped at least
// through step (StepReboot: it runs NixOS and the deploy key logs in;
// StepCapture: all the way, its files are in the workspace). Anything else
// is a *NotReadyError.
func LoadHost(ws *workspace.Workspace, name, step string) (*Record, error) {
	if err := workspace.ValidName(name); err != nil {
		return nil, &NotReadyError{Name: name, Reason: err.Error()}
	}
	rec, ok, err := LoadRecord(ws, name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &NotReadyError{Name: name, Reason: fmt.Sprintf("no host %s in workspace %s (no %s): bootstrap it first", name, ws.Dir, ws.Rel(ws.HostFile(name, "state.json")))}
	}
	if !rec.Done(step) || rec.Address == "" {
		return nil, &NotReadyError{Name: name, Reason: fmt.Sprintf("%s has not finished bootstrapping (%s): run its bootstrap again to resume", name, rec.Where())}
	}
	return rec, nil
}

// Where says where a host stands: ready, or the last step and how it ended.
func (r *Record) Where() string {
	if r.Complete() {
		return "ready"
	}
	step, sr := r.Last()
	if sr == nil {
		return "new"
	}
	switch sr.Status {
	case StatusRunning:
		return step + " interrupted"
	case StatusFailed:
		return step + " failed"
	}
	return step + " " + sr.Status
}

// DialHost connects to a host the workspace bootstrapped: root, the deploy
// key alone, and the host key pinned in the workspace's known_hosts alone.
// It gives up after DefaultConnectTimeout: the host should be up.
func DialHost(ctx context.Context, ws *workspace.Workspace, rec *Record) (*remote.Client, error) {
	deploy, err := ws.LoadKey(rec.DeployKeyName())
	if err != nil {
		return nil, err
	}
	return DialHostWith(ctx, ws, rec, deploy)
}

// DialHostWith is DialHost offering the given deploy keys, in order (a key
// rotation offers the old key and the new one).
func DialHostWith(ctx context.Context, ws *workspace.Workspace, rec *Record, keys ...*workspace.DeployKey) (*remote.Client, error) {
	var offered []remote.Key
	for _, k := range keys {
		offered = append(offered, remote.Key{Name: ws.Rel(k.Path), Signer: k.Signer})
	}
	port := rec.Port
	if port == 0 {
		port = 22
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultConnectTimeout)
	defer cancel()
	return remote.Dial(ctx, remote.Config{
		Host:     rec.Address,
		Port:     port,
		User:     "root",
		Keys:     offered,
		HostKeys: &remote.HostKeys{KnownHosts: ws.KnownHosts()},
	})
}

// DeployKey loads the deploy key of host name, generating it for a new
// host: the one its record names, else its own (keys/NAME_ed25519), or the
// workspace's shared one when shared. A host recorded before per-host keys
// keeps the shared one. A recorded host whose key is missing is an error:
// that key alone logs in to it.
func DeployKey(ws *workspace.Workspace, name string, shared bool) (*workspace.DeployKey, error) {
	rec, ok, err := LoadRecord(ws, name)
	if err != nil {
		return nil, err
	}
	rel := deployKeyName(name, rec, ok, shared)
	if ok && rec.Done(StepConnect) {
		k, err := ws.LoadKey(rel)
		if err != nil {
			return nil, fmt.Errorf("%s logs in with %s only: %w", name, rel, err)
		}
		return k, nil
	}
	return ws.EnsureKey(rel)
}

// deployKeyName is the deploy key (relative to the workspace) of host name:
// the one its record names when it has one (recorded), else the shared one
// when shared, else its own.
func deployKeyName(name string, rec *Record, recorded, shared bool) string {
	switch {
	case recorded:
		return rec.DeployKeyName()
	case shared:
		return workspace.SharedKey
	}
	return workspace.HostKeyName(name)
}

// HostKeyFile is the file in the host's directory that holds the host key
// generated for a cloud machine until the first connection pinned it.
const HostKeyFile = "ssh_host_ed25519_key"

// Forget drops a host's record and pinned key (after its machine was
// destroyed: the address may be reused); its .nix files and log stay.
func Forget(ws *workspace.Workspace, rec *Record) error {
	if rec.Address != "" {
		if err := ws.ForgetHost(rec.Address, rec.Port); err != nil {
			return err
		}
	}
	for _, f := range []string{"state.json", HostKeyFile} {
		if err := ws.RemoveHostFile(rec.Name, f); err != nil {
			return err
		}
	}
	return nil
}
