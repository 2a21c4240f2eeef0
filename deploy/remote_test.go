package deploy

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestCommands(t *testing.T) {
	tests := []struct{ got, want string }{
		{rebuildArgs(Switch, false), "nixos-rebuild switch"},
		{rebuildArgs(Boot, true), "nixos-rebuild boot --upgrade"},
		{rebuildArgs(DryActivate, false, "-I", "nixos-config=/var/lib/bootstrap/staging-x/configuration.nix"),
			"nixos-rebuild dry-activate -I 'nixos-config=/var/lib/bootstrap/staging-x/configuration.nix'"},
		{listCmd(), "TZ=UTC nix-env --list-generations -p /nix/var/nix/profiles/system || exit; echo '--- bootstrap: copies of /etc/nixos'; ls -1 /var/lib/bootstrap/etc-nixos 2>/dev/null || true"},
		{removeCmd([]string{"a.nix", "it's.nix"}), `rm -f -- /etc/nixos/a.nix '/etc/nixos/it'\''s.nix'`},
		{RollbackCommand(13), "nix-env -p /nix/var/nix/profiles/system --switch-generation 13 && /nix/var/nix/profiles/system/bin/switch-to-configuration switch"},
		{jobCmd("J", "nixos-rebuild switch"), "mkdir -p /run/bootstrap-deploy && echo $$ > /run/bootstrap-deploy/J.pid || exit; nixos-rebuild switch; rc=$?; echo $rc > /run/bootstrap-deploy/J.rc; exit $rc"},
		{confirmTimer{ID: "J", Gen: 13, After: 90 * time.Second}.armCmd(),
			`mkdir -p /run/bootstrap-deploy && systemd-run --quiet --collect --unit=bootstrap-confirm-J --description='bootstrap push: roll back to generation 13 unless confirmed' --on-active=90s --timer-property=AccuracySec=1s --timer-property=RemainAfterElapse=no --setenv=PATH="$PATH" /bin/sh /var/lib/bootstrap/confirm/J.sh`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got  %s\nwant %s", tt.got, tt.want)
		}
	}
	rb := rollbackScript(7, "boot")
	for _, want := range []string{"nix-env -p /nix/var/nix/profiles/system --switch-generation 7 || exit 3", "/var/lib/bootstrap/etc-nixos/7", "/nix/var/nix/profiles/system/bin/switch-to-configuration boot"} {
		if !strings.Contains(rb, want) {
			t.Errorf("rollback script lacks %q:\n%s", want, rb)
		}
	}
	if i, j := strings.Index(rb, "--switch-generation"), strings.Index(rb, "restored"); i > j {
		t.Errorf("rollback script restores /etc/nixos before switching the profile:\n%s", rb)
	}
}

// Every generated script is valid POSIX sh (dash when it is there).
func TestScriptsParse(t *testing.T) {
	sh := "dash"
	if _, err := exec.LookPath(sh); err != nil {
		sh = "sh"
	}
	timer := confirmTimer{ID: "20240501T100000-abcd", Host: "web-1", Gen: 3, After: time.Minute}
	scripts := map[string]string{
		"list":          listCmd(),
		"files":         listFilesCmd(),
		"job":           jobCmd("J", rebuildArgs(Switch, true)),
		"wait job":      waitJobCmd("J"),
		"stop job":      stopJobCmd("J"),
		"keep copy":     keepCopyCmd(3, false),
		"keep if none":  keepCopyCmd(3, true),
		"prune":         pruneCopiesCmd(),
		"rollback":      rollbackScript(3, "switch"),
		"timer script":  timer.script(time.Now()),
		"arm":           timer.armCmd(),
		"confirm":       timer.confirmCmd(),
		"wait rollback": timer.waitRollbackCmd(time.Minute),
	}
	for name, s := range scripts {
		if out, err := exec.Command(sh, "-n", "-c", s).CombinedOutput(); err != nil {
			t.Errorf("%s: %s -n: %v\n%s\n%s", name, sh, err, out, s)
		}
	}
}
