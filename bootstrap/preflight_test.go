package bootstrap

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"bootstrap/channel"
	"golang.org/x/crypto/ssh"

	"bootstrap/provider"
	"bootstrap/templates"
)

const debianFacts = `os_id=debian
os_like=
os_version=12
os_name=Debian GNU/Linux 12 (bookworm)
arch=x86_64
uid=0
boot=bios
root_source=/dev/vda1
root_fstype=ext4
root_uuid=0b2c0f9e-1111-2222-3333-444455556666
root_disk=/dev/vda
disk_free_kib=9000000
mem_kib=2000000
swap_kib=0
swap_first=
tmp_fstype=ext4
tmp_on_root=yes
tmp_free_kib=9000000
boot_id=5d9d4b1c-aaaa-bbbb-cccc-ddddeeeeffff
marker=
authorized_key=ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE alice@laptop
`

func withFact(base, key, val string) string {
	var out []string
	found := false
	for _, l := range strings.Split(strings.TrimRight(base, "\n"), "\n") {
		if k, _, _ := strings.Cut(l, "="); k == key {
			l = key + "=" + val
			found = true
		}
		out = append(out, l)
	}
	if !found {
		out = append(out, key+"="+val)
	}
	return strings.Join(out, "\n") + "\n"
}

func TestFactsCheck(t *testing.T) {
	tests := []struct {
		name      string
		facts     string
		resources bool
		env       map[string]string
		want      string // substring of the refusal; "" means accepted
	}{
		{"debian root", debianFacts, true, nil, ""},
		{"ubuntu", withFact(debianFacts, "os_id", "ubuntu"), true, nil, ""},
		{"debian derivative", withFact(withFact(debianFacts, "os_id", "raspbian"), "os_like", "debian"), true, nil, ""},
		{"centos", withFact(withFact(debianFacts, "os_id", "centos"), "os_name", "CentOS Stream 9"), true, nil, `unsupported OS "CentOS Stream 9"`},
		{"arm32", withFact(debianFacts, "arch", "armv7l"), true, nil, `unsupported architecture "armv7l"`},
		{"aarch64", withFact(debianFacts, "arch", "aarch64"), true, nil, ""},
		{"user without sudo", withFact(withFact(debianFacts, "uid", "1000"), "sudo", "no"), true, nil, "without passwordless sudo"},
		{"user with sudo", withFact(withFact(debianFacts, "uid", "1000"), "sudo", "yes"), true, nil, ""},
		{"small disk", withFact(debianFacts, "disk_free_kib", "1000000"), true, nil, "free on /"},
		{"small disk after infect", withFact(debianFacts, "disk_free_kib", "1000000"), false, nil, ""},
		// 2 GiB for Nix and the system, plus the 1 GiB swap file in /tmp on /.
		{"room for the system, not the swap file", withFact(debianFacts, "disk_free_kib", "2500000"), true, nil, "need 3.0 GiB: Nix, the channel and the system plus the 1 GiB swap file"},
		{"room for the system without swap file", withFact(debianFacts, "disk_free_kib", "2500000"), true, map[string]string{"NO_SWAP": "1"}, ""},
		{"swap partition: no swap file", withFact(withFact(withFact(debianFacts, "disk_free_kib", "2500000"), "swap_first", "/dev/vda2"), "swap_kib", "1048572"), true, nil, ""},
		{"swap file: the script still adds its own", withFact(withFact(withFact(debianFacts, "disk_free_kib", "2500000"), "swap_first", "/swapfile"), "swap_kib", "1048572"), true, nil, "need 3.0 GiB"},
		{"tmp on tmpfs", withFact(withFact(debianFacts, "tmp_fstype", "tmpfs"), "tmp_on_root", "no"), true, nil, "/tmp is a tmpfs"},
		{"tmp on tmpfs, no swap file", withFact(withFact(debianFacts, "tmp_fstype", "tmpfs"), "tmp_on_root", "no"), true, map[string]string{"NO_SWAP": "1"}, ""},
		{"small separate tmp", withFact(withFact(debianFacts, "tmp_on_root", "no"), "tmp_free_kib", "500000"), true, nil, "free on /tmp"},
		{"big separate tmp", withFact(withFact(withFact(debianFacts, "tmp_on_root", "no"), "tmp_free_kib", "5000000"), "disk_free_kib", "2200000"), true, nil, ""},
		{"small memory", withFact(debianFacts, "mem_kib", "200000"), true, nil, "of memory"},
		{"512 MiB droplet with the swap file", withFact(debianFacts, "mem_kib", "480000"), true, nil, ""},
		{"512 MiB droplet without swap", withFact(debianFacts, "mem_kib", "480000"), true, map[string]string{"NO_SWAP": "1"}, "memory and swap"},
		{"efi without esp", withFact(debianFacts, "boot", "efi"), true, nil, "EFI system partition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseFacts(tt.facts)
			if err != nil {
				t.Fatalf("parseFacts: %v", err)
			}
			err = f.check(tt.resources, tt.env)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got refusal %q, want none", err)
				}
				return
			}
			var pe *PreflightError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *PreflightError containing %q", err, tt.want)
			}
			if !strings.Contains(pe.Reason, tt.want) || pe.Hint == "" {
				t.Errorf("got reason %q hint %q, want reason containing %q and a hint", pe.Reason, pe.Hint, tt.want)
			}
		})
	}
}

