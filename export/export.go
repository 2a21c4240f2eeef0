// Package export hands a workspace over to a deployment engine, for when a
// fleet outgrows one laptop: colmena's hive.nix, or a flake with
// nixosConfigurations.NAME (nixos-rebuild --flake, deploy-rs, CI) and the
// same hosts for colmena. Both use the workspace's files as they are
// (hosts/NAME/configuration.nix and what it imports), one pinned nixpkgs
// per revision in use (each host's, as bootstrap last recorded it), each
// host's address and port from its record, and the workspace's deploy key
// and known_hosts through an OpenSSH configuration written beside them
// (ssh_config). Everything is written at the workspace's root, next to
// hosts/, and refers to it by relative paths.
//
// It reads the hosts' records (package bootstrap) and the workspace; it
// imports no provider, deploy or cmd.
package export

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"bootstrap/bootstrap"
	"bootstrap/channel"
	"bootstrap/workspace"
)

// Format is what to write.
type Format string

const (
	Colmena Format = "colmena" // hive.nix
	Flake   Format = "flake"   // flake.nix
)

// File is what a format writes at the workspace's root.
func (f Format) File() string {
	if f == Flake {
		return "flake.nix"
	}
	return "hive.nix"
}

// SSHConfig is the OpenSSH configuration written beside the exported file.
const SSHConfig = "ssh_config"

// Host is one host as the exported files deploy it.
type Host struct {
	Name    string
	Address string
	Port    int
	System  string // e.g. x86_64-linux
	// Revision is the nixpkgs revision of the system the host runs (from
	// its next boot on, after push --boot); Release the release it is, ""
	// when not known; Channel the channel that release belongs to.
	Revision string
	Release  string
	Channel  channel.Channel
	// Key is the host's deploy key, relative to the workspace (keys/NAME_ed25519,
	// or the shared keys/deploy_ed25519).
	Key string
}

// User is the user the engines log in as: root, with the deploy key, as
// bootstrap does after the reboot (the record's first login may be a sudo
// user of the old system).
const User = "root"

// NoRevisionError is a host the workspace bootstrapped with no nixpkgs
// revision recorded (bootstrapped before revisions were recorded): its
// export would not be pinned. Nothing was written.
type NoRevisionError struct{ Hosts []string }

func (e *NoRevisionError) Error() string {
	return fmt.Sprintf("no nixpkgs revision is recorded for %s: the export would not pin it", strings.Join(e.Hosts, ", "))
}

// Hint says what to do next.
func (e *NoRevisionError) Hint() string {
	return fmt.Sprintf("bootstrap push %s records it (a push with nothing to change only reads it)", strings.Join(e.Hosts, " "))
}

// ForeignFileError is a file at the export's path that bootstrap did not
// write: it is not replaced.
type ForeignFileError struct{ Path string }

func (e *ForeignFileError) Error() string {
	return fmt.Sprintf("%s exists and was not written by bootstrap export: not replacing it", e.Path)
}

// Hint says what to do next.
func (e *ForeignFileError) Hint() string {
	return "move it away, or pass --force to replace it"
}

// LoadHosts reads the hosts the workspace bootstrapped, by name. A host
// that has not finished is passed to skipped (nil: ignored); a finished one
// without a recorded revision is a *NoRevisionError.
func LoadHosts(ws *workspace.Workspace, skipped func(name string, why error)) ([]Host, error) {
	names, err := ws.Hosts()
	if err != nil {
		return nil, err
	}
	var hosts []Host
	var unpinned []string
	for _, n := range names {
		rec, err := bootstrap.LoadHost(ws, n, bootstrap.StepCapture)
		var notReady *bootstrap.NotReadyError
		switch {
		case errors.As(err, &notReady):
			if skipped != nil {
				skipped(n, err)
			}
			continue
		case err != nil:
			return nil, err
		}
		if _, err := os.Stat(ws.HostFile(n, "configuration.nix")); err != nil {
			return nil, &bootstrap.NotReadyError{Name: n, Reason: fmt.Sprintf("%s has no configuration.nix: nothing to export (bootstrap copies the host's files there)", ws.Rel(ws.HostDir(n)))}
		}
		h, ok := hostOf(rec)
		if !ok {
			unpinned = append(unpinned, n)
			continue
		}
		hosts = append(hosts, h)
	}
	if len(unpinned) > 0 {
		return nil, &NoRevisionError{Hosts: unpinned}
	}
	if len(hosts) == 0 {
		return nil, &bootstrap.NotReadyError{Reason: fmt.Sprintf("no bootstrapped host in workspace %s: nothing to export", ws.Dir)}
	}
	return hosts, nil
}

