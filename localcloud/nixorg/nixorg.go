// The evaluation of a host's real /etc/nixos configuration without nixpkgs:
// eval.nix is a minimal NixOS module system (imports,
// mkIf/mkMerge/mkOverride/mkOrder, NixOS's merge rules and error messages, a
// stub lib and pkgs, stub modules under modulesPath and a few NixOS option
// defaults) that Debian's nix-instantiate runs, so that the emulated first
// boot applies what the configuration really says.
//
// Every run uses a private, writable Nix store, state and configuration in a
// temporary directory, an empty NIX_PATH and no network: downloads (a
// fetchurl or fetchTarball in a configuration) go to a closed loopback proxy
// and fail on the first attempt.

package nixorg

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// The evaluator (eval.nix with its lib.nix, pkgs.nix and defaults.nix) and
// the stub modules that modulesPath points to.
//
//go:embed eval.nix lib.nix pkgs.nix defaults.nix modules
var files embed.FS

const (
	// DefaultRelease is lib.trivial.release when Evaluator.Release is "".
	DefaultRelease = "24.11"
	// DefaultSystem is pkgs.system when Evaluator.System is "".
	DefaultSystem = "x86_64-linux"
	// DefaultTimeout bounds a run whose context has no deadline.
	DefaultTimeout = 2 * time.Minute
	// maxMsgLines bounds NixError.Msg.
	maxMsgLines = 40
)

// Evaluator runs nix-instantiate. The zero value is ready to use.
type Evaluator struct {
	Bin     string // nix-instantiate; "" = look it up in PATH
	TempDir string // parent of each run's private directory; "" = os.TempDir()
	Release string // lib.trivial.release and lib.version; "" = DefaultRelease
	System  string // pkgs.system and pkgs.stdenv.hostPlatform; "" = DefaultSystem
}

// NixError is a failure reported by Nix itself: a parse or evaluation error.
type NixError struct {
	File string // the .nix file the error is about, when Nix names one
	Msg  string // Nix's message, from "error: ..."
}

func (e *NixError) Error() string {
	if e.File == "" || strings.Contains(e.Msg, e.File) {
		return e.Msg
	}
	return e.File + ": " + e.Msg
}

// Available says whether nix-instantiate is in PATH.
func Available() error {
	_, err := exec.LookPath("nix-instantiate")
	return err
}

func (e *Evaluator) bin() (string, error) {
	if e.Bin != "" {
		return e.Bin, nil
	}
	return exec.LookPath("nix-instantiate")
}

// Parse runs nix-instantiate --parse on every *.nix file under dir (dir
// itself may be a file), in lexical order, skipping directories whose name
// starts with a dot. The first file that does not parse is returned as a
// *NixError with Nix's message.
func (e *Evaluator) Parse(ctx context.Context, dir string) error {
	var nixFiles []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), ".nix") {
			nixFiles = append(nixFiles, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range nixFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			return err
		}
		if _, err := e.run(ctx, func(string) []string { return []string{"--parse", abs} }); err != nil {
			var ne *NixError
			if errors.As(err, &ne) {
				ne.File = f
			}
			return err
		}
	}
	return nil
}

// Eval evaluates the NixOS configuration rooted at configFile (usually
// /etc/nixos/configuration.nix, or a copy of that directory) and returns the
// final values of the selected option paths, decoded from JSON: dotted
// paths such as "networking.hostName" or `fileSystems."/".device`. A path
// that nothing defines (and that has no NixOS default in defaults.nix) is
// not in the map. The whole configuration is evaluated, strictly, and its
// assertions checked: any error in it is returned as a *NixError with Nix's
// message, e.g. "error: The option `networking.hostName' has conflicting
// definition values: ...".
func (e *Evaluator) Eval(ctx context.Context, configFile string, selectPaths []string) (map[string]any, error) {
	abs, err := filepath.Abs(configFile)
	if err != nil {
		return nil, err
	}
	release, system := e.Release, e.System
	if release == "" {
		release = DefaultRelease
	}
	if system == "" {
		system = DefaultSystem
	}
	sel := make([]string, len(selectPaths))
	for i, p := range selectPaths {
		sel[i] = nixString(p)
	}
	out, err := e.run(ctx, func(lib string) []string {
		return []string{"--eval", "--strict", "--json", filepath.Join(lib, "eval.nix"),
			"--argstr", "configFile", abs,
			"--argstr", "modulesPath", filepath.Join(lib, "modules"),
			"--argstr", "system", system,
			"--argstr", "release", release,
			"--arg", "select", "[ " + strings.Join(sel, " ") + " ]"}
	})
	if err != nil {
		return nil, err
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		return nil, fmt.Errorf("nix-instantiate: decode its answer: %w", err)
	}
	return v, nil
}

// EvalExpr evaluates the Nix expression expr strictly, in the same
// private, offline Nix as Eval, and returns its value as JSON. Paths in expr
// are best absolute: it runs in a directory of its own. A failure of Nix is
// a *NixError.
func (e *Evaluator) EvalExpr(ctx context.Context, expr string) ([]byte, error) {
	return e.run(ctx, func(string) []string { return []string{"--eval", "--strict", "--json", "--expr", expr} })
}

