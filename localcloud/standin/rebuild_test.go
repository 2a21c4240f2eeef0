package standin

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The nixos-infect stand-in installs nixos-rebuild from a here-document: it must be the file.
func TestInfectCarriesRebuildScript(t *testing.T) {
	const start = "cat > \"$lib/nixos-rebuild\" << 'NIXOS_REBUILD_STANDIN'\n"
	s := string(script)
	i := strings.Index(s, start)
	if i < 0 {
		t.Fatalf("nixos-infect has no here-document %q", strings.TrimSpace(start))
	}
	body := s[i+len(start):]
	j := strings.Index(body, "\nNIXOS_REBUILD_STANDIN\n")
	if j < 0 {
		t.Fatal("nixos-infect's NIXOS_REBUILD_STANDIN here-document does not end")
	}
	if got := body[:j+1]; got != string(rebuildScript) {
		t.Errorf("nixos-infect's copy of nixos-rebuild differs from localcloud/standin/nixos-rebuild (%d vs %d bytes): copy the file into installRebuild", len(got), len(rebuildScript))
	}
	if !regexp.MustCompile(`(?m)^  installRebuild$`).MatchString(s) {
		t.Error("nixos-infect never calls installRebuild")
	}
}

// standinRoot is a scratch "host" for the stand-in: the script linked as nixos-rebuild and
// nix-env, a systemctl that records its calls and keeps ssh's state in a file.
type standinRoot struct {
	t    *testing.T
	dir  string
	root string
	env  []string
}

func newStandinRoot(t *testing.T) *standinRoot {
	t.Helper()
	for _, tool := range []string{"bash", "sha256sum", "stat", "date"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	root := filepath.Join(dir, "root")
	for _, d := range []string{bin, filepath.Join(root, "etc", "nixos")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(bin, "nixos-rebuild"), rebuildScript, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nixos-rebuild", filepath.Join(bin, "nix-env")); err != nil {
		t.Fatal(err)
	}
	systemctl := `#!/bin/sh
echo "$*" >> "$NIXOS_REBUILD_STANDIN_ROOT/systemctl.log"
case "$1" in
  is-active) [ ! -e "$NIXOS_REBUILD_STANDIN_ROOT/ssh-stopped" ] ;;
  stop) touch "$NIXOS_REBUILD_STANDIN_ROOT/ssh-stopped" ;;
  start) rm -f "$NIXOS_REBUILD_STANDIN_ROOT/ssh-stopped" ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(systemctl), 0o755); err != nil {
		t.Fatal(err)
	}
	return &standinRoot{t: t, dir: dir, root: root, env: []string{
		"PATH=" + bin + ":" + os.Getenv("PATH"),
		"NIXOS_REBUILD_STANDIN_ROOT=" + root,
		"NIXOS_REBUILD_STANDIN_SYSTEMCTL=" + filepath.Join(bin, "systemctl"),
		"TZ=UTC",
	}}
}

func (s *standinRoot) profile() string { return filepath.Join(s.root, "nix/var/nix/profiles/system") }

// run runs a command line (sh) with the stand-in on PATH; it returns the combined output and
// the exit code.
func (s *standinRoot) run(cmdline string) (string, int) {
	s.t.Helper()
	cmd := exec.Command("sh", "-c", cmdline)
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Dir = s.dir
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("%s: %v", cmdline, err)
	}
	return string(out), code
}

func (s *standinRoot) writeConfig(text string) {
	s.t.Helper()
	if err := os.WriteFile(filepath.Join(s.root, "etc/nixos/configuration.nix"), []byte(text), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// generations returns nix-env's listing, with the dates blanked.
func (s *standinRoot) generations() string {
	s.t.Helper()
	out, code := s.run("nix-env --list-generations -p " + s.profile())
	if code != 0 {
		s.t.Fatalf("list generations: exit %d\n%s", code, out)
	}
	return regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`).ReplaceAllString(out, "DATE")
}

func (s *standinRoot) sshStopped() bool {
	_, err := os.Stat(filepath.Join(s.root, "ssh-stopped"))
	return err == nil
}