// hostOf is the export's view of a record; ok is false without a revision.
func hostOf(rec *bootstrap.Record) (Host, bool) {
	h := Host{Name: rec.Name, Address: rec.Address, Port: cmp.Or(rec.Port, 22), System: cmp.Or(rec.Arch, "x86_64") + "-linux", Key: rec.DeployKeyName()}
	n := rec.Nixpkgs
	if n == nil || n.NextRevision() == "" {
		return h, false
	}
	h.Revision, h.Release = n.Revision, n.Release
	if n.BootRevision != "" {
		h.Revision, h.Release = n.BootRevision, n.BootRelease
	}
	// The release's channel: the one root follows, else the record's.
	if sub, err := channel.ParseSubscription(n.Subscription); err == nil {
		h.Channel = sub.Channel
	} else if c, err := channel.Parse(rec.Channel); err == nil {
		h.Channel = c
	}
	if h.Release != "" && (h.Channel == channel.Channel{} || h.Channel.ReleaseOf(h.Release, h.Revision) != nil) {
		h.Release = ""
	}
	return h, true
}

// Result is what Write wrote.
type Result struct {
	Files    []string // relative to the workspace
	Hosts    []Host
	Revision int // how many pinned nixpkgs
}

// Write writes format's file and ssh_config for hosts at the workspace's
// root. A file there that bootstrap did not write is a *ForeignFileError
// unless force.
func Write(ws *workspace.Workspace, format Format, hosts []Host, force bool) (*Result, error) {
	var main []byte
	switch format {
	case Colmena:
		main = Hive(hosts)
	case Flake:
		main = FlakeNix(hosts)
	default:
		return nil, fmt.Errorf("unknown export format %q: want colmena or flake", format)
	}
	files := []struct {
		name string
		data []byte
	}{{format.File(), main}, {SSHConfig, SSHConfigFile(ws, hosts)}}
	for _, f := range files {
		if err := checkOurs(filepath.Join(ws.Dir, f.name), force); err != nil {
			return nil, err
		}
	}
	res := &Result{Hosts: hosts, Revision: len(pins(hosts))}
	for _, f := range files {
		if err := workspace.WriteFileAtomic(filepath.Join(ws.Dir, f.name), f.data, 0o644); err != nil {
			return res, fmt.Errorf("write %s: %w", f.name, err)
		}
		res.Files = append(res.Files, f.name)
	}
	return res, nil
}

// marker starts every file export writes.
const marker = "# Written by bootstrap export"

// checkOurs refuses to replace a file bootstrap export did not write.
func checkOurs(path string, force bool) error {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist), force:
		return nil
	case err != nil:
		return err
	case !bytes.HasPrefix(data, []byte(marker)):
		return &ForeignFileError{Path: filepath.Base(path)}
	}
	return nil
}

// pin is one nixpkgs revision in use, and the hosts on it.
type pin struct {
	Revision, Release string
	Channel           channel.Channel
	Hosts             []string
}

// pins groups hosts by revision, the most used first (then by revision).
func pins(hosts []Host) []*pin {
	byRev := map[string]*pin{}
	var out []*pin
	for _, h := range hosts {
		p, ok := byRev[h.Revision]
		if !ok {
			p = &pin{Revision: h.Revision}
			byRev[h.Revision] = p
			out = append(out, p)
		}
		if p.Release == "" && h.Release != "" {
			p.Release, p.Channel = h.Release, h.Channel
		}
		p.Hosts = append(p.Hosts, h.Name)
	}
	slices.SortStableFunc(out, func(a, b *pin) int {
		return cmp.Or(cmp.Compare(len(b.Hosts), len(a.Hosts)), cmp.Compare(a.Revision, b.Revision))
	})
	return out
}

// binding is the Nix name of a pinned nixpkgs.
func (p *pin) binding() string { return "nixpkgs-" + bootstrap.ShortRevision(p.Revision) }

// label says which release and hosts a pin is, for a comment.
func (p *pin) label() string {
	what := "nixpkgs " + p.Revision
	if p.Release != "" {
		what = p.Release + " (" + p.Revision + ")"
	}
	return what + ": " + strings.Join(p.Hosts, ", ")
}

// pinOf finds the pin of a host.
func pinOf(ps []*pin, h Host) *pin {
	for _, p := range ps {
		if p.Revision == h.Revision {
			return p
		}
	}
	return nil
}
