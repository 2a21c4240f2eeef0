package bootstrap

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

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
	files, err := renderFiles(s)
	if err != nil {
		return err
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
	s.Note("%s to %s", strings.Join(names, ", "), NixOSDir)
	return nil
}

type file struct {
	name string
	data []byte
}

// renderFiles produces the three files in upload order.
func renderFiles(s *State) ([]file, error) {
	if s.Rec.Facts == nil {
		return nil, fmt.Errorf("no host facts recorded: run preflight first")
	}
	cfg := templates.Config{
		Name:           s.Rec.Name,
		Channel:        s.Opts.Channel,
		DeployKey:      s.Deploy.AuthorizedKey,
		AuthorizedKeys: cleanKeys(s.facts.authorizedKeys(), s.Deploy.AuthorizedKey),
		Facts:          *s.Rec.Facts,
		AutoUpgrade:    s.Opts.AutoUpgrade,
		StateVersion:   s.Opts.StateVersion,
		Networking:     s.Rec.NetworkDecision != nil && s.Rec.NetworkDecision.Static,
	}
	boot, err := templates.BootstrapNix(cfg)
	if err != nil {
		return nil, fmt.Errorf("render bootstrap.nix: %w", err)
	}
	conf, err := templates.ConfigurationNix(cfg)
	if err != nil {
		return nil, fmt.Errorf("render configuration.nix: %w", err)
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
			return nil, fmt.Errorf("render %s: %w", network.FileName, err)
		}
		files = append(files, file{network.FileName, nix})
	}
	return append(files, file{"bootstrap.nix", boot}, file{"configuration.nix", conf}), nil
}

func (f *facts) authorizedKeys() []string {
	if f == nil {
		return nil
	}
	return f.AuthorizedKeys
}

// cleanKeys keeps the valid public keys of authorized_keys lines as
// "type base64 comment" (options such as from= are dropped, as nixos-infect
// does), without duplicates and without the deploy key.
func cleanKeys(lines []string, deploy string) []string {
	seen := map[string]bool{}
	if pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(deploy)); err == nil {
		seen[string(pk.Marshal())] = true
	}
	var keys []string
	for _, l := range lines {
		pk, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(l))
		if err != nil || seen[string(pk.Marshal())] {
			continue
		}
		seen[string(pk.Marshal())] = true
		k := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
		if comment = strings.TrimSpace(comment); comment != "" {
			k += " " + comment
		}
		keys = append(keys, k)
	}
	return keys
}
