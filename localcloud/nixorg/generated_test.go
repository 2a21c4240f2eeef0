package nixorg

import (
	"crypto/ed25519"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"bootstrap/channel"
	"bootstrap/templates"
)

// The configuration bootstrap itself writes to /etc/nixos (package
// templates) evaluates to what the first boot needs, on the oldest, a
// recent and the unstable channel, for both boot modes.

// testKey returns the authorized_keys form ("ssh-ed25519 AAAA...") of a
// deterministic ed25519 key.
func testKey(t *testing.T, seed byte) string {
	t.Helper()
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	pk, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(s).Public())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
}

// hostNix is a user's host.nix that also sets a host name with a plain
// definition (as when copied from another machine): bootstrap's mkForce
// must win.
const hostNix = `{ pkgs, ... }:
{
  networking.hostName = "copied-from-elsewhere";
  environment.systemPackages = [ pkgs.vim pkgs.git ];
  services.nginx.enable = true;
  networking.firewall.allowedTCPPorts = [ 80 443 ];
}
`

// generate writes configuration.nix, bootstrap.nix and host.nix for c (plus
// extra files) and returns the directory.
func generate(t *testing.T, c templates.Config, host string, extra map[string]string) string {
	t.Helper()
	conf, err := templates.ConfigurationNix(c)
	if err != nil {
		t.Fatal(err)
	}
	boot, err := templates.BootstrapNix(c)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"configuration.nix": string(conf), "bootstrap.nix": string(boot), "host.nix": host}
	for k, v := range extra {
		files[k] = v
	}
	return writeTree(t, files)
}

var qemuGuestModules = []string{"virtio_net", "virtio_pci", "virtio_mmio", "virtio_blk", "virtio_scsi", "9p", "9pnet_virtio"}

func TestEvalGenerated(t *testing.T) {
	deploy := testKey(t, 1) + " bootstrap-deploy"
	alice := testKey(t, 2) + " alice@laptop"
	bios := templates.Facts{BootMode: templates.BIOS, GrubDevice: "/dev/vda", RootDevice: "/dev/vda1", RootFSType: "ext4"}
	efi := templates.Facts{BootMode: templates.EFI, ESPDevice: "/dev/disk/by-uuid/ABCD-1234", ESPMount: "/boot/efi", RootDevice: "/dev/sda2", RootFSType: "ext4"}
	efiBoot := efi
	efiBoot.ESPMount = "/boot"

	type tcase struct {
		channel string
		mode    string
		facts   templates.Facts
		system  string
	}
	var cases []tcase
	for _, ch := range []string{"nixos-20.09", "nixos-24.11", "nixos-unstable"} {
		cases = append(cases, tcase{ch, "bios", bios, ""}, tcase{ch, "efi", efi, ""})
	}
	cases = append(cases, tcase{"nixos-24.11", "efi-at-boot", efiBoot, ""}, tcase{"nixos-24.11", "bios-aarch64", bios, "aarch64-linux"})

	for _, tc := range cases {
		t.Run(tc.channel+"/"+tc.mode, func(t *testing.T) {
			t.Parallel()
			e := evaluator(t)
			e.System = tc.system
			ch, err := channel.Parse(tc.channel)
			if err != nil {
				t.Fatal(err)
			}
			c := templates.Config{
				Name:           "web1",
				Channel:        ch,
				DeployKey:      deploy,
				AuthorizedKeys: []string{`from="192.0.2.0/24" ` + alice},
				Facts:          tc.facts,
				AutoUpgrade:    tc.mode == "efi",
			}
			dir := generate(t, c, hostNix, nil)

			want := map[string]any{
				"networking.hostName":                          "web1",
				"users.users.root.openssh.authorizedKeys.keys": []string{deploy, `from="192.0.2.0/24" ` + alice},
				`fileSystems."/"`:                              map[string]any{"device": tc.facts.RootDevice, "fsType": "ext4"},
				"services.openssh.enable":                      true,
				"system.stateVersion":                          ch.StateVersion(),
				"environment.systemPackages":                   []string{pkgPath("vim"), pkgPath("git")},
				"networking.firewall.allowedTCPPorts":          []int{80, 443},
				"boot.initrd.kernelModules":                    []string{"nvme", "virtio_balloon", "virtio_console", "virtio_rng", "virtio_gpu"},
			}
			modules := []string{"ata_piix", "uhci_hcd", "xen_blkfront", "virtio_pci", "virtio_blk", "virtio_scsi"}
			if tc.system == "" {
				modules = append(modules, "vmw_pvscsi")
			}
			want["boot.initrd.availableKernelModules"] = append(modules, qemuGuestModules...)

			switch tc.facts.BootMode {
			case templates.BIOS:
				want["boot.loader.grub.device"] = "/dev/vda"
				want["boot.loader.grub.efiSupport"] = false
				want["boot.loader.efi.efiSysMountPoint"] = "/boot"
			case templates.EFI:
				want["boot.loader.grub.device"] = "nodev"
				want["boot.loader.grub.efiSupport"] = true
				want["boot.loader.grub.efiInstallAsRemovable"] = true
				want["boot.loader.efi.efiSysMountPoint"] = tc.facts.ESPMount
				want[`fileSystems."`+tc.facts.ESPMount+`"`] = map[string]any{"device": "/dev/disk/by-uuid/ABCD-1234", "fsType": "vfat"}
			}
			if ch.AtLeast(23, 5) {
				want["services.openssh.settings"] = map[string]any{"PermitRootLogin": "prohibit-password", "PasswordAuthentication": false}
				want["boot.tmp.cleanOnBoot"] = true
				want["boot.cleanTmpDir"] = absent
			} else {
				want["services.openssh.permitRootLogin"] = "prohibit-password"
				want["services.openssh.passwordAuthentication"] = false
				want["services.openssh.settings"] = absent
				want["boot.cleanTmpDir"] = true
			}
			if ch.AtLeast(22, 5) {
				want["services.logrotate.checkConfig"] = false
			} else {
				want["services.logrotate"] = absent
			}
			if c.AutoUpgrade {
				want["system.autoUpgrade"] = map[string]any{"enable": true, "channel": ch.URL()}
			} else {
				want["system.autoUpgrade"] = map[string]any{"enable": false}
			}
			checkEval(t, e, dir, want)
		})
	}
}

