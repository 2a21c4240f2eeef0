package nixorg

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// selectPaths are the options a built system here consists of; the build
// evaluates exactly these (see Evaluator).
var selectPaths = []string{
	"@hash", // the whole configuration's digest (eval.nix)
	"networking.hostName",
	"networking.domain",
	"networking.useDHCP",
	"networking.usePredictableInterfaceNames",
	"networking.interfaces",
	"networking.defaultGateway",
	"networking.defaultGateway6",
	"networking.nameservers",
	"networking.dhcpcd.enable",
	"services.udev.extraRules",
	"users.users",
	"services.openssh.enable",
	"services.openssh.ports",
	"services.openssh.settings",
	"services.openssh.permitRootLogin",
	"services.openssh.passwordAuthentication",
	"boot.loader.grub.enable",
	"boot.loader.grub.device",
	"boot.loader.grub.devices",
	"boot.loader.grub.efiSupport",
	"boot.loader.grub.efiInstallAsRemovable",
	"boot.loader.efi.efiSysMountPoint",
	"boot.loader.systemd-boot.enable",
	"fileSystems",
	"swapDevices",
	"system.stateVersion",
	"system.activationScripts",
}

// Release is one release of a channel, as nixos.org publishes it.
type Release struct {
	Channel  string // e.g. "nixos-24.11-small"
	Version  string // the release, e.g. "24.11" (for unstable: the next one)
	Suffix   string // e.g. ".719.abc1234", or "pre712345.abc1234" on unstable
	Revision string // the nixpkgs git revision, 40 hex digits
}

// Name is the release's name, e.g. "nixos-24.11.719.abc1234".
func (r Release) Name() string { return "nixos-" + r.Version + r.Suffix }

// NixOSVersion is what nixos-version prints for a system built from it.
func (r Release) NixOSVersion() string {
	v := r.Version + r.Suffix
	if c := codenames[r.Version]; c != "" {
		v += " (" + c + ")"
	}
	return v
}

// URL is where releases.nixos.org keeps it; the directory is the channel
// without "nixos-" (24.11, 24.11-small, unstable).
func (r Release) URL() string {
	return "https://releases.nixos.org/nixos/" + strings.TrimPrefix(r.Channel, "nixos-") + "/" + r.Name()
}

// DefaultChannel is system.defaultChannel of a system built from a release:
// the stable release's channel, never its -small twin (nixpkgs'
// nixos/modules/misc/version.nix); nixos-unstable for unstable.
func (r Release) DefaultChannel() string {
	if strings.HasPrefix(r.Suffix, "pre") {
		return "https://nixos.org/channels/nixos-unstable"
	}
	return "https://nixos.org/channels/nixos-" + r.Version
}

// codenames of NixOS releases, from the release notes.
var codenames = map[string]string{
	"20.09": "Nightingale", "21.05": "Okapi", "21.11": "Porcupine", "22.05": "Quokka",
	"22.11": "Raccoon", "23.05": "Stoat", "23.11": "Tapir", "24.05": "Uakari",
	"24.11": "Vicuna", "25.05": "Warbler", "25.11": "Xantusia",
}

// BuildError is a configuration that does not build; Msg is what Nix (or a
// NixOS assertion) says.
type BuildError struct{ Msg string }

func (e *BuildError) Error() string { return e.Msg }

func buildErrorf(format string, args ...any) error {
	return &BuildError{Msg: fmt.Sprintf(format, args...)}
}

// config is the evaluated configuration: option path -> JSON value.
type config map[string]any

func (c config) str(p, def string) string {
	if s, ok := c[p].(string); ok {
		return s
	}
	return def
}

func (c config) boolean(p string, def bool) bool {
	if b, ok := c[p].(bool); ok {
		return b
	}
	return def
}

func (c config) attrs(p string) map[string]any {
	m, _ := c[p].(map[string]any)
	return m
}

func (c config) list(p string) []any {
	l, _ := c[p].([]any)
	return l
}

