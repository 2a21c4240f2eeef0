package nixorg

import (
	"path/filepath"
	"testing"
)

// testdata/nixos-infect holds the /etc/nixos that nixos-infect (commit
// 7563801d) writes when it finds no configuration.nix: makeConf's
// configuration.nix and hardware-configuration.nix, makeNetworkingConf's
// networking.nix and makeLightsailConf's configuration.nix, byte for byte as
// its heredocs expand them (blank import and kernel_params lines, address
// lists whose later lines start at column 0, readarray's newlines in
// nameservers), with documentation addresses.
//
//   - bios-eth0: BIOS, classic interface names, two NICs, a swap partition;
//   - efi-hostinger: EFI with the ESP at /boot/efi, predictable names, one
//     NIC, no swap, Hostinger's serial console parameters;
//   - lightsail: Amazon Lightsail.
func TestEvalNixosInfect(t *testing.T) {
	keys := []string{
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c root@deploy",
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIE5dw6ofRdfVqNUZsNMfszLjYqRtO43ol32D1uPybOU",
	}
	hwModules := append([]string{"ata_piix", "uhci_hcd", "xen_blkfront", "vmw_pvscsi"}, qemuGuestModules...)
	addr := func(a string, n int) map[string]any { return map[string]any{"address": a, "prefixLength": n} }
	common := func(host string) map[string]any {
		return map[string]any{
			"networking.hostName":                          host,
			"networking.domain":                            "",
			"users.users.root.openssh.authorizedKeys.keys": keys,
			"services.openssh.enable":                      true,
			"services.logrotate.checkConfig":               false,
			"boot.tmp.cleanOnBoot":                         true,
			"system.stateVersion":                          "23.11",
			"boot.initrd.availableKernelModules":           hwModules,
			"boot.initrd.kernelModules":                    []string{"nvme", "virtio_balloon", "virtio_console", "virtio_rng", "virtio_gpu"},
			"networking.dhcpcd.enable":                     false,
			"networking.useDHCP":                           true,
		}
	}
	tests := []struct {
		dir  string
		want map[string]any
	}{
		{"bios-eth0", merge(common("vps-1"), map[string]any{
			"boot.loader.grub.device":                 "/dev/vda",
			"boot.loader.grub.efiSupport":             false,
			"fileSystems":                             map[string]any{"/": map[string]any{"device": "/dev/vda1", "fsType": "ext4"}},
			"swapDevices":                             []any{map[string]any{"device": "/dev/vda2"}},
			"zramSwap.enable":                         false,
			"boot.kernelParams":                       absent,
			"networking.nameservers":                  []string{"203.0.113.53", "2001:db8::53"},
			"networking.defaultGateway":               "203.0.113.1",
			"networking.defaultGateway6":              map[string]any{"address": "2001:db8::1", "interface": "eth0"},
			"networking.usePredictableInterfaceNames": false,
			"networking.interfaces": map[string]any{
				"eth0": map[string]any{
					"ipv4": map[string]any{
						"addresses": []any{addr("203.0.113.10", 24)},
						"routes":    []any{addr("203.0.113.1", 32)},
					},
					"ipv6": map[string]any{
						"addresses": []any{addr("2001:db8::10", 64), addr("fe80::5054:ff:fe12:3456", 64)},
						"routes":    []any{addr("2001:db8::1", 128)},
					},
				},
				"eth1": map[string]any{
					"ipv4": map[string]any{"addresses": []any{addr("198.51.100.10", 24)}},
					"ipv6": map[string]any{"addresses": []any{addr("fe80::5054:ff:fe12:3457", 64)}},
				},
			},
			"services.udev.extraRules": "ATTR{address}==\"52:54:00:12:34:56\", NAME=\"eth0\"\nATTR{address}==\"52:54:00:12:34:57\", NAME=\"eth1\"\n",
		})},
		{"efi-hostinger", merge(common("srv42"), map[string]any{
			"boot.loader.grub":                 map[string]any{"device": "nodev", "efiSupport": true, "efiInstallAsRemovable": true},
			"boot.loader.efi.efiSysMountPoint": "/boot/efi",
			"fileSystems": map[string]any{
				"/":         map[string]any{"device": "/dev/sda1", "fsType": "ext4"},
				"/boot/efi": map[string]any{"device": "/dev/sda15", "fsType": "vfat"},
			},
			"swapDevices":                             absent,
			"zramSwap.enable":                         true,
			"boot.kernelParams":                       []string{"console=tty1", "console=ttyS0,115200"},
			"networking.nameservers":                  []string{"203.0.113.53"},
			"networking.defaultGateway":               "203.0.113.129",
			"networking.defaultGateway6.interface":    "ens3",
			"networking.usePredictableInterfaceNames": true,
			`networking.interfaces.ens3.ipv4`: map[string]any{
				"addresses": []any{addr("203.0.113.130", 25)},
				"routes":    []any{addr("203.0.113.129", 32)},
			},
			"networking.interfaces.eth0": absent,
			// The script's empty second rule line is kept.
			"services.udev.extraRules": "ATTR{address}==\"52:54:00:ab:cd:ef\", NAME=\"ens3\"\n\n",
		})},
		{"lightsail", map[string]any{
			"boot.loader.grub.device": "/dev/nvme0n1",
			"networking.hostName":     "nixos",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			t.Parallel()
			e := evaluator(t)
			dir := filepath.Join("testdata", "nixos-infect", tt.dir)
			if err := e.Parse(testContext(t), dir); err != nil {
				t.Fatalf("parse: got %v, want nil", err)
			}
			checkEval(t, e, dir, tt.want)
		})
	}
}

// merge returns a copy of a with b's entries added.
func merge(a, b map[string]any) map[string]any {
	m := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}
