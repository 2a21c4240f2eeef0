package templates

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"bootstrap/channel"
)

// testKey returns the authorized_keys form ("ssh-ed25519 AAAA...", no
// comment) of a deterministic ed25519 key.
func testKey(t testing.TB, seed byte) string {
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

func mustChannel(t testing.TB, s string) channel.Channel {
	t.Helper()
	c, err := channel.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func biosFacts() Facts {
	return Facts{BootMode: BIOS, GrubDevice: "/dev/vda", RootDevice: "/dev/vda1", RootFSType: "ext4"}
}

func efiFacts() Facts {
	return Facts{BootMode: EFI, ESPDevice: "/dev/disk/by-uuid/ABCD-1234", ESPMount: "/boot/efi", RootDevice: "/dev/sda2", RootFSType: "ext4"}
}

func validConfig(t testing.TB) Config {
	return Config{
		Name:      "web1",
		Channel:   mustChannel(t, "nixos-24.11"),
		DeployKey: testKey(t, 1) + " bootstrap-deploy",
		Facts:     biosFacts(),
	}
}

func TestNixString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`a"b`, `"a\"b"`},
		{`back\slash`, `"back\\slash"`},
		{"${HOME}", `"\${HOME}"`},
		{"$HOME", `"$HOME"`},
		{"$", `"$"`},
		{"$${x}", `"$\${x}"`},
		{`\${x}`, `"\\\${x}"`},
		{"''", `"''"`},
		{"a\nb\tc\rd", `"a\nb\tc\rd"`},
		{"ünïcødé", `"ünïcødé"`},
	}
	for _, tt := range tests {
		if got := NixString(tt.in); got != tt.want {
			t.Errorf("NixString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	k2 := testKey(t, 2)
	tests := []struct {
		name   string
		change func(*Config)
		field  string // "" means valid
		reason string // substring of ConfigError.Reason
	}{
		{"valid bios", func(c *Config) {}, "", ""},
		{"valid efi", func(c *Config) { c.Facts = efiFacts() }, "", ""},
		{"valid efi at /boot", func(c *Config) { c.Facts = efiFacts(); c.Facts.ESPMount = "/boot" }, "", ""},
		{"bios ignores ESP fields", func(c *Config) { c.Facts.ESPDevice = "junk"; c.Facts.ESPMount = "junk" }, "", ""},
		{"efi ignores grub device", func(c *Config) { c.Facts = efiFacts(); c.Facts.GrubDevice = "junk" }, "", ""},
		{"one-letter name", func(c *Config) { c.Name = "a" }, "", ""},
		{"63-char name", func(c *Config) { c.Name = strings.Repeat("a", 63) }, "", ""},
		{"zfs root", func(c *Config) { c.Facts.RootDevice = "rpool/root"; c.Facts.RootFSType = "zfs" }, "", ""},

		{"empty name", func(c *Config) { c.Name = "" }, "host name", `"" is not a valid host name`},
		{"dotted name", func(c *Config) { c.Name = "web1.example.com" }, "host name", "no dots"},
		{"leading hyphen", func(c *Config) { c.Name = "-web" }, "host name", "not a valid host name"},
		{"trailing hyphen", func(c *Config) { c.Name = "web-" }, "host name", "not a valid host name"},
		{"underscore", func(c *Config) { c.Name = "web_1" }, "host name", "not a valid host name"},
		{"64-char name", func(c *Config) { c.Name = strings.Repeat("a", 64) }, "host name", "not a valid host name"},
		{"quote in name", func(c *Config) { c.Name = `web"1` }, "host name", "not a valid host name"},
		{"no channel", func(c *Config) { c.Channel = channel.Channel{} }, "channel", "not set"},
		{"no boot mode", func(c *Config) { c.Facts.BootMode = "" }, "boot mode", `"": want "bios" or "efi"`},
		{"bad boot mode", func(c *Config) { c.Facts.BootMode = "uefi" }, "boot mode", `"uefi"`},
		{"bios without grub device", func(c *Config) { c.Facts.GrubDevice = "" }, "grub device", "not set"},
		{"relative grub device", func(c *Config) { c.Facts.GrubDevice = "vda" }, "grub device", "absolute path"},
		{"efi without ESP device", func(c *Config) { c.Facts = efiFacts(); c.Facts.ESPDevice = "" }, "ESP device", "not set"},
		{"efi without ESP mount", func(c *Config) { c.Facts = efiFacts(); c.Facts.ESPMount = "" }, "ESP mount point", "not set"},
		{"ESP mounted at /", func(c *Config) { c.Facts = efiFacts(); c.Facts.ESPMount = "/" }, "ESP mount point", "below /"},
		{"unclean ESP mount", func(c *Config) { c.Facts = efiFacts(); c.Facts.ESPMount = "/boot/efi/" }, "ESP mount point", "clean"},
		{"relative ESP mount", func(c *Config) { c.Facts = efiFacts(); c.Facts.ESPMount = "boot" }, "ESP mount point", "absolute path"},
		{"no root device", func(c *Config) { c.Facts.RootDevice = "" }, "root device", "not set"},
		{"control char in root device", func(c *Config) { c.Facts.RootDevice = "/dev/vda1\n" }, "root device", "control character"},
		{"invalid UTF-8 in root device", func(c *Config) { c.Facts.RootDevice = "/dev/\xff" }, "root device", "UTF-8"},
		{"no root fs type", func(c *Config) { c.Facts.RootFSType = "" }, "root file system type", "ext4"},
		{"odd root fs type", func(c *Config) { c.Facts.RootFSType = "ext4; rm" }, "root file system type", `"ext4; rm"`},
		{"no deploy key", func(c *Config) { c.DeployKey = "" }, "deploy key", "not set"},
		{"blank deploy key", func(c *Config) { c.DeployKey = "\n  \n# comment\n" }, "deploy key", "not set"},
		{"two deploy keys", func(c *Config) { c.DeployKey = testKey(t, 1) + "\n" + k2 }, "deploy key", "want one key, found 2"},
		{"garbage deploy key", func(c *Config) { c.DeployKey = "ssh-ed25519 notbase64" }, "deploy key", "not an SSH public key"},
		{"private key as deploy key", func(c *Config) { c.DeployKey = "-----BEGIN OPENSSH PRIVATE KEY-----" }, "deploy key", "not an SSH public key"},
		{"control char in comment", func(c *Config) { c.DeployKey = testKey(t, 1) + " a\x1bb" }, "deploy key", "control character"},
		{"bad authorized key", func(c *Config) { c.AuthorizedKeys = []string{k2, "nonsense"} }, "authorized key 2", "not an SSH public key"},
		{"bad line in authorized keys file", func(c *Config) {
			c.AuthorizedKeys = []string{k2 + "\n\n# ok\nssh-rsa AAAA"}
		}, "authorized key 1, line 4", `"ssh-rsa AAAA" is not an SSH public key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			tt.change(&c)
			err := c.Validate()
			for _, f := range []func(Config) ([]byte, error){ConfigurationNix, BootstrapNix} {
				out, ferr := f(c)
				if (ferr == nil) != (err == nil) || (err != nil && ferr.Error() != err.Error()) {
					t.Errorf("generator error %v differs from Validate error %v", ferr, err)
				}
				if ferr != nil && out != nil {
					t.Errorf("got output %q with error, want none", out)
				}
			}
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *ConfigError for %s", err, tt.field)
			}
			if ce.Field != tt.field || !strings.Contains(ce.Reason, tt.reason) {
				t.Errorf("got %q, want field %q with reason containing %q", err, tt.field, tt.reason)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans several lines", err)
			}
		})
	}
}

func TestAuthorizedKeysNormalized(t *testing.T) {
	k1, k2, k3, k4 := testKey(t, 1), testKey(t, 2), testKey(t, 3), testKey(t, 4)
	got, err := authorizedKeys(
		"  "+k1+" deploy@bootstrap \r\n",
		[]string{
			k2 + " alice@laptop",
			// Options are kept as they are (bootstrap strips a cloud image's
			// wrapper before it gets here).
			`from="192.0.2.0/24",command="borg serve --restrict-to-path /backup",restrict ` + k3 + " backup@cloud",
			"# a comment\n\n" + k1 + " same key as the deploy key\r\n" + `from="10.0.0.0/8" ` + k4,
			k2 + " alice again",
			"",
		},
	)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		k1 + " deploy@bootstrap",
		k2 + " alice@laptop",
		`from="192.0.2.0/24",command="borg serve --restrict-to-path /backup",restrict ` + k3 + " backup@cloud",
		`from="10.0.0.0/8" ` + k4,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestMarkerIsFirstLine(t *testing.T) {
	for _, facts := range []Facts{biosFacts(), efiFacts()} {
		c := validConfig(t)
		c.Facts = facts
		b, err := BootstrapNix(c)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(b), "\n")
		if first != Marker {
			t.Errorf("first line %q, want %q", first, Marker)
		}
	}
	if !strings.HasPrefix(Marker, "# ") || strings.Contains(Marker, "\n") {
		t.Errorf("Marker %q must be a one-line Nix comment", Marker)
	}
}

// TestChannelChoices pins the channel-dependent options (see the cut-offs
// documented in bootstrap.nix.tmpl): each line must appear exactly when the
// channel is at least the release given.
func TestChannelChoices(t *testing.T) {
	type choice struct {
		line  string
		from  string // first channel with the line; "" = every channel
		until string // first channel without it; "" = never dropped
	}
	choices := []choice{
		{line: "boot.cleanTmpDir = lib.mkDefault true;", until: "23.05"},
		{line: "boot.tmp.cleanOnBoot = lib.mkDefault true;", from: "23.05"},
		{line: `services.openssh.permitRootLogin = "prohibit-password";`, until: "23.05"},
		{line: "services.openssh.passwordAuthentication = lib.mkDefault false;", until: "23.05"},
		{line: `services.openssh.settings.PermitRootLogin = "prohibit-password";`, from: "23.05"},
		{line: "services.openssh.settings.PasswordAuthentication = lib.mkDefault false;", from: "23.05"},
		{line: "services.logrotate.checkConfig = lib.mkDefault false;", from: "22.05"},
		{line: "services.openssh.enable = true;"},
		{line: `imports = [ (modulesPath + "/profiles/qemu-guest.nix") ];`},
		{line: `boot.initrd.kernelModules = [ "nvme" ];`},
		{line: `networking.hostName = lib.mkForce "web1";`},
	}
	channels := []string{
		"nixos-20.09", "nixos-21.05", "nixos-21.11", "nixos-22.05", "nixos-22.11",
		"nixos-23.05", "nixos-23.11", "nixos-24.05", "nixos-24.11", "nixos-25.05",
		"nixos-25.11", "nixos-26.05-small", "nixos-unstable", "nixos-unstable-small",
	}
	at := func(c channel.Channel, v string) bool {
		var yy, mm int
		if _, err := fmt.Sscanf(v, "%d.%d", &yy, &mm); err != nil {
			t.Fatal(err)
		}
		return c.AtLeast(yy, mm)
	}
	for _, name := range channels {
		t.Run(name, func(t *testing.T) {
			c := validConfig(t)
			c.Channel = mustChannel(t, name)
			b, err := BootstrapNix(c)
			if err != nil {
				t.Fatal(err)
			}
			lines := map[string]int{}
			for _, l := range strings.Split(string(b), "\n") {
				lines[strings.TrimSpace(l)]++
			}
			for _, ch := range choices {
				want := (ch.from == "" || at(c.Channel, ch.from)) && (ch.until == "" || !at(c.Channel, ch.until))
				if got := lines[ch.line] == 1; got != want {
					t.Errorf("line %q present once: got %v, want %v", ch.line, got, want)
				}
			}
			wantState := `system.stateVersion = lib.mkDefault "` + c.Channel.StateVersion() + `";`
			if lines[wantState] != 1 {
				t.Errorf("missing %q", wantState)
			}
			if c.Channel.Unstable() && !strings.Contains(wantState, channel.LatestStable) {
				t.Errorf("unstable stateVersion line %q, want %s", wantState, channel.LatestStable)
			}
		})
	}
}

func TestBootModes(t *testing.T) {
	tests := []struct {
		name    string
		facts   Facts
		want    []string
		notWant []string
	}{
		{
			name:  "bios",
			facts: biosFacts(),
			want: []string{
				`boot.loader.grub.device = lib.mkDefault "/dev/vda";`,
				`device = lib.mkDefault "/dev/vda1";`,
				`fsType = lib.mkDefault "ext4";`,
			},
			notWant: []string{"efiSupport", "efiSysMountPoint", "vfat", "nodev"},
		},
		{
			name:  "efi at /boot/efi",
			facts: efiFacts(),
			want: []string{
				"boot.loader.grub.efiSupport = lib.mkDefault true;",
				"boot.loader.grub.efiInstallAsRemovable = lib.mkDefault true;",
				`boot.loader.grub.device = lib.mkDefault "nodev";`,
				`boot.loader.efi.efiSysMountPoint = lib.mkDefault "/boot/efi";`,
				`fileSystems."/boot/efi" = {`,
				`device = lib.mkDefault "/dev/disk/by-uuid/ABCD-1234";`,
				`fsType = lib.mkDefault "vfat";`,
				`device = lib.mkDefault "/dev/sda2";`,
			},
			notWant: []string{`"/dev/vda"`},
		},
		{
			name:  "efi at /boot",
			facts: Facts{BootMode: EFI, ESPDevice: "/dev/vda15", ESPMount: "/boot", RootDevice: "/dev/vda1", RootFSType: "xfs"},
			want: []string{
				`boot.loader.grub.device = lib.mkDefault "nodev";`,
				`fileSystems."/boot" = {`,
				`device = lib.mkDefault "/dev/vda15";`,
				`fsType = lib.mkDefault "xfs";`,
			},
			notWant: []string{"efiSysMountPoint"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			c.Facts = tt.facts
			b, err := BootstrapNix(c)
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			for _, w := range tt.want {
				if !strings.Contains(s, w) {
					t.Errorf("missing %q in:\n%s", w, s)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(s, w) {
					t.Errorf("unexpected %q in:\n%s", w, s)
				}
			}
		})
	}
}

func TestConfigurationNix(t *testing.T) {
	c := validConfig(t)
	b, err := ConfigurationNix(c)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, w := range []string{
		"web1", "nixos-24.11",
		"./bootstrap.nix", "./host.nix",
		"lib.optional (builtins.pathExists ./hardware-configuration.nix) ./hardware-configuration.nix",
	} {
		if !strings.Contains(s, w) {
			t.Errorf("missing %q in:\n%s", w, s)
		}
	}
	if strings.Contains(s, "ssh-ed25519") || strings.Contains(s, "/dev/") {
		t.Errorf("configuration.nix holds host facts, want only the imports:\n%s", s)
	}
}

func TestDefaultHostNix(t *testing.T) {
	s := string(DefaultHostNix("web1"))
	for _, w := range []string{"web1", "{ pkgs, ... }:", "environment.systemPackages = [ pkgs.vim ];", "secrets"} {
		if !strings.Contains(s, w) {
			t.Errorf("missing %q in:\n%s", w, s)
		}
	}
	s = string(DefaultHostNix("bad\nname"))
	if strings.Contains(s, "bad") || !strings.Contains(s, "this host") {
		t.Errorf("an invalid name must be left out, got:\n%s", s)
	}
}

func TestAutoUpgradeFollowsTheChannel(t *testing.T) {
	for _, on := range []bool{false, true} {
		c := validConfig(t)
		c.AutoUpgrade = on
		out, err := BootstrapNix(c)
		if err != nil {
			t.Fatal(err)
		}
		want := `system.autoUpgrade.channel = "` + c.Channel.URL() + `";`
		if got := strings.Contains(string(out), want) && strings.Contains(string(out), "system.autoUpgrade.enable = true;"); got != on {
			t.Errorf("AutoUpgrade=%v: got autoUpgrade lines %v, want %v\n%s", on, got, on, out)
		}
	}
}
