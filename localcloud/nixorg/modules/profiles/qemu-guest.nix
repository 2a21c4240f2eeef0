# Stand-in for nixpkgs' nixos/modules/profiles/qemu-guest.nix, with the real
# module's kernel module lists (NixOS/nixpkgs master, "Common configuration
# for virtual machines running under QEMU (using virtio)"). Older releases
# also ran `hwclock -s` in boot.initrd.postDeviceCommands, which the
# first-boot emulation does not need.
{ config, lib, ... }:

{
  boot.initrd.availableKernelModules = [ "virtio_net" "virtio_pci" "virtio_mmio" "virtio_blk" "virtio_scsi" "9p" "9pnet_virtio" ];
  boot.initrd.kernelModules = [ "virtio_balloon" "virtio_console" "virtio_rng" "virtio_gpu" ];
}
