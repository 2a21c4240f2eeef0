# Stand-in for nixpkgs' nixos/modules/virtualisation/amazon-image.nix, which
# nixos-infect's Lightsail configuration imports. The real module configures
# EC2 (metadata fetching, ENA and NVMe drivers, GRUB on the root disk); the
# first-boot emulation uses the configuration's own settings only.
{ config, lib, pkgs, ... }:

{
}
