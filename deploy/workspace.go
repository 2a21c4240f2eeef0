package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"

	"bootstrap/bootstrap"
	"bootstrap/channel"
	"bootstrap/secrets"
	"bootstrap/workspace"
)

// Request is a push of hosts of a workspace.
type Request struct {
	Names []string // the hosts; none with All
	All   bool     // every host the workspace bootstrapped
	Options
	Parallel int // at most this many hosts at once
	// Identities loads what decrypts the hosts' secrets: called once, and
	// only when a host has secrets (never with DryActivate). Its error is
	// returned as it is.
	Identities func() ([]age.Identity, error)
	// Skipped hears of each host All passes over (not bootstrapped); nil: none.
	Skipped func(name string, why error)
	// Verbose, when set, gets each remote command as it is run.
	Verbose io.Writer
}

// PushHosts pushes hosts of ws: it loads each (a host that is not
// bootstrapped is a *bootstrap.NotReadyError, or skipped with All), reads
// its hosts/NAME/*.nix, decrypts every host's secrets before contacting any
// (all or nothing), then pushes them, r.Parallel at a time, each with its
// output appended to hosts/NAME/bootstrap.log. The outcomes are in the
// hosts' order.
func PushHosts(ctx context.Context, ws *workspace.Workspace, r Request) ([]Outcome, error) {
	recs, err := pushHosts(ws, r)
	if err != nil {
		return nil, err
	}
	targets := make([]Target, len(recs))
	for i, rec := range recs {
		files, err := localFiles(ws, rec.Name)
		if err != nil {
			return nil, err
		}
		targets[i] = Target{Name: rec.Name, Files: files, Dial: Dial(ws, rec)}
		targets[i].Channel, _ = channel.Parse(rec.Channel) // zero when unreadable: the subscription is left as it is
	}
	if r.Action != DryActivate {
		err := decryptSecrets(ws, targets, r.Identities)
		for _, t := range targets {
			defer t.Secrets.Wipe()
		}
		if err != nil {
			return nil, err
		}
	}
	for i := range targets {
		f, err := openLog(ws, targets[i].Name, "push "+targets[i].Name+" ("+string(r.Action)+")")
		if err != nil {
			return nil, err
		}
		defer f.Close()
		targets[i].Log = echoCommands(f, r.Verbose, targets[i].Name)
	}
	outcomes := PushAll(ctx, targets, r.Options, r.Parallel)
	for i, oc := range outcomes {
		if oc.Result != nil && oc.Result.Nixpkgs != nil {
			if err := recordNixpkgs(ws, recs[i], oc.Result.Nixpkgs); err != nil && oc.Err == nil {
				outcomes[i].Err = err
			}
		}
	}
	return outcomes, nil
}

// recordNixpkgs saves what the host runs now into its record.
func recordNixpkgs(ws *workspace.Workspace, rec *bootstrap.Record, n *bootstrap.Nixpkgs) error {
	rec.Nixpkgs = n
	return bootstrap.SaveRecord(ws, rec)
}

// pushHosts loads the records of the hosts to push.
func pushHosts(ws *workspace.Workspace, r Request) ([]*bootstrap.Record, error) {
	var recs []*bootstrap.Record
	if r.All {
		names, err := ws.Hosts()
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			rec, err := bootstrap.LoadHost(ws, n, bootstrap.StepCapture)
			var notReady *bootstrap.NotReadyError
			if errors.As(err, &notReady) {
				if r.Skipped != nil {
					r.Skipped(n, err)
				}
				continue
			}
			if err != nil {
				return nil, err
			}
			recs = append(recs, rec)
		}
		if len(recs) == 0 {
			return nil, &bootstrap.NotReadyError{Reason: fmt.Sprintf("no bootstrapped host in workspace %s", ws.Dir)}
		}
		return recs, nil
	}
	seen := map[string]bool{}
	for _, n := range r.Names {
		if seen[n] {
			continue
		}
		seen[n] = true
		rec, err := bootstrap.LoadHost(ws, n, bootstrap.StepCapture)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// localFiles reads hosts/NAME/*.nix (regular files at the top level).
func localFiles(ws *workspace.Workspace, name string) (map[string][]byte, error) {
	paths, err := filepath.Glob(filepath.Join(ws.HostDir(name), "*.nix"))
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", ws.Rel(p), err)
		}
		files[filepath.Base(p)] = data
	}
	if _, ok := files["configuration.nix"]; !ok {
		return nil, &bootstrap.NotReadyError{Name: name, Reason: fmt.Sprintf("%s has no configuration.nix: nothing to push (bootstrap copies the host's files there)", ws.Rel(ws.HostDir(name)))}
	}
	return files, nil
}

// decryptSecrets decrypts every target's secrets into it. What it
// decrypted stays in the targets, for wiping, even on error.
func decryptSecrets(ws *workspace.Workspace, targets []Target, identities func() ([]age.Identity, error)) error {
	store := secrets.Store{WorkspaceDir: ws.Dir}
	var ids []age.Identity
	once := func() ([]age.Identity, error) {
		if ids != nil {
			return ids, nil
		}
		var err error
		ids, err = identities()
		return ids, err
	}
	for i, t := range targets {
		d, err := store.Decrypt(t.Name, once)
		var de *secrets.DecryptError
		switch {
		case errors.As(err, &de):
			return fmt.Errorf("nothing pushed: %w", err)
		case err != nil:
			return err
		}
		targets[i].Secrets = d
	}
	return nil
}

