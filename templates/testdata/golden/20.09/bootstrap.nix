# Managed by bootstrap: regenerated on every bootstrap; put your changes in host.nix.
# Host web1, channel nixos-20.09.
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

  # BIOS: grub in the MBR of the disk the previous system booted from.
  boot.loader.grub.device = lib.mkDefault "/dev/vda";

  fileSystems."/" = {
    device = lib.mkDefault "/dev/vda1";
    fsType = lib.mkDefault "ext4";
  };

  # The disk drivers nixos-infect puts in the initrd of a cloud VM.
  boot.initrd.availableKernelModules = [ "ata_piix" "uhci_hcd" "xen_blkfront" "virtio_pci" "virtio_blk" "virtio_scsi" ]
    ++ lib.optional pkgs.stdenv.hostPlatform.isx86_64 "vmw_pvscsi";
  boot.initrd.kernelModules = [ "nvme" ];

  boot.cleanTmpDir = lib.mkDefault true;
  # The workspace name is the hostname; a hostname in host.nix (say, copied
  # from the machine this one was cloned from) does not win.
  networking.hostName = lib.mkForce "web1";

  services.openssh.enable = true;
  services.openssh.permitRootLogin = "prohibit-password";
  services.openssh.passwordAuthentication = lib.mkDefault false;

  # Root's SSH keys, bootstrap's deploy key first.
  users.users.root.openssh.authorizedKeys.keys = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c bootstrap-deploy"
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIE5dw6ofRdfVqNUZsNMfszLjYqRtO43ol32D1uPybOU alice@laptop"
    "from=\"192.0.2.0/24\",command=\"borg serve --restrict-to-path /backup\",restrict ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO1JKMYo0cLG6ukDOJBZlWEpWSc6XGP5NjbBRhSshzfR backup@cloud"
  ];

  system.stateVersion = lib.mkDefault "20.09";
}
