package infect

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Variables of the pinned nixos-infect (7563801d) that bootstrap sets itself
// and an operator must not: each would break what bootstrap relies on.
var reservedEnv = map[string]string{
	"NIX_CHANNEL":  "it is --channel",
	"NIXOS_IMPORT": "bootstrap imports host.nix through its own configuration.nix",
	"NIXOS_CONFIG": "bootstrap writes /etc/nixos/configuration.nix (l.384-390 would replace it)",
	"NO_REBOOT":    "bootstrap reboots the host itself to know the script's exit status",
	"NO_INFECT":    "without the infect nothing would change",
	"bootFs":       "bootstrap sets bootFs=/boot on BIOS hosts, where the pinned script needs it (upstream issue #255)",
	"HOME":         "the script sets it (l.289)",
	"USER":         "the script sets it (l.288)",
	"PATH":         "the script needs the host's own PATH",
}

// knownEnv are the variables the pinned script reads that an operator may set,
// with what they do there.
var knownEnv = map[string]string{
	"NIX_INSTALL_URL": "the Nix installer the script runs (l.373-374): an older Nix for an old channel, or a mirror",
	"PROVIDER":        "the provider's quirks (l.430-437): lightsail relabels the root filesystem",
	"NO_SWAP":         "any non-empty value: no 1 GiB swap file in /tmp (l.442-451)",
}

// KnownEnv lists the variables --infect-env accepts for the pinned script, sorted.
func KnownEnv() []string {
	names := make([]string, 0, len(knownEnv))
	for k := range knownEnv {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// BIOSEnv is what bootstrap adds to the script's environment on a BIOS host.
// The pinned script sets bootFs only on EFI hosts (prepareEnv, l.267-280),
// yet runs `rm -rf $bootFs.bak` and `mv -v $bootFs $bootFs.bak || { cp -a
// $bootFs $bootFs.bak; ... }` on every host (l.418-421): with bootFs empty
// both mv and cp fail and set -e (l.5) ends the script before
// switch-to-configuration (l.427), upstream issue #255. Before commit 619b197
// those lines read /boot; prepareEnv leaves an inherited bootFs alone on
// BIOS, so bootFs=/boot restores exactly that behaviour there, and on EFI
// prepareEnv overwrites it.
var BIOSEnv = map[string]string{"bootFs": "/boot"}

// ParseEnv turns --infect-env NAME=VALUE arguments into a map, refusing names
// bootstrap sets itself, unknown names (a typo would silently do nothing)
// unless custom is set (a script other than the pinned one), repeated names,
// and values that are not one line of text.
func ParseEnv(args []string, custom bool) (map[string]string, error) {
	env := map[string]string{}
	for _, a := range args {
		name, value, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("--infect-env %q: want NAME=VALUE", a)
		}
		if !identRE.MatchString(name) {
			return nil, fmt.Errorf("--infect-env %q: %q is not a shell variable name", a, name)
		}
		if why, ok := reservedEnv[name]; ok {
			return nil, fmt.Errorf("--infect-env %s cannot be set: %s", name, why)
		}
		if _, ok := knownEnv[name]; !ok && !custom {
			return nil, fmt.Errorf("--infect-env %s is not read by the pinned nixos-infect: use one of %s", name, strings.Join(KnownEnv(), ", "))
		}
		if _, dup := env[name]; dup {
			return nil, fmt.Errorf("--infect-env %s is given twice", name)
		}
		if strings.ContainsAny(value, "\x00\n\r") {
			return nil, fmt.Errorf("--infect-env %s: the value must be one line", name)
		}
		if name == "NIX_INSTALL_URL" {
			u, err := url.Parse(value)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") || (u.Scheme != "file" && u.Host == "") {
				return nil, fmt.Errorf("--infect-env NIX_INSTALL_URL=%s: want an http(s) or file URL of a Nix installer, e.g. https://releases.nixos.org/nix/nix-2.3.18/install", value)
			}
		}
		env[name] = value
	}
	return env, nil
}
