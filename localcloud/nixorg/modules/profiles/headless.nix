# Stand-in for nixpkgs' nixos/modules/profiles/headless.nix. The real module
# turns off the gettys and the GRUB splash image and sets
# boot.kernelParams = [ "panic=1" "boot.panic_on_fail" ]; the first-boot
# emulation looks at none of it.
{ lib, ... }:

{
}
