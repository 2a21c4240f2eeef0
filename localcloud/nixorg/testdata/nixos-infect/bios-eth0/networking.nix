{ lib, ... }: {
  # This file was populated at runtime with the networking
  # details gathered from the active system.
  networking = {
    nameservers = [ "203.0.113.53"
 "2001:db8::53"
 ];
    defaultGateway = "203.0.113.1";
    defaultGateway6 = {
      address = "2001:db8::1";
      interface = "eth0";
    };
    dhcpcd.enable = false;
    usePredictableInterfaceNames = lib.mkForce false;
    interfaces = {
      eth0 = {
        ipv4.addresses = [
          { address="203.0.113.10"; prefixLength=24; }
        ];
        ipv6.addresses = [
          { address="2001:db8::10"; prefixLength=64; }
{ address="fe80::5054:ff:fe12:3456"; prefixLength=64; }
        ];
        ipv4.routes = [ { address = "203.0.113.1"; prefixLength = 32; } ];
        ipv6.routes = [ { address = "2001:db8::1"; prefixLength = 128; } ];
      };
            eth1 = {
        ipv4.addresses = [
          { address="198.51.100.10"; prefixLength=24; }
        ];
        ipv6.addresses = [
          { address="fe80::5054:ff:fe12:3457"; prefixLength=64; }
        ];
        };
    };
  };
  services.udev.extraRules = ''
    ATTR{address}=="52:54:00:12:34:56", NAME="eth0"
    ATTR{address}=="52:54:00:12:34:57", NAME="eth1"
  '';
}
