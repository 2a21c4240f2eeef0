package infect

import (
	"maps"
	"strings"
	"testing"
)

func TestParseEnv(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		custom  bool
		want    map[string]string
		wantErr string
	}{
		{"none", nil, false, map[string]string{}, ""},
		{"known", []string{"NIX_INSTALL_URL=https://releases.nixos.org/nix/nix-2.3.18/install", "NO_SWAP=1", "PROVIDER=hetznercloud"}, false,
			map[string]string{"NIX_INSTALL_URL": "https://releases.nixos.org/nix/nix-2.3.18/install", "NO_SWAP": "1", "PROVIDER": "hetznercloud"}, ""},
		{"value with = and spaces", []string{"PROVIDER=a b=c"}, false, map[string]string{"PROVIDER": "a b=c"}, ""},
		{"empty value", []string{"NO_SWAP="}, false, map[string]string{"NO_SWAP": ""}, ""},
		{"file installer", []string{"NIX_INSTALL_URL=file:///srv/nix/install"}, false, map[string]string{"NIX_INSTALL_URL": "file:///srv/nix/install"}, ""},
		{"no equals", []string{"NO_SWAP"}, false, nil, "want NAME=VALUE"},
		{"bad name", []string{"1X=2"}, false, nil, "not a shell variable name"},
		{"dash in name", []string{"NO-SWAP=1"}, false, nil, "not a shell variable name"},
		{"channel", []string{"NIX_CHANNEL=nixos-24.11"}, false, nil, "it is --channel"},
		{"no reboot", []string{"NO_REBOOT="}, false, nil, "reboots the host itself"},
		{"config", []string{"NIXOS_CONFIG=http://x/c.nix"}, true, nil, "cannot be set"},
		{"bootFs", []string{"bootFs=/boot"}, true, nil, "BIOS"},
		{"typo", []string{"NIX_INSTAL_URL=https://x/install"}, false, nil, "use one of NIX_INSTALL_URL, NO_SWAP, PROVIDER"},
		{"unknown with a custom script", []string{"MY_VAR=1"}, true, map[string]string{"MY_VAR": "1"}, ""},
		{"twice", []string{"NO_SWAP=1", "NO_SWAP=2"}, false, nil, "given twice"},
		{"newline", []string{"PROVIDER=a\nb"}, false, nil, "one line"},
		{"bad url", []string{"NIX_INSTALL_URL=releases.nixos.org/nix/install"}, false, nil, "http(s) or file URL"},
		{"ftp url", []string{"NIX_INSTALL_URL=ftp://x/install"}, false, nil, "http(s) or file URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnv(tt.args, tt.custom)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
