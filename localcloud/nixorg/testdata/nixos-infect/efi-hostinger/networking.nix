{ lib, ... }: {
  # This file was populated at runtime with the networking
  # details gathered from the active system.
  networking = {
    nameservers = [ "203.0.113.53"
 ];
    defaultGateway = "203.0.113.129";
    defaultGateway6 = {
      address = "2001:db8:1::1";
      interface = "ens3";
    };
    dhcpcd.enable = false;
    usePredictableInterfaceNames = lib.mkForce true;
    interfaces = {
      ens3 = {
        ipv4.addresses = [
          { address="203.0.113.130"; prefixLength=25; }
        ];
        ipv6.addresses = [
          { address="2001:db8:1::130"; prefixLength=64; }
        ];
        ipv4.routes = [ { address = "203.0.113.129"; prefixLength = 32; } ];
        ipv6.routes = [ { address = "2001:db8:1::1"; prefixLength = 128; } ];
      };
      
    };
  };
  services.udev.extraRules = ''
    ATTR{address}=="52:54:00:ab:cd:ef", NAME="ens3"
    
  '';
}
