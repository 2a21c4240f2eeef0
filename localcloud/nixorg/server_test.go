package nixorg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ulikunitz/xz"

	"bootstrap/channel"
	"bootstrap/templates"
)

// build posts a configuration directory to the stand-in as nix-rig does and returns the status
// and either the system's files or the error text.
func build(t *testing.T, h http.Handler, dir string, rel Release) (int, map[string]string, string) {
	t.Helper()
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	tw := tar.NewWriter(zw)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "./" + e.Name(), Mode: 0o644, Size: int64(len(b))})
		tw.Write(b)
	}
	tw.Close()
	zw.Close()
	req := httptest.NewRequest("POST", "/build", &body)
	req.Header.Set("X-Nix-Version", "2.31.2")
	req.Header.Set("X-Nixpkgs-Version", rel.Version)
	req.Header.Set("X-Nixpkgs-Suffix", rel.Suffix)
	req.Header.Set("X-Nixpkgs-Revision", rel.Revision)
	req.Header.Set("X-Config-File", "configuration.nix")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		return w.Code, nil, w.Body.String()
	}
	files := map[string]string{}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		hd, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hd.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			files[strings.TrimPrefix(hd.Name, "./")] = string(b)
		}
	}
	return w.Code, files, ""
}

func TestBuildRendersTheSystem(t *testing.T) {
	e := evaluator(t)
	s := New(e, time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC))
	rel, err := s.Head("nixos-24.11-small")
	if err != nil {
		t.Fatal(err)
	}
	deploy := testKey(t, 1) + " bootstrap-deploy"
	ch, _ := channel.Parse("nixos-24.11-small")
	c := templates.Config{
		Name: "web1", Channel: ch, DeployKey: deploy,
		Facts: templates.Facts{BootMode: templates.EFI, ESPDevice: "/dev/disk/by-uuid/ABCD-1234", ESPMount: "/boot/efi",
			BootDevice: "/dev/disk/by-uuid/b007b007-0000-4000-8000-000000000b00", BootFSType: "ext4",
			RootDevice: "/dev/disk/by-uuid/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", RootFSType: "ext4"},
	}
	host := `{ lib, ... }: {
  system.activationScripts.marker = "echo hi";
  networking.interfaces.ens3.ipv4.addresses = [ { address = "203.0.113.7"; prefixLength = 24; } ];
  networking.defaultGateway = { address = "203.0.113.1"; interface = "ens3"; };
  networking.nameservers = [ "192.0.2.53" ];
  networking.useDHCP = false;
}
`
	code, files, msg := build(t, s.Handler(), generate(t, c, host, nil), rel)
	if code != http.StatusOK {
		t.Fatalf("got %d %s, want the system", code, msg)
	}
	for name, want := range map[string]string{
		"name":                           "nixos-system-web1-" + rel.Version + rel.Suffix,
		"nixos-version":                  rel.Version + rel.Suffix + " (Vicuna)\n",
		"default-channel":                "https://nixos.org/channels/nixos-24.11\n",
		"etc/hostname":                   "web1\n",
		"etc/ssh/authorized_keys.d/root": deploy + "\n",
		"activation-scripts/marker":      "echo hi\n",
		"etc/resolv.conf":                "nameserver 192.0.2.53\n",
	} {
		if files[name] != want {
			t.Errorf("%s: got %q, want %q", name, files[name], want)
		}
	}
	for name, wants := range map[string][]string{
		"boot.env":       {"GRUB_DEVICES=nodev\n", "GRUB_EFI=1\n", "GRUB_EFI_REMOVABLE=1\n", "EFI_SYS_MOUNT_POINT=/boot/efi\n", "ROOT_DEVICE=/dev/disk/by-uuid/0f1e2d3c-"},
		"activation.env": {"SSHD=1\n", "PREDICTABLE_NAMES=1\n", "DHCP_ALL=0\n"},
		"etc/fstab": {"/dev/disk/by-uuid/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 / ext4 defaults 0 1\n",
			"/dev/disk/by-uuid/b007b007-0000-4000-8000-000000000b00 /boot ext4 defaults 0 0\n",
			"/dev/disk/by-uuid/ABCD-1234 /boot/efi vfat defaults 0 0\n"},
		"etc/ssh/sshd_config":    {"Port 22\n", "PermitRootLogin prohibit-password\n", "PasswordAuthentication no\n"},
		"etc/network/interfaces": {"iface ens3 inet static\n    address 203.0.113.7/24\n    up ip -4 route add default via 203.0.113.1 dev ens3\n"},
		"etc/os-release":         {"ID=nixos\n", `VERSION_ID="24.11"`},
	} {
		for _, want := range wants {
			if !strings.Contains(files[name], want) {
				t.Errorf("%s: got %q, want it to contain %q", name, files[name], want)
			}
		}
	}
	if i, j := strings.Index(files["etc/fstab"], " /boot "), strings.Index(files["etc/fstab"], " /boot/efi "); i < 0 || j < i {
		t.Errorf("fstab mounts /boot/efi before /boot:\n%s", files["etc/fstab"])
	}

	// The same configuration builds the same system (the guest keeps the store path), a
	// comment changes nothing, any option's value does, as with a real derivation.
	_, again, _ := build(t, s.Handler(), generate(t, c, host+"# a comment\n", nil), rel)
	if again["configuration-hash"] != files["configuration-hash"] || again["etc/fstab"] != files["etc/fstab"] {
		t.Errorf("the same configuration with a comment built another system: %q, was %q", again["configuration-hash"], files["configuration-hash"])
	}
	changed := strings.Replace(host, "{ lib, ... }: {", "{ lib, pkgs, ... }: {\n  environment.systemPackages = [ pkgs.htop ];", 1)
	_, other, _ := build(t, s.Handler(), generate(t, c, changed, nil), rel)
	if other["configuration-hash"] == files["configuration-hash"] || other["configuration-hash"] == "" {
		t.Errorf("a changed package list built the same system %q", other["configuration-hash"])
	}
}

