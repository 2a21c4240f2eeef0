package nixorg

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The tests run Debian's nix-instantiate (package nix-bin). They skip when
// it is missing, unless BOOTSTRAP_REQUIRE_NIX=1 (as in CI).
func evaluator(t *testing.T) *Evaluator {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("BOOTSTRAP_REQUIRE_NIX") == "1" {
			t.Fatalf("nix-instantiate not found and BOOTSTRAP_REQUIRE_NIX=1 (apt-get install nix-bin): %v", err)
		}
		t.Skip("nix-instantiate not found (apt-get install nix-bin); set BOOTSTRAP_REQUIRE_NIX=1 to fail instead")
	}
	return &Evaluator{TempDir: t.TempDir()}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// writeTree writes files (relative path -> content) under a new directory
// and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// jsonValue converts Go literals to what encoding/json decodes: numbers are
// float64, lists []any, sets map[string]any.
// "{dir}" in a string reads the test's directory.
func jsonValue(v any, dir string) any {
	switch v := v.(type) {
	case string:
		return strings.ReplaceAll(v, "{dir}", dir)
	case int:
		return float64(v)
	case []string:
		out := make([]any, len(v))
		for i, s := range v {
			out[i] = jsonValue(s, dir)
		}
		return out
	case []int:
		out := make([]any, len(v))
		for i, n := range v {
			out[i] = float64(n)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = jsonValue(x, dir)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = jsonValue(x, dir)
		}
		return out
	}
	return v
}

// absent marks a selected path that must not be in the answer.
type absentT struct{}

var absent = absentT{}

type evalCase struct {
	name   string
	files  map[string]string // "configuration.nix" is the root
	want   map[string]any    // selected path -> value (or absent)
	errs   []string          // substrings of the *NixError's message; want is then unused; {dir} is the tree
	file   string            // with errs: NixError.File, relative to the tree ("" = not checked)
	system string
}

func runEvalCases(t *testing.T, cases []evalCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := evaluator(t)
			e.System = tc.system
			dir := writeTree(t, tc.files)
			if tc.errs == nil {
				checkEval(t, e, dir, tc.want)
				return
			}
			_, err := e.Eval(testContext(t), filepath.Join(dir, "configuration.nix"), nil)
			var ne *NixError
			if !errors.As(err, &ne) {
				t.Fatalf("got %v (%T), want a *NixError containing %q", err, err, tc.errs)
			}
			for _, s := range tc.errs {
				if s = strings.ReplaceAll(s, "{dir}", dir); !strings.Contains(ne.Msg, s) {
					t.Errorf("got message\n%s\nwant it to contain %q", ne.Msg, s)
				}
			}
			if tc.file != "" {
				if want := filepath.Join(dir, tc.file); ne.File != want {
					t.Errorf("got File %q, want %q", ne.File, want)
				}
			}
		})
	}
}

