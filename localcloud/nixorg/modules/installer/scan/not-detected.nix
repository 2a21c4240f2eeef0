# Stand-in for nixpkgs' nixos/modules/installer/scan/not-detected.nix, which
# nixos-generate-config imports on machines it does not recognise. The real
# module sets hardware.enableRedistributableFirmware = lib.mkDefault true;
# so does this one, since hardware-configuration.nix reads it.
{ lib, ... }:

{
  hardware.enableRedistributableFirmware = lib.mkDefault true;
}
