# The few option declarations of NixOS that the evaluation needs, as modules
# that come before the configuration's (like NixOS's baseModules):
#
#   - defaults, used when nothing defines the option (mkOptionDefault, as in
#     NixOS), each as the nixpkgs file named by _file declares it;
#   - attrsOf (submodule) types, whose elements NixOS merges with their own
#     priorities: `fileSystems."/" = mkForce { ... }` replaces the other
#     definitions of "/" as a whole, where an undeclared attribute set is
#     merged attribute by attribute.
#
# _file names the nixpkgs file, so that errors point where NixOS would.
{ lib, pkgs }:
let
  inherit (lib) mkOption types;
  attrsOfSubmodules = mkOption { type = types.attrsOf (types.submodule { }); };
in
[
  {
    # lib/modules.nix declares _module.args (lazyAttrsOf raw);
    # nixos/modules/misc/nixpkgs.nix puts pkgs in it.
    _file = "nixpkgs/nixos/modules/misc/nixpkgs.nix";
    options._module.args = mkOption { type = types.lazyAttrsOf types.raw; };
    config._module.args.pkgs = pkgs;
  }
  {
    _file = "nixpkgs/nixos/modules/misc/assertions.nix";
    options.assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; };
    options.warnings = mkOption { type = types.listOf types.str; default = [ ]; };
  }
  {
    _file = "nixpkgs/nixos/modules/tasks/network-interfaces.nix";
    # hostName: nixpkgs says config.system.nixos.distroId, which is "nixos".
    options.networking.hostName = mkOption { type = types.str; default = "nixos"; };
    options.networking.domain = mkOption { type = types.nullOr types.str; default = null; };
    options.networking.nameservers = mkOption { type = types.listOf types.str; default = [ ]; };
    options.networking.useDHCP = mkOption { type = types.bool; default = true; };
    options.networking.interfaces = mkOption { type = types.attrsOf (types.submodule { }); default = { }; };
  }
  {
    _file = "nixpkgs/nixos/modules/services/hardware/udev.nix";
    options.networking.usePredictableInterfaceNames = mkOption { type = types.bool; default = true; };
  }
  {
    _file = "nixpkgs/nixos/modules/services/networking/dhcpcd.nix";
    options.networking.dhcpcd.enable = mkOption { type = types.bool; default = true; };
  }
  {
    _file = "nixpkgs/nixos/modules/services/networking/ssh/sshd.nix";
    options.services.openssh.enable = mkOption { type = types.bool; default = false; };
  }
  {
    _file = "nixpkgs/nixos/modules/system/boot/loader/efi.nix";
    options.boot.loader.efi.efiSysMountPoint = mkOption { type = types.str; default = "/boot"; };
  }
  {
    _file = "nixpkgs/nixos/modules/system/boot/loader/grub/grub.nix";
    options.boot.loader.grub.efiSupport = mkOption { type = types.bool; default = false; };
    options.boot.loader.grub.efiInstallAsRemovable = mkOption { type = types.bool; default = false; };
  }
  {
    _file = "nixpkgs/nixos/modules/tasks/auto-upgrade.nix";
    options.system.autoUpgrade.enable = mkOption { type = types.bool; default = false; };
  }
  ({ config, ... }: {
    # Read by the hardware-configuration.nix that nixos-generate-config writes
    # (hardware.cpu.*.updateMicrocode = lib.mkDefault config.hardware.enableRedistributableFirmware).
    _file = "nixpkgs/nixos/modules/hardware/all-firmware.nix";
    options.hardware.enableAllFirmware = mkOption { type = types.bool; default = false; };
    options.hardware.enableRedistributableFirmware = mkOption {
      type = types.bool;
      default = config.hardware.enableAllFirmware;
    };
  })

  # attrsOf (submodule) options; no defaults.
  { _file = "nixpkgs/nixos/modules/tasks/filesystems.nix"; options.fileSystems = attrsOfSubmodules; }
  {
    _file = "nixpkgs/nixos/modules/config/users-groups.nix";
    options.users.users = attrsOfSubmodules;
    options.users.groups = attrsOfSubmodules;
  }
  { _file = "nixpkgs/nixos/modules/system/etc/etc.nix"; options.environment.etc = attrsOfSubmodules; }
  {
    _file = "nixpkgs/nixos/modules/system/boot/systemd.nix";
    options.systemd.services = attrsOfSubmodules;
    options.systemd.sockets = attrsOfSubmodules;
    options.systemd.timers = attrsOfSubmodules;
    options.systemd.targets = attrsOfSubmodules;
    options.systemd.paths = attrsOfSubmodules;
  }
  {
    _file = "nixpkgs/nixos/modules/system/boot/networkd.nix";
    options.systemd.network.networks = attrsOfSubmodules;
    options.systemd.network.netdevs = attrsOfSubmodules;
    options.systemd.network.links = attrsOfSubmodules;
  }
  { _file = "nixpkgs/nixos/modules/system/boot/luksroot.nix"; options.boot.initrd.luks.devices = attrsOfSubmodules; }
  { _file = "nixpkgs/nixos/modules/services/web-servers/nginx/default.nix"; options.services.nginx.virtualHosts = attrsOfSubmodules; }
  { _file = "nixpkgs/nixos/modules/security/acme/default.nix"; options.security.acme.certs = attrsOfSubmodules; }
  { _file = "nixpkgs/nixos/modules/services/networking/wireguard.nix"; options.networking.wireguard.interfaces = attrsOfSubmodules; }
]