// run runs nix-instantiate in a fresh private directory, with the arguments
// that args returns for the directory where it wrote the evaluator's files.
// When Nix fails, the error is a *NixError.
func (e *Evaluator) run(ctx context.Context, args func(lib string) []string) ([]byte, error) {
	bin, err := e.bin()
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	tmp, err := os.MkdirTemp(e.TempDir, "nixorg-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	libDir := filepath.Join(tmp, "lib")
	if err := writeFiles(libDir); err != nil {
		return nil, err
	}
	env, err := privateNix(filepath.Join(tmp, "nix"))
	if err != nil {
		return nil, err
	}

	cmd := exec.CommandContext(ctx, bin, args(libDir)...)
	cmd.Dir = tmp
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("nix-instantiate: %w", ctx.Err())
		}
		var exit *exec.ExitError
		if msg := nixMessage(stderr.String(), tmp); errors.As(err, &exit) && msg != "" {
			return nil, &NixError{File: errorFile(msg), Msg: msg}
		}
		return nil, fmt.Errorf("nix-instantiate: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// writeFiles writes the embedded evaluator and stub modules to dir.
func writeFiles(dir string) error {
	return fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}

// privateNix returns the environment of a nix-instantiate that uses only
// dir: its own store, state, log, configuration and home; no NIX_PATH; no
// substituters; proxies that refuse every download (the discard port on
// loopback), tried once, so that a fetcher in a configuration fails at once
// instead of reaching the network.
func privateNix(dir string) ([]string, error) {
	sub := func(name string) string { return filepath.Join(dir, name) }
	for _, d := range []string{"home", "store", "state", "log", "etc"} {
		if err := os.MkdirAll(sub(d), 0o755); err != nil {
			return nil, err
		}
	}
	// build-users-group: without it Nix run as root warns about the missing
	// nixbld group on every call.
	conf := "build-users-group =\nsubstituters =\ndownload-attempts = 1\n"
	if err := os.WriteFile(filepath.Join(sub("etc"), "nix.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	const noProxy = "http://127.0.0.1:9"
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + sub("home"),
		"NIX_STORE_DIR=" + sub("store"),
		"NIX_STATE_DIR=" + sub("state"),
		"NIX_LOG_DIR=" + sub("log"),
		"NIX_CONF_DIR=" + sub("etc"),
		"XDG_CONFIG_HOME=" + sub("config"),
		"XDG_CACHE_HOME=" + sub("cache"),
		"XDG_DATA_HOME=" + sub("data"),
		"XDG_STATE_HOME=" + sub("xdgstate"),
		"NIX_PATH=",
		"http_proxy=" + noProxy, "https_proxy=" + noProxy, "all_proxy=" + noProxy,
		"HTTP_PROXY=" + noProxy, "HTTPS_PROXY=" + noProxy, "ALL_PROXY=" + noProxy,
	}, nil
}

var atLine = regexp.MustCompile(`^\s*at (.+?):\d+:\d+:$`)

// nixMessage extracts Nix's error message from its stderr: warnings and the
// --show-trace hint are dropped, and so are the positions (and code
// excerpts) inside the evaluator's own files under tmp, which are gone once
// it returns; other mentions of tmp read "<nixorg>". At most maxMsgLines
// lines are kept.
func nixMessage(stderr, tmp string) string {
	var keep []string
	skipExcerpt := false
	for _, block := range strings.Split(strings.TrimSpace(stderr), "\n\n") {
		var lines []string
		for _, l := range strings.Split(block, "\n") {
			if strings.HasPrefix(l, "warning:") || strings.HasPrefix(l, "(use '--show-trace'") {
				continue
			}
			lines = append(lines, l)
		}
		if len(lines) == 0 {
			continue
		}
		if m := atLine.FindStringSubmatch(lines[0]); m != nil && len(lines) == 1 && strings.HasPrefix(m[1], tmp) {
			skipExcerpt = true
			continue
		}
		if skipExcerpt && strings.Contains(lines[0], "| ") {
			skipExcerpt = false
			continue
		}
		skipExcerpt = false
		keep = append(keep, strings.Join(lines, "\n"))
	}
	msg := strings.ReplaceAll(strings.Join(keep, "\n\n"), tmp, "<nixorg>")
	if lines := strings.Split(msg, "\n"); len(lines) > maxMsgLines {
		msg = strings.Join(lines[:maxMsgLines], "\n") + "\n..."
	}
	return msg
}

var nixPos = regexp.MustCompile(`(?:^|[\s'"` + "`" + `])(/[^\s:'"` + "`" + `]+\.nix):\d+:\d+`)

// errorFile is the first file that msg gives a position in ("" if none):
// the evaluator's own files read "<nixorg>" by then and never match.
func errorFile(msg string) string {
	if m := nixPos.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return ""
}

// nixString quotes s as a Nix string literal.
func nixString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "${", `\${`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}
