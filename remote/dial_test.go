package remote

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestDialRightKey(t *testing.T) {
	key := newKey(t, "id_test")
	srv := newTestServer(t, key.Signer.PublicKey())
	cfg := testConfig(t, srv.port(), key)
	cfg.HostKeys.AcceptNew = true
	c := mustDial(t, cfg)

	out, err := c.Output(context.Background(), "echo hi")
	if err != nil || out != "hi\n" {
		t.Errorf("Output: got %q, %v, want %q, nil", out, err, "hi\n")
	}
	if got, want := Fingerprint(c.HostKey()), Fingerprint(srv.currentHostKey()); got != want {
		t.Errorf("HostKey: got %s, want %s", got, want)
	}
	if got, want := c.Addr(), net.JoinHostPort("127.0.0.1", itoa(srv.port())); got != want {
		t.Errorf("Addr: got %s, want %s", got, want)
	}
	if st := srv.stats(); st.rejected != 0 || st.accepted != 1 {
		t.Errorf("server stats: got %+v, want 1 connection, 0 rejected keys", st)
	}
}

// Five keys with the right one last: four rejections stay below sshd's
// MaxAuthTries and each key is offered exactly once.
func TestDialOffersEachKeyOnceInOrder(t *testing.T) {
	var keys []Key
	for i := range 4 {
		keys = append(keys, newKey(t, "wrong"+itoa(i)))
	}
	right := newKey(t, "right")
	keys = append(keys, right)
	srv := newTestServer(t, right.Signer.PublicKey())
	cfg := testConfig(t, srv.port(), keys...)
	cfg.HostKeys.AcceptNew = true
	mustDial(t, cfg)
	st := srv.stats()
	if st.offered != 5 || st.rejected != 4 || st.tooMany || st.dupOffers {
		t.Errorf("server stats: got %+v, want 5 offered, 4 rejected, no MaxAuthTries hit, no duplicate offers", st)
	}
	var want []string
	for _, k := range keys {
		want = append(want, Fingerprint(k.Signer.PublicKey()))
	}
	if strings.Join(st.order, " ") != strings.Join(want, " ") {
		t.Errorf("offer order: got %v, want %v", st.order, want)
	}
}

// The test server really enforces sshd's MaxAuthTries: a client offering 6
// wrong keys before the right one is cut off. This is what MaxOfferedKeys
// protects against.
func TestServerEnforcesMaxAuthTries(t *testing.T) {
	var signers []ssh.Signer
	for range 6 {
		signers = append(signers, newSigner(t))
	}
	right := newSigner(t)
	signers = append(signers, right)
	srv := newTestServer(t, right.PublicKey())
	_, err := ssh.Dial("tcp", net.JoinHostPort("127.0.0.1", itoa(srv.port())), &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signers...)},
		HostKeyCallback: ssh.FixedHostKey(srv.currentHostKey()),
		Timeout:         5 * time.Second,
	})
	if err == nil || !srv.stats().tooMany {
		t.Errorf("raw dial with 7 keys: got %v, tooMany=%v; want failure with MaxAuthTries hit", err, srv.stats().tooMany)
	}
}

func TestDialTooManyKeysRefusedBeforeContact(t *testing.T) {
	srv := newTestServer(t)
	var keys []Key
	for i := range MaxOfferedKeys + 1 {
		keys = append(keys, newKey(t, "k"+itoa(i)))
	}
	_, err := dialTimeout(testConfig(t, srv.port(), keys...), 5*time.Second)
	if !errors.Is(err, ErrTooManyKeys) {
		t.Fatalf("Dial: got %v, want ErrTooManyKeys", err)
	}
	if st := srv.stats(); st.accepted != 0 {
		t.Errorf("server connections: got %d, want 0", st.accepted)
	}
}

