# Managed by bootstrap: regenerated on every bootstrap; put your changes in host.nix.
# Host app-3, channel nixos-24.11.
#
# nixos-infect writes no configuration of its own when /etc/nixos/configuration.nix
# exists, so this file carries everything the first boot needs. Hardware facts
# and defaults use lib.mkDefault: hardware-configuration.nix (captured with
# nixos-generate-config after the first boot) and host.nix take precedence.
# SSH access for root is enforced; override it only with lib.mkForce, knowing
# that bootstrap logs in as root with the keys below.
{ lib, modulesPath, pkgs, ... }:
{
  imports = [ (modulesPath + "/profiles/qemu-guest.nix") ];

  # EFI: grub installed to the removable-media path of the ESP, so that no
  # NVRAM boot entry is needed.
  boot.loader.grub.efiSupport = lib.mkDefault true;
  boot.loader.grub.efiInstallAsRemovable = lib.mkDefault true;
  boot.loader.grub.device = lib.mkDefault "nodev";
  boot.loader.efi.efiSysMountPoint = lib.mkDefault "/boot/efi";
  # The separate /boot the previous system used: grub's files and the
  # kernels stay there, so NixOS keeps mounting it (else later generations
  # would be written where grub does not look).
  fileSystems."/boot" = {
    device = lib.mkDefault "/dev/disk/by-uuid/1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
    fsType = lib.mkDefault "ext4";
  };
  fileSystems."/boot/efi" = {
    device = lib.mkDefault "/dev/disk/by-uuid/B2C3-D4E5";
    fsType = lib.mkDefault "vfat";
  };

  fileSystems."/" = {
    device = lib.mkDefault "/dev/disk/by-uuid/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    fsType = lib.mkDefault "ext4";
  };

  # The disk drivers nixos-infect puts in the initrd of a cloud VM.
  boot.initrd.availableKernelModules = [ "ata_piix" "uhci_hcd" "xen_blkfront" "virtio_pci" "virtio_blk" "virtio_scsi" ]
    ++ lib.optional pkgs.stdenv.hostPlatform.isx86_64 "vmw_pvscsi";
  boot.initrd.kernelModules = [ "nvme" ];

  boot.tmp.cleanOnBoot = lib.mkDefault true;
  # The workspace name is the hostname; a hostname in host.nix (say, copied
  # from the machine this one was cloned from) does not win.
  networking.hostName = lib.mkForce "app-3";

  services.openssh.enable = true;
  services.openssh.settings.PermitRootLogin = "prohibit-password";
  services.openssh.settings.PasswordAuthentication = lib.mkDefault false;

  # Root's SSH keys, bootstrap's deploy key first.
  users.users.root.openssh.authorizedKeys.keys = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG56HN0psLeP0Tr0xVmP7/TvKpcWbjym8uT7/M2AUFvx bootstrap-deploy"
  ];

  # The build-time logrotate check fails in the sandbox of the Nix that
  # nixos-infect installs ("cannot find name for group ID 30000",
  # https://github.com/NixOS/nix/issues/8502).
  services.logrotate.checkConfig = lib.mkDefault false;

  system.stateVersion = lib.mkDefault "24.11";
}
