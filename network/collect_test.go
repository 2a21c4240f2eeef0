package network

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCollectScriptSyntax checks the script with every POSIX shell found
// (sh -n parses without running anything).
func TestCollectScriptSyntax(t *testing.T) {
	found := false
	for _, sh := range []string{"sh", "dash", "bash", "busybox"} {
		bin, err := exec.LookPath(sh)
		if err != nil {
			continue
		}
		found = true
		args := []string{"-n", "-c", CollectScript}
		if sh == "busybox" {
			args = append([]string{"sh"}, args...)
		}
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", sh, err, out)
		}
	}
	if !found {
		t.Skip("no shell found")
	}
}

// TestCollectScriptShape checks what the script reads, so that a change to
// it is a change to this list.
func TestCollectScriptShape(t *testing.T) {
	for _, want := range []string{
		"ip -j addr", "ip -j -d link", "ip -j route", "ip -j -6 route",
		"resolvectl dns",
		"/etc/resolv.conf /run/systemd/resolve/resolv.conf",
		"/var/lib/dhcp/dhclient*.leases /var/lib/dhclient/*",
		"/run/systemd/netif/leases/*",
		"/var/lib/dhcpcd/*.lease /var/lib/dhcpcd/*.lease6",
		"/etc/netplan/*.yaml",
		"/etc/network/interfaces /etc/network/interfaces.d/*",
		"/etc/systemd/network/*.network /run/systemd/network/*.network",
		"/etc/cloud/cloud.cfg.d/*network* /var/lib/cloud/instance/network-config.json",
		"/etc/hetzner-build",
		`SUDO="sudo -n"`, "head -c 65536",
	} {
		if !strings.Contains(CollectScript, want) {
			t.Errorf("CollectScript does not contain %q", want)
		}
	}
	// Read-only: nothing that writes, moves or restarts.
	for _, bad := range []string{" > /", ">>", "rm ", "mv ", "tee ", "systemctl", "ip link set", "ip addr add", "dhclient "} {
		if strings.Contains(CollectScript, bad) {
			t.Errorf("CollectScript contains %q", bad)
		}
	}
}

// TestCollectScriptRuns runs the script on this machine (it only reads)
// and parses what it prints.
func TestCollectScriptRuns(t *testing.T) {
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command here")
	}
	out, err := exec.Command("sh", "-c", CollectScript).Output()
	if err != nil {
		t.Fatalf("CollectScript: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "\n==> ip -j addr\n") || !strings.HasSuffix(string(out), "\n==> end\n") {
		t.Fatalf("output lacks the ip -j addr section or the end marker:\n%s", out)
	}
	if _, err := Parse(string(out)); err != nil {
		t.Errorf("Parse of this machine's output: %v\n%s", err, out)
	}
}
