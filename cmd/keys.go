package cmd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"bootstrap/remote"
)

// agentLimit is how many agent keys are offered when no -i names one: with
// the deploy key that stays under OpenSSH's default MaxAuthTries of 6.
const agentLimit = 4

// loadKeys returns the keys to offer before the reboot, in order, and a
// closer for the agent connection. Only what the operator named is offered:
// -i files; with --agent, the agent's key matching -i (or at most agentLimit
// agent keys without -i). With neither, the usual ~/.ssh/id_* files that exist.
//
// noDefaults skips the ~/.ssh/id_* fallback, for machines the deploy key
// already logs in to (a new cloud instance).
func loadKeys(identities []string, useAgent bool, stderr io.Writer, noDefaults bool) ([]remote.Key, io.Closer, error) {
	var keys []remote.Key
	var closers closeAll
	sock := os.Getenv("SSH_AUTH_SOCK")
	if useAgent && sock == "" {
		return nil, nil, usagef("--agent needs an ssh-agent: SSH_AUTH_SOCK is not set")
	}
	if len(identities) == 0 && !useAgent && !noDefaults {
		identities = defaultIdentities()
	}
	if len(identities) == 0 && !useAgent {
		return nil, closers, nil
	}
	if useAgent && len(identities) == 0 {
		ks, c, err := remote.AgentKeys(sock, nil, agentLimit)
		if err != nil {
			return nil, nil, fmt.Errorf("ssh-agent: %w", err)
		}
		return ks, c, nil
	}
	for _, path := range identities {
		if useAgent {
			pub, err := publicKeyOf(path)
			if err != nil {
				return nil, nil, err
			}
			ks, c, err := remote.AgentKeys(sock, pub, 1)
			if err != nil {
				return nil, nil, fmt.Errorf("ssh-agent: %w", err)
			}
			if len(ks) == 0 {
				c.Close()
				return nil, nil, usagef("the agent holds no key matching %s: ssh-add %s, or drop --agent", path, path)
			}
			closers = append(closers, c)
			keys = append(keys, ks...)
			continue
		}
		k, err := remote.LoadKey(path, passphrasePrompt(path, stderr))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil, usagef("identity %s does not exist: fix -i", path)
			}
			return nil, nil, &UsageError{Msg: fmt.Sprintf("identity %s: %v", path, err)}
		}
		keys = append(keys, k)
	}
	return keys, closers, nil
}

// defaultIdentities are the usual ~/.ssh/id_* files that exist, offered
// when neither -i nor --agent names a key.
func defaultIdentities() []string {
	var ids []string
	home, _ := os.UserHomeDir()
	for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		p := filepath.Join(home, ".ssh", n)
		if _, err := os.Stat(p); err == nil {
			ids = append(ids, p)
		}
	}
	return ids
}

// describeKeys says which keys a real run would offer, in order, as
// loadKeys would pick them, without decrypting anything or asking for a
// passphrase: for a dry run.
func describeKeys(identities []string, useAgent bool, noDefaults bool) ([]string, error) {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if useAgent && sock == "" {
		return nil, usagef("--agent needs an ssh-agent: SSH_AUTH_SOCK is not set")
	}
	if len(identities) == 0 && !useAgent && !noDefaults {
		identities = defaultIdentities()
	}
	if useAgent && len(identities) == 0 {
		ks, c, err := remote.AgentKeys(sock, nil, agentLimit)
		if err != nil {
			return nil, fmt.Errorf("ssh-agent: %w", err)
		}
		defer c.Close()
		var out []string
		for _, k := range ks {
			out = append(out, k.String())
		}
		return out, nil
	}
	out := []string{}
	for _, path := range identities {
		pub, err := publicKeyOf(path)
		switch {
		case err == nil && useAgent:
			out = append(out, fmt.Sprintf("agent key matching %s (%s)", path, remote.Fingerprint(pub)))
		case err == nil:
			out = append(out, fmt.Sprintf("%s (%s)", path, remote.Fingerprint(pub)))
		default:
			out = append(out, path+" (passphrase-protected, no .pub: its fingerprint shows at run time)")
		}
	}
	return out, nil
}

// publicKeyOf reads PATH.pub, or derives the public key from an unencrypted PATH.
func publicKeyOf(path string) (ssh.PublicKey, error) {
	if data, err := os.ReadFile(path + ".pub"); err == nil {
		pk, _, _, _, err := ssh.ParseAuthorizedKey(data)
		if err == nil {
			return pk, nil
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("identity %s: %v", path, err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, usagef("identity %s: need %s.pub to find the key in the agent (%v)", path, path, err)
	}
	return signer.PublicKey(), nil
}

// passphrasePrompt asks on the terminal; without one, encrypted keys fail
// with a hint to use the agent.
func passphrasePrompt(path string, stderr io.Writer) func() ([]byte, error) {
	return func() ([]byte, error) {
		if !term.IsTerminal(int(os.Stdin.Fd())) {
			return nil, fmt.Errorf("%s is passphrase-protected and there is no terminal to ask on: add it to ssh-agent and pass --agent", path)
		}
		fmt.Fprintf(stderr, "Passphrase for %s: ", path)
		p, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(stderr)
		return p, err
	}
}

type closeAll []io.Closer

func (cs closeAll) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
