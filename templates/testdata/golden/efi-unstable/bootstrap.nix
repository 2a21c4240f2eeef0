# Managed by bootstrap: regenerated on every bootstrap; put your changes in host.nix.
# Host db-2, channel nixos-unstable.
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
  fileSystems."/boot/efi" = {
    device = lib.mkDefault "/dev/disk/by-uuid/6A1F-2B3C";
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
  networking.hostName = lib.mkForce "db-2";

  services.openssh.enable = true;
  services.openssh.settings.PermitRootLogin = "prohibit-password";
  services.openssh.settings.PasswordAuthentication = lib.mkDefault false;

  # Root's SSH keys, bootstrap's deploy key first.
  users.users.root.openssh.authorizedKeys.keys = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMqTrBcFGHBx1nuDx/8O/oEI6OxFMFdddyaHkzPb2r58 deploy \"\${USER}\" \\o/"
  ];

  # The build-time logrotate check fails in the sandbox of the Nix that
  # nixos-infect installs ("cannot find name for group ID 30000",
  # https://github.com/NixOS/nix/issues/8502).
  services.logrotate.checkConfig = lib.mkDefault false;

  system.stateVersion = lib.mkDefault "26.05";
}
