package secrets

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"
)

// IdentityEnv names identity files (a path list, like PATH) used instead of
// the usual places when no path is given explicitly.
const IdentityEnv = "BOOTSTRAP_AGE_IDENTITY"

// UsualIdentityPaths are the places looked at, in order, when neither paths
// nor $BOOTSTRAP_AGE_IDENTITY name an identity: the bootstrap age key
// (<user config dir>/bootstrap/age.txt, i.e. ~/.config/bootstrap/age.txt on
// Linux), then the operator's ssh keys ~/.ssh/id_ed25519 and ~/.ssh/id_rsa
// (the two types age can decrypt with). Those that exist are all used.
func UsualIdentityPaths() []string {
	var paths []string
	if dir, err := os.UserConfigDir(); err == nil {
		paths = append(paths, filepath.Join(dir, "bootstrap", "age.txt"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		paths = append(paths, filepath.Join(home, ".ssh", "id_ed25519"), filepath.Join(home, ".ssh", "id_rsa"))
	}
	return paths
}

// LoadIdentities is LoadIdentitiesWithPassphrase without a way to ask for a
// passphrase: a passphrase-protected ssh key named explicitly is an error.
func LoadIdentities(paths []string) ([]age.Identity, error) {
	return LoadIdentitiesWithPassphrase(paths, nil)
}

// LoadIdentitiesWithPassphrase reads age identity files (AGE-SECRET-KEY-1...
// lines, as written by age-keygen) and OpenSSH/PEM ed25519 or rsa private
// keys. With no paths it uses $BOOTSTRAP_AGE_IDENTITY, else the
// UsualIdentityPaths that exist. Named files must exist; so must at least one
// identity. Files readable by others are refused, as ssh does.
//
// A passphrase-protected ssh key is asked for its passphrase (passphrase(path))
// only when a file is actually encrypted to it. With a nil passphrase func, a
// protected key named explicitly is an error; one found in the usual places
// is kept and fails only if it is the one needed, with a clear message.
func LoadIdentitiesWithPassphrase(paths []string, passphrase func(path string) ([]byte, error)) ([]age.Identity, error) {
	explicit := true
	if len(paths) == 0 {
		if env := os.Getenv(IdentityEnv); env != "" {
			for _, p := range filepath.SplitList(env) {
				if p != "" {
					paths = append(paths, p)
				}
			}
		}
	}
	if len(paths) == 0 {
		explicit = false
		paths = UsualIdentityPaths()
	}
	var ids []age.Identity
	for _, p := range paths {
		got, err := loadIdentity(p, explicit, passphrase)
		if err != nil {
			return nil, err
		}
		ids = append(ids, got...)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no identity to decrypt secrets with (looked for %s): create one with age-keygen -o ~/.config/bootstrap/age.txt and add its public key (age-keygen -y) to %s, or pass --identity", strings.Join(paths, ", "), RecipientsFile)
	}
	return ids, nil
}

// loadIdentity reads one file. With explicit false, a missing file or an ssh
// key type age cannot use is skipped rather than an error.
func loadIdentity(path string, explicit bool, passphrase func(string) ([]byte, error)) ([]age.Identity, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("identity %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("identity %s is accessible by others (mode %04o): run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", path, err)
	}
	defer clear(data)
	trimmed := bytes.TrimSpace(data)
	switch {
	case bytes.HasPrefix(trimmed, []byte("-----BEGIN")):
		return loadSSHIdentity(path, bytes.Clone(data), explicit, passphrase)
	case bytes.Contains(data, []byte("AGE-SECRET-KEY-")):
		ids, err := age.ParseIdentities(bytes.NewReader(data))
		if err != nil {
			// age's parse errors never include key material.
			return nil, fmt.Errorf("identity %s: %v", path, err)
		}
		return ids, nil
	case bytes.HasPrefix(trimmed, []byte("age1")) || bytes.HasPrefix(trimmed, []byte("ssh-")):
		return nil, fmt.Errorf("identity %s is a public key: give the private key (the file without .pub, or the age-keygen output)", path)
	}
	return nil, fmt.Errorf("identity %s is neither an age identity file (AGE-SECRET-KEY-1...) nor an OpenSSH private key", path)
}

func loadSSHIdentity(path string, pem []byte, explicit bool, passphrase func(string) ([]byte, error)) ([]age.Identity, error) {
	id, err := agessh.ParseIdentity(pem)
	if err == nil {
		return []age.Identity{id}, nil
	}
	var missing *ssh.PassphraseMissingError
	if !errors.As(err, &missing) {
		if !explicit && strings.Contains(err.Error(), "unsupported SSH identity type") {
			return nil, nil // e.g. an ecdsa id_rsa? skip what age cannot use
		}
		return nil, fmt.Errorf("identity %s: age can decrypt only with ed25519 or rsa ssh keys: %v", path, err)
	}
	pub := missing.PublicKey
	if pub == nil { // old PEM encryption keeps the public key only in .pub
		if data, err := os.ReadFile(path + ".pub"); err == nil {
			pub, _, _, _, _ = ssh.ParseAuthorizedKey(data)
		}
	}
	if pub == nil {
		return nil, fmt.Errorf("identity %s is passphrase-protected and %s.pub is missing: bootstrap needs the public key to know when to ask", path, path)
	}
	if passphrase == nil && explicit {
		return nil, fmt.Errorf("identity %s is passphrase-protected and there is no way to ask for the passphrase here: run from a terminal, or use an age identity (age-keygen)", path)
	}
	ask := func() ([]byte, error) {
		if passphrase == nil {
			return nil, fmt.Errorf("ssh key %s is passphrase-protected and there is no way to ask for the passphrase here: pass --identity with an unprotected key or an age identity", path)
		}
		return passphrase(path)
	}
	id2, err := agessh.NewEncryptedSSHIdentity(pub, pem, ask)
	if err != nil {
		if !explicit {
			return nil, nil
		}
		return nil, fmt.Errorf("identity %s: %v", path, err)
	}
	return []age.Identity{id2}, nil
}