func TestAgentTenKeysMatchTenth(t *testing.T) {
	sock, pubs := startAgent(t, 10)
	srv := newTestServer(t, pubs[9])
	keys, closer, err := AgentKeys(sock, pubs[9], 0)
	if err != nil {
		t.Fatalf("AgentKeys: %v", err)
	}
	defer closer.Close()
	if len(keys) != 1 || keys[0].Name != "agent: key9" {
		t.Fatalf("AgentKeys: got %v, want just [agent: key9]", keys)
	}
	cfg := testConfig(t, srv.port(), keys...)
	cfg.HostKeys.AcceptNew = true
	mustDial(t, cfg)
	if st := srv.stats(); st.rejected != 0 || st.tooMany {
		t.Errorf("server stats: got %+v, want no rejected keys", st)
	}
}

func TestAgentTenKeysWithoutMatch(t *testing.T) {
	sock, pubs := startAgent(t, 10)
	srv := newTestServer(t, pubs[9])

	all, closer, err := AgentKeys(sock, nil, 0)
	if err != nil {
		t.Fatalf("AgentKeys: %v", err)
	}
	defer closer.Close()
	if len(all) != 10 {
		t.Fatalf("AgentKeys(limit 0): got %d keys, want 10", len(all))
	}
	cfg := testConfig(t, srv.port(), all...)
	cfg.HostKeys.AcceptNew = true
	_, err = dialTimeout(cfg, 5*time.Second)
	if !errors.Is(err, ErrTooManyKeys) || !strings.Contains(err.Error(), "10 keys") {
		t.Errorf("Dial with 10 agent keys: got %v, want ErrTooManyKeys mentioning 10 keys", err)
	}
	if st := srv.stats(); st.accepted != 0 {
		t.Errorf("server connections: got %d, want 0 (refused before contacting)", st.accepted)
	}

	limited, closer2, err := AgentKeys(sock, nil, 3)
	if err != nil {
		t.Fatalf("AgentKeys(limit 3): %v", err)
	}
	closer2.Close()
	if len(limited) != 3 || limited[0].Name != "agent: key0" || limited[2].Name != "agent: key2" {
		t.Errorf("AgentKeys(limit 3): got %v, want key0..key2", limited)
	}

	stranger := newSigner(t).PublicKey()
	if _, _, err := AgentKeys(sock, stranger, 0); err == nil || !strings.Contains(err.Error(), Fingerprint(stranger)) {
		t.Errorf("AgentKeys(unknown match): got %v, want error naming %s", err, Fingerprint(stranger))
	}
	if _, _, err := AgentKeys("", nil, 0); err == nil {
		t.Errorf("AgentKeys(no socket): got nil error, want one")
	}
}

func TestAuthErrorListsOfferedKeys(t *testing.T) {
	a, b := newKey(t, "~/.ssh/id_a"), newKey(t, "agent: me@laptop")
	srv := newTestServer(t, newSigner(t).PublicKey())
	cfg := testConfig(t, srv.port(), a, b)
	cfg.HostKeys.AcceptNew = true
	start := time.Now()
	_, err := dialTimeout(cfg, 20*time.Second)
	var authErr *AuthError
	if !errors.As(err, &authErr) {
		t.Fatalf("Dial: got %v, want *AuthError", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("Dial took %s, want a quick AuthError", time.Since(start))
	}
	want := []string{
		"~/.ssh/id_a (" + Fingerprint(a.Signer.PublicKey()) + ")",
		"agent: me@laptop (" + Fingerprint(b.Signer.PublicKey()) + ")",
	}
	if strings.Join(authErr.Offered, "|") != strings.Join(want, "|") {
		t.Errorf("Offered: got %q, want %q", authErr.Offered, want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q: want it to mention %q", err, w)
		}
	}
	if authErr.User != "root" || authErr.Host != cfg.addr() {
		t.Errorf("AuthError user/host: got %s/%s, want root/%s", authErr.User, authErr.Host, cfg.addr())
	}
	st := srv.stats()
	if st.accepted != 1 {
		t.Errorf("connections: got %d, want 1 (a refusal is final by default)", st.accepted)
	}
	if st.tooMany || st.dupOffers || st.offered != 2 {
		t.Errorf("server stats: got %+v, want 2 keys offered once", st)
	}
	if _, err := os.Stat(cfg.HostKeys.KnownHosts); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("known_hosts after failed auth: got stat err %v, want not-exist (no pin without login)", err)
	}
}