// TestEvalGeneratedWithHardware: once hardware-configuration.nix has been
// captured (nixos-generate-config after the first boot), its plain
// definitions win over bootstrap.nix's defaults.
func TestEvalGeneratedWithHardware(t *testing.T) {
	e := evaluator(t)
	ch, err := channel.Parse("nixos-24.11")
	if err != nil {
		t.Fatal(err)
	}
	c := templates.Config{
		Name:      "web1",
		Channel:   ch,
		DeployKey: testKey(t, 1),
		Facts:     templates.Facts{BootMode: templates.EFI, ESPDevice: "/dev/sda1", ESPMount: "/boot", RootDevice: "/dev/sda2", RootFSType: "ext4"},
	}
	hw := `# Do not modify this file!  It was generated by 'nixos-generate-config'.
{ config, lib, pkgs, modulesPath, ... }:

{
  imports =
    [ (modulesPath + "/profiles/qemu-guest.nix")
    ];

  boot.initrd.availableKernelModules = [ "ahci" "xhci_pci" "virtio_pci" "sr_mod" "virtio_blk" ];
  boot.initrd.kernelModules = [ ];
  boot.kernelModules = [ "kvm-intel" ];
  boot.extraModulePackages = [ ];

  fileSystems."/" =
    { device = "/dev/disk/by-uuid/0f6c2a3e-51a8-4a9b-9a6e-3f2b1c0d4e5f";
      fsType = "ext4";
    };

  fileSystems."/boot" =
    { device = "/dev/disk/by-uuid/ABCD-1234";
      fsType = "vfat";
      options = [ "fmask=0022" "dmask=0022" ];
    };

  swapDevices = [ ];

  networking.useDHCP = lib.mkDefault true;
  nixpkgs.hostPlatform = lib.mkDefault "x86_64-linux";
  hardware.cpu.intel.updateMicrocode = lib.mkDefault config.hardware.enableRedistributableFirmware;
}
`
	dir := generate(t, c, string(templates.DefaultHostNix("web1")), map[string]string{"hardware-configuration.nix": hw})
	checkEval(t, e, dir, map[string]any{
		"fileSystems": map[string]any{
			"/":     map[string]any{"device": "/dev/disk/by-uuid/0f6c2a3e-51a8-4a9b-9a6e-3f2b1c0d4e5f", "fsType": "ext4"},
			"/boot": map[string]any{"device": "/dev/disk/by-uuid/ABCD-1234", "fsType": "vfat", "options": []string{"fmask=0022", "dmask=0022"}},
		},
		"boot.loader.efi.efiSysMountPoint":   "/boot",
		"hardware.cpu.intel.updateMicrocode": false,
		"nixpkgs.hostPlatform":               "x86_64-linux",
		"swapDevices":                        []string{},
		"networking.hostName":                "web1",
		"environment.systemPackages":         []string{pkgPath("vim")},
	})
}

// checkEval evaluates dir/configuration.nix and compares the selected
// paths with want.
func checkEval(t *testing.T, e *Evaluator, dir string, want map[string]any) {
	t.Helper()
	var sel []string
	for p := range want {
		sel = append(sel, p)
	}
	got, err := e.Eval(testContext(t), filepath.Join(dir, "configuration.nix"), sel)
	if err != nil {
		t.Fatalf("got error %v, want none", err)
	}
	for p, w := range want {
		g, ok := got[p]
		switch {
		case w == absent:
			if ok {
				t.Errorf("%s: got %#v, want it absent", p, g)
			}
		case !ok:
			t.Errorf("%s: got nothing, want %#v", p, jsonValue(w, dir))
		case !reflect.DeepEqual(g, jsonValue(w, dir)):
			t.Errorf("%s: got %#v, want %#v", p, g, jsonValue(w, dir))
		}
	}
}
