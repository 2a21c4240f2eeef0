package bootstrap

import (
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Which keys besides the deploy key become root's on NixOS (--keep-keys).
const (
	// KeepAll carries root's authorized_keys over, each line with its
	// options (from=, command=, restrict...: NixOS keeps them), without the
	// cloud images' login refusal wrapper.
	KeepAll = "all"
	// KeepNone carries nothing: the deploy key alone logs in as root.
	KeepNone = "none"
)

// KeyNote is one key carried over to root's keys on NixOS, or dropped.
type KeyNote struct {
	Key     string // "ssh-ed25519 SHA256:… comment"
	From    string // where it was found
	Options string // as it is kept, "" for none
	Carried bool
	Why     string // why it was dropped, or how it changed
}

func (n KeyNote) String() string {
	s := n.Key + " (" + n.From
	if n.Options != "" {
		s += "; options " + n.Options
	}
	if n.Why != "" {
		s += "; " + n.Why
	}
	return s + ")"
}

// carryKeys decides root's keys besides deploy: with KeepAll, root's
// authorized_keys lines (root); with KeepNone, none; otherwise keep is a
// file whose lines (fileLines) are the keys. The login user's keys (user,
// a sudo user's) never become root's: they are named as dropped. Every
// key found is named in the notes, carried or not.
func carryKeys(root, user []string, deploy, keep string, fileLines []string) (carried []string, notes []KeyNote) {
	seen := map[string]bool{}
	if pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(deploy)); err == nil {
		seen[string(pk.Marshal())] = true
	}
	consider := func(lines []string, from string, take bool, dropWhy string) {
		for _, l := range lines {
			pk, comment, options, _, err := ssh.ParseAuthorizedKey([]byte(l))
			if err != nil {
				continue
			}
			n := KeyNote{Key: strings.TrimSpace(pk.Type() + " " + ssh.FingerprintSHA256(pk) + " " + comment), From: from}
			if seen[string(pk.Marshal())] {
				continue // the deploy key, or a key named already
			}
			seen[string(pk.Marshal())] = true
			if !take {
				n.Why = dropWhy
				notes = append(notes, n)
				continue
			}
			if kept, stripped := withoutLoginRefusal(options); stripped {
				options = kept
				n.Why = `without the cloud image's command="echo 'Please login as …'" wrapper`
			}
			n.Options = strings.Join(options, ",")
			n.Carried = true
			notes = append(notes, n)
			line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
			if comment != "" {
				line += " " + comment
			}
			if n.Options != "" {
				line = n.Options + " " + line
			}
			carried = append(carried, line)
		}
	}
	switch keep {
	case KeepAll:
		consider(root, "root's authorized_keys", true, "")
	case KeepNone:
		consider(root, "root's authorized_keys", false, "--keep-keys none")
	default:
		consider(fileLines, keep, true, "")
		consider(root, "root's authorized_keys", false, "not in --keep-keys "+keep)
	}
	consider(user, "the login user's authorized_keys", false, "not root's: a sudo user's key does not become root's; list it in a --keep-keys FILE to carry it")
	return carried, notes
}

// withoutLoginRefusal strips the options cloud-init's disable_root writes
// before root's keys (no-port-forwarding,no-agent-forwarding,
// no-X11-forwarding,command="echo 'Please login as the user …';…;exit
// 142"): on NixOS they would keep root out for good. Other options stay.
func withoutLoginRefusal(options []string) (kept []string, stripped bool) {
	for _, o := range options {
		if strings.HasPrefix(o, "command=") && strings.Contains(o, "Please login as") {
			stripped = true
		}
	}
	if !stripped {
		return options, false
	}
	for _, o := range options {
		switch {
		case strings.HasPrefix(o, "command=") && strings.Contains(o, "Please login as"),
			o == "no-port-forwarding", o == "no-agent-forwarding", o == "no-X11-forwarding":
			continue
		}
		kept = append(kept, o)
	}
	return kept, true
}

// KeyLinesOf are the authorized_keys lines of a file's content (blank and
// # lines skipped); a line that is no key is an error.
func KeyLinesOf(data []byte, name string) ([]string, error) {
	var lines []string
	for n, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(strings.TrimSuffix(l, "\r"))
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(l)); err != nil {
			return nil, fmt.Errorf("%s line %d is not an authorized_keys line: %w", name, n+1, err)
		}
		lines = append(lines, l)
	}
	return lines, nil
}
