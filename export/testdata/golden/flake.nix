# Written by bootstrap export flake from this workspace: each host's
# hosts/NAME/configuration.nix, the nixpkgs revision bootstrap last recorded for it, and
# its address. The same command writes it again; change the hosts' files instead.
# A flake in a git repository sees only the files git tracks: git add this file,
# ssh_config and hosts/ first.
#
# Deploy from this directory, with the workspace's deploy key and known_hosts:
#   NIX_SSHOPTS="-F ssh_config" nixos-rebuild switch --flake .#NAME --target-host root@NAME --build-host root@NAME
#   SSH_CONFIG_FILE=ssh_config colmena apply
{
  description = "NixOS hosts of a bootstrap workspace";

  # One pinned nixpkgs per revision in use.
  inputs = {
    # nixos-24.11.719.abc1234 (abc1234def5678abc1234def5678abc1234def56): web-1, web-1-staging
    nixpkgs-abc1234def56.url = "github:NixOS/nixpkgs/abc1234def5678abc1234def5678abc1234def56";
    # nixpkgs 0123456789abcdef0123456789abcdef01234567: 7cache
    nixpkgs-0123456789ab.url = "github:NixOS/nixpkgs/0123456789abcdef0123456789abcdef01234567";
    # nixos-25.05pre712345.fed9876 (fed9876cba5432fed9876cba5432fed9876cba54): db-1
    nixpkgs-fed9876cba54.url = "github:NixOS/nixpkgs/fed9876cba5432fed9876cba5432fed9876cba54";
  };

  outputs = { self, ... }@inputs: {
    nixosConfigurations = {
      "7cache" = inputs.nixpkgs-0123456789ab.lib.nixosSystem {
        system = "x86_64-linux";
        modules = [ ./hosts/7cache/configuration.nix ];
      };
      db-1 = inputs.nixpkgs-fed9876cba54.lib.nixosSystem {
        system = "aarch64-linux";
        modules = [ ./hosts/db-1/configuration.nix ];
      };
      web-1 = inputs.nixpkgs-abc1234def56.lib.nixosSystem {
        system = "x86_64-linux";
        modules = [ ./hosts/web-1/configuration.nix ];
      };
      web-1-staging = inputs.nixpkgs-abc1234def56.lib.nixosSystem {
        system = "x86_64-linux";
        modules = [ ./hosts/web-1-staging/configuration.nix ];
      };
    };

    # The same hosts for colmena.
    colmena = {
      meta = {
        nixpkgs = import inputs.nixpkgs-abc1234def56 { system = "x86_64-linux"; overlays = [ ]; };
        nodeNixpkgs = {
          "7cache" = import inputs.nixpkgs-0123456789ab { system = "x86_64-linux"; overlays = [ ]; };
          db-1 = import inputs.nixpkgs-fed9876cba54 { system = "aarch64-linux"; overlays = [ ]; };
          web-1 = import inputs.nixpkgs-abc1234def56 { system = "x86_64-linux"; overlays = [ ]; };
          web-1-staging = import inputs.nixpkgs-abc1234def56 { system = "x86_64-linux"; overlays = [ ]; };
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
    };
  };
}
