# Static network configuration of this host (nixos-20.09), written by bootstrap
# from the addresses, routes and resolvers it had before nixos-infect.
# configuration.nix imports it. Each value is a default: define the same
# option in host.nix to replace it.
{ lib, ... }:
{
  # Addresses from DHCP are pinned as they are now: no DHCP client runs.
  networking.useDHCP = lib.mkOverride 900 false;
  networking.usePredictableInterfaceNames = lib.mkDefault true;
  networking.nameservers = lib.mkDefault [ "192.0.2.53" "2001:db8:77::53" ];
  networking.defaultGateway = lib.mkDefault { address = "198.51.100.1"; interface = "enp1s0"; };

  networking.interfaces.enp1s0 = {
    ipv4.addresses = lib.mkDefault [
      { address = "198.51.100.23"; prefixLength = 24; } # from DHCP
    ];
    # IPv6 addresses from router advertisements (SLAAC) are left to the kernel.
  };

  # Interface names pinned by MAC address: NixOS's kernel and udev would not
  # always name the NICs as this host did. Rules in host.nix are added to these.
  services.udev.extraRules = ''
    SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="52:54:00:ab:cd:ef", ATTR{type}=="1", NAME="enp1s0"
  '';
}
