package export

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"bootstrap/templates"
	"bootstrap/workspace"
)

// Hive is colmena's hive.nix for hosts: each pinned nixpkgs is the release
// tarball nixos.org keeps (its version files make nixos-version on the host
// say what it says now), or, for a host whose release is not known, the
// revision's source on GitHub.
func Hive(hosts []Host) []byte {
	ps := pins(hosts)
	var b strings.Builder
	b.WriteString(header(Colmena) + `let
  # One pinned nixpkgs per revision in use.
`)
	for _, p := range ps {
		fmt.Fprintf(&b, "  # %s\n  %s = builtins.fetchTarball {\n    url = %s;\n  };\n", p.label(), p.binding(), templates.NixString(p.tarball()))
	}
	b.WriteString("in\n")
	writeColmena(&b, "", hosts, ps, func(p *pin) string { return p.binding() })
	b.WriteString("\n")
	return []byte(b.String())
}

// FlakeNix is a flake.nix with nixosConfigurations.NAME for every host and
// the same hosts for colmena (its colmena output); each pinned nixpkgs is
// an input at the revision, which nixpkgs' flake records as
// system.nixos.revision.
func FlakeNix(hosts []Host) []byte {
	ps := pins(hosts)
	var b strings.Builder
	b.WriteString(header(Flake) + `{
  description = "NixOS hosts of a bootstrap workspace";

  # One pinned nixpkgs per revision in use.
  inputs = {
`)
	for _, p := range ps {
		fmt.Fprintf(&b, "    # %s\n    %s.url = %s;\n", p.label(), p.binding(), templates.NixString("github:NixOS/nixpkgs/"+p.Revision))
	}
	b.WriteString("  };\n\n  outputs = { self, ... }@inputs: {\n    nixosConfigurations = {\n")
	for _, h := range hosts {
		fmt.Fprintf(&b, "      %s = inputs.%s.lib.nixosSystem {\n        system = %s;\n        modules = [ %s ];\n      };\n",
			attr(h.Name), pinOf(ps, h).binding(), templates.NixString(h.System), configPath(h))
	}
	b.WriteString("    };\n\n    # The same hosts for colmena.\n    colmena = ")
	writeColmena(&b, "    ", hosts, ps, func(p *pin) string { return "inputs." + p.binding() })
	b.WriteString(";\n  };\n}\n")
	return []byte(b.String())
}

// ColmenaApply is the command that deploys the exported hosts with colmena,
// from the workspace.
const ColmenaApply = "SSH_CONFIG_FILE=" + SSHConfig + " colmena apply"

// RebuildFlake is the command that deploys host name of an exported flake
// with nixos-rebuild, from the workspace, building on the host.
func RebuildFlake(name string) string {
	return fmt.Sprintf(`NIX_SSHOPTS="-F %s" nixos-rebuild switch --flake .#%s --target-host %s@%s --build-host %s@%s`, SSHConfig, name, User, name, User, name)
}

// header is the comment that starts an exported file: what it is made of
// and the commands that deploy it.
func header(f Format) string {
	var b strings.Builder
	fmt.Fprintf(&b, `%s %s from this workspace: each host's
# hosts/NAME/configuration.nix, the nixpkgs revision bootstrap last recorded for it, and
# its address. The same command writes it again; change the hosts' files instead.
`, marker, f)
	if f == Flake {
		b.WriteString("# A flake in a git repository sees only the files git tracks: git add this file,\n# " + SSHConfig + " and hosts/ first.\n")
	}
	b.WriteString("#\n# Deploy from this directory, with the workspace's deploy key and known_hosts:\n")
	if f == Flake {
		b.WriteString("#   " + RebuildFlake("NAME") + "\n")
	}
	b.WriteString("#   " + ColmenaApply + "\n")
	return b.String()
}

// writeColmena writes a colmena hive's attribute set, each line after the
// first indented by in; source is the Nix expression of a pin's nixpkgs.
func writeColmena(b *strings.Builder, in string, hosts []Host, ps []*pin, source func(*pin) string) {
	pkgs := func(p *pin, system string) string {
		return fmt.Sprintf("import %s { system = %s; overlays = [ ]; }", source(p), templates.NixString(system))
	}
	fmt.Fprintf(b, "{\n%s  meta = {\n", in)
	// meta.nixpkgs gives colmena its lib: the most used pin, for its first host's system.
	first := hosts[slices.IndexFunc(hosts, func(h Host) bool { return h.Name == ps[0].Hosts[0] })]
	fmt.Fprintf(b, "%s    nixpkgs = %s;\n", in, pkgs(ps[0], first.System))
	fmt.Fprintf(b, "%s    nodeNixpkgs = {\n", in)
	for _, h := range hosts {
		fmt.Fprintf(b, "%s      %s = %s;\n", in, attr(h.Name), pkgs(pinOf(ps, h), h.System))
	}
	fmt.Fprintf(b, "%s    };\n%s  };\n", in, in)
	for _, h := range hosts {
		fmt.Fprintf(b, "\n%s  %s = { ... }: {\n", in, attr(h.Name))
		fmt.Fprintf(b, "%s    imports = [ %s ];\n", in, configPath(h))
		fmt.Fprintf(b, "%s    deployment.targetHost = %s;\n", in, templates.NixString(h.Address))
		fmt.Fprintf(b, "%s    deployment.targetPort = %d;\n", in, h.Port)
		fmt.Fprintf(b, "%s    deployment.targetUser = %s;\n", in, templates.NixString(User))
		fmt.Fprintf(b, "%s    # Build on the host, with its own Nix, as bootstrap push does.\n", in)
		fmt.Fprintf(b, "%s    deployment.buildOnTarget = true;\n", in)
		fmt.Fprintf(b, "%s  };\n", in)
	}
	fmt.Fprintf(b, "%s}", in)
}

// tarball is where a pinned nixpkgs is fetched from.
func (p *pin) tarball() string {
	if p.Release != "" {
		return p.Channel.ReleaseURL(p.Release) + "/nixexprs.tar.xz"
	}
	return "https://github.com/NixOS/nixpkgs/archive/" + p.Revision + ".tar.gz"
}

// configPath is the host's configuration.nix as a Nix path relative to the
// workspace's root (host names are DNS labels: no quoting needed).
func configPath(h Host) string { return "./hosts/" + h.Name + "/configuration.nix" }

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_'-]*$`)

// attr is name as a Nix attribute name: quoted unless an identifier.
func attr(name string) string {
	if identifier.MatchString(name) {
		return name
	}
	return templates.NixString(name)
}

// SSHConfigFile is an OpenSSH configuration that reaches each host by its
// name and its address with its own deploy key alone and its
// known_hosts, strictly, as bootstrap does. Its paths are relative to the
// workspace: run ssh from there.
func SSHConfigFile(ws *workspace.Workspace, hosts []Host) []byte {
	var b strings.Builder
	b.WriteString(marker + `: how colmena (SSH_CONFIG_FILE=ssh_config) and nixos-rebuild
# (NIX_SSHOPTS="-F ssh_config") reach the workspace's hosts, by name or address, with its
# deploy key and known_hosts, as bootstrap does. Paths are relative: run them from here.
`)
	for _, h := range hosts {
		fmt.Fprintf(&b, "\nHost %s %s\n  HostName %s\n  Port %d\n  User %s\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n",
			h.Name, h.Address, h.Address, h.Port, User, h.Key, ws.Rel(ws.KnownHosts()))
	}
	return []byte(b.String())
}
