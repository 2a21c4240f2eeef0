# Static network configuration of this host (nixos-24.11), written by bootstrap
# from the addresses, routes and resolvers it had before nixos-infect.
# configuration.nix imports it. Each value is a default: define the same
# option in host.nix to replace it.
{ lib, ... }:
{
  # Addresses from DHCP are pinned as they are now: no DHCP client runs.
  networking.useDHCP = lib.mkOverride 900 false;
  networking.usePredictableInterfaceNames = lib.mkDefault true;
  networking.nameservers = lib.mkDefault [ "198.51.100.53" ];
  networking.defaultGateway = lib.mkDefault { address = "198.51.100.1"; interface = "ens2"; };

  networking.interfaces.ens2 = {
    ipv4.addresses = lib.mkDefault [
      { address = "203.0.113.20"; prefixLength = 32; } # from DHCP
    ];
    ipv4.routes = lib.mkDefault [
      { address = "198.51.100.1"; prefixLength = 32; } # the gateway, outside the subnets: on the link
    ];
    # IPv6 addresses from router advertisements (SLAAC) are left to the kernel.
  };

  # Interface names pinned by MAC address: NixOS's kernel and udev would not
  # always name the NICs as this host did. Rules in host.nix are added to these.
  services.udev.extraRules = ''
    SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="de:00:00:5a:6b:7c", ATTR{type}=="1", NAME="ens2"
  '';
}
