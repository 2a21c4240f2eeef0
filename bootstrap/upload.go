package bootstrap

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"bootstrap/network"
	"bootstrap/templates"
)

// NixOSDir is where the configuration lives on the host, before and after
// the infect (nixos-infect keeps it through NIXOS_LUSTRATE).
const NixOSDir = "/etc/nixos"

// uploadStep renders configuration.nix and bootstrap.nix for this host and
// channel, writes them with host.nix into the workspace, then uploads the
// same bytes to /etc/nixos. configuration.nix goes last: once it exists,
// nixos-infect writes no configuration of its own.
type uploadStep struct{}

func (uploadStep) Name() string { return StepUpload }

// redo uploads again after a failed infect: the operator fixed host.nix.
// Not after an interrupted one, which may still be running on these files.
func (uploadStep) redo(s *State) bool {
	sr, ok := s.Rec.Steps[StepInfect]
	return ok && sr.Status == StatusFailed && !s.alreadyNixOS
}

func (uploadStep) Run(ctx context.Context, s *State) error {
	files, notes, err := renderFiles(s)
	if err != nil {
		return err
	}
	carried := 0
	for _, n := range notes {
		what := "dropped"
		if n.Carried {
			what, carried = "carried", carried+1
		}
		line := fmt.Sprintf("  %-9s  %-8s  %s", "keys", what, n)
		fmt.Fprintln(s.Log, strings.TrimSpace(line))
		if s.Opts.Stdout != nil {
			fmt.Fprintln(s.Opts.Stdout, line)
		}
	}
	for _, f := range files {
		if err := s.WS.WriteHostFile(s.Rec.Name, filepath.FromSlash(f.name), f.data, 0o644); err != nil {
			return err
		}
	}
	var names []string
	for _, f := range files {
		path := NixOSDir + "/" + f.name
		fmt.Fprintf(s.Log, "upload %s (%d bytes)\n", path, len(f.data))
		if err := s.client.WriteFile(ctx, path, f.data, 0o644); err != nil {
			return fmt.Errorf("upload %s to %s: %w", f.name, s.Rec.Address, err)
		}
		names = append(names, f.name)
	}
	s.Note("%s to %s; root's keys: the deploy key and %d carried over, %d dropped", strings.Join(names, ", "), NixOSDir, carried, len(notes)-carried)
	return nil
}

type file struct {
	name string
	data []byte
}

// renderFiles produces the files in upload order, and says which of the
// host's keys became root's.
func renderFiles(s *State) ([]file, []KeyNote, error) {
	if s.Rec.Facts == nil {
		return nil, nil, fmt.Errorf("no host facts recorded: run preflight first")
	}
	var root, user []string
	if s.facts != nil {
		root, user = s.facts.AuthorizedKeys, s.facts.UserKeys
	}
	keys, notes := carryKeys(root, user, s.Deploy.AuthorizedKey, cmp.Or(s.Opts.KeepKeys, KeepAll), s.Opts.KeepKeysLines)
	cfg := templates.Config{
		Name:           s.Rec.Name,
		Channel:        s.Opts.Channel,
		DeployKey:      s.Deploy.AuthorizedKey,
		AuthorizedKeys: keys,
		Facts:          *s.Rec.Facts,
		AutoUpgrade:    s.Opts.AutoUpgrade,
		StateVersion:   s.Opts.StateVersion,
		Networking:     s.Rec.NetworkDecision != nil && s.Rec.NetworkDecision.Static,
	}
	boot, err := templates.BootstrapNix(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("render bootstrap.nix: %w", err)
	}
	conf, err := templates.ConfigurationNix(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("render configuration.nix: %w", err)
	}
	files := []file{{"host.nix", s.Opts.HostNix}}
	for _, name := range slices.Sorted(maps.Keys(s.Opts.ExtraFiles)) {
		if name == network.FileName && cfg.Networking {
			continue // this host's own, below
		}
		files = append(files, file{name, s.Opts.ExtraFiles[name]})
	}
	if cfg.Networking {
		nix, err := network.NetworkingNix(s.Rec.Network, s.Opts.Channel)
		if err != nil {
			return nil, nil, fmt.Errorf("render %s: %w", network.FileName, err)
		}
		files = append(files, file{network.FileName, nix})
	}
	return append(files, file{"bootstrap.nix", boot}, file{"configuration.nix", conf}), notes, nil
}
