# Static network configuration of this host (nixos-20.09), written by bootstrap
# from the addresses, routes and resolvers it had before nixos-infect.
# configuration.nix imports it. Each value is a default: define the same
# option in host.nix to replace it.
{ lib, ... }:
{
  # Addresses from DHCP are pinned as they are now: no DHCP client runs.
  networking.useDHCP = lib.mkOverride 900 false;
  networking.usePredictableInterfaceNames = lib.mkDefault false;
  networking.nameservers = lib.mkDefault [ "192.0.2.53" "192.0.2.54" "2001:db8:1f0::53" ];
  networking.defaultGateway = lib.mkDefault { address = "172.31.1.1"; interface = "eth0"; };
  networking.defaultGateway6 = lib.mkDefault { address = "fe80::1"; interface = "eth0"; };

  networking.interfaces.eth0 = {
    ipv4.addresses = lib.mkDefault [
      { address = "203.0.113.10"; prefixLength = 32; } # from DHCP
    ];
    ipv4.routes = lib.mkDefault [
      { address = "172.31.1.1"; prefixLength = 32; } # the gateway, outside the subnets: on the link
    ];
    ipv6.addresses = lib.mkDefault [
      { address = "2001:db8:1f0:4e2a::1"; prefixLength = 64; }
    ];
    ipv6.routes = lib.mkDefault [
      { address = "fe80::1"; prefixLength = 128; } # the gateway, outside the subnets: on the link
    ];
  };

  # Interface names pinned by MAC address: NixOS's kernel and udev would not
  # always name the NICs as this host did. Rules in host.nix are added to these.
  services.udev.extraRules = ''
    SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="96:00:02:aa:bb:cc", ATTR{type}=="1", NAME="eth0"
  '';
}
