package cmd

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// sshCmdWith parses args into a fresh ssh command and applies settings.
func sshCmdWith(t *testing.T, wsDir string, args ...string) (*cobra.Command, error) {
	t.Helper()
	g := &globalOptions{Workspace: "."}
	root := NewRoot()
	root.PersistentFlags().Lookup("workspace").Value.Set(".")
	var ssh *cobra.Command
	for _, c := range root.Commands() {
		if c.Name() == "ssh" {
			ssh = c
		}
	}
	if ssh == nil {
		t.Fatal("no ssh command")
	}
	ssh.Flags().AddFlagSet(root.PersistentFlags())
	if err := ssh.ParseFlags(append([]string{"--workspace", wsDir}, args...)); err != nil {
		t.Fatal(err)
	}
	g.Workspace = wsDir
	return ssh, applySettings(ssh, g)
}

func TestSettingsPrecedence(t *testing.T) {
	userDir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", userDir)
	if err := os.MkdirAll(filepath.Join(userDir, "bootstrap"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(userDir, "bootstrap", ConfigFile), "channel: nixos-23.11\nport: 2200\nreboot-timeout: 3m\ntimeout: 7m\n")
	ws := t.TempDir()
	write(filepath.Join(ws, ConfigFile), "channel: nixos-24.05\nport: 2222\nidentity: [a, b]\n")
	t.Setenv("BOOTSTRAP_REBOOT_TIMEOUT", "4m")

	tests := []struct {
		flag, want string
		args       []string
	}{
		{"channel", "nixos-24.05", nil},                                  // workspace file beats user file
		{"channel", "nixos-24.11", []string{"--channel", "nixos-24.11"}}, // flag beats files
		{"port", "2222", nil},
		{"timeout", "7m0s", nil},        // only in the user file
		{"reboot-timeout", "4m0s", nil}, // env beats the user file
		{"identity", "[a,b]", nil},      // lists from YAML
		{"identity", "[c]", []string{"-i", "c"}},
	}
	for _, tt := range tests {
		cmd, err := sshCmdWith(t, ws, tt.args...)
		if err != nil {
			t.Fatalf("%v: applySettings: %v", tt.args, err)
		}
		if got := cmd.Flags().Lookup(tt.flag).Value.String(); got != tt.want {
			t.Errorf("%s with args %v: got %q, want %q", tt.flag, tt.args, got, tt.want)
		}
	}
}

func TestSettingsErrors(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	ws := t.TempDir()
	if err := os.WriteFile(filepath.Join(ws, ConfigFile), []byte("chanel: nixos-24.11\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := sshCmdWith(t, ws); err == nil {
		t.Error("got no error for a misspelled key, want one")
	}

	ws2 := t.TempDir()
	t.Setenv("BOOTSTRAP_PORT", "twenty-two")
	_, err := sshCmdWith(t, ws2)
	var se *SettingError
	if !errors.As(err, &se) || se.Source != "BOOTSTRAP_PORT" {
		t.Errorf("got %v, want a SettingError from BOOTSTRAP_PORT", err)
	}
}

// Settings that weaken security come from flags only: a committed
// bootstrap.yaml or a BOOTSTRAP_ variable may not set them.
func TestFlagOnlySettingsRefused(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	sha := strings.Repeat("0123456789", 6) + "0123" // all digits: YAML reads a number
	tests := []struct {
		name string
		file string            // the workspace's bootstrap.yaml
		env  map[string]string // BOOTSTRAP_ variables
		args []string
		want string // the refused key, "" for none
	}{
		{"infect-url in the file", "infect-url: https://example.org/x\n", nil, nil, "infect-url"},
		{"infect-sha256 in the file, all digits", "infect-sha256: " + sha + "\n", nil, nil, "infect-sha256"},
		{"infect-env in the file", "infect-env: [NIX_INSTALL_URL=http://x]\n", nil, nil, "infect-env"},
		{"accept-new-host-key in the file", "accept-new-host-key: true\n", nil, nil, "accept-new-host-key"},
		{"host-key in the file", "host-key: SHA256:" + strings.Repeat("A", 43) + "\n", nil, nil, "host-key"},
		{"yes in the file", "yes: true\n", nil, nil, "yes"},
		{"BOOTSTRAP_YES", "", map[string]string{"BOOTSTRAP_YES": "true"}, nil, "yes"},
		{"BOOTSTRAP_INFECT_URL", "", map[string]string{"BOOTSTRAP_INFECT_URL": "https://example.org/x"}, nil, "infect-url"},
		{"BOOTSTRAP_ACCEPT_NEW_HOST_KEY", "", map[string]string{"BOOTSTRAP_ACCEPT_NEW_HOST_KEY": "1"}, nil, "accept-new-host-key"},
		{"an empty variable sets nothing", "", map[string]string{"BOOTSTRAP_YES": ""}, nil, ""},
		{"flags are fine", "", nil, []string{"--yes", "--accept-new-host-key", "--infect-url", "https://example.org/x", "--infect-sha256", sha}, ""},
		{"other settings are fine", "channel: nixos-24.11\n", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := t.TempDir()
			if tt.file != "" {
				if err := os.WriteFile(filepath.Join(ws, ConfigFile), []byte(tt.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := sshCmdWith(t, ws, tt.args...)
			var fo *SettingError
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tt.want != "" && (!errors.As(err, &fo) || fo.Key != tt.want || !errors.Is(err, errFlagOnly)):
				t.Errorf("got %v, want %s refused", err, tt.want)
			case tt.want != "":
				if msg, _, code := explain(err); code != exitUsage || strings.Contains(msg, "\n") {
					t.Errorf("got exit %d and %q, want exit %d and one line", code, msg, exitUsage)
				}
			}
		})
	}
}

// A setting YAML would read as a number keeps the characters written.
func TestSettingsKeepTheText(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	ws := t.TempDir()
	if err := os.WriteFile(filepath.Join(ws, ConfigFile), []byte("host-nix: 00123\nport: 2222\nreboot-timeout: 3m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, err := sshCmdWith(t, ws)
	if err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{"host-nix": "00123", "port": "2222", "reboot-timeout": "3m0s"} {
		if got := cmd.Flags().Lookup(flag).Value.String(); got != want {
			t.Errorf("%s: got %q, want %q", flag, got, want)
		}
	}
}