func TestBuildRefuses(t *testing.T) {
	e := evaluator(t)
	s := New(e, time.Now())
	rel, _ := s.Head("nixos-24.11")
	ch, _ := channel.Parse("nixos-24.11")
	bios := templates.Config{Name: "web1", Channel: ch, DeployKey: testKey(t, 1),
		Facts: templates.Facts{BootMode: templates.BIOS, GrubDevice: "/dev/vda", RootDevice: "/dev/vda", RootFSType: "ext4"}}
	for _, tt := range []struct {
		name, host string
		extra      map[string]string
		want       string
	}{
		{"throw", `{ ... }: { services.openssh.enable = throw "not ready yet"; }`, nil, "not ready yet"},
		{"parse error", `{ ... }: { services.openssh.enable = ; }`, nil, "syntax error"},
		{"parse error in an unimported file", `{ ... }: { }`, map[string]string{"extra.nix": "{ x = "}, "extra.nix"},
		{"conflict", `{ ... }: { services.openssh.enable = false; }`, nil, "conflicting definition values"},
		{"no root file system", `{ lib, ... }: { fileSystems = lib.mkForce { }; }`, nil, "does not specify your root file system"},
		{"no grub device", `{ lib, ... }: { boot.loader.grub.device = lib.mkForce ""; }`, nil, "boot.loader.grub.devices"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, msg := build(t, s.Handler(), generate(t, bios, tt.host, tt.extra), rel)
			if code != http.StatusUnprocessableEntity || !strings.Contains(msg, tt.want) {
				t.Errorf("got %d %q, want 422 mentioning %q", code, msg, tt.want)
			}
		})
	}
}

func TestChannelsAndReleases(t *testing.T) {
	s := New(nil, time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC))
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	first, _ := s.Head("nixos-unstable")
	if first.Version != "27.05" || !strings.HasPrefix(first.Suffix, "pre") || first.DefaultChannel() != "https://nixos.org/channels/nixos-unstable" {
		t.Errorf("got unstable release %+v, want 27.05pre… heading for the next release", first)
	}
	second, _ := s.Advance("nixos-unstable")
	if second.Name() == first.Name() || second.Revision == first.Revision {
		t.Fatalf("Advance did not move the channel: %s", second.Name())
	}
	resp, err := http.Get(srv.URL + "/channels/nixos-unstable")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Request.URL.Path; got != "/nixos/unstable/"+second.Name() {
		t.Errorf("the channel redirects to %s, want the head release %s", got, second.Name())
	}
	// An older release stays downloadable, with its own revision.
	resp, err = http.Get(srv.URL + "/nixos/unstable/" + first.Name() + "/nixexprs.tar.xz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("got %v %v, want the old release's nixexprs", resp, err)
	}
	zr, err := xz.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	got := map[string]string{}
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = string(b)
	}
	resp.Body.Close()
	if got[first.Name()+"/.git-revision"] != first.Revision || got[first.Name()+"/.version"] != "27.05" {
		t.Errorf("got %v, want the release's version files", got)
	}
	for _, p := range []string{"/channels/nixos-24.12", "/nixos/24.11/nixos-24.11.1.abcdef0/nixexprs.tar.xz", "/nix/nix-x/install"} {
		if resp, err := http.Get(srv.URL + p); err != nil || resp.StatusCode != 404 {
			t.Errorf("GET %s: got %v %v, want 404", p, resp.Status, err)
		}
	}
}

// TestInstallerScripts checks the served installer is sh, and the tools it carries bash and
// busybox-compatible sh, with the guest URL and the version filled in.
func TestInstallerScripts(t *testing.T) {
	s := New(nil, time.Now())
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/nix/nix-2.3.18/install")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"nix-2.3.18", "RIG_URL=" + GuestURL, "NIX_VERSION=2.3.18"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the installer lacks %q", want)
		}
	}
	for _, sh := range []struct{ shell, name string }{{"sh", "install"}, {"bash", "nix-rig"}, {"sh", "rig-stage1"}} {
		text, err := Script(sh.name, "2.3.18")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(sh.shell, "-n")
		cmd.Stdin = strings.NewReader(text)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s -n %s: %v\n%s", sh.shell, sh.name, err, out)
		}
	}
}
