package remote

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// MaxOfferedKeys is the most keys one connection offers. OpenSSH's sshd
// disconnects with "Too many authentication failures" after MaxAuthTries (6
// by default) rejected keys, so offering at most 5 always leaves room.
const MaxOfferedKeys = 5

// Key is one client identity. Name is for messages only ("~/.ssh/id_ed25519",
// "agent: user@laptop"); it never contains key material.
type Key struct {
	Name   string
	Signer ssh.Signer
}

// String returns "name (SHA256:...)".
func (k Key) String() string {
	if k.Signer == nil {
		return k.Name + " (no signer)"
	}
	return fmt.Sprintf("%s (%s)", k.Name, Fingerprint(k.Signer.PublicKey()))
}

// Fingerprint returns the OpenSSH SHA256 fingerprint, "SHA256:...".
func Fingerprint(k ssh.PublicKey) string {
	return ssh.FingerprintSHA256(k)
}

// CheckKeyMode refuses a private key file that others may read, as
// OpenSSH does.
func CheckKeyMode(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("ssh key %s is readable by others (mode %04o): chmod 600 %s (OpenSSH refuses it too)", path, fi.Mode().Perm(), path)
	}
	return nil
}

// LoadKey reads an OpenSSH or PEM private key file; one that others may
// read is refused, as OpenSSH refuses it. For an encrypted key it
// calls passphrase; a nil passphrase func makes that an error that points to
// the agent instead.
func LoadKey(path string, passphrase func() ([]byte, error)) (Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("read ssh key %s: %w", path, err)
	}
	if _, _, _, _, perr := ssh.ParseAuthorizedKey(data); perr != nil { // a .pub file gets its own error below
		if err := CheckKeyMode(path); err != nil {
			return Key{}, err
		}
	}
	signer, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
	case errors.As(err, &missing):
		if passphrase == nil {
			return Key{}, fmt.Errorf("ssh key %s is passphrase-protected: load it into ssh-agent (ssh-add %s) and use --agent", path, path)
		}
		pass, perr := passphrase()
		if perr != nil {
			return Key{}, fmt.Errorf("passphrase for ssh key %s: %w", path, perr)
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(data, pass)
		clear(pass)
		if err != nil {
			return Key{}, fmt.Errorf("decrypt ssh key %s: %w", path, err)
		}
	default:
		return Key{}, fmt.Errorf("parse ssh key %s (want an OpenSSH or PEM private key, not a .pub file): %w", path, err)
	}
	return Key{Name: path, Signer: signer}, nil
}

// AgentKeys connects to the ssh-agent at sock. With match != nil it returns
// only the agent key equal to match (an error if the agent lacks it);
// otherwise the first limit keys (all keys if limit <= 0; Dial refuses more
// than MaxOfferedKeys). The returned Closer closes the agent connection; keep
// it open until Dial has returned, since signing happens during the handshake.
func AgentKeys(sock string, match ssh.PublicKey, limit int) ([]Key, io.Closer, error) {
	if sock == "" {
		return nil, nil, errors.New("ssh-agent: no socket (is SSH_AUTH_SOCK set?)")
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to ssh-agent %s: %w", sock, err)
	}
	keys, err := agentKeys(agent.NewClient(conn), match, limit)
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("ssh-agent %s: %w", sock, err)
	}
	return keys, conn, nil
}

func agentKeys(ag agent.Agent, match ssh.PublicKey, limit int) ([]Key, error) {
	listed, err := ag.List()
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	signers, err := ag.Signers()
	if err != nil {
		return nil, fmt.Errorf("list signers: %w", err)
	}
	if len(signers) == 0 {
		return nil, errors.New("agent has no keys (add one with ssh-add)")
	}
	name := func(pub ssh.PublicKey) string {
		for _, k := range listed {
			if bytes.Equal(k.Marshal(), pub.Marshal()) && k.Comment != "" {
				return "agent: " + k.Comment
			}
		}
		return "agent: " + Fingerprint(pub)
	}
	if match != nil {
		want := match.Marshal()
		for _, s := range signers {
			if bytes.Equal(s.PublicKey().Marshal(), want) {
				return []Key{{Name: name(s.PublicKey()), Signer: s}}, nil
			}
		}
		return nil, fmt.Errorf("agent has no key %s (it holds %d other keys)", Fingerprint(match), len(signers))
	}
	if limit > 0 && len(signers) > limit {
		signers = signers[:limit]
	}
	keys := make([]Key, len(signers))
	for i, s := range signers {
		keys[i] = Key{Name: name(s.PublicKey()), Signer: s}
	}
	return keys, nil
}
