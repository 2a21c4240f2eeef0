package templates

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// These tests run the real Nix parser and evaluator (Debian's nix-bin
// provides nix-instantiate; no nixpkgs is needed). They skip when
// nix-instantiate is missing, unless BOOTSTRAP_REQUIRE_NIX=1 (as in CI).

func nixInstantiate(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("nix-instantiate")
	if err != nil {
		if os.Getenv("BOOTSTRAP_REQUIRE_NIX") == "1" {
			t.Fatalf("nix-instantiate not found and BOOTSTRAP_REQUIRE_NIX=1 (apt-get install nix-bin): %v", err)
		}
		t.Skip("nix-instantiate not found (apt-get install nix-bin); set BOOTSTRAP_REQUIRE_NIX=1 to fail instead")
	}
	return bin
}

// runNix runs nix-instantiate in dir with a private, writable store, state
// and configuration, so that it works as any user and ignores the machine's
// Nix setup (and /nix).
func runNix(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	bin := nixInstantiate(t)
	tmp := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(tmp, "home"),
		"NIX_STORE_DIR=" + filepath.Join(tmp, "store"),
		"NIX_STATE_DIR=" + filepath.Join(tmp, "state"),
		"NIX_LOG_DIR=" + filepath.Join(tmp, "log"),
		"NIX_CONF_DIR=" + filepath.Join(tmp, "etc"),
		"XDG_CONFIG_HOME=" + filepath.Join(tmp, "config"),
		"XDG_CACHE_HOME=" + filepath.Join(tmp, "cache"),
		"XDG_DATA_HOME=" + filepath.Join(tmp, "data"),
		"XDG_STATE_HOME=" + filepath.Join(tmp, "xdgstate"),
		"NIX_PATH=",
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nix-instantiate %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func writeFiles(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// evalJSON evaluates expr (with dir as working directory) strictly and
// decodes its JSON value into v.
func evalJSON(t *testing.T, dir, expr string, v any) {
	t.Helper()
	out := runNix(t, dir, "--eval", "--strict", "--json", "--expr", expr)
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
}

// TestNixParse parses every file we generate, for every channel and boot
// mode, plus DefaultHostNix.
func TestNixParse(t *testing.T) {
	nixInstantiate(t)
	files := map[string][]byte{"host.nix": DefaultHostNix("web1")}
	for _, ch := range []string{"nixos-20.09", "nixos-22.05", "nixos-22.11", "nixos-23.05", "nixos-24.11", "nixos-unstable-small"} {
		for mode, facts := range map[string]Facts{"bios": biosFacts(), "efi": efiFacts()} {
			c := validConfig(t)
			c.Channel = mustChannel(t, ch)
			c.Facts = facts
			for name, b := range generate(t, c) {
				files[ch+"-"+mode+"-"+name] = b
			}
		}
	}
	for _, gc := range goldenCases() {
		for name, b := range generate(t, gc.cfg(t)) {
			files["golden-"+gc.name+"-"+name] = b
		}
	}
	dir := writeFiles(t, files)
	for name := range files {
		t.Run(name, func(t *testing.T) {
			runNix(t, dir, "--parse", name)
		})
	}
}

// TestNixParseRejects makes sure the parse check can fail.
func TestNixParseRejects(t *testing.T) {
	nixInstantiate(t)
	dir := writeFiles(t, map[string][]byte{"bad.nix": []byte(`{ x = "unterminated; }`)})
	cmd := exec.Command(nixInstantiate(t), "--parse", "bad.nix")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "NIX_STATE_DIR=" + t.TempDir(), "NIX_STORE_DIR=" + t.TempDir(), "NIX_CONF_DIR=" + t.TempDir(), "NIX_LOG_DIR=" + t.TempDir()}
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("nix-instantiate --parse accepted broken Nix: %s", out)
	}
}

// stubArgs stands in for the NixOS module arguments: lib.mkDefault marks
// its value so the tests can tell defaults from enforced settings.
const stubArgs = `
  lib = {
    mkDefault = v: { _mkDefault = v; };
    mkForce = v: { _mkForce = v; };
    optional = cond: v: if cond then [ v ] else [ ];
  };
  modulesPath = "/modules";
`

