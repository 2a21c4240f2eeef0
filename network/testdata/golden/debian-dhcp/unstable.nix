# Static network configuration of this host (nixos-unstable), written by bootstrap
# from the addresses, routes and resolvers it had before nixos-infect.
# configuration.nix imports it. Each value is a default: define the same
# option in host.nix to replace it.
{ lib, ... }:
{
  # Addresses from DHCP are pinned as they are now: no DHCP client runs.
  networking.useDHCP = lib.mkOverride 900 false;
  networking.usePredictableInterfaceNames = lib.mkDefault true;
  networking.nameservers = lib.mkDefault [ "192.0.2.1" ];
  networking.defaultGateway = lib.mkDefault { address = "192.0.2.1"; interface = "ens3"; };

  networking.interfaces.ens3 = {
    ipv4.addresses = lib.mkDefault [
      { address = "192.0.2.45"; prefixLength = 24; } # from DHCP
    ];
  };

  # Interface names pinned by MAC address: NixOS's kernel and udev would not
  # always name the NICs as this host did. Rules in host.nix are added to these.
  services.udev.extraRules = ''
    SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="52:54:00:12:34:56", ATTR{type}=="1", NAME="ens3"
  '';
}
