# Static network configuration of this host (nixos-23.05), written by bootstrap
# from the addresses, routes and resolvers it had before nixos-infect.
# configuration.nix imports it. Each value is a default: define the same
# option in host.nix to replace it.
{ lib, ... }:
{
  networking.useDHCP = lib.mkOverride 900 false;
  networking.usePredictableInterfaceNames = lib.mkDefault false;
  networking.nameservers = lib.mkDefault [ "198.51.100.2" "198.51.100.3" ];
  networking.defaultGateway = lib.mkDefault { address = "203.0.113.1"; interface = "eth0"; };
  networking.defaultGateway6 = lib.mkDefault { address = "2001:db8:d0:1::1"; interface = "eth0"; };

  networking.interfaces.eth0 = {
    ipv4.addresses = lib.mkDefault [
      { address = "203.0.113.7"; prefixLength = 24; }
      { address = "10.19.0.5"; prefixLength = 16; }
    ];
    ipv6.addresses = lib.mkDefault [
      { address = "2001:db8:d0:1::a1"; prefixLength = 64; }
    ];
  };

  networking.interfaces.eth1 = {
    ipv4.addresses = lib.mkDefault [
      { address = "10.114.0.2"; prefixLength = 20; }
    ];
  };

  # Interface names pinned by MAC address: NixOS's kernel and udev would not
  # always name the NICs as this host did. Rules in host.nix are added to these.
  services.udev.extraRules = ''
    SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="a2:3c:4d:5e:6f:01", ATTR{type}=="1", NAME="eth0"
    SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="b6:1d:2e:3f:40:02", ATTR{type}=="1", NAME="eth1"
  '';
}