func TestParseFactsRejectsGarbage(t *testing.T) {
	if _, err := parseFacts("bash: line 1: syntax error\n"); err == nil {
		t.Fatal("got no error for output without boot id, want one")
	}
}

func TestTemplateFacts(t *testing.T) {
	tests := []struct {
		name  string
		facts string
		want  templates.Facts
	}{
		{"bios by uuid", debianFacts, templates.Facts{BootMode: "bios", GrubDevice: "/dev/vda", RootDevice: "/dev/disk/by-uuid/0b2c0f9e-1111-2222-3333-444455556666", RootFSType: "ext4"}},
		{"bios whole-disk root", withFact(withFact(withFact(debianFacts, "root_uuid", ""), "root_disk", ""), "root_source", "/dev/vda"),
			templates.Facts{BootMode: "bios", GrubDevice: "/dev/vda", RootDevice: "/dev/vda", RootFSType: "ext4"}},
		{"efi", withFact(withFact(withFact(withFact(debianFacts, "boot", "efi"), "esp_mount", "/boot/efi"), "esp_source", "/dev/sda15"), "esp_uuid", "AB12-CD34"),
			templates.Facts{BootMode: "efi", ESPMount: "/boot/efi", ESPDevice: "/dev/disk/by-uuid/AB12-CD34", RootDevice: "/dev/disk/by-uuid/0b2c0f9e-1111-2222-3333-444455556666", RootFSType: "ext4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseFacts(tt.facts)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.templateFacts(); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHasSubscription(t *testing.T) {
	const release = "https://releases.nixos.org/nixos/24.11/nixos-24.11.719.abc1234"
	ch := func(s string) channel.Subscription {
		c, err := channel.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return channel.Subscription{Channel: c}
	}
	pinned := ch("nixos-24.11")
	pinned.Release = "nixos-24.11.719.abc1234"
	tests := []struct {
		lines []string
		want  channel.Subscription
		ok    bool
	}{
		{[]string{"nixos https://nixos.org/channels/nixos-24.11"}, ch("nixos-24.11"), true},
		{[]string{"nixos https://nixos.org/channels/nixos-24.11/"}, ch("nixos-24.11"), true},
		{[]string{"nixos https://nixos.org/channels/nixos-24.11-small"}, ch("nixos-24.11"), false},
		{[]string{"nixpkgs https://nixos.org/channels/nixos-24.11"}, ch("nixos-24.11"), false},
		{[]string{"home-manager https://x", "nixos https://nixos.org/channels/nixos-unstable"}, ch("nixos-unstable"), true},
		{nil, ch("nixos-24.11"), false},
		{[]string{"nixos " + release}, pinned, true},
		{[]string{"nixos " + release}, ch("nixos-24.11"), false},
		{[]string{"nixos https://nixos.org/channels/nixos-24.11"}, pinned, false},
	}
	for _, tt := range tests {
		if got := hasSubscription(tt.lines, tt.want); got != tt.ok {
			t.Errorf("hasSubscription(%q, %s): got %v, want %v", tt.lines, tt.want, got, tt.ok)
		}
	}
}

// Root's keys keep their options on NixOS; the cloud images' login
// refusal goes; the sudo user's keys do not become root's; every key is
// named, carried or dropped.
func TestCarryKeys(t *testing.T) {
	const (
		alice  = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE alice@laptop"
		backup = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOQvA3Ak3D/dCr3o4ZUfN1N9ee1vPH3jQb1h1ijKYr6q backup@nas"
		ubuntu = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP6jDxPw4eU5C4sWn9l1OKs0mCY2qP8o8vX7mq3wGhY0 ubuntu@laptop"
		deploy = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK2JRyI3kvEXvEX3JlTQ6y4H0y3E1p5r2ovNlO05VYdm deploy"
	)
	restricted := `from="10.0.0.0/8",command="borg serve --restrict-to-path /backup",restrict ` + backup
	wrapped := `no-port-forwarding,no-agent-forwarding,no-X11-forwarding,command="echo 'Please login as the user \"ubuntu\" rather than the user \"root\".';echo;sleep 10;exit 142" ` + ubuntu
	root := []string{alice, restricted, wrapped, `from="10.0.0.1",no-pty ` + alice, "not a key", deploy}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	pk, _ := ssh.NewPublicKey(pub)
	carol := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " carol@sudo-user"
	user := []string{ubuntu, alice, carol}
	tests := []struct {
		name     string
		keep     string
		file     []string
		carried  []string
		dropped  int
		someNote string
	}{
		{"all: without the cloud image's wrapper", KeepAll, nil, []string{alice, restricted, ubuntu}, 1, "without the cloud image's"},
		{"all: root's keys with their options", KeepAll, nil, []string{alice, restricted, ubuntu}, 1, "carol@sudo-user"},
		{"none", KeepNone, nil, nil, 4, "--keep-keys none"},
		{"a file", "./root-keys", []string{restricted}, []string{restricted}, 3, "not in --keep-keys ./root-keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, notes := carryKeys(root, user, deploy, tt.keep, tt.file)
			if strings.Join(got, "\n") != strings.Join(tt.carried, "\n") {
				t.Errorf("got carried\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.carried, "\n"))
			}
			dropped, all := 0, ""
			for _, n := range notes {
				if !n.Carried {
					dropped++
				}
				all += n.String() + "\n"
			}
			if dropped != tt.dropped {
				t.Errorf("got %d dropped, want %d:\n%s", dropped, tt.dropped, all)
			}
			if !strings.Contains(all, tt.someNote) {
				t.Errorf("got notes\n%s\nwant one saying %q", all, tt.someNote)
			}
			if tt.keep == KeepAll && !strings.Contains(all, "not root's: a sudo user's key") {
				t.Errorf("got notes\n%s\nwant the login user's key named as dropped", all)
			}
		})
	}
}

func TestCompatible(t *testing.T) {
	reached := map[string]*StepRecord{StepConnect: {Status: StatusDone}}
	rec := &Record{Name: "web-1", Provider: "ssh", Address: "203.0.113.7", Port: 22, Channel: "nixos-24.11", Steps: reached}
	never := &Record{Name: "web-1", Provider: "ssh", Address: "203.0.113.7", Port: 22, Channel: "nixos-24.11",
		Steps: map[string]*StepRecord{StepResolve: {Status: StatusDone}, StepConnect: {Status: StatusFailed}}}
	tests := []struct {
		name  string
		rec   *Record
		opts  Options
		field string
	}{
		// A host never reached takes the rerun's address, port and channel:
		// the first run had a typo, nothing happened on any machine.
		{"never reached: other address", never, Options{Provider: "ssh", Host: "203.0.113.8", Port: 2222, Channel: mustChannel(t, "nixos-23.11")}, ""},
		{"never reached: other provider", never, Options{Provider: "cloud", Channel: mustChannel(t, "nixos-24.11")}, "provider"},
		{"same", rec, Options{Provider: "ssh", Host: "203.0.113.7", Port: 22, Channel: mustChannel(t, "nixos-24.11")}, ""},
		{"other channel", rec, Options{Provider: "ssh", Host: "203.0.113.7", Port: 22, Channel: mustChannel(t, "nixos-23.11")}, "channel"},
		{"other address", rec, Options{Provider: "ssh", Host: "203.0.113.8", Port: 22, Channel: mustChannel(t, "nixos-24.11")}, "address"},
		{"other provider", rec, Options{Provider: "cloud", Channel: mustChannel(t, "nixos-24.11")}, "provider"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := compatible(tt.rec, tt.opts)
			var ce *provider.ConflictError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("got %v, want no conflict", err)
			case tt.field != "" && (!errors.As(err, &ce) || ce.Field != tt.field):
				t.Fatalf("got %v, want a conflict on %s", err, tt.field)
			}
		})
	}
}

// The login user's keys are read apart from root's.
func TestFactsKeepUserKeysApart(t *testing.T) {
	const bob = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP6jDxPw4eU5C4sWn9l1OKs0mCY2qP8o8vX7mq3wGhY0 bob@laptop"
	f, err := parseFacts(withFact(debianFacts, "user_key", bob))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.UserKeys) != 1 || f.UserKeys[0] != bob || len(f.AuthorizedKeys) != 1 || strings.Contains(f.AuthorizedKeys[0], "bob") {
		t.Errorf("got root's %q and the user's %q, want alice as root's and bob as the user's", f.AuthorizedKeys, f.UserKeys)
	}
}