// Dial connects to a bootstrapped host with the deploy key and its pinned
// host key.
func Dial(ws *workspace.Workspace, rec *bootstrap.Record) Dialer {
	return func(ctx context.Context) (Remote, error) {
		c, err := bootstrap.DialHost(ctx, ws, rec)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}

// openLog appends to hosts/NAME/bootstrap.log (0600) after a header line.
func openLog(ws *workspace.Workspace, name, what string) (*os.File, error) {
	f, err := ws.OpenLog(name)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "\n#### bootstrap %s at %s\n", what, time.Now().UTC().Format(time.RFC3339))
	return f, nil
}

// Generations lists the system generations of a bootstrapped host.
func Generations(ctx context.Context, ws *workspace.Workspace, name string) ([]Generation, error) {
	rec, err := bootstrap.LoadHost(ws, name, bootstrap.StepCapture)
	if err != nil {
		return nil, err
	}
	c, err := bootstrap.DialHost(ctx, ws, rec)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	gens, err := ListGenerations(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return gens, nil
}

// echoCommands is log, also copying to verbose (when set) each command
// line ("$ ...", which the log gets in one write), named after the host.
func echoCommands(log io.Writer, verbose io.Writer, host string) io.Writer {
	if verbose == nil {
		return log
	}
	return writerFunc(func(p []byte) (int, error) {
		if bytes.HasPrefix(p, []byte("$ ")) {
			fmt.Fprintf(verbose, "%s: %s", host, p)
		}
		return log.Write(p)
	})
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// RollbackHost rolls a bootstrapped host back (see Rollback), with the
// output in hosts/NAME/bootstrap.log.
func RollbackHost(ctx context.Context, ws *workspace.Workspace, name string, gen int, o RollbackOptions) (*RollbackResult, error) {
	rec, err := bootstrap.LoadHost(ws, name, bootstrap.StepCapture)
	if err != nil {
		return &RollbackResult{Host: name}, err
	}
	f, err := openLog(ws, name, "rollback "+name)
	if err != nil {
		return &RollbackResult{Host: name}, err
	}
	defer f.Close()
	res, err := Rollback(ctx, Target{Name: name, Dial: Dial(ws, rec), Log: echoCommands(f, o.Verbose, name)}, gen, o)
	if res.Nixpkgs != nil {
		if serr := recordNixpkgs(ws, rec, res.Nixpkgs); serr != nil && err == nil {
			err = serr
		}
	}
	return res, err
}

// RotateKey gives a bootstrapped host a new deploy key of its own
// (keys/NAME_ed25519; a host on the shared key moves to its own), as
// Rotate does: declared beside the old one, checked, the old one taken out
// and checked refused. The new key waits in keys/NAME_ed25519.next until
// then and replaces the host's key file at the end; the record names it. A
// rotation stopped half way is run again: every key it may have left the
// host on is offered.
func RotateKey(ctx context.Context, ws *workspace.Workspace, name string, o Options) error {
	rec, err := bootstrap.LoadHost(ws, name, bootstrap.StepCapture)
	if err != nil {
		return err
	}
	old, err := ws.LoadKey(rec.DeployKeyName())
	if err != nil {
		return err
	}
	own := workspace.HostKeyName(name)
	nextName := own + ".next"
	next, err := ws.EnsureKey(nextName)
	if err != nil {
		return err
	}
	offered := []*workspace.DeployKey{old}
	if own != rec.DeployKeyName() {
		if k, err := ws.LoadKey(own); err == nil {
			offered = append(offered, k) // a rotation that stopped after replacing the key file
		}
	}
	byLine := map[string]*workspace.DeployKey{old.AuthorizedKey: old, next.AuthorizedKey: next}
	files, err := localFiles(ws, name)
	if err != nil {
		return err
	}
	f, err := openLog(ws, name, "rotate-key "+name)
	if err != nil {
		return err
	}
	defer f.Close()
	r := Rotation{
		Name: name, Files: files, Old: old.AuthorizedKey, New: next.AuthorizedKey, Log: f,
		DialWith: func(lines ...string) Dialer {
			var keys []*workspace.DeployKey
			for _, l := range lines {
				keys = append(keys, byLine[l])
				if l == old.AuthorizedKey {
					keys = append(keys, offered[1:]...)
				}
			}
			return func(ctx context.Context) (Remote, error) {
				c, err := bootstrap.DialHostWith(ctx, ws, rec, keys...)
				if err != nil {
					return nil, err
				}
				return c, nil
			}
		},
		Save: func(nix []byte) error { return ws.WriteHostFile(name, "bootstrap.nix", nix, 0o644) },
	}
	if err := Rotate(ctx, r, o); err != nil {
		return err
	}
	if err := ws.ReplaceKey(nextName, own); err != nil {
		return err
	}
	rec.DeployKey = own
	return bootstrap.SaveRecord(ws, rec)
}