func TestEvalImports(t *testing.T) {
	runEvalCases(t, []evalCase{{
		name: "paths, nested, functions, attribute sets, modulesPath",
		files: map[string]string{
			"configuration.nix": `{ lib, modulesPath, ... }: {
				imports = [
					./a.nix
					./sub/b.nix
					({ pkgs, ... }: { environment.systemPackages = [ pkgs.git ]; })
					{ networking.firewall.allowedTCPPorts = [ 443 ]; }
					(modulesPath + "/profiles/qemu-guest.nix")
					"${modulesPath}/profiles/minimal.nix"
				];
				boot.initrd.availableKernelModules = [ "ahci" ];
			}`,
			"a.nix": `{ networking.hostName = "from-a"; imports = [ ./sub/b.nix ]; }`,
			// Imported twice (by configuration.nix and a.nix): its list counts once.
			"sub/b.nix": `{ config, ... }: { imports = [ ./c.nix ]; networking.firewall.allowedTCPPorts = [ 22 ]; }`,
			"sub/c.nix": `{ pkgs, ... }: { environment.systemPackages = [ pkgs.vim ]; }`,
		},
		want: map[string]any{
			"networking.hostName":                 "from-a",
			"networking.firewall.allowedTCPPorts": []int{22, 443},
			"boot.initrd.availableKernelModules":  []string{"ahci", "virtio_net", "virtio_pci", "virtio_mmio", "virtio_blk", "virtio_scsi", "9p", "9pnet_virtio"},
			"boot.initrd.kernelModules":           []string{"virtio_balloon", "virtio_console", "virtio_rng", "virtio_gpu"},
			// Breadth first, as NixOS orders modules: the modules that
			// configuration.nix imports (b.nix before the inline ones), then
			// c.nix, which b.nix imports.
			"environment.systemPackages": []string{
				pkgPath("git"),
				pkgPath("vim"),
			},
		},
	}, {
		name: "explicit config and options, _file, key, disabledModules",
		files: map[string]string{
			"configuration.nix": `{ modulesPath, ... }: {
				imports = [ ./a.nix ./b.nix (modulesPath + "/installer/scan/not-detected.nix") ];
				disabledModules = [ ./b.nix "installer/scan/not-detected.nix" ];
			}`,
			"a.nix": `{ lib, ... }: { _file = "a-file"; key = "a-key"; config = { services.a.enable = true; }; meta = { }; }`,
			"b.nix": `{ services.b.enable = true; }`,
		},
		want: map[string]any{
			"services.a.enable":                      true,
			"services.b":                             absent,
			"hardware.enableRedistributableFirmware": false,
		},
	}, {
		name: "modulesPath stubs",
		files: map[string]string{
			"configuration.nix": `{ modulesPath, ... }: {
				imports = [
					"${modulesPath}/installer/scan/not-detected.nix"
					"${modulesPath}/virtualisation/amazon-image.nix"
					"${modulesPath}/profiles/headless.nix"
					"${modulesPath}/profiles/all-hardware.nix"
				];
			}`,
		},
		want: map[string]any{
			"hardware.enableRedistributableFirmware": true,
		},
	}, {
		name: "a missing stub module",
		files: map[string]string{
			"configuration.nix": `{ modulesPath, ... }: { imports = [ "${modulesPath}/virtualisation/digital-ocean-config.nix" ]; }`,
		},
		errs: []string{"virtualisation/digital-ocean-config.nix", "No such file or directory"},
	}, {
		name: "a module without ... gets the full argument set",
		files: map[string]string{
			"configuration.nix": `{ imports = [ ./pkgs-only.nix ]; }`,
			"pkgs-only.nix":     "{ pkgs }:\n{ environment.systemPackages = [ pkgs.vim ]; }\n",
		},
		errs: []string{"anonymous function at {dir}/pkgs-only.nix:1:1 called with unexpected argument"},
		file: "pkgs-only.nix",
	}, {
		name: "a module without ... naming every argument",
		files: map[string]string{
			"configuration.nix": `{ config, options, lib, modulesPath, baseModules, extraModules, modules, pkgs }: { networking.hostName = "all"; }`,
		},
		want: map[string]any{"networking.hostName": "all"},
	}, {
		name: "_module.args",
		files: map[string]string{
			"configuration.nix": `{ imports = [ ./uses.nix ]; _module.args.site = "example"; }`,
			"uses.nix":          `{ site, ... }: { networking.domain = "${site}.org"; }`,
		},
		want: map[string]any{"networking.domain": "example.org"},
	}, {
		name: "nested import lists",
		files: map[string]string{
			"configuration.nix": `{ imports = [ [ ./a.nix ] ]; }`,
			"a.nix":             `{ }`,
		},
		errs: []string{"Module imports can't be nested lists."},
	}, {
		name: "unsupported attribute beside config",
		files: map[string]string{
			"configuration.nix": `{ config = { }; networking.hostName = "x"; }`,
		},
		errs: []string{"has an unsupported attribute `networking'. This is caused by introducing a top-level `config' or `options' attribute."},
	}})
}

// pkgPath is the store path that the stub pkgs gives a package: its hash is
// the first 32 hexadecimal digits of the SHA-256 of "<name>\n", with z for e
// (Nix's base-32 alphabet has no e).
func pkgPath(name string) string {
	sum := sha256.Sum256([]byte(name + "\n"))
	return "/nix/store/" + strings.ReplaceAll(hex.EncodeToString(sum[:])[:32], "e", "z") + "-" + name
}

func TestEvalPriorities(t *testing.T) {
	three := map[string]string{
		"configuration.nix": `{ imports = [ ./default.nix ./plain.nix ./force.nix ]; }`,
		"default.nix":       `{ lib, ... }: { networking.hostName = lib.mkDefault "default"; }`,
		"plain.nix":         `{ networking.hostName = "plain"; }`,
		"force.nix":         `{ lib, ... }: { networking.hostName = lib.mkForce "forced"; }`,
	}
	without := func(name string) map[string]string {
		m := map[string]string{}
		for k, v := range three {
			if k != name {
				m[k] = v
			}
		}
		m[name] = "{ }"
		return m
	}
	runEvalCases(t, []evalCase{
		{name: "mkForce beats plain and mkDefault", files: three, want: map[string]any{"networking.hostName": "forced"}},
		{name: "plain beats mkDefault", files: without("force.nix"), want: map[string]any{"networking.hostName": "plain"}},
		{name: "mkDefault beats the NixOS default", files: map[string]string{
			"configuration.nix": `{ imports = [ ./default.nix ]; }`, "default.nix": three["default.nix"],
		}, want: map[string]any{"networking.hostName": "default", "networking.useDHCP": true}},
		{name: "mkOverride numbers", files: map[string]string{
			"configuration.nix": `{ lib, ... }: { imports = [ ./b.nix ]; services.x.n = lib.mkOverride 10 1; }`,
			"b.nix":             `{ lib, ... }: { services.x.n = lib.mkOverride 20 2; services.x.m = lib.mkOptionDefault 3; }`,
		}, want: map[string]any{"services.x.n": 1, "services.x.m": 3}},
		{name: "mkForce on an undeclared set applies to each attribute", files: map[string]string{
			"configuration.nix": `{ lib, ... }: { imports = [ ./b.nix ]; services.openssh = lib.mkForce { enable = false; }; }`,
			"b.nix":             `{ services.openssh = { enable = true; ports = [ 2222 ]; }; }`,
		}, want: map[string]any{"services.openssh": map[string]any{"enable": false, "ports": []int{2222}}}},
		{name: "mkForce on a file system replaces its other definitions", files: map[string]string{
			"configuration.nix": `{ lib, ... }: { imports = [ ./hw.nix ]; fileSystems."/" = lib.mkForce { device = "/dev/sdb1"; fsType = "xfs"; }; }`,
			"hw.nix":            `{ fileSystems."/" = { device = "/dev/sda1"; fsType = "ext4"; options = [ "noatime" ]; }; fileSystems."/data".device = "/dev/sdc"; }`,
		}, want: map[string]any{
			"fileSystems": map[string]any{
				"/":     map[string]any{"device": "/dev/sdb1", "fsType": "xfs"},
				"/data": map[string]any{"device": "/dev/sdc"},
			},
		}},
		{name: "mkDefault inside a file system loses to a plain definition", files: map[string]string{
			"configuration.nix": `{ lib, ... }: { imports = [ ./hw.nix ]; fileSystems."/" = { device = lib.mkDefault "/dev/vda1"; fsType = lib.mkDefault "ext4"; }; }`,
			"hw.nix":            `{ fileSystems."/".device = "/dev/disk/by-uuid/1234"; }`,
		}, want: map[string]any{`fileSystems."/"`: map[string]any{"device": "/dev/disk/by-uuid/1234", "fsType": "ext4"}}},
	})
}

