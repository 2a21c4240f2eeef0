package cmd

import (
	"errors"
	"os"
	"path/filepath"
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