func TestUnknownHostKeyRefused(t *testing.T) {
	key := newKey(t, "k")
	srv := newTestServer(t, key.Signer.PublicKey())
	cfg := testConfig(t, srv.port(), key)
	start := time.Now()
	_, err := dialTimeout(cfg, 20*time.Second)
	var unk *UnknownHostKeyError
	if !errors.As(err, &unk) {
		t.Fatalf("Dial: got %v, want *UnknownHostKeyError", err)
	}
	if got, want := unk.Fingerprint, Fingerprint(srv.currentHostKey()); got != want {
		t.Errorf("Fingerprint: got %s, want %s", got, want)
	}
	if got, want := unk.Host, "[127.0.0.1]:"+itoa(srv.port()); got != want {
		t.Errorf("Host: got %s, want %s", got, want)
	}
	if time.Since(start) > 3*time.Second || srv.stats().accepted != 1 {
		t.Errorf("Dial: took %s over %d connections, want one quick attempt", time.Since(start), srv.stats().accepted)
	}
	if _, err := os.Stat(cfg.HostKeys.KnownHosts); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("known_hosts: got stat err %v, want not-exist", err)
	}

	// nil HostKeys refuses too.
	cfg.HostKeys = nil
	if _, err := dialTimeout(cfg, 20*time.Second); !errors.As(err, &unk) {
		t.Errorf("Dial with nil HostKeys: got %v, want *UnknownHostKeyError", err)
	}
}

func TestConfirmHostKey(t *testing.T) {
	key := newKey(t, "k")
	srv := newTestServer(t, key.Signer.PublicKey())
	wantHost, wantFP := "[127.0.0.1]:"+itoa(srv.port()), Fingerprint(srv.currentHostKey())

	cfg := testConfig(t, srv.port(), key)
	var asked []string
	answer := false
	cfg.HostKeys.Confirm = func(host, fp string) (bool, error) {
		asked = append(asked, host+" "+fp)
		return answer, nil
	}
	var unk *UnknownHostKeyError
	if _, err := dialTimeout(cfg, 20*time.Second); !errors.As(err, &unk) {
		t.Errorf("Dial with Confirm→false: got %v, want *UnknownHostKeyError", err)
	}
	answer = true
	mustDial(t, cfg)
	if want := wantHost + " " + wantFP; len(asked) != 2 || asked[0] != want || asked[1] != want {
		t.Errorf("Confirm calls: got %q, want twice %q", asked, want)
	}
	assertPinned(t, cfg.HostKeys.KnownHosts, srv)

	// Pinned now: no more questions.
	asked = nil
	mustDial(t, cfg)
	if len(asked) != 0 {
		t.Errorf("Confirm calls after pinning: got %q, want none", asked)
	}

	cfg.HostKeys.Confirm = func(string, string) (bool, error) { return false, errors.New("no tty") }
	cfg.HostKeys.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
	if _, err := dialTimeout(cfg, 20*time.Second); err == nil || !strings.Contains(err.Error(), "no tty") {
		t.Errorf("Dial with failing Confirm: got %v, want the confirm error", err)
	}
}