func TestEvalConditions(t *testing.T) {
	runEvalCases(t, []evalCase{{
		name: "mkIf on an option set in another file",
		files: map[string]string{
			"configuration.nix": `{ config, lib, ... }: {
				imports = [ ./web.nix ];
				networking.firewall.allowedTCPPorts = lib.mkIf config.services.nginx.enable [ 80 443 ];
				services.nginx.recommendedTlsSettings = lib.mkIf (config.networking.hostName == "web") true;
				networking.domain = lib.mkIf false "never.example";
			}`,
			"web.nix": `{ networking.hostName = "web"; services.nginx.enable = true; }`,
		},
		want: map[string]any{
			"networking.firewall.allowedTCPPorts":     []int{80, 443},
			"services.nginx.recommendedTlsSettings":   true,
			"networking.domain":                       nil, // the NixOS default
			"services.nginx.enable":                   true,
			"networking.firewall.allowedUDPPorts":     absent,
			"networking.firewall.allowedTCPPorts.foo": absent,
		},
	}, {
		name: "config = mkIf reading the configuration itself",
		files: map[string]string{
			"configuration.nix": `{ imports = [ ./feature.nix ]; my.feature.enable = true; }`,
			"feature.nix": `{ config, lib, ... }: {
				config = lib.mkIf config.my.feature.enable {
					services.openssh.enable = true;
					my.feature.port = 2222;
				};
			}`,
		},
		want: map[string]any{"services.openssh.enable": true, "my.feature": map[string]any{"enable": true, "port": 2222}},
	}, {
		name: "a false mkIf leaves nothing",
		files: map[string]string{
			"configuration.nix": `{ lib, ... }: {
				services.foo = lib.mkIf false { enable = true; };
				fileSystems."/tmp" = lib.mkIf false { device = "tmpfs"; };
				fileSystems."/" = { device = "/dev/vda1"; };
			}`,
		},
		want: map[string]any{
			"services.foo":        map[string]any{},
			"services.foo.enable": absent,
			"fileSystems":         map[string]any{"/": map[string]any{"device": "/dev/vda1"}},
		},
	}, {
		name: "mkMerge",
		files: map[string]string{
			"configuration.nix": `{ config, lib, ... }: {
				config = lib.mkMerge [
					{ networking.hostName = "merged"; environment.systemPackages = [ "a" ]; }
					(lib.mkIf (config.networking.hostName == "merged") { environment.systemPackages = [ "b" ]; })
					(lib.mkIf false { environment.systemPackages = [ "c" ]; })
					{ services.x.v = lib.mkMerge [ (lib.mkIf false 1) 2 ]; }
				];
			}`,
		},
		want: map[string]any{
			"networking.hostName":        "merged",
			"environment.systemPackages": []string{"a", "b"},
			"services.x.v":               2,
		},
	}, {
		name: "a condition that is not a boolean",
		files: map[string]string{
			"configuration.nix": `{ lib, ... }: { services.x.enable = lib.mkIf "yes" true; }`,
		},
		errs: []string{"‘mkIf’ called with a non-Boolean condition"},
	}, {
		name: "reading an option whose definitions were all dropped",
		files: map[string]string{
			"configuration.nix": `{ config, lib, ... }: { services.x.v = lib.mkIf false 1; networking.hostName = toString config.services.x.v; }`,
		},
		errs: []string{"The option `services.x.v' was accessed but has no value defined. Try setting the option."},
	}, {
		name: "reading an option nothing defines",
		files: map[string]string{
			"configuration.nix": `{ config, ... }: { networking.hostName = if config.services.nginx.enable then "a" else "b"; }`,
		},
		errs: []string{"attribute 'nginx' missing"},
		file: "configuration.nix",
	}})
}

