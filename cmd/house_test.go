package cmd

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The house's import rules, as the packages' doc comments state them:
// which packages may not depend on which (directly or not).
func TestImportRules(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}: {{join .Deps \" \"}}", "bootstrap/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, list, _ := strings.Cut(line, ": ")
		if strings.HasPrefix(pkg, "bootstrap/") {
			deps[pkg] = strings.Fields(list)
		}
	}
	under := func(prefix string) func(string) bool {
		return func(p string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }
	}
	aProvider := func(p string) bool { return strings.HasPrefix(p, "bootstrap/provider/") }
	leaves := []string{"bootstrap/remote", "bootstrap/infect", "bootstrap/templates", "bootstrap/channel", "bootstrap/secrets", "bootstrap/workspace"}
	tests := []struct {
		pkgs      func(string) bool // the packages the rule is about
		forbidden func(string) bool // what none of them may depend on
		why       string
	}{
		{under("bootstrap/provider"), func(d string) bool {
			return under("bootstrap/bootstrap")(d) || under("bootstrap/cmd")(d) || under("bootstrap/deploy")(d)
		}, "providers import nothing from bootstrap/"},
		{under("bootstrap/bootstrap"), func(d string) bool { return aProvider(d) || under("bootstrap/cmd")(d) || under("bootstrap/deploy")(d) }, "the pipeline knows a machine, never a provider"},
		{under("bootstrap/deploy"), func(d string) bool { return aProvider(d) || under("bootstrap/cmd")(d) }, "deploy needs no provider"},
		{under("bootstrap/export"), func(d string) bool {
			return aProvider(d) || under("bootstrap/cmd")(d) || under("bootstrap/deploy")(d)
		}, "export reads the workspace: no provider, deploy or cmd"},
		{func(p string) bool { return slices.Contains(leaves, p) }, func(d string) bool {
			return strings.HasPrefix(d, "bootstrap/") && !slices.Contains(leaves, d)
		}, "leaves import leaves only"},
		{func(p string) bool { return !under("bootstrap/e2e")(p) }, under("bootstrap/e2e"), "no package outside e2e/ imports it"},
		{under("bootstrap/localcloud"), func(d string) bool {
			return strings.HasPrefix(d, "bootstrap/") && !under("bootstrap/localcloud")(d) && !slices.Contains(leaves, d)
		}, "localcloud imports leaves only: nothing of the pipeline, providers or cmd"},
	}
	for _, tt := range tests {
		for pkg, ds := range deps {
			if !tt.pkgs(pkg) {
				continue
			}
			for _, d := range ds {
				if tt.forbidden(d) {
					t.Errorf("%s depends on %s, want not: %s", pkg, d, tt.why)
				}
			}
		}
	}
	if len(deps) < 15 {
		t.Errorf("got %d packages from go list, want the whole module", len(deps))
	}
}