// assertPinned checks the known_hosts file with OpenSSH's own ssh-keygen.
func assertPinned(t *testing.T, file string, srv *testServer) {
	t.Helper()
	st, err := os.Stat(file)
	if err != nil {
		t.Fatalf("known_hosts: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("known_hosts mode: got %v, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(file)
	want := knownhosts.Line([]string{"127.0.0.1:" + itoa(srv.port())}, srv.currentHostKey())
	if !strings.Contains(string(data), want+"\n") {
		t.Errorf("known_hosts: got %q, want line %q", data, want)
	}
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Logf("ssh-keygen not installed; skipping OpenSSH check")
		return
	}
	out, err := exec.Command("ssh-keygen", "-F", "[127.0.0.1]:"+itoa(srv.port()), "-f", file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ssh-ed25519") {
		t.Errorf("ssh-keygen -F: got %q, %v, want the ed25519 entry", out, err)
	}
}

func TestAcceptNewPinsThenMismatch(t *testing.T) {
	key := newKey(t, "k")
	srv := newTestServer(t, key.Signer.PublicKey())
	cfg := testConfig(t, srv.port(), key)
	cfg.HostKeys.AcceptNew = true
	c := mustDial(t, cfg)
	c.Close()
	oldFP := Fingerprint(srv.currentHostKey())
	assertPinned(t, cfg.HostKeys.KnownHosts, srv)

	// Same pin again: no second line.
	mustDial(t, cfg).Close()
	data, _ := os.ReadFile(cfg.HostKeys.KnownHosts)
	if n := strings.Count(string(data), "\n"); n != 1 {
		t.Errorf("known_hosts lines after second dial: got %d, want 1", n)
	}

	srv.setHostKey(newSigner(t))
	before := srv.stats().accepted
	start := time.Now()
	_, err := dialTimeout(cfg, 20*time.Second)
	var mm *HostKeyMismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("Dial after host key change: got %v, want *HostKeyMismatchError", err)
	}
	if mm.Want != oldFP || mm.Got != Fingerprint(srv.currentHostKey()) {
		t.Errorf("mismatch: got want=%s got=%s, want want=%s got=%s", mm.Want, mm.Got, oldFP, Fingerprint(srv.currentHostKey()))
	}
	if n := srv.stats().accepted - before; n != 1 || time.Since(start) > 3*time.Second {
		t.Errorf("mismatch retried: %d connections in %s, want 1 quick attempt", n, time.Since(start))
	}
}

func TestHostKeyFingerprint(t *testing.T) {
	key := newKey(t, "k")
	srv := newTestServer(t, key.Signer.PublicKey())
	fp := Fingerprint(srv.currentHostKey())

	cfg := testConfig(t, srv.port(), key)
	cfg.HostKeys.Fingerprint = Fingerprint(newSigner(t).PublicKey())
	cfg.HostKeys.AcceptNew = true // --host-key wins over accept-new
	var mm *HostKeyMismatchError
	if _, err := dialTimeout(cfg, 20*time.Second); !errors.As(err, &mm) || mm.Got != fp || mm.Source != "--host-key" {
		t.Fatalf("Dial with wrong --host-key: got %v, want *HostKeyMismatchError from --host-key", err)
	}

	cfg.HostKeys.AcceptNew = false
	for _, form := range []string{fp, strings.TrimPrefix(fp, "SHA256:"), fp + "="} {
		cfg.HostKeys.Fingerprint = form
		cfg.HostKeys.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
		mustDial(t, cfg)
		assertPinned(t, cfg.HostKeys.KnownHosts, srv)
	}

	cfg.HostKeys.Fingerprint = "MD5:00:11"
	before := srv.stats().accepted
	if _, err := dialTimeout(cfg, 5*time.Second); err == nil || srv.stats().accepted != before {
		t.Errorf("Dial with malformed --host-key: got %v after %d connections, want error before contact", err, srv.stats().accepted-before)
	}
}

