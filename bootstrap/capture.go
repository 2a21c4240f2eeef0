package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"bootstrap/templates"
)

// captureStep saves the machine's hardware configuration, verbatim, into the
// workspace and onto the host, then copies the host's final /etc/nixos/*.nix
// back, so the workspace and the host hold the same configuration.
type captureStep struct{}

func (captureStep) Name() string { return StepCapture }

func (captureStep) Run(ctx context.Context, s *State) error {
	if s.alreadyNixOS {
		if err := verifyNixOS(ctx, s); err != nil {
			var ve *VerifyError
			if !errors.As(err, &ve) {
				return err
			}
			fmt.Fprintf(s.Log, "note: %v\n", err)
		}
	}
	fmt.Fprintf(s.Log, "$ nixos-generate-config --show-hardware-config\n")
	var hw strings.Builder
	if err := s.client.Run(ctx, "nixos-generate-config --show-hardware-config", &hw, s.Log); err != nil {
		return fmt.Errorf("capture hardware configuration of %s: %w", s.Rec.Address, err)
	}
	if strings.TrimSpace(hw.String()) == "" {
		return fmt.Errorf("capture hardware configuration of %s: nixos-generate-config printed nothing", s.Rec.Address)
	}
	hwData := []byte(hw.String())
	if err := s.WS.WriteHostFile(s.Rec.Name, "hardware-configuration.nix", hwData, 0o644); err != nil {
		return err
	}
	if !s.alreadyNixOS {
		if err := s.client.WriteFile(ctx, NixOSDir+"/hardware-configuration.nix", hwData, 0o644); err != nil {
			return fmt.Errorf("upload hardware-configuration.nix to %s: %w", s.Rec.Address, err)
		}
	}
	out, err := s.run(ctx, "find "+NixOSDir+" -maxdepth 1 -type f -name '*.nix'")
	if err != nil {
		return fmt.Errorf("list %s on %s: %w", NixOSDir, s.Rec.Address, err)
	}
	var names []string
	for _, p := range strings.Fields(out) {
		data, err := s.client.ReadFile(ctx, p)
		if err != nil {
			return fmt.Errorf("copy %s from %s: %w", p, s.Rec.Address, err)
		}
		name := path.Base(p)
		if !strings.HasSuffix(name, ".nix") || strings.HasPrefix(name, ".") {
			continue // find printed something else; keep to plain *.nix names
		}
		if err := s.WS.WriteHostFile(s.Rec.Name, name, data, 0o644); err != nil {
			return err
		}
		names = append(names, name)
	}
	sort.Strings(names)
	// Now that NixOS runs, the owners named in secrets.yaml exist.
	if !s.secrets.Empty() && !s.alreadyNixOS {
		if _, err := s.secrets.Push(ctx, s.client, false); err != nil {
			return fmt.Errorf("set owners of secrets on %s: %w", s.Rec.Address, err)
		}
	}
	s.Note("hardware-configuration.nix; copied back %s", strings.Join(names, ", "))
	if s.alreadyNixOS {
		s.Note("hardware-configuration.nix; copied back %s (host was NixOS before: the deploy key is not declared there)", strings.Join(names, ", "))
	}
	return nil
}

func templatesMarker() string { return templates.Marker }
