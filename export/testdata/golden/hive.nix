# Written by bootstrap export colmena from this workspace: each host's
# hosts/NAME/configuration.nix, the nixpkgs revision bootstrap last recorded for it, and
# its address. The same command writes it again; change the hosts' files instead.
#
# Deploy from this directory, with the workspace's deploy key and known_hosts:
#   SSH_CONFIG_FILE=ssh_config colmena apply
let
  # One pinned nixpkgs per revision in use.
  # nixos-24.11.719.abc1234 (abc1234def5678abc1234def5678abc1234def56): web-1, web-1-staging
  nixpkgs-abc1234def56 = builtins.fetchTarball {
    url = "https://releases.nixos.org/nixos/24.11/nixos-24.11.719.abc1234/nixexprs.tar.xz";
  };
  # nixpkgs 0123456789abcdef0123456789abcdef01234567: 7cache
  nixpkgs-0123456789ab = builtins.fetchTarball {
    url = "https://github.com/NixOS/nixpkgs/archive/0123456789abcdef0123456789abcdef01234567.tar.gz";
  };
  # nixos-25.05pre712345.fed9876 (fed9876cba5432fed9876cba5432fed9876cba54): db-1
  nixpkgs-fed9876cba54 = builtins.fetchTarball {
    url = "https://releases.nixos.org/nixos/unstable/nixos-25.05pre712345.fed9876/nixexprs.tar.xz";
  };
in
{
  meta = {
    nixpkgs = import nixpkgs-abc1234def56 { system = "x86_64-linux"; overlays = [ ]; };
    nodeNixpkgs = {
      "7cache" = import nixpkgs-0123456789ab { system = "x86_64-linux"; overlays = [ ]; };
      db-1 = import nixpkgs-fed9876cba54 { system = "aarch64-linux"; overlays = [ ]; };
      web-1 = import nixpkgs-abc1234def56 { system = "x86_64-linux"; overlays = [ ]; };
      web-1-staging = import nixpkgs-abc1234def56 { system = "x86_64-linux"; overlays = [ ]; };
    };
  };

  "7cache" = { ... }: {
    imports = [ ./hosts/7cache/configuration.nix ];
    deployment.targetHost = "198.51.100.4";
    deployment.targetPort = 22;
    deployment.targetUser = "root";
    # Build on the host, with its own Nix, as bootstrap push does.
    deployment.buildOnTarget = true;
  };

  db-1 = { ... }: {
    imports = [ ./hosts/db-1/configuration.nix ];
    deployment.targetHost = "2001:db8::5";
    deployment.targetPort = 22;
    deployment.targetUser = "root";
    # Build on the host, with its own Nix, as bootstrap push does.
    deployment.buildOnTarget = true;
  };

  web-1 = { ... }: {
    imports = [ ./hosts/web-1/configuration.nix ];
    deployment.targetHost = "203.0.113.7";
    deployment.targetPort = 22;
    deployment.targetUser = "root";
    # Build on the host, with its own Nix, as bootstrap push does.
    deployment.buildOnTarget = true;
  };

  web-1-staging = { ... }: {
    imports = [ ./hosts/web-1-staging/configuration.nix ];
    deployment.targetHost = "203.0.113.9";
    deployment.targetPort = 2222;
    deployment.targetUser = "root";
    # Build on the host, with its own Nix, as bootstrap push does.
    deployment.buildOnTarget = true;
  };
}
