# Stand-in for nixpkgs' nixos/modules/profiles/all-hardware.nix. The real
# module adds the kernel modules of most disk and network controllers to the
# initrd (for installation media); the emulated first boot needs none of them.
{ lib, ... }:

{
}
