// Package templates generates the NixOS configuration that bootstrap uploads
// to /etc/nixos before running nixos-infect:
//
//   - configuration.nix imports bootstrap.nix, the user's host.nix and, once
//     it exists, hardware-configuration.nix;
//   - bootstrap.nix (first line Marker) holds everything the first boot
//     needs: boot loader, file systems, initrd modules, SSH and root's keys.
//
// nixos-infect writes no configuration (nor hardware-configuration.nix) when
// configuration.nix exists, so these files alone must make a bootable
// system. They evaluate on every channel from nixos-20.09 to the newest
// release and nixos-unstable: they only use options that exist, un-renamed,
// over that whole range, except where the channel decides (see
// bootstrap.nix.tmpl and the cut-offs in the package tests).
//
// A leaf: it imports channel only.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	"path"
	"regexp"
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"

	"bootstrap/channel"
)

// Marker is the first line of bootstrap.nix; it identifies hosts managed by
// bootstrap.
const Marker = "# Managed by bootstrap: regenerated on every bootstrap; put your changes in host.nix."

// Boot modes of Facts.BootMode.
const (
	BIOS = "bios"
	EFI  = "efi"
)

// Facts describe the disks of the host as found on the running system
// before it is infected.
type Facts struct {
	BootMode   string // BIOS or EFI
	GrubDevice string // BIOS: disk whose MBR gets grub, e.g. "/dev/vda"
	ESPDevice  string // EFI: the EFI system partition, e.g. "/dev/disk/by-uuid/ABCD-1234"
	ESPMount   string // EFI: where the ESP is mounted, e.g. "/boot/efi" or "/boot"
	RootDevice string // device of /, e.g. "/dev/vda1"
	RootFSType string // file system type of /, e.g. "ext4"
	// EFI only: a separate /boot (not the ESP) that holds grub's files and
	// the kernels, e.g. "/dev/disk/by-uuid/…" and "ext4". Empty: none.
	BootDevice string `json:",omitempty"`
	BootFSType string `json:",omitempty"`
}

// Config is everything the generated files depend on.
type Config struct {
	Name    string // host name: one DNS label
	Channel channel.Channel
	// DeployKey is the public key bootstrap logs in with, one authorized_keys
	// line; it comes first in root's authorized keys.
	DeployKey string
	// AuthorizedKeys are further public keys for root. An element may hold
	// several lines (an authorized_keys file); blank and # lines are skipped.
	AuthorizedKeys []string
	Facts          Facts
	// AutoUpgrade turns on system.autoUpgrade, following Channel.
	AutoUpgrade bool
	// StateVersion overrides the channel's (a clone keeps its source's).
	StateVersion string
	// Networking imports networking.nix, the host's static network (package
	// network), from configuration.nix.
	Networking bool
}

// ConfigError reports an invalid Config.
type ConfigError struct {
	Field  string // human name of the field, e.g. "host name", "authorized key 2"
	Reason string
}

func (e *ConfigError) Error() string {
	return "invalid bootstrap config: " + e.Field + ": " + e.Reason
}

var stateVersionRE = regexp.MustCompile(`^[0-9]{2}\.[0-9]{2}$`)

//go:embed *.nix.tmpl
var files embed.FS

var tmpl = template.Must(template.New("").Funcs(template.FuncMap{"nix": NixString}).ParseFS(files, "*.nix.tmpl"))

// data is what the templates see.
type data struct {
	Marker       string
	Name         string
	Channel      channel.Channel
	Facts        Facts
	Keys         []string // normalized, deduplicated, deploy key first
	AutoUpgrade  bool
	StateVersion string
	Networking   bool
}

// ConfigurationNix returns /etc/nixos/configuration.nix for c. It validates
// the whole Config, like BootstrapNix, so that both files are generated from
// the same valid input.
func ConfigurationNix(c Config) ([]byte, error) {
	d, err := c.data()
	if err != nil {
		return nil, err
	}
	return render("configuration.nix.tmpl", d)
}

