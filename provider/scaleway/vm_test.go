package scaleway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"bootstrap/e2e/vmtest"
	"bootstrap/localcloud"
	"bootstrap/localcloud/qemu"

	"golang.org/x/crypto/ssh"
)

// TestCreateBootsARealVM runs the create path on the local cloud with qemu
// machines: cloud-init in a Debian guest must take the deploy key for root
// and the host key from the user data set through the API, so that the
// first SSH login is verified against the key generated here.
func TestCreateBootsARealVM(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a qemu VM")
	}
	vmtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := qemu.EnsureImage(ctx, "", nil); err != nil {
		t.Fatalf("image: %v", err)
	}
	machines := &localcloud.VMMachines{WorkDir: t.TempDir()}
	e := newEnv(t, localcloud.Options{Machines: machines, Addresses: localcloud.AddressRange(netipAddr(t, "127.0.0.140"), netipAddr(t, "127.0.0.149"))})
	e.p.PollMax = time.Second
	t.Cleanup(func() { machines.Close() })

	spec := testSpec(t, "vm-1")
	_, deployPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	deploy, err := ssh.NewSignerFromKey(deployPriv)
	if err != nil {
		t.Fatal(err)
	}
	spec.DeployKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(deploy.PublicKey())))
	hostPub, err := ssh.NewPublicKey(spec.HostKey.Public())
	if err != nil {
		t.Fatal(err)
	}

	var s saves
	var res Resources
	if err := e.p.Create(ctx, spec, &res, s.save); err != nil {
		t.Fatalf("create: %v", err)
	}
	// sshd answers before cloud-init is done with it: retry the login as
	// the product's SSH layer does.
	client, _, err := vmtest.WaitNewBoot(ctx, res.IPAddress, deploy, hostPub, "")
	if err != nil {
		t.Fatalf("ssh root@%s with the pinned host key: %v", res.IPAddress, err)
	}
	out, _, err := vmtest.Run(client, "cloud-init status --wait >/dev/null; hostname; id -un; ls /etc/ssh/ | grep -c '^ssh_host_.*_key$'", nil)
	client.Close()
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if got, want := strings.Fields(out), []string{"vm-1", "root", "1"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("guest: got %q, want hostname vm-1, user root, one host key (ed25519)", got)
	}
	if err := e.p.Destroy(ctx, res); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	e.requireEmpty(t)
}
