package templates

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

func TestCheckHostNix(t *testing.T) {
	_, nixErr := exec.LookPath("nix-instantiate")
	tests := []struct {
		name     string
		data     string
		err      string // "" for none
		warnings int
		needsNix bool
	}{
		{"fine", "{ pkgs, ... }: { services.nginx.enable = true; }\n", "", 0, false},
		{"empty", " \n", "empty", 0, false},
		{"too big", "{ }: { }" + strings.Repeat(" ", MaxHostNix), "over the 1 MiB", 0, false},
		{"password", "{ ... }: { users.users.a.password = \"hunter2\"; }\n", "", 1, false},
		{"hashed password is fine", "{ ... }: { users.users.a.hashedPassword = \"$6$x\"; }\n", "", 0, false},
		{"aws", "{ ... }: { environment.variables.K = \"AKIAABCDEFGHIJKLMNOP\"; }\n", "", 1, false},
		{"scaleway", "{ ... }: { environment.variables.K = \"SCWABCDEFGHIJKLMNOPQ\"; }\n", "", 1, false},
		{"private key", "{ ... }: { environment.etc.k.text = ''\n-----BEGIN OPENSSH PRIVATE KEY-----\n''; }\n", "", 1, false},
		{"syntax error", "{ pkgs, ... }: { foo = ; }\n", "does not parse as Nix: syntax error", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needsNix && nixErr != nil {
				t.Skip("needs nix-instantiate")
			}
			c, err := CheckHostNix(context.Background(), []byte(tt.data), "host.nix")
			var he *HostNixError
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tt.err != "" && (!errors.As(err, &he) || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("got %v, want a HostNixError mentioning %q", err, tt.err)
			}
			if len(c.Warnings) != tt.warnings {
				t.Errorf("got warnings %q, want %d", c.Warnings, tt.warnings)
			}
			if err == nil && nixErr == nil && !c.Parsed {
				t.Errorf("got not parsed (%s), want parsed with nix-instantiate on PATH", c.Note)
			}
		})
	}
	if nixErr == nil {
		_, err := CheckHostNix(context.Background(), []byte("{ pkgs, ... }: { foo = ; }\n"), "host.nix")
		if err == nil || !strings.Contains(err.Error(), "line 1, column 24") {
			t.Errorf("got %v, want the position of the error", err)
		}
	}
	t.Run("without nix-instantiate", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		c, err := CheckHostNix(context.Background(), []byte("{ ... }: { }"), "host.nix")
		if err != nil || c.Parsed || !strings.Contains(c.Note, "nix-instantiate is not installed") {
			t.Errorf("got %+v, %v; want a note saying it was not parse-checked", c, err)
		}
	})
}
