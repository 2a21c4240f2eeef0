package scaleway

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"bootstrap/localcloud"

	"github.com/scaleway/scaleway-sdk-go/scw"
	"golang.org/x/crypto/ssh"
)

const (
	testToken     = "5d1e6b7c-0c7a-4c56-9d1e-2f5b1f3e9a10"
	testAccessKey = "SCWABCDEFGHIJKLMNOPQ"
	testProject   = "8a9b0c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d"
	testWorkspace = "ws-0123"
)

// env is a provider talking to a local cloud on httptest through the real
// SDK and the retrying client (fast backoff).
type env struct {
	cloud  *localcloud.Cloud
	url    string
	client *scw.Client
	p      *Provider
	log    *syncBuffer
}

func newEnv(t *testing.T, opts localcloud.Options) *env {
	t.Helper()
	opts.Token = testToken
	log := &syncBuffer{}
	if opts.Log == nil {
		opts.Log = log
	}
	cloud := localcloud.New(opts)
	srv := httptest.NewServer(cloud.Handler())
	t.Cleanup(func() {
		srv.Close()
		cloud.Close()
		if t.Failed() {
			t.Logf("log:\n%s", log.String())
		}
	})
	client, err := NewClient(testProfile(), scw.WithAPIURL(srv.URL), scw.WithHTTPClient(NewHTTPClient(Retry{
		MinWait: 2 * time.Millisecond, MaxWait: 10 * time.Millisecond, Attempts: 6, AttemptTimeout: 5 * time.Second, Log: log,
	})))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	p := New(client)
	p.Log = log
	p.PollMin, p.PollMax = 5*time.Millisecond, 20*time.Millisecond
	p.StoppedGrace = time.Second
	p.AdoptWait = 150 * time.Millisecond
	return &env{cloud: cloud, url: srv.URL, client: client, p: p, log: log}
}

func testProfile() *scw.Profile {
	access, secret, project, zone := testAccessKey, testToken, testProject, "fr-par-1"
	return &scw.Profile{AccessKey: &access, SecretKey: &secret, DefaultProjectID: &project, DefaultZone: &zone}
}

func testSpec(t *testing.T, name string) Spec {
	t.Helper()
	_, host, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	deployPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(deployPub)
	if err != nil {
		t.Fatal(err)
	}
	deploy := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " bootstrap deploy key"
	return Spec{
		Name: name, Zone: "fr-par-1", CommercialType: "DEV1-S", ImageLabel: "ubuntu_noble",
		WorkspaceID: testWorkspace, DeployKey: deploy, HostKey: host,
	}
}

// saves records a copy of every state Create saves.
type saves struct {
	mu   sync.Mutex
	list []Resources
	fail func(n int, r *Resources) error // optional: fail the n-th save (1-based)
}

func (s *saves) save(r *Resources) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *r
	c.VolumeIDs = slices.Clone(r.VolumeIDs)
	s.list = append(s.list, c)
	if s.fail != nil {
		return s.fail(len(s.list), r)
	}
	return nil
}

func (s *saves) last() Resources {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.list) == 0 {
		return Resources{}
	}
	return s.list[len(s.list)-1]
}

// count returns how many API requests matched method and a path suffix.
func (e *env) count(method, pathSuffix string) int {
	n := 0
	for _, r := range e.cloud.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, pathSuffix) {
			n++
		}
	}
	return n
}

// requireEmpty fails unless nothing is left in the cloud.
func (e *env) requireEmpty(t *testing.T) {
	t.Helper()
	if inv := e.cloud.Resources(); !inv.Empty() {
		t.Errorf("resources left: got %s, want nothing", inv)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func netipAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
