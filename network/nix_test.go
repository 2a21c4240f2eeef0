package network

import (
	"bootstrap/localcloud/nixorg"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// These tests run the real Nix parser and evaluator (Debian's nix-bin
// provides nix-instantiate; no nixpkgs is needed), as package templates'
// do. They skip when nix-instantiate is missing, unless
// BOOTSTRAP_REQUIRE_NIX=1 (as in CI).

// evaluator is the one way the project runs nix-instantiate (a private,
// offline store and state): localcloud/nixorg's.
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

// writeGenerated writes every golden case's file into a fresh directory
// as FIXTURE-VERSION.nix.
func writeGenerated(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{}
	for name, b := range generated(t) {
		flat := strings.ReplaceAll(name, string(filepath.Separator), "-")
		files[flat] = b
		if err := os.WriteFile(filepath.Join(dir, flat), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, files
}

// stubLib stands in for nixpkgs' lib: the wrappers mark their values, so
// that the tests can tell defaults from overrides.
const stubLib = `lib = {
    mkDefault = v: { _mkDefault = v; };
    mkOverride = p: v: { _mkOverride = p; _value = v; };
  };`

func evalFile(t *testing.T, dir, file string) map[string]any {
	t.Helper()
	out, err := evaluator(t).EvalExpr(context.Background(), "let "+stubLib+" in import "+filepath.Join(dir, file)+" { inherit lib; }")
	if err != nil {
		t.Fatalf("evaluate %s: %v", file, err)
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	return v
}

func TestNixParse(t *testing.T) {
	e := evaluator(t)
	dir, files := writeGenerated(t)
	if len(files) == 0 {
		t.Fatal("no generated files")
	}
	if err := e.Parse(context.Background(), dir); err != nil {
		t.Errorf("a generated networking.nix does not parse: %v", err)
	}
}

func TestNixParseRejects(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.nix"), []byte("{ lib, ... }: { networking.useDHCP = ; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := evaluator(t).Parse(context.Background(), dir); err == nil {
		t.Error("the parse check accepted broken Nix")
	}
}

func def(v any) map[string]any { return map[string]any{"_mkDefault": v} }

func addr(a string, n float64) map[string]any { return map[string]any{"address": a, "prefixLength": n} }

func gw(a, dev string) map[string]any { return map[string]any{"address": a, "interface": dev} }

func udevRule(mac, name string) string {
	return `SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="` + mac + `", ATTR{type}=="1", NAME="` + name + `"`
}

// TestNixEval evaluates the generated files against a stub lib and checks
// every option value, wrappers included.
func TestNixEval(t *testing.T) {
	evaluator(t)
	dir, _ := writeGenerated(t)
	useDHCP := map[string]any{"_mkOverride": float64(900), "_value": false}
	tests := []struct {
		file  string
		want  map[string]any
		rules []string
	}{
		{"hetznercloud-20.09.nix", map[string]any{
			"useDHCP":                      useDHCP,
			"usePredictableInterfaceNames": def(false),
			"nameservers":                  def([]any{"192.0.2.53", "192.0.2.54", "2001:db8:1f0::53"}),
			"defaultGateway":               def(gw("172.31.1.1", "eth0")),
			"defaultGateway6":              def(gw("fe80::1", "eth0")),
			"interfaces": map[string]any{
				"eth0": map[string]any{
					"ipv4": map[string]any{
						"addresses": def([]any{addr("203.0.113.10", 32)}),
						"routes":    def([]any{addr("172.31.1.1", 32)}),
					},
					"ipv6": map[string]any{
						"addresses": def([]any{addr("2001:db8:1f0:4e2a::1", 64)}),
						"routes":    def([]any{addr("fe80::1", 128)}),
					},
				},
			},
		}, []string{udevRule("96:00:02:aa:bb:cc", "eth0")}},
		{"digitalocean-unstable.nix", map[string]any{
			"useDHCP":                      useDHCP,
			"usePredictableInterfaceNames": def(false),
			"nameservers":                  def([]any{"198.51.100.2", "198.51.100.3"}),
			"defaultGateway":               def(gw("203.0.113.1", "eth0")),
			"defaultGateway6":              def(gw("2001:db8:d0:1::1", "eth0")),
			"interfaces": map[string]any{
				"eth0": map[string]any{
					"ipv4": map[string]any{"addresses": def([]any{addr("203.0.113.7", 24), addr("10.19.0.5", 16)})},
					"ipv6": map[string]any{"addresses": def([]any{addr("2001:db8:d0:1::a1", 64)})},
				},
				"eth1": map[string]any{
					"ipv4": map[string]any{"addresses": def([]any{addr("10.114.0.2", 20)})},
				},
			},
		}, []string{udevRule("a2:3c:4d:5e:6f:01", "eth0"), udevRule("b6:1d:2e:3f:40:02", "eth1")}},
		{"scaleway-24.11.nix", map[string]any{
			"useDHCP":                      useDHCP,
			"usePredictableInterfaceNames": def(true),
			"nameservers":                  def([]any{"198.51.100.53"}),
			"defaultGateway":               def(gw("198.51.100.1", "ens2")),
			"interfaces": map[string]any{
				"ens2": map[string]any{
					"ipv4": map[string]any{
						"addresses": def([]any{addr("203.0.113.20", 32)}),
						"routes":    def([]any{addr("198.51.100.1", 32)}),
					},
				},
			},
		}, []string{udevRule("de:00:00:5a:6b:7c", "ens2")}},
		{"debian-dhcp-23.05.nix", map[string]any{
			"useDHCP":                      useDHCP,
			"usePredictableInterfaceNames": def(true),
			"nameservers":                  def([]any{"192.0.2.1"}),
			"defaultGateway":               def(gw("192.0.2.1", "ens3")),
			"interfaces": map[string]any{
				"ens3": map[string]any{"ipv4": map[string]any{"addresses": def([]any{addr("192.0.2.45", 24)})}},
			},
		}, []string{udevRule("52:54:00:12:34:56", "ens3")}},
		{"ubuntu-resolved-unstable.nix", map[string]any{
			"useDHCP":                      useDHCP,
			"usePredictableInterfaceNames": def(true),
			"nameservers":                  def([]any{"192.0.2.53", "2001:db8:77::53"}),
			"defaultGateway":               def(gw("198.51.100.1", "enp1s0")),
			"interfaces": map[string]any{
				"enp1s0": map[string]any{"ipv4": map[string]any{"addresses": def([]any{addr("198.51.100.23", 24)})}},
			},
		}, []string{udevRule("52:54:00:ab:cd:ef", "enp1s0")}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := evalFile(t, dir, tt.file)
			if keys := mapKeys(got); !reflect.DeepEqual(keys, []string{"networking", "services"}) {
				t.Errorf("top-level attributes: got %q, want networking and services", keys)
			}
			if !reflect.DeepEqual(got["networking"], tt.want) {
				gotJSON, _ := json.MarshalIndent(got["networking"], "", "  ")
				wantJSON, _ := json.MarshalIndent(tt.want, "", "  ")
				t.Errorf("networking:\ngot  %s\nwant %s", gotJSON, wantJSON)
			}
			services, _ := got["services"].(map[string]any)
			udev, _ := services["udev"].(map[string]any)
			rules, ok := udev["extraRules"].(string)
			if !ok || len(services) != 1 || len(udev) != 1 {
				t.Fatalf("services: got %#v, want only udev.extraRules, a plain string", services)
			}
			var lines []string
			for l := range strings.Lines(rules) {
				lines = append(lines, strings.TrimSuffix(l, "\n"))
			}
			if !reflect.DeepEqual(lines, tt.rules) {
				t.Errorf("udev rules:\ngot  %q\nwant %q", lines, tt.rules)
			}
		})
	}
}

func mapKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