// BootstrapNix returns /etc/nixos/bootstrap.nix for c. Its first line is
// Marker.
func BootstrapNix(c Config) ([]byte, error) {
	d, err := c.data()
	if err != nil {
		return nil, err
	}
	return render("bootstrap.nix.tmpl", d)
}

// DefaultHostNix returns a minimal, commented host.nix for users who have
// none. name only appears in a comment (and is left out unless it is a
// valid host name).
func DefaultHostNix(name string) []byte {
	if !hostLabel.MatchString(name) {
		name = "this host"
	}
	b, err := render("host.nix.tmpl", data{Name: name})
	if err != nil {
		panic(err) // the template is fixed and takes a plain string: a bug
	}
	return b
}

func render(name string, d data) ([]byte, error) {
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, name, d); err != nil {
		return nil, fmt.Errorf("render %s: %w", strings.TrimSuffix(name, ".tmpl"), err)
	}
	return b.Bytes(), nil
}

// Validate reports the first problem of c as a *ConfigError.
func (c Config) Validate() error {
	_, err := c.data()
	return err
}

var (
	// RFC 1123 label; NixOS rejects dots in networking.hostName.
	hostLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	fsType    = regexp.MustCompile(`^[a-z0-9][a-z0-9._+-]*$`)
)

func (c Config) data() (data, error) {
	bad := func(field, format string, args ...any) (data, error) {
		return data{}, &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	if !hostLabel.MatchString(c.Name) {
		return bad("host name", "%q is not a valid host name: want 1 to 63 letters, digits and inner hyphens, no dots", c.Name)
	}
	if c.Channel == (channel.Channel{}) {
		return bad("channel", "not set")
	}

	f := c.Facts
	switch f.BootMode {
	case BIOS:
		if err := checkAbsPath("grub device", f.GrubDevice); err != nil {
			return data{}, err
		}
		if f.BootDevice != "" {
			return bad("boot device", "a separate /boot is not declared on BIOS hosts: nixos-infect unmounts it and grub goes to the root file system")
		}
	case EFI:
		if err := checkAbsPath("ESP device", f.ESPDevice); err != nil {
			return data{}, err
		}
		if err := checkAbsPath("ESP mount point", f.ESPMount); err != nil {
			return data{}, err
		}
		if f.ESPMount == "/" || path.Clean(f.ESPMount) != f.ESPMount {
			return bad("ESP mount point", "%q: want a clean absolute path below / such as /boot or /boot/efi", f.ESPMount)
		}
		if f.BootDevice != "" {
			if f.ESPMount == "/boot" {
				return bad("boot device", "a separate /boot and an ESP mounted on /boot exclude each other")
			}
			if err := checkAbsPath("boot device", f.BootDevice); err != nil {
				return data{}, err
			}
			if !fsType.MatchString(f.BootFSType) {
				return bad("boot file system type", "%q: want a file system type such as ext4", f.BootFSType)
			}
		}
	default:
		return bad("boot mode", "%q: want %q or %q", f.BootMode, BIOS, EFI)
	}
	if f.RootDevice == "" {
		return bad("root device", "not set")
	}
	if err := checkText("root device", f.RootDevice); err != nil {
		return data{}, err
	}
	if !fsType.MatchString(f.RootFSType) {
		return bad("root file system type", "%q: want a file system type such as ext4", f.RootFSType)
	}

	keys, err := authorizedKeys(c.DeployKey, c.AuthorizedKeys)
	if err != nil {
		return data{}, err
	}
	sv := c.Channel.StateVersion()
	if c.StateVersion != "" {
		if !stateVersionRE.MatchString(c.StateVersion) {
			return data{}, &ConfigError{Field: "state version", Reason: fmt.Sprintf("%q is not YY.MM", c.StateVersion)}
		}
		sv = c.StateVersion
	}
	return data{Marker: Marker, Name: c.Name, Channel: c.Channel, Facts: f, Keys: keys, AutoUpgrade: c.AutoUpgrade, StateVersion: sv, Networking: c.Networking}, nil
}

func checkAbsPath(field, v string) error {
	if v == "" {
		return &ConfigError{Field: field, Reason: "not set"}
	}
	if !strings.HasPrefix(v, "/") {
		return &ConfigError{Field: field, Reason: fmt.Sprintf("%q: want an absolute path", v)}
	}
	return checkText(field, v)
}

// checkText rejects what has no business in a Nix string generated from a
// device name or key comment: invalid UTF-8 and control characters.
func checkText(field, v string) error {
	if !utf8.ValidString(v) {
		return &ConfigError{Field: field, Reason: fmt.Sprintf("%q is not valid UTF-8", v)}
	}
	for _, r := range v {
		if unicode.IsControl(r) && r != '\t' {
			return &ConfigError{Field: field, Reason: fmt.Sprintf("%q contains a control character", v)}
		}
	}
	return nil
}

// authorizedKeys validates and normalizes the deploy key and the further
// keys into "[OPTIONS ]TYPE BASE64[ COMMENT]" lines, the deploy key first,
// each key (by its key material) once.
//
// Options before a key (from="...", command="...", restrict, ...) are kept:
// NixOS writes the lines as they are into sshd's authorized keys, so a key
// restricted on the old system stays restricted on the new one. Which keys
// come here, and without which cloud-image wrapper, is the caller's choice
// (package bootstrap's --keep-keys).
func authorizedKeys(deploy string, extra []string) ([]string, error) {
	d, err := keyLines("deploy key", deploy)
	if err != nil {
		return nil, err
	}
	switch len(d) {
	case 0:
		return nil, &ConfigError{Field: "deploy key", Reason: "not set"}
	case 1:
	default:
		return nil, &ConfigError{Field: "deploy key", Reason: fmt.Sprintf("want one key, found %d", len(d))}
	}
	all := d
	for i, s := range extra {
		k, err := keyLines(fmt.Sprintf("authorized key %d", i+1), s)
		if err != nil {
			return nil, err
		}
		all = append(all, k...)
	}

	seen := make(map[string]bool)
	var out []string
	for _, k := range all {
		if seen[k.blob] {
			continue
		}
		seen[k.blob] = true
		out = append(out, k.line)
	}
	return out, nil
}

type key struct {
	blob string // wire-format key, for deduplication
	line string // normalized authorized_keys line
}

func keyLines(field, s string) ([]key, error) {
	var keys []key
	lines := strings.Split(s, "\n")
	for n, raw := range lines {
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		where := field
		if len(lines) > 1 {
			where = fmt.Sprintf("%s, line %d", field, n+1)
		}
		pk, comment, options, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, &ConfigError{Field: where, Reason: fmt.Sprintf("%s is not an SSH public key (want \"[OPTIONS ]TYPE BASE64 [COMMENT]\"): %v", shorten(line), err)}
		}
		if err := checkText(where, comment); err != nil {
			return nil, err
		}
		norm := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
		if comment != "" {
			norm += " " + comment
		}
		if len(options) > 0 {
			opts := strings.Join(options, ",")
			if err := checkText(where, opts); err != nil {
				return nil, err
			}
			norm = opts + " " + norm
		}
		keys = append(keys, key{blob: string(pk.Marshal()), line: norm})
	}
	return keys, nil
}

// shorten quotes s for an error message, cut to a readable length.
func shorten(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "..."
	}
	return fmt.Sprintf("%q", s)
}

// NixString quotes s as a Nix double-quoted string literal: backslash,
// double quote and the "${" that starts an interpolation are escaped, as
// are newline, carriage return and tab.
func NixString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '$':
			if i+1 < len(s) && s[i+1] == '{' {
				b.WriteString(`\$`)
			} else {
				b.WriteByte('$')
			}
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