func TestEvalMerging(t *testing.T) {
	runEvalCases(t, []evalCase{{
		name: "lists concatenate in module order, mkBefore first, mkAfter last",
		files: map[string]string{
			"configuration.nix": `{ lib, ... }: {
				imports = [ ./b.nix ./c.nix ];
				boot.kernelParams = lib.mkAfter [ "last" ];
			}`,
			"b.nix": `{ lib, ... }: { boot.kernelParams = [ "b1" "b2" ]; }`,
			"c.nix": `{ lib, ... }: { boot.kernelParams = lib.mkMerge [ [ "c" ] (lib.mkBefore [ "first" ]) ]; }`,
		},
		want: map[string]any{"boot.kernelParams": []string{"first", "b1", "b2", "c", "last"}},
	}, {
		name: "lines join with newlines, declared or known by name",
		files: map[string]string{
			"configuration.nix": `{ lib, ... }: {
				imports = [ ./b.nix ./decl.nix ];
				services.udev.extraRules = "rule a";
				networking.extraHosts = lib.mkAfter "10.0.0.2 b";
				systemd.services.x.script = "echo 1";
				my.text = "two";
			}`,
			"decl.nix": `{ lib, ... }: { options.my.text = lib.mkOption { type = lib.types.lines; default = ""; }; }`,
			"b.nix": `{ lib, ... }: {
				services.udev.extraRules = lib.mkBefore "rule first";
				networking.extraHosts = "10.0.0.1 a";
				systemd.services.x.script = "echo 2";
				my.text = "one";
			}`,
		},
		want: map[string]any{
			"services.udev.extraRules":  "rule first\nrule a",
			"networking.extraHosts":     "10.0.0.1 a\n10.0.0.2 b",
			"systemd.services.x.script": "echo 1\necho 2",
			"my.text":                   "two\none",
		},
	}, {
		name: "conflicting strings name both files",
		files: map[string]string{
			"configuration.nix": `{ imports = [ ./host.nix ]; services.foo.bar = "one"; }`,
			"host.nix":          `{ services.foo.bar = "two"; }`,
		},
		errs: []string{
			"error: The option `services.foo.bar' has conflicting definition values:",
			"- In `{dir}/configuration.nix': \"one\"",
			"- In `{dir}/host.nix': \"two\"",
			"Use `lib.mkForce value` or `lib.mkDefault value` to change the priority on any of these definitions.",
		},
	}, {
		name: "conflicting host names",
		files: map[string]string{
			"configuration.nix": `{ imports = [ ./host.nix ]; networking.hostName = "a"; }`,
			"host.nix":          `{ networking.hostName = "b"; }`,
		},
		errs: []string{"error: The option `networking.hostName' has conflicting definition values:"},
	}, {
		name: "conflicting booleans",
		files: map[string]string{
			"configuration.nix": `{ imports = [ ./host.nix ]; services.openssh.enable = true; }`,
			"host.nix":          `{ services.openssh.enable = false; }`,
		},
		errs: []string{"The option `services.openssh.enable' has conflicting definition values:", "': true", "': false"},
	}, {
		name: "conflicting names with quoted parts",
		files: map[string]string{
			"configuration.nix": `{ imports = [ ./host.nix ]; fileSystems."/boot".fsType = "vfat"; }`,
			"host.nix":          `{ fileSystems."/boot".fsType = "ext4"; }`,
		},
		errs: []string{"The option `fileSystems.\"/boot\".fsType' has conflicting definition values:"},
	}, {
		name: "equal values at the same priority",
		files: map[string]string{
			"configuration.nix": `{ imports = [ ./host.nix ]; services.openssh.enable = true; networking.hostName = "h"; services.x.port = 1; }`,
			"host.nix":          `{ services.openssh.enable = true; networking.hostName = "h"; services.x.port = 1; }`,
		},
		want: map[string]any{"services.openssh.enable": true, "networking.hostName": "h", "services.x.port": 1},
	}, {
		name: "a set and a string",
		files: map[string]string{
			"configuration.nix": `{ imports = [ ./host.nix ]; networking.defaultGateway = "203.0.113.1"; }`,
			"host.nix":          `{ networking.defaultGateway = { address = "203.0.113.1"; }; }`,
		},
		errs: []string{"A definition for option `networking.defaultGateway' is not of type `string'.", "- In `{dir}/host.nix'"},
	}, {
		name: "a list and a string",
		files: map[string]string{
			"configuration.nix": `{ imports = [ ./host.nix ]; boot.kernelParams = [ "quiet" ]; }`,
			"host.nix":          `{ boot.kernelParams = "quiet"; }`,
		},
		errs: []string{"A definition for option `boot.kernelParams' is not of type `list'."},
	}, {
		name: "sets in lists have their properties resolved",
		files: map[string]string{
			"configuration.nix": `{ lib, ... }: { swapDevices = [ { device = "/swapfile"; size = lib.mkDefault 1024; randomEncryption = lib.mkIf false true; } ]; }`,
		},
		want: map[string]any{"swapDevices": []any{map[string]any{"device": "/swapfile", "size": 1024}}},
	}})
}