// TestNixEvalBootstrap evaluates bootstrap.nix as a function of stub
// module arguments and checks the resulting option values, including keys
// whose comments need escaping.
func TestNixEvalBootstrap(t *testing.T) {
	nixInstantiate(t)
	c := validConfig(t)
	c.Channel = mustChannel(t, "nixos-24.11")
	c.Facts = efiFacts()
	c.DeployKey = testKey(t, 1) + ` deploy "quoted" ${pwned} $${not} back\slash trailing$`
	c.AuthorizedKeys = []string{
		testKey(t, 2) + " tab\there '' ${x} \\${y} ünïcødé",
		`from="10.0.0.1" ` + testKey(t, 3),
	}
	keys, err := authorizedKeys(c.DeployKey, c.AuthorizedKeys)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 {
		t.Fatalf("got %d keys, want 3", len(keys))
	}
	b, err := BootstrapNix(c)
	if err != nil {
		t.Fatal(err)
	}
	dir := writeFiles(t, map[string][]byte{"bootstrap.nix": b})

	for _, x86 := range []bool{true, false} {
		platform := "false"
		if x86 {
			platform = "true"
		}
		var got struct {
			Imports []string `json:"imports"`
			Boot    struct {
				Loader struct {
					Grub map[string]map[string]any `json:"grub"`
					EFI  map[string]map[string]any `json:"efi"`
				} `json:"loader"`
				Initrd struct {
					Available []string `json:"availableKernelModules"`
					Modules   []string `json:"kernelModules"`
				} `json:"initrd"`
				Tmp map[string]map[string]any `json:"tmp"`
			} `json:"boot"`
			FileSystems map[string]map[string]map[string]any `json:"fileSystems"`
			Networking  struct {
				HostName map[string]any `json:"hostName"`
			} `json:"networking"`
			Services struct {
				OpenSSH struct {
					Enable   bool           `json:"enable"`
					Settings map[string]any `json:"settings"`
				} `json:"openssh"`
				Logrotate map[string]map[string]any `json:"logrotate"`
			} `json:"services"`
			Users struct {
				Users struct {
					Root struct {
						OpenSSH struct {
							AuthorizedKeys struct {
								Keys []string `json:"keys"`
							} `json:"authorizedKeys"`
						} `json:"openssh"`
					} `json:"root"`
				} `json:"users"`
			} `json:"users"`
			System struct {
				StateVersion map[string]any `json:"stateVersion"`
			} `json:"system"`
		}
		evalJSON(t, dir, `let `+stubArgs+` pkgs = { stdenv.hostPlatform.isx86_64 = `+platform+`; };
			in import ./bootstrap.nix { inherit lib modulesPath pkgs; config = { }; options = { }; }`, &got)

		check := func(what string, got, want any) {
			t.Helper()
			if !reflect.DeepEqual(got, want) {
				t.Errorf("x86_64=%v: %s: got %#v, want %#v", x86, what, got, want)
			}
		}
		def := func(v any) map[string]any { return map[string]any{"_mkDefault": v} }
		check("imports", got.Imports, []string{"/modules/profiles/qemu-guest.nix"})
		check("grub.device", got.Boot.Loader.Grub["device"], def("nodev"))
		check("grub.efiSupport", got.Boot.Loader.Grub["efiSupport"], def(true))
		check("grub.efiInstallAsRemovable", got.Boot.Loader.Grub["efiInstallAsRemovable"], def(true))
		check("efi.efiSysMountPoint", got.Boot.Loader.EFI["efiSysMountPoint"], def("/boot/efi"))
		check(`fileSystems."/"`, got.FileSystems["/"], map[string]map[string]any{"device": def("/dev/sda2"), "fsType": def("ext4")})
		check(`fileSystems."/boot/efi"`, got.FileSystems["/boot/efi"], map[string]map[string]any{"device": def("/dev/disk/by-uuid/ABCD-1234"), "fsType": def("vfat")})
		modules := []string{"ata_piix", "uhci_hcd", "xen_blkfront", "virtio_pci", "virtio_blk", "virtio_scsi"}
		if x86 {
			modules = append(modules, "vmw_pvscsi")
		}
		check("availableKernelModules", got.Boot.Initrd.Available, modules)
		check("kernelModules", got.Boot.Initrd.Modules, []string{"nvme"})
		check("boot.tmp.cleanOnBoot", got.Boot.Tmp["cleanOnBoot"], def(true))
		check("hostName", got.Networking.HostName, map[string]any{"_mkForce": "web1"})
		check("openssh.enable", got.Services.OpenSSH.Enable, true)
		check("PermitRootLogin", got.Services.OpenSSH.Settings["PermitRootLogin"], "prohibit-password")
		check("PasswordAuthentication", got.Services.OpenSSH.Settings["PasswordAuthentication"], def(false))
		check("logrotate.checkConfig", got.Services.Logrotate["checkConfig"], def(false))
		check("stateVersion", got.System.StateVersion, def("24.11"))
		check("root keys", got.Users.Users.Root.OpenSSH.AuthorizedKeys.Keys, keys)
	}
}