func get(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func strs(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// render turns an evaluated configuration into the files of the system: the
// /etc NixOS would generate from it (etc/...), its boot loader and activation
// settings (boot.env, activation.env), user activation scripts, and its
// version. NixOS assertions that bootstrap's hosts could trip become a
// *BuildError with NixOS's wording.
func render(c config, rel Release) (map[string][]byte, error) {
	files := map[string][]byte{}
	put := func(name, s string) { files[name] = []byte(s) }

	host := c.str("networking.hostName", "nixos")
	put("name", "nixos-system-"+host+"-"+rel.Version+rel.Suffix)
	// What the system is built from: every option's value and the nixpkgs revision, so the
	// store path changes exactly when a real build's would.
	put("configuration-hash", c.str("@hash", "")+" "+rel.Revision+"\n")
	put("nixos-version", rel.NixOSVersion()+"\n")
	put("nixpkgs-revision", rel.Revision+"\n")
	put("default-channel", rel.DefaultChannel()+"\n")

	// Boot: the root file system and the boot loader.
	fs := c.attrs("fileSystems")
	root, _ := fs["/"].(map[string]any)
	if root == nil {
		return nil, buildErrorf("error:\nFailed assertions:\n- The ‘fileSystems’ option does not specify your root file system.")
	}
	rootDev := fsDevice(root)
	if c.boolean("boot.loader.systemd-boot.enable", false) {
		return nil, buildErrorf("error: the local cloud's NixOS stand-in installs grub only, not systemd-boot")
	}
	var devices []string
	if d := c.str("boot.loader.grub.device", ""); d != "" {
		devices = append(devices, d)
	}
	for _, d := range strs(c["boot.loader.grub.devices"]) {
		if !slices.Contains(devices, d) {
			devices = append(devices, d)
		}
	}
	efi := c.boolean("boot.loader.grub.efiSupport", false)
	if c.boolean("boot.loader.grub.enable", true) && len(devices) == 0 {
		return nil, buildErrorf("error:\nFailed assertions:\n- You must set the option ‘boot.loader.grub.devices’ or 'boot.loader.grub.mirroredBoots' to make the system bootable.")
	}
	put("boot.env", strings.Join([]string{
		"GRUB_DEVICES=" + strings.Join(devices, " "),
		"GRUB_EFI=" + flag(efi),
		"GRUB_EFI_REMOVABLE=" + flag(c.boolean("boot.loader.grub.efiInstallAsRemovable", false)),
		"EFI_SYS_MOUNT_POINT=" + c.str("boot.loader.efi.efiSysMountPoint", "/boot"),
		"ROOT_DEVICE=" + rootDev,
	}, "\n")+"\n")
	put("etc/fstab", fstab(fs, c.list("swapDevices")))

	// Identity.
	put("etc/hostname", host+"\n")
	fqdn := host
	if d := c.str("networking.domain", ""); d != "" {
		fqdn = host + "." + d
	}
	put("etc/hosts", "127.0.0.1 localhost\n::1 localhost\n127.0.0.2 "+strings.Join(unique(fqdn, host), " ")+"\n")
	put("etc/os-release", osRelease(rel))

	// SSH.
	sshd := c.boolean("services.openssh.enable", false)
	conf, err := sshdConfig(c)
	if err != nil {
		return nil, err
	}
	put("etc/ssh/sshd_config", conf)
	users := c.attrs("users.users")
	for _, name := range sortedKeys(users) {
		keys := strs(get(users[name].(map[string]any), "openssh", "authorizedKeys", "keys"))
		if len(keys) > 0 {
			put("etc/ssh/authorized_keys.d/"+name, strings.Join(keys, "\n")+"\n")
		}
	}

	// Network.
	ifaces, err := interfacesFile(c)
	if err != nil {
		return nil, err
	}
	put("etc/network/interfaces", ifaces)
	if ns := strs(c["networking.nameservers"]); len(ns) > 0 {
		var b strings.Builder
		for _, n := range ns {
			fmt.Fprintf(&b, "nameserver %s\n", n)
		}
		put("etc/resolv.conf", b.String())
	}
	if rules := c.str("services.udev.extraRules", ""); rules != "" {
		put("etc/udev/rules.d/99-nixos-extra.rules", rules+"\n")
	}
	put("activation.env", strings.Join([]string{
		"SSHD=" + flag(sshd),
		"PREDICTABLE_NAMES=" + flag(c.boolean("networking.usePredictableInterfaceNames", true)),
		"DHCP_ALL=" + flag(c.boolean("networking.useDHCP", true) && c.boolean("networking.dhcpcd.enable", true)),
	}, "\n")+"\n")

	// The configuration's own activation scripts (system.activationScripts.NAME, a string or
	// { text; deps; }), in name order.
	scripts := c.attrs("system.activationScripts")
	for _, name := range sortedKeys(scripts) {
		text, _ := scripts[name].(string)
		if m, ok := scripts[name].(map[string]any); ok {
			text, _ = m["text"].(string)
		}
		if strings.ContainsAny(name, "/\x00") || name == "" || name == "." || name == ".." {
			return nil, buildErrorf("error: activation script name %q", name)
		}
		put("activation-scripts/"+name, text+"\n")
	}
	return files, nil
}

func unique(s ...string) []string {
	var out []string
	for _, x := range s {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func fsDevice(f map[string]any) string {
	if d, _ := f["device"].(string); d != "" {
		return d
	}
	if l, _ := f["label"].(string); l != "" {
		return "/dev/disk/by-label/" + l
	}
	return ""
}

// fstab is /etc/fstab from fileSystems and swapDevices, shortest mount point
// first as NixOS orders them.
func fstab(fs map[string]any, swaps []any) string {
	var b strings.Builder
	b.WriteString("# This is a generated file.  Do not edit!\n")
	mps := sortedKeys(fs)
	sort.SliceStable(mps, func(i, j int) bool { return len(mps[i]) < len(mps[j]) })
	for _, mp := range mps {
		f, _ := fs[mp].(map[string]any)
		if f == nil {
			continue
		}
		if m, _ := f["mountPoint"].(string); m != "" {
			mp = m
		}
		fstype, _ := f["fsType"].(string)
		if fstype == "" {
			fstype = "auto"
		}
		opts := strs(f["options"])
		if len(opts) == 0 {
			opts = []string{"defaults"}
		}
		pass := "0"
		if mp == "/" {
			pass = "1"
		}
		fmt.Fprintf(&b, "%s %s %s %s 0 %s\n", fsDevice(f), mp, fstype, strings.Join(opts, ","), pass)
	}
	for _, s := range swaps {
		if m, ok := s.(map[string]any); ok {
			if d := fsDevice(m); d != "" {
				fmt.Fprintf(&b, "%s none swap sw 0 0\n", d)
			}
		}
	}
	return b.String()
}

func osRelease(rel Release) string {
	version := rel.Version
	codename := codenames[rel.Version]
	if codename != "" {
		version += " (" + codename + ")"
	}
	return fmt.Sprintf(`ANSI_COLOR="1;34"
BUG_REPORT_URL="https://github.com/NixOS/nixpkgs/issues"
BUILD_ID="%s"
DOCUMENTATION_URL="https://nixos.org/learn.html"
HOME_URL="https://nixos.org/"
ID=nixos
LOGO="nix-snowflake"
NAME=NixOS
PRETTY_NAME="NixOS %s"
SUPPORT_URL="https://nixos.org/community.html"
VERSION="%s"
VERSION_CODENAME=%s
VERSION_ID="%s"
`, rel.Version+rel.Suffix, version, version, strings.ToLower(codename), rel.Version)
}

// sshdConfig is services.openssh as NixOS writes sshd_config: the settings
// names from 23.05 (services.openssh.settings) and the older ones.
func sshdConfig(c config) (string, error) {
	settings := c.attrs("services.openssh.settings")
	pick := func(newName, oldPath, def string) string {
		if v, ok := settings[newName]; ok {
			switch v := v.(type) {
			case string:
				return v
			case bool:
				if v {
					return "yes"
				}
				return "no"
			}
		}
		if v, ok := c[oldPath]; ok {
			switch v := v.(type) {
			case string:
				return v
			case bool:
				if v {
					return "yes"
				}
				return "no"
			}
		}
		return def
	}
	var b strings.Builder
	b.WriteString("# Generated from services.openssh by the NixOS stand-in.\n")
	ports := c.list("services.openssh.ports")
	if len(ports) == 0 {
		ports = []any{22.0}
	}
	for _, p := range ports {
		n, ok := p.(float64)
		if !ok || n < 1 || n > 65535 || n != float64(int(n)) {
			return "", buildErrorf("error: A definition for option `services.openssh.ports' is not of type `list of 16 bit unsigned integer'")
		}
		fmt.Fprintf(&b, "Port %d\n", int(n))
	}
	fmt.Fprintf(&b, "PermitRootLogin %s\n", pick("PermitRootLogin", "services.openssh.permitRootLogin", "prohibit-password"))
	fmt.Fprintf(&b, "PasswordAuthentication %s\n", pick("PasswordAuthentication", "services.openssh.passwordAuthentication", "yes"))
	b.WriteString("KbdInteractiveAuthentication no\nUsePAM yes\nPrintMotd no\n")
	b.WriteString("AuthorizedKeysFile %h/.ssh/authorized_keys /etc/ssh/authorized_keys.d/%u\n")
	b.WriteString("HostKey /etc/ssh/ssh_host_rsa_key\nHostKey /etc/ssh/ssh_host_ed25519_key\n")
	b.WriteString("Subsystem sftp /usr/lib/openssh/sftp-server\n")
	return b.String(), nil
}

type route struct{ dest, via string }

// interfacesFile is networking.interfaces and the default gateways as
// ifupdown's /etc/network/interfaces: addresses, then routes (on-link routes
// to a gateway outside the subnet first), then the default route. Interfaces
// left to DHCP are added at activation, when their names are known.
func interfacesFile(c config) (string, error) {
	var b strings.Builder
	b.WriteString("# Generated from networking.* by the NixOS stand-in.\nauto lo\niface lo inet loopback\n")
	ifs := c.attrs("networking.interfaces")
	gw4 := gateway(c["networking.defaultGateway"])
	gw6 := gateway(c["networking.defaultGateway6"])
	for _, name := range sortedKeys(ifs) {
		ic, _ := ifs[name].(map[string]any)
		if ic == nil {
			continue
		}
		for _, fam := range []struct {
			key, inet string
			gw        route
			bits      int
		}{{"ipv4", "inet", gw4, 32}, {"ipv6", "inet6", gw6, 128}} {
			addrs, err := prefixes(get(ic, fam.key, "addresses"), name+"."+fam.key+".addresses")
			if err != nil {
				return "", err
			}
			routes, err := prefixes(get(ic, fam.key, "routes"), name+"."+fam.key+".routes")
			if err != nil {
				return "", err
			}
			useDHCP, _ := ic["useDHCP"].(bool)
			if len(addrs) == 0 {
				if fam.key == "ipv4" && useDHCP {
					fmt.Fprintf(&b, "\nauto %s\niface %s inet dhcp\n", name, name)
				}
				continue
			}
			fmt.Fprintf(&b, "\nauto %s\niface %s %s static\n    address %s\n", name, name, fam.inet, addrs[0])
			for _, a := range addrs[1:] {
				fmt.Fprintf(&b, "    up ip addr add %s dev %s\n", a, name)
			}
			for _, r := range routes {
				fmt.Fprintf(&b, "    up ip route add %s dev %s\n", r, name)
			}
			if fam.gw.via != "" && (fam.gw.dest == "" || fam.gw.dest == name) {
				fmt.Fprintf(&b, "    up ip %s route add default via %s dev %s\n", map[string]string{"ipv4": "-4", "ipv6": "-6"}[fam.key], fam.gw.via, name)
			}
		}
	}
	return b.String(), nil
}

// gateway reads networking.defaultGateway{,6}: a string, or { address; interface; }.
func gateway(v any) route {
	switch g := v.(type) {
	case string:
		return route{via: g}
	case map[string]any:
		a, _ := g["address"].(string)
		i, _ := g["interface"].(string)
		return route{via: a, dest: i}
	}
	return route{}
}

// prefixes reads a list of { address; prefixLength; } as address/length.
func prefixes(v any, what string) ([]string, error) {
	var out []string
	for _, x := range anyList(v) {
		m, _ := x.(map[string]any)
		a, _ := m["address"].(string)
		l, ok := m["prefixLength"].(float64)
		ip, err := netip.ParseAddr(a)
		if err != nil || !ok || l < 0 || int(l) > ip.BitLen() {
			return nil, buildErrorf("error: networking.interfaces.%s: %q/%v is not an address with a prefix length", what, a, m["prefixLength"])
		}
		out = append(out, a+"/"+strconv.Itoa(int(l)))
	}
	return out, nil
}

func anyList(v any) []any {
	l, _ := v.([]any)
	return l
}

// configDir is where the build puts the uploaded configuration.
func cleanRel(name string) (string, bool) {
	c := path.Clean(strings.TrimPrefix(name, "./"))
	return c, c != "." && c != ".." && !strings.HasPrefix(c, "../") && !path.IsAbs(c)
}
