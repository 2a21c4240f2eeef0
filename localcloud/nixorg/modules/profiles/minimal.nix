# Stand-in for nixpkgs' nixos/modules/profiles/minimal.nix. The real module
# only turns documentation and desktop helpers off (with lib.mkDefault),
# none of which the first-boot emulation looks at.
{ lib, ... }:

{
}
