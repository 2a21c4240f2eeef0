package infect

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"bootstrap/remote"
)

// LustrateFile is read by NixOS's stage-1 init on the first boot after the
// infect: lustrateRoot (nixos/modules/system/boot/stage-1-init.sh in nixpkgs)
// moves every top-level entry but /nix and /boot to /old-root, then copies
// back (cp -a) exactly the paths listed in it, one per line, relative to /.
const LustrateFile = "/etc/NIXOS_LUSTRATE"

// LustrateLines are the entries bootstrap adds before the infect; the pinned
// script appends its own (etc/nixos, etc/resolv.conf,
// root/.nix-defexpr/channels and the SSH host keys, l.412-416).
//
//   - var/lib/bootstrap: the secrets and this job's state (DefaultDir), so a
//     rerun after the reboot knows the infect finished.
//   - root/.nix-channels: root's channel subscription. The script keeps the
//     unpacked channel but not the subscription; NixOS activation then writes
//     the release's default channel into the missing file
//     (system.activationScripts.nix: "Subscribe the root user to the NixOS
//     channel by default"), which turns nixos-24.11-small into nixos-24.11.
var LustrateLines = []string{"var/lib/bootstrap", "root/.nix-channels"}

// ErrRunsNixOS is returned when the host already runs NixOS: nothing may
// infect it again nor write NIXOS_LUSTRATE on it, which the next boot would
// apply to a live NixOS root.
var ErrRunsNixOS = errors.New("the host already runs NixOS")

// runsNixOS is what the remote guards print instead of acting.
const runsNixOS = "runs-nixos"

// refuseNixOS is a shell fragment that stops a remote script on NixOS.
var refuseNixOS = refuseOn("/etc/os-release")

func refuseOn(osRelease string) string {
	q := remote.Quote(osRelease)
	return `if [ -r ` + q + ` ] && (. ` + q + ` && [ "$ID" = nixos ]); then echo ` + runsNixOS + `; exit 0; fi`
}

// EnsureLustrate adds LustrateLines to /etc/NIXOS_LUSTRATE, each unless the
// file already has it, after a missing final newline so no entry is glued to
// the previous one. It refuses (ErrRunsNixOS) on a host running NixOS.
func EnsureLustrate(ctx context.Context, r Remote) error {
	var out strings.Builder
	if err := r.Run(ctx, "sh -c "+remote.Quote(lustrateScript(LustrateFile, "/etc/os-release")), &out, nil); err != nil {
		return fmt.Errorf("add %s to %s: %w", strings.Join(LustrateLines, ", "), LustrateFile, err)
	}
	switch strings.TrimSpace(out.String()) {
	case "ok":
		return nil
	case runsNixOS:
		return fmt.Errorf("add entries to %s: %w", LustrateFile, ErrRunsNixOS)
	}
	return fmt.Errorf("add entries to %s: unexpected output %q", LustrateFile, out.String())
}

func lustrateScript(file, osRelease string) string {
	var b strings.Builder
	b.WriteString(refuseOn(osRelease) + "\nset -e\nf=" + remote.Quote(file) + "\n")
	for _, l := range LustrateLines {
		q := remote.Quote(l)
		fmt.Fprintf(&b, `grep -qxF -- %s "$f" 2>/dev/null || { if [ -s "$f" ] && [ -n "$(tail -c 1 -- "$f")" ]; then echo >> "$f"; fi; printf '%%s\n' %s >> "$f"; }`+"\n", q, q)
	}
	b.WriteString("echo ok\n")
	return b.String()
}
