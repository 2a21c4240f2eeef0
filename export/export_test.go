package export

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"bootstrap/bootstrap"
	"bootstrap/localcloud/nixorg"
	"bootstrap/workspace"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the exporters")

const (
	revA = "abc1234def5678abc1234def5678abc1234def56"
	revB = "fed9876cba5432fed9876cba5432fed9876cba54"
	revC = "0123456789abcdef0123456789abcdef01234567"
)

// fleet is a workspace with hosts as bootstrap leaves them: web-1 and its
// clone web-1-staging (pinned to web-1's release) on one revision, db-1 on
// aarch64 and unstable, 7cache pushed with --boot to a revision whose
// release is not known, and web-9 whose bootstrap has not finished.
func fleet(t *testing.T) *workspace.Workspace {
	t.Helper()
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	done := func(steps ...string) map[string]*bootstrap.StepRecord {
		m := map[string]*bootstrap.StepRecord{}
		for _, s := range steps {
			m[s] = &bootstrap.StepRecord{Status: bootstrap.StatusDone}
		}
		return m
	}
	complete := done(bootstrap.StepConnect, bootstrap.StepInfect, bootstrap.StepReboot, bootstrap.StepCapture)
	recs := []*bootstrap.Record{
		{Name: "web-1", Provider: "scaleway", User: "root", Address: "203.0.113.7", Port: 22, Channel: "nixos-24.11", Arch: "x86_64", Steps: complete, DeployKey: "keys/web-1_ed25519",
			Nixpkgs: &bootstrap.Nixpkgs{Revision: revA, Release: "nixos-24.11.719.abc1234", Subscription: "https://nixos.org/channels/nixos-24.11"}},
		{Name: "web-1-staging", Provider: "ssh", User: "debian", Address: "203.0.113.9", Port: 2222, Channel: "nixos-24.11", Arch: "x86_64", Steps: complete,
			Nixpkgs: &bootstrap.Nixpkgs{Revision: revA, Release: "nixos-24.11.719.abc1234", Subscription: "https://releases.nixos.org/nixos/24.11/nixos-24.11.719.abc1234"}},
		{Name: "db-1", Provider: "ssh", User: "root", Address: "2001:db8::5", Port: 22, Channel: "nixos-unstable", Arch: "aarch64", Steps: complete, DeployKey: "keys/db-1_ed25519",
			Nixpkgs: &bootstrap.Nixpkgs{Revision: revB, Release: "nixos-25.05pre712345.fed9876", Subscription: "https://nixos.org/channels/nixos-unstable"}},
		{Name: "7cache", Provider: "ssh", User: "root", Address: "198.51.100.4", Port: 22, Channel: "nixos-24.11", Arch: "x86_64", Steps: complete,
			Nixpkgs: &bootstrap.Nixpkgs{Revision: revA, Release: "nixos-24.11.719.abc1234", BootRevision: revC, Subscription: "https://nixos.org/channels/nixos-24.11"}},
		{Name: "web-9", Provider: "ssh", User: "root", Address: "203.0.113.99", Port: 22, Channel: "nixos-24.11", Steps: done(bootstrap.StepConnect)},
	}
	for _, r := range recs {
		if err := bootstrap.SaveRecord(ws, r); err != nil {
			t.Fatal(err)
		}
		if r.Name == "web-9" {
			continue
		}
		for name, data := range map[string]string{
			"configuration.nix":          "{ lib, ... }:\n{\n  imports = [ ./host.nix ] ++ lib.optional (builtins.pathExists ./hardware-configuration.nix) ./hardware-configuration.nix;\n}\n",
			"host.nix":                   "{ pkgs, ... }: { environment.systemPackages = [ pkgs.htop ]; }\n",
			"hardware-configuration.nix": "{ ... }: { }\n",
		} {
			if err := ws.WriteHostFile(r.Name, name, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ws
}

func loadFleet(t *testing.T, ws *workspace.Workspace) []Host {
	t.Helper()
	var skipped []string
	hosts, err := LoadHosts(ws, func(name string, _ error) { skipped = append(skipped, name) })
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 1 || skipped[0] != "web-9" {
		t.Errorf("got skipped %v, want web-9", skipped)
	}
	return hosts
}

func TestGolden(t *testing.T) {
	ws := fleet(t)
	hosts := loadFleet(t, ws)
	for _, f := range []Format{Colmena, Flake} {
		res, err := Write(ws, f, hosts, false)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{f.File(), SSHConfig}; !reflect.DeepEqual(res.Files, want) || res.Revision != 3 || len(res.Hosts) != 4 {
			t.Errorf("%s: got %+v, want %v written for 4 hosts on 3 revisions", f, res, want)
		}
		for _, name := range res.Files {
			got, err := os.ReadFile(filepath.Join(ws.Dir, name))
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", name)
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./export -update to write it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("%s differs from %s (go test ./export -update rewrites it):\n%s", name, golden, got)
			}
		}
	}
}

func evaluator(t *testing.T) *nixorg.Evaluator {
	t.Helper()
	if err := nixorg.Available(); err != nil {
		if os.Getenv("BOOTSTRAP_REQUIRE_NIX") == "1" {
			t.Fatalf("nix-instantiate not found and BOOTSTRAP_REQUIRE_NIX=1 (apt-get install nix-bin): %v", err)
		}
		t.Skip("nix-instantiate not found (apt-get install nix-bin); set BOOTSTRAP_REQUIRE_NIX=1 to fail instead")
	}
	return &nixorg.Evaluator{TempDir: t.TempDir()}
}

// stubs replace, for the file they are given to, what would fetch or
// evaluate nixpkgs: fetchTarball answers "tarball:URL", and import of a
// pinned nixpkgs answers what it was given.
const stubs = `builtins = builtins // { fetchTarball = a: "tarball:" + a.url; };
  import = src: args: { nixpkgs = if builtins.isAttrs src then src.url else src; inherit (args) system overlays; };`

// node is a colmena node applied as colmena applies it, its paths as
// strings and whether they exist.
const node = `node: let n = node { name = "x"; nodes = { }; }; in {
    imports = map (p: { path = toString p; exists = builtins.pathExists p; }) n.imports;
    inherit (n) deployment;
  }`

// The exported files parse, and their structure evaluates with nixpkgs,
// fetchers and nixosSystem stubbed: the pins, which pin each host gets,
// its configuration.nix (which exists), and its deployment settings.
func TestExportedFilesEvaluate(t *testing.T) {
	e := evaluator(t)
	ws := fleet(t)
	hosts := loadFleet(t, ws)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, f := range []Format{Colmena, Flake} {
		if _, err := Write(ws, f, hosts, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Parse(ctx, ws.Dir); err != nil {
		t.Fatalf("nix-instantiate --parse: %v", err)
	}
	config := func(name string) map[string]any {
		return map[string]any{"path": filepath.Join(ws.Dir, "hosts", name, "configuration.nix"), "exists": true}
	}
	deployment := func(host string, port float64) map[string]any {
		return map[string]any{"targetHost": host, "targetPort": port, "targetUser": "root", "buildOnTarget": true}
	}
	release := func(dir, name string) string {
		return "tarball:https://releases.nixos.org/nixos/" + dir + "/" + name + "/nixexprs.tar.xz"
	}
	pkgs := func(src, system string) map[string]any {
		return map[string]any{"nixpkgs": src, "system": system, "overlays": []any{}}
	}
	wantNodes := map[string]any{
		"web-1":         map[string]any{"imports": []any{config("web-1")}, "deployment": deployment("203.0.113.7", 22)},
		"web-1-staging": map[string]any{"imports": []any{config("web-1-staging")}, "deployment": deployment("203.0.113.9", 2222)},
		"db-1":          map[string]any{"imports": []any{config("db-1")}, "deployment": deployment("2001:db8::5", 22)},
		"7cache":        map[string]any{"imports": []any{config("7cache")}, "deployment": deployment("198.51.100.4", 22)},
	}

	t.Run("hive.nix", func(t *testing.T) {
		out, err := e.EvalExpr(ctx, `let
  hive = scopedImport { `+stubs+` } `+filepath.Join(ws.Dir, "hive.nix")+`;
  `+"node = "+node+`;
in {
  meta = hive.meta;
  nodes = builtins.mapAttrs (_: node) (removeAttrs hive [ "meta" ]);
}`)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"meta": map[string]any{
				"nixpkgs": pkgs(release("24.11", "nixos-24.11.719.abc1234"), "x86_64-linux"),
				"nodeNixpkgs": map[string]any{
					"web-1":         pkgs(release("24.11", "nixos-24.11.719.abc1234"), "x86_64-linux"),
					"web-1-staging": pkgs(release("24.11", "nixos-24.11.719.abc1234"), "x86_64-linux"),
					"db-1":          pkgs(release("unstable", "nixos-25.05pre712345.fed9876"), "aarch64-linux"),
					"7cache":        pkgs("tarball:https://github.com/NixOS/nixpkgs/archive/"+revC+".tar.gz", "x86_64-linux"),
				},
			},
			"nodes": wantNodes,
		}
		assertJSON(t, out, want)
	})

	t.Run("flake.nix", func(t *testing.T) {
		out, err := e.EvalExpr(ctx, `let
  flake = scopedImport { `+stubs+` } `+filepath.Join(ws.Dir, "flake.nix")+`;
  input = name: { url = "input:" + name; lib.nixosSystem = args: {
    inherit (args) system;
    modules = map (p: { path = toString p; exists = builtins.pathExists p; }) args.modules;
  }; };
  inputs = builtins.mapAttrs (name: _: input name) flake.inputs;
  outputs = flake.outputs (inputs // { self = outputs; });
  `+"node = "+node+`;
in {
  inputs = builtins.mapAttrs (_: i: i.url) flake.inputs;
  inherit (outputs) nixosConfigurations;
  colmena = { inherit (outputs.colmena) meta; nodes = builtins.mapAttrs (_: node) (removeAttrs outputs.colmena [ "meta" ]); };
}`)
		if err != nil {
			t.Fatal(err)
		}
		system := func(name, system string) map[string]any {
			return map[string]any{"system": system, "modules": []any{config(name)}}
		}
		a, b, c := "nixpkgs-"+revA[:12], "nixpkgs-"+revB[:12], "nixpkgs-"+revC[:12]
		want := map[string]any{
			"inputs": map[string]any{a: "github:NixOS/nixpkgs/" + revA, b: "github:NixOS/nixpkgs/" + revB, c: "github:NixOS/nixpkgs/" + revC},
			"nixosConfigurations": map[string]any{
				"web-1": system("web-1", "x86_64-linux"), "web-1-staging": system("web-1-staging", "x86_64-linux"),
				"db-1": system("db-1", "aarch64-linux"), "7cache": system("7cache", "x86_64-linux"),
			},
			"colmena": map[string]any{
				"meta": map[string]any{
					"nixpkgs": pkgs("input:"+a, "x86_64-linux"),
					"nodeNixpkgs": map[string]any{
						"web-1": pkgs("input:"+a, "x86_64-linux"), "web-1-staging": pkgs("input:"+a, "x86_64-linux"),
						"db-1": pkgs("input:"+b, "aarch64-linux"), "7cache": pkgs("input:"+c, "x86_64-linux"),
					},
				},
				"nodes": wantNodes,
			},
		}
		assertJSON(t, out, want)
		// Each configuration is built by its own pin's nixosSystem.
		for host, pin := range map[string]string{"web-1": a, "web-1-staging": a, "db-1": b, "7cache": c} {
			if !strings.Contains(string(FlakeNix(hosts)), attr(host)+" = inputs."+pin+".lib.nixosSystem") {
				t.Errorf("nixosConfigurations.%s is not built with inputs.%s", host, pin)
			}
		}
	})
}

func assertJSON(t *testing.T, got []byte, want any) {
	t.Helper()
	var v any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("decode %s: %v", got, err)
	}
	if !reflect.DeepEqual(v, want) {
		g, _ := json.MarshalIndent(v, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("got\n%s\nwant\n%s", g, w)
	}
}

func TestLoadHostsRefuses(t *testing.T) {
	ws := fleet(t)
	// A host bootstrapped before revisions were recorded.
	rec, _, err := bootstrap.LoadRecord(ws, "db-1")
	if err != nil {
		t.Fatal(err)
	}
	rec.Nixpkgs = nil
	if err := bootstrap.SaveRecord(ws, rec); err != nil {
		t.Fatal(err)
	}
	var nr *NoRevisionError
	if _, err := LoadHosts(ws, nil); !errors.As(err, &nr) || !reflect.DeepEqual(nr.Hosts, []string{"db-1"}) || !strings.Contains(nr.Hint(), "bootstrap push db-1") {
		t.Errorf("got %v, want a *NoRevisionError naming db-1", err)
	}
	empty, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var notReady *bootstrap.NotReadyError
	if _, err := LoadHosts(empty, nil); !errors.As(err, &notReady) {
		t.Errorf("empty workspace: got %v, want a *bootstrap.NotReadyError", err)
	}
}

func TestWriteKeepsForeignFiles(t *testing.T) {
	ws := fleet(t)
	hosts := loadFleet(t, ws)
	mine := filepath.Join(ws.Dir, "hive.nix")
	if err := os.WriteFile(mine, []byte("{ meta = { }; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var fe *ForeignFileError
	if _, err := Write(ws, Colmena, hosts, false); !errors.As(err, &fe) || fe.Path != "hive.nix" {
		t.Fatalf("got %v, want a *ForeignFileError for hive.nix", err)
	}
	if data, _ := os.ReadFile(mine); string(data) != "{ meta = { }; }\n" {
		t.Errorf("the foreign hive.nix was changed: %q", data)
	}
	if _, err := os.Stat(filepath.Join(ws.Dir, SSHConfig)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want no ssh_config written either", err)
	}
	// Forced, then again without force: the file is now bootstrap's.
	for _, force := range []bool{true, false} {
		if _, err := Write(ws, Colmena, hosts, force); err != nil {
			t.Fatalf("force %v: %v", force, err)
		}
	}
	if _, err := Write(ws, "nomad", hosts, false); err == nil {
		t.Error("an unknown format was written")
	}
}

// OpenSSH reads ssh_config as meant: each host by name and by address,
// with the deploy key alone and the workspace's known_hosts.
func TestSSHConfigWithOpenSSH(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("needs ssh")
	}
	ws := fleet(t)
	if _, err := Write(ws, Colmena, loadFleet(t, ws), false); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"web-1-staging", "203.0.113.9"} {
		cmd := exec.Command("ssh", "-G", "-F", SSHConfig, target)
		cmd.Dir = ws.Dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("ssh -G %s: %v", target, err)
		}
		for _, want := range []string{"hostname 203.0.113.9\n", "port 2222\n", "user root\n", "identityfile keys/deploy_ed25519\n",
			"identitiesonly yes\n", "userknownhostsfile known_hosts\n", "stricthostkeychecking true\n"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("ssh -G %s lacks %q:\n%s", target, want, out)
			}
		}
	}
}