// The workspace pin is consulted first: a --host-key for another key can't
// override it, and neither can ~/.ssh/known_hosts.
func TestWorkspacePinWins(t *testing.T) {
	key := newKey(t, "k")
	srv := newTestServer(t, key.Signer.PublicKey())
	cfg := testConfig(t, srv.port(), key)
	pinned := newSigner(t).PublicKey()
	line := knownhosts.Line([]string{cfg.addr()}, pinned) + "\n"
	if err := os.WriteFile(cfg.HostKeys.KnownHosts, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.HostKeys.Fingerprint = Fingerprint(srv.currentHostKey())
	cfg.HostKeys.AcceptNew = true
	var mm *HostKeyMismatchError
	if _, err := dialTimeout(cfg, 20*time.Second); !errors.As(err, &mm) || mm.Want != Fingerprint(pinned) {
		t.Fatalf("Dial: got %v, want *HostKeyMismatchError wanting the pinned %s", err, Fingerprint(pinned))
	}
	if !strings.Contains(mm.Source, cfg.HostKeys.KnownHosts+":1") {
		t.Errorf("Source: got %q, want it to name %s:1", mm.Source, cfg.HostKeys.KnownHosts)
	}
}

func TestExtraKnownHosts(t *testing.T) {
	key := newKey(t, "k")
	srv := newTestServer(t, key.Signer.PublicKey())
	dir := t.TempDir()
	write := func(name string, keys ...ssh.PublicKey) string {
		var b strings.Builder
		b.WriteString("# user known_hosts\nother.example ssh-ed25519 " + strings.Fields(string(ssh.MarshalAuthorizedKey(newSigner(t).PublicKey())))[1] + "\n")
		for _, k := range keys {
			b.WriteString(knownhosts.Line([]string{"127.0.0.1:" + itoa(srv.port())}, k) + "\n")
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, _ := ssh.NewPublicKey(&rsaKey.PublicKey)

	good := write("good", rsaPub, srv.currentHostKey())
	bad := write("bad", newSigner(t).PublicKey())
	rsaOnly := write("rsa-only", rsaPub)
	missing := filepath.Join(dir, "missing")

	cfg := testConfig(t, srv.port(), key)
	cfg.HostKeys.Extra = []string{missing, rsaOnly, good}
	mustDial(t, cfg)
	assertPinned(t, cfg.HostKeys.KnownHosts, srv)

	cfg = testConfig(t, srv.port(), key)
	cfg.HostKeys.Extra = []string{bad, good}
	cfg.HostKeys.AcceptNew = true
	var mm *HostKeyMismatchError
	if _, err := dialTimeout(cfg, 20*time.Second); !errors.As(err, &mm) || !strings.Contains(mm.Source, bad) {
		t.Errorf("Dial with mismatching extra known_hosts: got %v, want *HostKeyMismatchError from %s", err, bad)
	}

	// An entry of another key type only is "unknown", not a mismatch.
	cfg = testConfig(t, srv.port(), key)
	cfg.HostKeys.Extra = []string{rsaOnly}
	var unk *UnknownHostKeyError
	if _, err := dialTimeout(cfg, 20*time.Second); !errors.As(err, &unk) {
		t.Errorf("Dial with rsa-only extra known_hosts: got %v, want *UnknownHostKeyError", err)
	}
}

// The file we write must satisfy real OpenSSH with StrictHostKeyChecking=yes.
func TestPinnedFileWorksWithOpenSSH(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("ssh not installed")
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := ssh.NewSignerFromKey(priv)
	block, err := ssh.MarshalPrivateKey(priv, "test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t, signer.PublicKey())
	cfg := testConfig(t, srv.port(), Key{Name: keyFile, Signer: signer})
	cfg.HostKeys.AcceptNew = true
	mustDial(t, cfg).Close()

	openssh := func(knownHosts string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ssh", "-F", "/dev/null",
			"-o", "UserKnownHostsFile="+knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
			"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
			"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "ConnectTimeout=5",
			"-i", keyFile, "-p", strconv.Itoa(srv.port()), "root@127.0.0.1", "echo ok-from-openssh")
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := openssh(cfg.HostKeys.KnownHosts); err != nil || !strings.Contains(out, "ok-from-openssh") {
		t.Errorf("ssh with our known_hosts: got %q, %v, want ok-from-openssh", out, err)
	}
	// Control: without the pin, OpenSSH must refuse, so the check above means something.
	empty := filepath.Join(dir, "empty_known_hosts")
	os.WriteFile(empty, nil, 0o600)
	if out, err := openssh(empty); err == nil || !strings.Contains(out, "Host key verification failed") {
		t.Errorf("ssh with empty known_hosts: got %q, %v, want host key verification failure", out, err)
	}
}

func TestDialRetriesUntilListening(t *testing.T) {
	key := newKey(t, "k")
	port := freePort(t)
	started := make(chan *testServer, 1)
	go func() {
		timer := time.NewTimer(time.Second)
		defer timer.Stop()
		<-timer.C
		ln, err := net.Listen("tcp", "127.0.0.1:"+itoa(port))
		if err != nil {
			started <- nil
			return
		}
		started <- startTestServer(t, ln, key.Signer.PublicKey())
	}()
	cfg := testConfig(t, port, key)
	cfg.HostKeys.AcceptNew = true
	start := time.Now()
	c, err := dialTimeout(cfg, 15*time.Second)
	srv := <-started
	if srv == nil {
		t.Skipf("port %d was taken by someone else", port)
	}
	if err != nil {
		t.Fatalf("Dial: got %v, want success once the server listens", err)
	}
	c.Close()
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Errorf("Dial returned after %s, want ≥1s (server started late)", el)
	}
}

func TestDialClosedPortDeadline(t *testing.T) {
	cfg := testConfig(t, freePort(t), newKey(t, "k"))
	cfg.HostKeys.AcceptNew = true
	start := time.Now()
	_, err := dialTimeout(cfg, 2*time.Second)
	el := time.Since(start)
	var ue *UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("Dial: got %v, want *UnreachableError", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(%v, DeadlineExceeded): got false, want true", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("errors.Is(%v, ECONNREFUSED): got false, want true (last error kept)", err)
	}
	if ue.Addr != cfg.addr() {
		t.Errorf("Addr: got %s, want %s", ue.Addr, cfg.addr())
	}
	if el < 1900*time.Millisecond || el > 3*time.Second {
		t.Errorf("Dial took %s, want about 2s", el)
	}
}

func TestDialCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := testConfig(t, freePort(t), newKey(t, "k"))
	_, err := Dial(ctx, cfg)
	var ue *UnreachableError
	if !errors.As(err, &ue) || !errors.Is(err, context.Canceled) || ue.Err != nil {
		t.Errorf("Dial(cancelled): got %v, want *UnreachableError{Err: nil} matching Canceled", err)
	}
}

// A host without an ed25519 host key can't be pinned; that is permanent.
func TestDialRSAOnlyHostFailsFast(t *testing.T) {
	key := newKey(t, "k")
	srv := newTestServer(t, key.Signer.PublicKey())
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaSigner, _ := ssh.NewSignerFromKey(rsaKey)
	srv.setHostKey(rsaSigner)
	cfg := testConfig(t, srv.port(), key)
	cfg.HostKeys.AcceptNew = true
	start := time.Now()
	_, err = dialTimeout(cfg, 20*time.Second)
	var ue *UnreachableError
	if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "no common algorithm") {
		t.Errorf("Dial: got %v, want an immediate no-common-algorithm error", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("Dial took %s, want immediate failure", time.Since(start))
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want failure
	}{
		{errors.New("ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain"), failAuth},
		{errors.New("ssh: handshake failed: ssh: disconnect, reason 2: Too many authentication failures"), failAuth},
		{errors.New("ssh: handshake failed: ssh: no common algorithm for host key; we offered: [ssh-ed25519]"), failPermanent},
		{&net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true}, failPermanent},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, failTransient},
		{errors.New("ssh: handshake failed: EOF"), failTransient},
		{&net.OpError{Op: "dial", Err: syscall.EHOSTUNREACH}, failTransient},
		{&net.DNSError{Err: "server misbehaving", Name: "x", IsTemporary: true}, failTransient},
	}
	for _, tt := range tests {
		if got := classify(tt.err); got != tt.want {
			t.Errorf("classify(%v): got %d, want %d", tt.err, got, tt.want)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
