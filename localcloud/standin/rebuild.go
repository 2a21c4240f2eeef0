package standin

import _ "embed"

// The nixos-rebuild stand-in (the embedded file nixos-rebuild; its header documents the
// details) is one script acting as nixos-rebuild, nix-env and switch-to-configuration, with
// numbered generations of the system profile. The nixos-infect stand-in carries a verbatim copy
// and installs it (installRebuild), so a host bootstrapped with the stand-in can be pushed to,
// listed and rolled back. Markers in the configuration's top-level *.nix files steer it:
//
//	bootstrap-standin: rebuild-fail     the build fails; generations unchanged
//	bootstrap-standin: break-ssh        activation stops sshd (open sessions survive)
//	bootstrap-standin: activation-fail  activation fails after the profile was switched

//go:embed nixos-rebuild
var rebuildScript []byte

// Markers understood by the nixos-rebuild stand-in; put them (e.g. as Nix comments) into any
// top-level *.nix file of the configuration.
const (
	MarkerRebuildFail    = "# bootstrap-standin: rebuild-fail"
	MarkerBreakSSH       = "# bootstrap-standin: break-ssh"
	MarkerActivationFail = "# bootstrap-standin: activation-fail"
)

// RebuildScript returns a copy of the nixos-rebuild stand-in.
func RebuildScript() []byte { return append([]byte(nil), rebuildScript...) }