func TestEvalErrors(t *testing.T) {
	runEvalCases(t, []evalCase{{
		name: "throw",
		files: map[string]string{
			"configuration.nix": `{ imports = [ ./host.nix ]; }`,
			"host.nix":          `{ services.foo.enable = throw "host.nix: foo is not supported here"; }`,
		},
		errs: []string{"error: host.nix: foo is not supported here"},
	}, {
		name: "assert",
		files: map[string]string{
			"configuration.nix": "{ lib, ... }:\nassert lib.versionAtLeast lib.version \"99.05\";\n{ }\n",
		},
		errs: []string{"error: assertion", "failed"},
		file: "configuration.nix",
	}, {
		name: "an unselected option is evaluated too",
		files: map[string]string{
			"configuration.nix": `{ networking.hostName = "ok"; services.x.y = builtins.abort "deep inside"; }`,
		},
		errs: []string{"evaluation aborted with the following error message: 'deep inside'"},
	}, {
		name: "config.assertions",
		files: map[string]string{
			"configuration.nix": `{ config, ... }: {
				networking.hostName = "h";
				assertions = [
					{ assertion = config.networking.hostName == "h"; message = "fine"; }
					{ assertion = false; message = "hosts need a domain"; }
				];
			}`,
		},
		errs: []string{"Failed assertions:\n       - hosts need a domain"},
	}, {
		name: "an unknown package",
		files: map[string]string{
			"configuration.nix": `{ imports = [ ./host.nix ]; }`,
			"host.nix":          "{ pkgs, ... }:\n{\n  environment.systemPackages = [ pkgs.vim pkgs.definitelynotapackage ];\n}\n",
		},
		errs: []string{"error: attribute 'definitelynotapackage' missing", "at {dir}/host.nix:3:"},
		file: "host.nix",
	}, {
		name: "an unknown package under with pkgs",
		files: map[string]string{
			"configuration.nix": `{ pkgs, ... }: { environment.systemPackages = with pkgs; [ vim definitelynotapackage ]; }`,
		},
		errs: []string{"undefined variable 'definitelynotapackage'"},
	}, {
		name: "callPackage",
		files: map[string]string{
			"configuration.nix": `{ pkgs, ... }: { environment.systemPackages = [ (pkgs.callPackage ./pkg.nix { }) ]; }`,
		},
		errs: []string{"pkgs.callPackage needs nixpkgs"},
	}, {
		name: "a misspelt mkOption argument",
		files: map[string]string{
			"configuration.nix": `{ lib, ... }: { options.my.x = lib.mkOption { defualt = 1; }; }`,
		},
		errs: []string{"called with unexpected argument 'defualt'"},
		file: "configuration.nix",
	}})
}

func TestEvalOptions(t *testing.T) {
	runEvalCases(t, []evalCase{{
		name: "declared defaults",
		files: map[string]string{
			"configuration.nix": `{ imports = [ ./options.nix ]; my.port = 8080; }`,
			"options.nix": `{ config, lib, ... }: {
				options.my = {
					enable = lib.mkEnableOption "my service";
					port = lib.mkOption { type = lib.types.port; default = 80; };
					name = lib.mkOption { type = lib.types.str; default = "n-${toString config.my.port}"; };
					settings = lib.mkOption { type = lib.types.attrsOf lib.types.str; default = { a = "1"; }; };
					tags = lib.mkOption { type = lib.types.listOf lib.types.str; default = [ "x" ]; };
					nothing = lib.mkOption { type = lib.types.nullOr lib.types.str; default = null; };
					required = lib.mkOption { type = lib.types.str; };
				};
				config.networking.hostName = lib.mkIf (!config.my.enable) "disabled";
			}`,
		},
		want: map[string]any{
			"my.enable":           false,
			"my.port":             8080,
			"my.name":             "n-8080",
			"my.settings":         map[string]any{"a": "1"},
			"my.tags":             []string{"x"},
			"my.nothing":          nil,
			"my.required":         absent,
			"networking.hostName": "disabled",
		},
	}, {
		name: "a definition replaces a declared default set",
		files: map[string]string{
			"configuration.nix": `{ lib, ... }: {
				imports = [ ({ lib, ... }: { options.my.settings = lib.mkOption { type = lib.types.attrsOf lib.types.str; default = { a = "1"; }; }; }) ];
				my.settings.b = "2";
			}`,
		},
		want: map[string]any{"my.settings": map[string]any{"b": "2"}},
	}, {
		name: "the NixOS defaults",
		files: map[string]string{
			"configuration.nix": `{ }`,
		},
		want: map[string]any{
			"networking.useDHCP":                      true,
			"networking.usePredictableInterfaceNames": true,
			"networking.dhcpcd.enable":                true,
			"networking.domain":                       nil,
			"networking.nameservers":                  []string{},
			"networking.hostName":                     "nixos",
			"services.openssh.enable":                 false,
			"boot.loader.efi.efiSysMountPoint":        "/boot",
			"boot.loader.grub.efiSupport":             false,
			"boot.loader.grub.efiInstallAsRemovable":  false,
			"system.autoUpgrade.enable":               false,
			"boot.loader.grub.device":                 absent,
			"fileSystems":                             absent,
		},
	}, {
		name: "null and not null",
		files: map[string]string{
			"configuration.nix": `{ imports = [ ./b.nix ]; networking.domain = null; }`,
			"b.nix":             `{ networking.domain = "example.org"; }`,
		},
		errs: []string{"The option `networking.domain' is defined both null and not null, in `{dir}/configuration.nix' and `{dir}/b.nix'."},
	}})
}