// TestNixEvalOldChannel checks the pre-23.05 option names evaluate to what
// the template means.
func TestNixEvalOldChannel(t *testing.T) {
	nixInstantiate(t)
	c := validConfig(t)
	c.Channel = mustChannel(t, "nixos-20.09")
	b, err := BootstrapNix(c)
	if err != nil {
		t.Fatal(err)
	}
	dir := writeFiles(t, map[string][]byte{"bootstrap.nix": b})
	var got map[string]any
	evalJSON(t, dir, `let `+stubArgs+` m = import ./bootstrap.nix { inherit lib modulesPath; pkgs.stdenv.hostPlatform.isx86_64 = true; };
		in { inherit (m.boot) cleanTmpDir; inherit (m.services.openssh) permitRootLogin passwordAuthentication;
		     grub = m.boot.loader.grub.device; logrotate = m.services ? logrotate; state = m.system.stateVersion; }`, &got)
	want := map[string]any{
		"cleanTmpDir":            map[string]any{"_mkDefault": true},
		"permitRootLogin":        "prohibit-password",
		"passwordAuthentication": map[string]any{"_mkDefault": false},
		"grub":                   map[string]any{"_mkDefault": "/dev/vda"},
		"logrotate":              false,
		"state":                  map[string]any{"_mkDefault": "20.09"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestNixEvalConfiguration checks configuration.nix imports
// hardware-configuration.nix exactly when it exists.
func TestNixEvalConfiguration(t *testing.T) {
	nixInstantiate(t)
	b, err := ConfigurationNix(validConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, withHW := range []bool{false, true} {
		files := map[string][]byte{"configuration.nix": b}
		if withHW {
			files["hardware-configuration.nix"] = []byte("{ ... }: { }\n")
		}
		dir := writeFiles(t, files)
		var got []string
		evalJSON(t, dir, `let `+stubArgs+` in map (p: baseNameOf (toString p)) (import ./configuration.nix { inherit lib; }).imports`, &got)
		want := []string{"bootstrap.nix", "host.nix"}
		if withHW {
			want = append(want, "hardware-configuration.nix")
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("hardware-configuration.nix present=%v: imports %q, want %q", withHW, got, want)
		}
	}
}

func TestNixEvalDefaultHostNix(t *testing.T) {
	nixInstantiate(t)
	dir := writeFiles(t, map[string][]byte{"host.nix": DefaultHostNix("web1")})
	var got []string
	evalJSON(t, dir, `(import ./host.nix { pkgs.vim = "vim-package"; }).environment.systemPackages`, &got)
	if want := []string{"vim-package"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestNixStringRoundTrip feeds NixString's output to the Nix evaluator and
// expects the original strings back.
func TestNixStringRoundTrip(t *testing.T) {
	nixInstantiate(t)
	in := []string{
		"", "plain", `a"b`, `\`, `\\`, `\"`, "${x}", "$${x}", "$$", "$", "a$", "$\\", `\${x}`,
		"${", "''", "''${x}", "'' ${x} ''", "\n", "a\r\nb", "\t", "ünïcødé ✓", `"${toString 1}"`,
		"ssh-ed25519 AAAA comment \"with quotes\" and ${interpolation} and \\backslash",
	}
	var src strings.Builder
	src.WriteString("[\n")
	for _, s := range in {
		src.WriteString("  " + NixString(s) + "\n")
	}
	src.WriteString("]\n")
	dir := writeFiles(t, map[string][]byte{"list.nix": []byte(src.String())})
	runNix(t, dir, "--parse", "list.nix")
	var got []string
	evalJSON(t, dir, "import ./list.nix", &got)
	if !reflect.DeepEqual(got, in) {
		for i := range in {
			if i >= len(got) || got[i] != in[i] {
				t.Errorf("string %d: NixString(%q) = %s evaluates to %q", i, in[i], NixString(in[i]), got)
			}
		}
	}
}
