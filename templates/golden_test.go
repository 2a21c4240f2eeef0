package templates

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the templates")

// goldenCase is one host whose generated files are kept in
// testdata/golden/<name>/.
type goldenCase struct {
	name string
	cfg  func(t testing.TB) Config
}

func goldenCases() []goldenCase {
	bios := func(ch string) func(t testing.TB) Config {
		return func(t testing.TB) Config {
			return Config{
				Name:      "web1",
				Channel:   mustChannel(t, ch),
				DeployKey: testKey(t, 1) + " bootstrap-deploy",
				AuthorizedKeys: []string{
					testKey(t, 2) + " alice@laptop",
					`from="192.0.2.0/24",command="borg serve --restrict-to-path /backup",restrict ` + testKey(t, 3) + " backup@cloud",
					testKey(t, 1) + " the deploy key again",
				},
				Facts: Facts{BootMode: BIOS, GrubDevice: "/dev/vda", RootDevice: "/dev/vda1", RootFSType: "ext4"},
			}
		}
	}
	return []goldenCase{
		{"20.09", bios("nixos-20.09")},
		{"23.05", bios("nixos-23.05")},
		{"24.11", bios("nixos-24.11")},
		{"efi-unstable", func(t testing.TB) Config {
			return Config{
				Name:      "db-2",
				Channel:   mustChannel(t, "nixos-unstable"),
				DeployKey: testKey(t, 4) + ` deploy "${USER}" \o/`,
				Facts: Facts{
					BootMode:   EFI,
					ESPDevice:  "/dev/disk/by-uuid/6A1F-2B3C",
					ESPMount:   "/boot/efi",
					RootDevice: "/dev/disk/by-uuid/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
					RootFSType: "ext4",
				},
			}
		}},
		// Ubuntu 24.04's cloud image under EFI: a separate ext4 /boot with the
		// ESP on /boot/efi inside it.
		{"efi-separate-boot-24.11", func(t testing.TB) Config {
			return Config{
				Name:      "app-3",
				Channel:   mustChannel(t, "nixos-24.11"),
				DeployKey: testKey(t, 5) + " bootstrap-deploy",
				Facts: Facts{
					BootMode:   EFI,
					ESPDevice:  "/dev/disk/by-uuid/B2C3-D4E5",
					ESPMount:   "/boot/efi",
					BootDevice: "/dev/disk/by-uuid/1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
					BootFSType: "ext4",
					RootDevice: "/dev/disk/by-uuid/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
					RootFSType: "ext4",
				},
			}
		}},
	}
}

// generate returns the files of a golden case by name.
func generate(t testing.TB, c Config) map[string][]byte {
	t.Helper()
	conf, err := ConfigurationNix(c)
	if err != nil {
		t.Fatal(err)
	}
	boot, err := BootstrapNix(c)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"configuration.nix": conf, "bootstrap.nix": boot}
}

func TestGolden(t *testing.T) {
	for _, gc := range goldenCases() {
		t.Run(gc.name, func(t *testing.T) {
			dir := filepath.Join("testdata", "golden", gc.name)
			for name, got := range generate(t, gc.cfg(t)) {
				file := filepath.Join(dir, name)
				if *update {
					if err := os.MkdirAll(dir, 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(file, got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(file)
				if err != nil {
					t.Fatalf("%v (run go test ./templates -update to create it)", err)
				}
				if string(got) != string(want) {
					t.Errorf("%s differs from the template output (- golden, + got; go test ./templates -update rewrites it):\n%s",
						file, lineDiff(string(want), string(got)))
				}
			}
		})
	}
}

// lineDiff is a small line-based diff (longest common subsequence) for
// test failures: "-" lines only in a, "+" lines only in b, two lines of
// context around each change.
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	// lcs[i][j] = length of the LCS of x[i:] and y[j:]
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		kind byte
		line string
		n    int // line number in a (for ' ' and '-') or b (for '+')
	}
	var ops []op
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			ops = append(ops, op{' ', x[i], i + 1})
			i, j = i+1, j+1
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, op{'-', x[i], i + 1})
			i++
		default:
			ops = append(ops, op{'+', y[j], j + 1})
			j++
		}
	}
	const context = 2
	var out strings.Builder
	last := -1
	for k, o := range ops {
		near := false
		for d := -context; d <= context; d++ {
			if k+d >= 0 && k+d < len(ops) && ops[k+d].kind != ' ' {
				near = true
			}
		}
		if !near {
			continue
		}
		if last >= 0 && k != last+1 {
			out.WriteString("  ...\n")
		}
		last = k
		fmt.Fprintf(&out, "%c %3d| %s\n", o.kind, o.n, o.line)
	}
	return out.String()
}

func TestLineDiff(t *testing.T) {
	got := lineDiff("a\nb\nc\nd\ne\nf\ng\nh", "a\nb\nc\nD\ne\nf\ng\nh")
	want := "    2| b\n    3| c\n-   4| d\n+   4| D\n    5| e\n    6| f\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
