package templates

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// MaxHostNix bounds host.nix: a module, not a data dump.
const MaxHostNix = 1 << 20

// HostNixCheck is what CheckHostNix found: a note when the parse check could
// not run, and warnings about strings that look like secrets.
type HostNixCheck struct {
	Parsed   bool     // nix-instantiate --parse accepted it
	Note     string   // why it was not parsed, when it was not
	Warnings []string // "line 12: password = \"…\""
}

// HostNixError is a host.nix refused before anything is contacted.
type HostNixError struct {
	Path string
	Msg  string
}

func (e *HostNixError) Error() string { return e.Path + ": " + e.Msg }

// secretPatterns are strings that should be a secret, not Nix: a .nix file
// ends up in the world-readable Nix store.
var secretPatterns = []struct {
	re   *regexp.Regexp
	what string
}{
	{regexp.MustCompile(`(?i)\b(password|passwd|secret|token|api[_-]?key|secret[_-]?key)\s*=\s*"[^"]+"`), "a password or token in a string"},
	{regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`), "an AWS access key id"},
	{regexp.MustCompile(`(?i)aws_secret_access_key\s*=`), "an AWS secret access key"},
	{regexp.MustCompile(`\bSCW[0-9A-Z]{17}\b`), "a Scaleway access key"},
	{regexp.MustCompile(`(?i)(scw_secret_key|secret_key)\s*=\s*"?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "a Scaleway secret key"},
	{regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`), "a private key"},
}

// CheckHostNix checks the operator's host.nix before anything is contacted:
// not empty, at most MaxHostNix, and, when nix-instantiate is on PATH, that
// it parses (nix-instantiate --parse). It warns about strings that look
// like secrets. path names the file in messages.
func CheckHostNix(ctx context.Context, data []byte, path string) (HostNixCheck, error) {
	var c HostNixCheck
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		return c, &HostNixError{Path: path, Msg: "empty: write a NixOS module there, e.g. { pkgs, ... }: { }"}
	case len(data) > MaxHostNix:
		return c, &HostNixError{Path: path, Msg: fmt.Sprintf("%d bytes, over the 1 MiB a host.nix may have: import large data from files instead", len(data))}
	}
	for i, line := range strings.Split(string(data), "\n") {
		for _, p := range secretPatterns {
			if p.re.MatchString(line) {
				c.Warnings = append(c.Warnings, fmt.Sprintf("line %d looks like %s", i+1, p.what))
				break
			}
		}
	}
	nix, err := exec.LookPath("nix-instantiate")
	if err != nil {
		c.Note = "not parse-checked: nix-instantiate is not installed here; the host evaluates it"
		return c, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nix, "--parse", "-")
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		c.Parsed = true
	case errors.As(err, &ee) && ctx.Err() == nil:
		return c, &HostNixError{Path: path, Msg: "does not parse as Nix: " + firstNixError(stderr.String())}
	default:
		c.Note = fmt.Sprintf("not parse-checked: nix-instantiate failed to run (%v)", err)
	}
	return c, nil
}

// firstNixError is nix-instantiate's error on one line: its message and
// where ("syntax error, unexpected ';' at line 1, column 24"), without its
// warnings and the source excerpt.
func firstNixError(s string) string {
	msg := ""
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case msg == "" && strings.HasPrefix(l, "error:"):
			msg = strings.TrimSpace(strings.TrimPrefix(l, "error:"))
		case msg != "" && strings.HasPrefix(l, "at "):
			if m := nixPos.FindStringSubmatch(l); m != nil {
				return fmt.Sprintf("%s at line %s, column %s", msg, m[1], m[2])
			}
			return msg
		}
	}
	if msg == "" {
		msg = strings.TrimSpace(s)
	}
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return msg
}

var nixPos = regexp.MustCompile(`:(\d+):(\d+):?$`)
