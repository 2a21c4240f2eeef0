package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"bootstrap/remote"
	"bootstrap/templates"
)

// Rotation replaces the deploy key of a NixOS host, declared in its
// bootstrap.nix (users.users.root.openssh.authorizedKeys.keys), without a
// moment in which no key of the workspace logs in:
//
//  1. the new key is declared beside the old one, and pushed (switch);
//  2. a fresh connection offering the new key alone must log in;
//  3. the old key is taken out, and pushed with the new key;
//  4. a connection offering the old key alone must be refused.
//
// Each step is safe to repeat: a rotation stopped half way is run again.
type Rotation struct {
	Name  string
	Files map[string][]byte // hosts/NAME/*.nix
	Old   string            // authorized_keys line of the key in use
	New   string            // and of the one replacing it
	// DialWith opens connections offering exactly the keys given (by
	// authorized_keys line), in order.
	DialWith func(keys ...string) Dialer
	// Save writes hosts/NAME/bootstrap.nix in the workspace.
	Save func(bootstrapNix []byte) error
	Log  io.Writer // the host's log
}

// Rotate runs r; see Rotation. o is a switch's options (Report, timeouts).
func Rotate(ctx context.Context, r Rotation, o Options) error {
	o = o.withDefaults()
	o.Action, o.Upgrade, o.ConfirmTimeout = Switch, false, 0
	step := func(format string, args ...any) {
		if o.Report != nil {
			o.Report.Step(r.Name, "rotate", fmt.Sprintf(format, args...))
		}
	}
	boot, ok := r.Files["bootstrap.nix"]
	if !ok {
		return fmt.Errorf("%s has no bootstrap.nix in the workspace: its deploy key is declared there", r.Name)
	}
	both, err := withKey(boot, r.Old, r.New)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Name, err)
	}
	push := func(nix []byte, keys ...string) error {
		if err := r.Save(nix); err != nil {
			return err
		}
		files := maps.Clone(r.Files)
		files["bootstrap.nix"] = nix
		_, err := Push(ctx, Target{Name: r.Name, Files: files, Dial: r.DialWith(keys...), Log: r.Log}, o)
		return err
	}
	step("declaring the new key beside the old one")
	if err := push(both, r.Old, r.New); err != nil {
		return fmt.Errorf("declare the new deploy key on %s: %w", r.Name, err)
	}
	step("logging in with the new key alone")
	if err := login(ctx, r.DialWith(r.New), o.ReconnectTimeout); err != nil {
		return fmt.Errorf("log in to %s with the new deploy key (the old one still works): %w", r.Name, err)
	}
	only, err := withoutKey(both, r.Old)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Name, err)
	}
	step("taking the old key out")
	if err := push(only, r.New); err != nil {
		return fmt.Errorf("take the old deploy key out on %s: %w", r.Name, err)
	}
	step("checking that the old key is refused")
	err = login(ctx, r.DialWith(r.Old), o.ReconnectTimeout)
	var auth *remote.AuthError
	switch {
	case err == nil:
		return fmt.Errorf("%s still lets the old deploy key in after it was taken out of bootstrap.nix: look for it in root's authorized_keys on the host", r.Name)
	case !errors.As(err, &auth):
		return fmt.Errorf("check that %s refuses the old deploy key: %w", r.Name, err)
	}
	step("the new key alone logs in")
	return nil
}

// login opens a connection with dial and runs true.
func login(ctx context.Context, dial Dialer, timeout time.Duration) error {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := dial(dctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Run(dctx, "true", nil, nil)
}

// keyBlob is the base64 key of an authorized_keys line.
func keyBlob(line string) (string, error) {
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return "", fmt.Errorf("deploy key %q: %w", line, err)
	}
	return strings.Fields(strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))))[1], nil
}

// withKey declares newLine in bootstrap.nix on the line after the one
// declaring old; unchanged if newLine is declared already.
func withKey(nix []byte, old, newLine string) ([]byte, error) {
	oldB, err := keyBlob(old)
	if err != nil {
		return nil, err
	}
	newB, err := keyBlob(newLine)
	if err != nil {
		return nil, err
	}
	lines := bytes.SplitAfter(nix, []byte("\n"))
	for _, l := range lines {
		if bytes.Contains(l, []byte(newB)) {
			return nix, nil
		}
	}
	for i, l := range lines {
		if !bytes.Contains(l, []byte(oldB)) {
			continue
		}
		indent := l[:len(l)-len(bytes.TrimLeft(l, " \t"))]
		add := append(append([]byte{}, indent...), templates.NixString(newLine)+"\n"...)
		out := append(append(append([]byte{}, bytes.Join(lines[:i+1], nil)...), add...), bytes.Join(lines[i+1:], nil)...)
		return out, nil
	}
	return nil, fmt.Errorf("bootstrap.nix declares neither the deploy key in use nor the new one")
}

// withoutKey takes the line declaring old out of bootstrap.nix.
func withoutKey(nix []byte, old string) ([]byte, error) {
	oldB, err := keyBlob(old)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, l := range bytes.SplitAfter(nix, []byte("\n")) {
		if bytes.Contains(l, []byte(oldB)) {
			continue
		}
		out = append(out, l...)
	}
	return out, nil
}
