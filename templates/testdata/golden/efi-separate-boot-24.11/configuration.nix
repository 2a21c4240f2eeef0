# NixOS configuration of app-3 (nixos-24.11), written by bootstrap.
# Put your settings in host.nix; bootstrap.nix is regenerated on every
# bootstrap. hardware-configuration.nix is captured after the first boot.
{ lib, ... }:
{
  imports = [
    ./bootstrap.nix
    ./host.nix
  ] ++ lib.optional (builtins.pathExists ./hardware-configuration.nix) ./hardware-configuration.nix;
}