func TestEvalValues(t *testing.T) {
	runEvalCases(t, []evalCase{{
		name: "paths, functions, packages, selection",
		files: map[string]string{
			"configuration.nix": `{ pkgs, lib, ... }: {
				environment.etc."motd".source = ./motd;
				environment.etc."issue".text = "welcome";
				services.x.hook = x: x;
				services.x.list = [ 1 (x: x) ];
				services.x.script = pkgs.writeShellScript "hello" "echo hi";
				services.x.release = lib.trivial.release;
				services.x.x86 = pkgs.stdenv.hostPlatform.isx86_64;
				services.x."dotted.name" = 1;
			}`,
			"motd": "hi\n",
		},
		want: map[string]any{
			`environment.etc."motd".source`: "{dir}/motd",
			`environment.etc.issue.text`:    "welcome",
			"services.x.hook":               absent,
			"services.x.list":               []int{1},
			"services.x.release":            DefaultRelease,
			"services.x.x86":                true,
			`services.x."dotted.name"`:      1,
			"services.x.dotted.name":        absent,
			"services.x.script.notthere":    absent,
			"nowhere.at.all":                absent,
		},
	}, {
		name:   "aarch64",
		system: "aarch64-linux",
		files: map[string]string{
			"configuration.nix": `{ pkgs, ... }: { services.x.x86 = pkgs.stdenv.hostPlatform.isx86_64; services.x.arm = pkgs.stdenv.hostPlatform.isAarch64; services.x.system = pkgs.system; }`,
		},
		want: map[string]any{"services.x.x86": false, "services.x.arm": true, "services.x.system": "aarch64-linux"},
	}})
}