func TestRebuildStandin(t *testing.T) {
	s := newStandinRoot(t)
	s.writeConfig("{ ... }: { }\n")
	steps := []struct {
		name   string
		config string // written first unless empty
		cmd    string
		code   int
		out    string // a substring of the output
		gens   string // the listing afterwards
		ssh    bool   // sshd stopped afterwards
	}{
		{"boot makes generation 1", "", "nixos-rebuild boot", 0, "updating GRUB", "   1   DATE   (current)\n", false},
		{"the same configuration is the same generation", "", "nixos-rebuild switch", 0, "activating the configuration", "   1   DATE   (current)\n", false},
		{"a change is a new generation", "{ ... }: { networking.hostName = \"a\"; }\n", "nixos-rebuild switch", 0, "building the system configuration",
			"   1   DATE   \n   2   DATE   (current)\n", false},
		{"a failing build changes nothing", "{ ... }: { }\n" + MarkerRebuildFail + "\n", "nixos-rebuild switch", 1, "rebuild-fail",
			"   1   DATE   \n   2   DATE   (current)\n", false},
		{"dry-activate makes no generation", "{ ... }: { }\n" + MarkerBreakSSH + "\n", "nixos-rebuild dry-activate", 0, "would stop the following units: sshd.service",
			"   1   DATE   \n   2   DATE   (current)\n", false},
		{"break-ssh stops sshd", "", "nixos-rebuild switch", 0, "stopping the following units: sshd.service",
			"   1   DATE   \n   2   DATE   \n   3   DATE   (current)\n", true},
		{"a missing generation is refused", "", "nix-env -p " + s.profile() + " --switch-generation 7", 1, "error: generation 7 does not exist",
			"   1   DATE   \n   2   DATE   \n   3   DATE   (current)\n", true},
		{"switching back to 2 starts sshd", "", "nix-env -p " + s.profile() + " --switch-generation 2 && " + s.profile() + "/bin/switch-to-configuration switch", 0,
			"starting the following units: sshd.service", "   1   DATE   \n   2   DATE   (current)\n   3   DATE   \n", false},
		{"the newest system again reuses its generation", "", "nixos-rebuild switch", 0, "stopping",
			"   1   DATE   \n   2   DATE   \n   3   DATE   (current)\n", true},
		{"--rollback goes to the one before", "", "nixos-rebuild switch --rollback", 0, "switching profile from version 3 to 2",
			"   1   DATE   \n   2   DATE   (current)\n   3   DATE   \n", false},
		{"activation-fail fails after the profile switched", "{ ... }: { }\n" + MarkerActivationFail + "\n", "nixos-rebuild switch", 4, "error(s) occurred",
			"   1   DATE   \n   2   DATE   \n   3   DATE   \n   4   DATE   (current)\n", false},
		{"nothing older than 1", "", "nix-env -p " + s.profile() + " --switch-generation 1 && nix-env -p " + s.profile() + " --rollback", 1,
			"error: no generation older than the current (1) exists", "   1   DATE   (current)\n   2   DATE   \n   3   DATE   \n   4   DATE   \n", false},
	}
	for _, st := range steps {
		if st.config != "" {
			s.writeConfig(st.config)
		}
		out, code := s.run(st.cmd)
		if code != st.code || !strings.Contains(out, st.out) {
			t.Fatalf("%s: %s: got exit %d\n%s\nwant exit %d and %q", st.name, st.cmd, code, out, st.code, st.out)
		}
		if got := s.generations(); got != st.gens {
			t.Fatalf("%s: got generations\n%s\nwant\n%s", st.name, got, st.gens)
		}
		if got := s.sshStopped(); got != st.ssh {
			t.Fatalf("%s: got sshd stopped %v, want %v", st.name, got, st.ssh)
		}
	}

	// Every generation's system holds the configuration it was built from.
	data, err := os.ReadFile(filepath.Join(s.profile()+"-2-link", "etc-nixos", "configuration.nix"))
	if err != nil || !bytes.Contains(data, []byte(`hostName = "a"`)) {
		t.Errorf("generation 2's configuration: got %q, %v", data, err)
	}
	// -I nixos-config builds another directory.
	other := filepath.Join(s.dir, "staging")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "configuration.nix"), []byte(MarkerRebuildFail+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := s.run("nixos-rebuild dry-activate -I nixos-config=" + other + "/configuration.nix"); code != 1 || !strings.Contains(out, "rebuild-fail") {
		t.Errorf("dry-activate -I nixos-config: got exit %d\n%s\nwant the staged configuration's failure", code, out)
	}
}
