package bootstrap

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"filippo.io/age"

	"bootstrap/secrets"
)

// loadSecrets decrypts the host's secrets in memory, all or nothing, before
// anything is contacted: a secret that cannot be decrypted stops the run
// before any upload.
func loadSecrets(s *State) error {
	store := secrets.Store{WorkspaceDir: s.WS.Dir}
	d, err := store.Decrypt(s.Rec.Name, func() ([]age.Identity, error) {
		ids, err := secrets.LoadIdentities(s.Opts.SecretIdentities)
		if err != nil {
			return nil, fmt.Errorf("secrets of %s: %w", s.Rec.Name, err)
		}
		return ids, nil
	})
	if err != nil {
		return err
	}
	s.secrets = d
	return nil
}

// secretsStep writes the decrypted secrets to /var/lib/bootstrap/secrets
// (root-only until the owners of secrets.yaml exist on NixOS); the infect
// step lists /var/lib/bootstrap in /etc/NIXOS_LUSTRATE so they survive the
// switch. They are files on disk, never Nix paths, so they never reach the
// world-readable store, and they survive every later reboot.
type secretsStep struct{}

func (secretsStep) Name() string { return StepSecrets }

// redo pushes again whenever the infect has not finished: it is cheap,
// and a rotated secret must not be lost.
func (secretsStep) redo(s *State) bool { return !s.Rec.Done(StepInfect) && !s.alreadyNixOS }

func (secretsStep) Run(ctx context.Context, s *State) error {
	if s.alreadyNixOS {
		return pushSecrets(ctx, s, s.secrets)
	}
	if s.secrets.Empty() {
		s.Note("none")
		return nil
	}
	// Root's alone until the owners of secrets.yaml exist on NixOS.
	return pushSecrets(ctx, s, &secrets.Decrypted{Host: s.secrets.Host, Values: s.secrets.Values})
}

// pushSecrets uploads the decrypted secrets d (without Meta: root 0400).
func pushSecrets(ctx context.Context, s *State, d *secrets.Decrypted) error {
	if d.Empty() {
		s.Note("none")
		return nil
	}
	res, err := d.Push(ctx, s.client, false)
	if err != nil {
		return fmt.Errorf("push secrets to %s: %w", s.Rec.Address, err)
	}
	names := append([]string(nil), res.Written...)
	sort.Strings(names)
	s.Note("%d to %s: %s", len(names), secrets.Dir, strings.Join(names, ", "))
	return nil
}