func TestParse(t *testing.T) {
	e := evaluator(t)
	good := map[string]string{
		"configuration.nix":   "{ ... }: { imports = [ ./sub/host.nix ]; }\n",
		"sub/host.nix":        "{ pkgs, ... }: { environment.systemPackages = [ pkgs.vim ]; }\n",
		"README":              "not { nix",
		".git/bad.nix":        "{ x = ",
		"sub/.hidden/bad.nix": "{ x = ",
	}
	t.Run("good", func(t *testing.T) {
		if err := e.Parse(testContext(t), writeTree(t, good)); err != nil {
			t.Errorf("got %v, want nil", err)
		}
	})
	tests := []struct {
		name, file, content string
		msg                 []string
	}{
		{"unterminated string", "sub/bad.nix", "{ x = \"unterminated; }\n", []string{"error: syntax error, unexpected end of file", "at {file}:1:"}},
		{"missing semicolon", "z.nix", "{\n  a = 1\n  b = 2;\n}\n", []string{"error: syntax error", "at {file}:3:"}},
		{"undefined variable", "a.nix", "{ imports = [ ./a b.nix ]; }\n", []string{"error: undefined variable 'b'", "at {file}:1:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{tt.file: tt.content}
			for k, v := range good {
				files[k] = v
			}
			dir := writeTree(t, files)
			err := e.Parse(testContext(t), dir)
			var ne *NixError
			if !errors.As(err, &ne) {
				t.Fatalf("got %v (%T), want a *NixError", err, err)
			}
			file := filepath.Join(dir, filepath.FromSlash(tt.file))
			if ne.File != file {
				t.Errorf("got File %q, want %q", ne.File, file)
			}
			for _, m := range tt.msg {
				if m = strings.ReplaceAll(m, "{file}", file); !strings.Contains(ne.Msg, m) {
					t.Errorf("got message\n%s\nwant it to contain %q", ne.Msg, m)
				}
			}
		})
	}
	t.Run("a single file", func(t *testing.T) {
		dir := writeTree(t, map[string]string{"bad.nix": "{"})
		err := e.Parse(testContext(t), filepath.Join(dir, "bad.nix"))
		var ne *NixError
		if !errors.As(err, &ne) || ne.File != filepath.Join(dir, "bad.nix") {
			t.Errorf("got %v, want a *NixError for bad.nix", err)
		}
	})
	t.Run("no such directory", func(t *testing.T) {
		err := e.Parse(testContext(t), filepath.Join(t.TempDir(), "none"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("got %v, want a not-exist error", err)
		}
	})
}

func TestEvalTimeout(t *testing.T) {
	e := evaluator(t)
	dir := writeTree(t, map[string]string{
		// Exponential, not deep: it runs until killed.
		"configuration.nix": "let fib = n: if n < 2 then n else fib (n - 1) + fib (n - 2); in { services.x.n = fib 60; }\n",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := e.Eval(ctx, filepath.Join(dir, "configuration.nix"), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want a deadline error", err)
	}
}

func TestEvalMissingBinary(t *testing.T) {
	e := &Evaluator{Bin: filepath.Join(t.TempDir(), "nix-instantiate"), TempDir: t.TempDir()}
	_, err := e.Eval(context.Background(), "configuration.nix", nil)
	var ne *NixError
	if err == nil || errors.As(err, &ne) {
		t.Errorf("got %v, want an exec error", err)
	}
}

func TestNixMessage(t *testing.T) {
	const tmp = "/tmp/nixorg-1"
	tests := []struct{ name, stderr, want string }{
		{
			"warnings and the trace hint go",
			"warning: the group 'nixbld' specified in 'build-users-group' does not exist\nerror: boom\n(use '--show-trace' to show detailed location information)\n",
			"error: boom",
		},
		{
			"positions in user files stay",
			"error: attribute 'nope' missing\n\n       at /etc/nixos/host.nix:3:49:\n\n            3|   x = [ pkgs.nope ];\n             |         ^\n(use '--show-trace' to show detailed location information)\n",
			"error: attribute 'nope' missing\n\n       at /etc/nixos/host.nix:3:49:\n\n            3|   x = [ pkgs.nope ];\n             |         ^",
		},
		{
			"positions in the evaluator go",
			"error: anonymous function at /etc/nixos/p.nix:1:1 called with unexpected argument 'config'\n\n       at /tmp/nixorg-1/lib/eval.nix:72:8:\n\n           71|  x\n           72|  y\n             |  ^\n(use '--show-trace' to show detailed location information)\n",
			"error: anonymous function at /etc/nixos/p.nix:1:1 called with unexpected argument 'config'",
		},
		{
			"other mentions of the evaluator's directory",
			"error: getting status of '/tmp/nixorg-1/lib/modules/x.nix': No such file or directory\n",
			"error: getting status of '<nixorg>/lib/modules/x.nix': No such file or directory",
		},
	}
	for _, tt := range tests {
		if got := nixMessage(tt.stderr, tmp); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
	long := "error: many\n" + strings.Repeat("line\n", 100)
	if got := strings.Count(nixMessage(long, tmp), "\n"); got != maxMsgLines {
		t.Errorf("long message: got %d lines, want %d", got+1, maxMsgLines+1)
	}
}

func TestErrorFile(t *testing.T) {
	tests := []struct{ msg, want string }{
		{"error: attribute 'x' missing\n\n       at /etc/nixos/host.nix:3:49:", "/etc/nixos/host.nix"},
		{"error: 'mkOption' at <nixorg>/lib/lib.nix:49:7 called with unexpected argument 'x'\n\n       at /etc/nixos/configuration.nix:1:32:", "/etc/nixos/configuration.nix"},
		{"error: anonymous function at /etc/nixos/p.nix:1:1 called with unexpected argument 'config'", "/etc/nixos/p.nix"},
		{"error: The option `a' has conflicting definition values:\n- In `/etc/nixos/a.nix': 1", ""},
	}
	for _, tt := range tests {
		if got := errorFile(tt.msg); got != tt.want {
			t.Errorf("errorFile(%q) = %q, want %q", tt.msg, got, tt.want)
		}
	}
}

func TestNixString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"networking.hostName", `"networking.hostName"`},
		{`fileSystems."/".device`, `"fileSystems.\"/\".device"`},
		{"${x} \\ \n", `"\${x} \\ \n"`},
	}
	for _, tt := range tests {
		if got := nixString(tt.in); got != tt.want {
			t.Errorf("nixString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestLib checks the stub lib: each function gives what nixpkgs' function of
// the same name is specified to give.
func TestLib(t *testing.T) {
	e := evaluator(t)
	tests := []struct{ expr, want string }{
		{`lib.mkDefault 1`, `{"_type":"override","content":1,"priority":1000}`},
		{`lib.mkOptionDefault 1`, `{"_type":"override","content":1,"priority":1500}`},
		{`lib.mkForce 1`, `{"_type":"override","content":1,"priority":50}`},
		{`lib.mkBefore [ 1 ]`, `{"_type":"order","content":[1],"priority":500}`},
		{`lib.mkAfter [ 1 ]`, `{"_type":"order","content":[1],"priority":1500}`},
		{`lib.mkIf true 1`, `{"_type":"if","condition":true,"content":1}`},
		{`(lib.mkEnableOption "x").default`, `false`},
		{`(lib.mkOption { default = 3; })._type`, `"option"`},
		{`lib.optional false 1 ++ lib.optional true 2 ++ lib.optionals true [ 3 4 ]`, `[2,3,4]`},
		{`lib.optionalString false "x" + lib.optionalString true "y"`, `"y"`},
		{`lib.optionalAttrs true { a = 1; } // lib.optionalAttrs false { b = 2; }`, `{"a":1}`},
		{`lib.concatStringsSep "," [ "a" "b" ]`, `"a,b"`},
		{`lib.concatMapStringsSep "-" toString [ 1 2 ]`, `"1-2"`},
		{`lib.concatLists [ [ 1 ] [ 2 3 ] ]`, `[1,2,3]`},
		{`lib.mapAttrs (n: v: v + 1) { a = 1; }`, `{"a":2}`},
		{`lib.mapAttrsToList (n: v: n + v) { a = "1"; b = "2"; }`, `["a1","b2"]`},
		{`lib.filterAttrs (n: v: v > 1) { a = 1; b = 2; }`, `{"b":2}`},
		{`lib.attrNames { b = 1; a = 2; } ++ lib.attrValues { b = 1; a = 2; }`, `["a","b",2,1]`},
		{`[ (lib.elem 2 [ 1 2 ]) (lib.hasPrefix "/dev" "/dev/sda") (lib.hasSuffix ".nix" "a.nix") (lib.hasInfix "b" "abc") ]`, `[true,true,true,true]`},
		{`[ (lib.removePrefix "/boot" "/boot/efi") (lib.removeSuffix ".nix" "a.nix") (lib.removePrefix "x" "abc") ]`, `["/efi","a","abc"]`},
		{`lib.splitString "." "a.b..c"`, `["a","b","","c"]`},
		{`[ (lib.toUpper "aB1") (lib.toLower "aB1") ]`, `["AB1","ab1"]`},
		{`[ (lib.versionAtLeast "24.11" "24.05") (lib.versionOlder "20.09" "21.05") (lib.versionAtLeast "23.05" "23.11") ]`, `[true,true,false]`},
		{`lib.recursiveUpdate { a = { b = 1; c = 2; }; d = 1; } { a = { b = 3; }; d = { x = 1; }; }`, `{"a":{"b":3,"c":2},"d":{"x":1}}`},
		{`lib.foldl' (a: b: a + b) 0 [ 1 2 3 ]`, `6`},
		{`lib.foldr (a: b: a + b) "" [ "a" "b" ]`, `"ab"`},
		{`lib.listToAttrs [ (lib.nameValuePair "a" 1) ]`, `{"a":1}`},
		{`lib.genAttrs [ "a" "b" ] (n: n + n)`, `{"a":"aa","b":"bb"}`},
		{`lib.unique [ 3 1 3 2 1 ]`, `[3,1,2]`},
		{`lib.flatten [ 1 [ 2 [ 3 ] ] ]`, `[1,2,3]`},
		{`lib.range 2 4 ++ lib.range 1 0`, `[2,3,4]`},
		{`[ (lib.length [ 1 2 ]) (lib.head [ 1 2 ]) (lib.toInt "42") (lib.toInt " -7 ") (lib.last [ 1 2 ]) ]`, `[2,1,42,-7,2]`},
		{`builtins.tryEval (lib.toInt "042")`, `{"success":false,"value":false}`},
		{`[ lib.trivial.release lib.version lib.release ]`, `["25.05","25.05pre-git","25.05"]`},
		{`[ (lib.strings.hasPrefix "a" "ab") (lib.lists.elem 1 [ 1 ]) (lib.attrsets.attrByPath [ "a" "b" ] 0 { a.b = 5; }) ]`, `[true,true,5]`},
		{`lib.escapeShellArg "it's"`, `"'it'\\''s'"`},
		{`lib.showOption [ "fileSystems" "/" "device" ]`, `"fileSystems.\"/\".device"`},
		{`lib.types.lines.separator`, `"\n"`},
		{`(lib.types.listOf lib.types.str).elemType.name`, `"str"`},
		{`lib.versions.majorMinor "24.11.20250101"`, `"24.11"`},
		{`lib.fileContents {lib}/lib.nix == lib.removeSuffix "\n" (builtins.readFile {lib}/lib.nix)`, `true`},
		{`lib.imap1 (i: v: i * v) [ 5 5 ]`, `[5,10]`},
		{`lib.mapAttrs' (n: v: lib.nameValuePair "x${n}" v) { a = 1; }`, `{"xa":1}`},
		{`lib.zipAttrsWith (n: vs: vs) [ { a = 1; } { a = 2; b = 3; } ]`, `{"a":[1,2],"b":[3]}`},
		{`lib.setAttrByPath [ "a" "b" ] 1`, `{"a":{"b":1}}`},
		{`lib.generators.toPretty { } [ "x\ny" ]`, `"[\n  ''\n    x\n    y''\n]"`},
	}
	var exprs []string
	for _, tt := range tests {
		exprs = append(exprs, "("+tt.expr+")")
	}
	out, err := e.run(testContext(t), func(lib string) []string {
		return []string{"--eval", "--strict", "--json", "--expr",
			"let lib = import " + filepath.Join(lib, "lib.nix") + ` { release = "25.05"; }; in map builtins.toJSON [ ` +
				strings.ReplaceAll(strings.Join(exprs, " "), "{lib}", lib) + " ]"}
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	if len(got) != len(tests) {
		t.Fatalf("got %d answers, want %d", len(got), len(tests))
	}
	for i, tt := range tests {
		if got[i] != tt.want {
			t.Errorf("%s: got %s, want %s", tt.expr, got[i], tt.want)
		}
	}
}

// TestEvalNoDownloads: a fetcher fails at once (the URL is on loopback, so
// that nothing leaves the machine even without the proxy).
func TestEvalNoDownloads(t *testing.T) {
	e := evaluator(t)
	dir := writeTree(t, map[string]string{
		"configuration.nix": `{ environment.etc.x.text = builtins.readFile (builtins.fetchurl "http://127.0.0.1:9/x"); }`,
	})
	start := time.Now()
	_, err := e.Eval(testContext(t), filepath.Join(dir, "configuration.nix"), nil)
	var ne *NixError
	if !errors.As(err, &ne) || !strings.Contains(ne.Msg, "unable to download 'http://127.0.0.1:9/x'") {
		t.Errorf("got %v, want a *NixError about the download", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v, want a prompt failure", d)
	}
}

func TestEvalExpr(t *testing.T) {
	e := evaluator(t)
	dir := writeTree(t, map[string]string{"a.nix": "{ x = 1; y = [ ./a.nix ]; }\n"})
	tests := []struct {
		expr, want, msg string
	}{
		{`let a = import ` + filepath.Join(dir, "a.nix") + `; in { inherit (a) x; y = map toString a.y; }`, `{"x":1,"y":["` + filepath.Join(dir, "a.nix") + `"]}`, ""},
		{`builtins.fetchTarball "https://example.org/x.tar.gz"`, "", "error:"},
		{`{ x = ; }`, "", "syntax error"},
	}
	for _, tt := range tests {
		got, err := e.EvalExpr(testContext(t), tt.expr)
		var ne *NixError
		switch {
		case tt.msg == "" && (err != nil || string(got) != tt.want):
			t.Errorf("EvalExpr(%s): got %s, %v; want %s", tt.expr, got, err, tt.want)
		case tt.msg != "" && (!errors.As(err, &ne) || !strings.Contains(ne.Msg, tt.msg)):
			t.Errorf("EvalExpr(%s): got %s, %v; want a *NixError with %q", tt.expr, got, err, tt.msg)
		}
	}
}
