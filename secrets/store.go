// Package secrets keeps a host's secrets in the workspace, encrypted with age,
// and writes them to the host. Plaintext exists only in memory: it is read
// from the operator, encrypted before anything touches the disk, and
// decrypted only at upload time, where it travels as SFTP file content and
// never in a command line, error or log.
//
//	recipients.txt                     who can decrypt (age1... or ssh-ed25519/ssh-rsa public keys)
//	hosts/NAME/secrets/KEY.age         one secret, ciphertext (safe to commit)
//	hosts/NAME/secrets.yaml            optional owner, group and mode per key
//
// On the host they live in Dir (/var/lib/bootstrap/secrets): never under
// /etc/nixos and never referenced as a Nix path, so never in the store. A
// service reads one through systemd, which opens it as root, with the path as
// a quoted string (an unquoted /var/lib/... would be a Nix path literal and be
// copied into the store):
//
//	systemd.services.app.serviceConfig.LoadCredential = [ "db:/var/lib/bootstrap/secrets/db-password" ];
//	# the service reads $CREDENTIALS_DIRECTORY/db
//	systemd.services.app.serviceConfig.EnvironmentFile = "/var/lib/bootstrap/secrets/app.env";
//
// It owns the sequence decrypt, then push (Store.Decrypt, Decrypted.Push),
// which the pipeline, deploy and the secrets verb all use. A leaf: it
// imports remote and workspace only.
package secrets

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
	"golang.org/x/crypto/ssh"

	"bootstrap/workspace"
)

// MaxSize is the largest secret accepted, in bytes of plaintext.
const MaxSize = 1 << 20

// RecipientsFile is the workspace's recipients list, relative to its root.
const RecipientsFile = "recipients.txt"

// ErrNoRecipients: recipients.txt is missing or lists no key.
var ErrNoRecipients = errors.New("no recipients")

// noRecipientsAdvice explains what to put in recipients.txt. Secrets are
// decrypted on the operator's machine at upload time, so recipients are
// operators' keys: not a host key (the operator does not hold its private
// half), and not the workspace deploy key (its private half lives in the
// workspace, next to the ciphertext: whoever can read one can read the other,
// and rotating the deploy key would orphan every secret).
const noRecipientsAdvice = "add one public key per operator to %s, one per line: " +
	"an age key (age-keygen -o ~/.config/bootstrap/age.txt, then append the age1... line that age-keygen -y ~/.config/bootstrap/age.txt prints) " +
	"or your own ~/.ssh/id_ed25519.pub; add an offline backup key too, so losing one laptop loses no secret. " +
	"Do not use keys/deploy_ed25519.pub (its private half sits in the workspace next to the secrets) " +
	"or a host key (secrets are decrypted on the operator's machine, not on the host)"

var keyRE = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$`)

// ValidKey reports whether key can name a secret: 1-128 of [A-Za-z0-9._-],
// not starting with a dot (dot names are temporary files, here and on the host).
func ValidKey(key string) error {
	if !keyRE.MatchString(key) {
		return fmt.Errorf("invalid secret key %q: use 1-128 letters, digits, '.', '_' and '-', not starting with '.'", key)
	}
	return nil
}

// Store is the secrets of a workspace: hosts/NAME/secrets/KEY.age, encrypted
// to the recipients in recipients.txt.
type Store struct {
	WorkspaceDir string
}

// RecipientsPath is the workspace's recipients.txt.
func (s Store) RecipientsPath() string { return filepath.Join(s.WorkspaceDir, RecipientsFile) }

// Dir is the directory of a host's encrypted secrets.
func (s Store) Dir(host string) string {
	return filepath.Join(s.WorkspaceDir, "hosts", host, "secrets")
}

// Path is the encrypted file of one secret.
func (s Store) Path(host, key string) string { return filepath.Join(s.Dir(host), key+".age") }

// MetaPath is the host's optional secrets.yaml.
func (s Store) MetaPath(host string) string {
	return filepath.Join(s.WorkspaceDir, "hosts", host, "secrets.yaml")
}

// rel shows path relative to the workspace, for messages.
func (s Store) rel(path string) string {
	if r, err := filepath.Rel(s.WorkspaceDir, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// recipient is one parsed line of recipients.txt.
type recipient struct {
	r       age.Recipient
	display string
	sshTag  string // for ssh keys: the tag age puts in the stanza; "" for age keys
}

// Recipients parses recipients.txt: one "age1..." key or OpenSSH
// "ssh-ed25519 AAAA..." (or ssh-rsa) public key per line; blank lines and
// lines starting with # are ignored. It returns the recipients and, for each,
// a display string. A missing or empty file is ErrNoRecipients with advice.
func (s Store) Recipients() ([]age.Recipient, []string, error) {
	rs, err := s.recipients()
	if err != nil {
		return nil, nil, err
	}
	out := make([]age.Recipient, len(rs))
	display := make([]string, len(rs))
	for i, r := range rs {
		out[i], display[i] = r.r, r.display
	}
	return out, display, nil
}

func (s Store) recipients() ([]recipient, error) {
	path := s.RecipientsPath()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist; "+noRecipientsAdvice, ErrNoRecipients, s.rel(path), s.rel(path))
	}
	if err != nil {
		return nil, fmt.Errorf("read recipients: %w", err)
	}
	deploys := s.deployKeys()
	var rs []recipient
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := parseRecipient(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", s.rel(path), n, err)
		}
		if file, ok := deploys[r.sshTag]; ok && r.sshTag != "" {
			return nil, fmt.Errorf("%s line %d is a workspace deploy key: its private half (%s) sits in the workspace next to the secrets, so encrypting to it protects nothing; use an operator's own age or ssh key instead", s.rel(path), n, file)
		}
		rs = append(rs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", s.rel(path), err)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("%w: %s lists no key; "+noRecipientsAdvice, ErrNoRecipients, s.rel(path), s.rel(path))
	}
	return rs, nil
}

// deployKeys are the workspace deploy keys' public halves (keys/*.pub: the
// shared one and each host's), by their ssh tag, with their private file.
func (s Store) deployKeys() map[string]string {
	out := map[string]string{}
	pubs, _ := filepath.Glob(filepath.Join(s.WorkspaceDir, "keys", "*.pub"))
	for _, p := range pubs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if pk, _, _, _, err := ssh.ParseAuthorizedKey(data); err == nil {
			out[sshTag(pk)] = s.rel(strings.TrimSuffix(p, ".pub"))
		}
	}
	return out
}

// parseRecipient parses one line. Errors never quote the line: it might be a
// private key pasted into the wrong file.
func parseRecipient(line string) (recipient, error) {
	switch {
	case strings.HasPrefix(line, "AGE-SECRET-KEY-"):
		return recipient{}, errors.New("this is a private age key: put its public half here (age-keygen -y FILE) and keep the private key out of the workspace")
	case strings.HasPrefix(line, "-----BEGIN"):
		return recipient{}, errors.New("this looks like a private key: put the public key (.pub) here")
	case strings.HasPrefix(line, "age1"):
		rs, err := age.ParseRecipients(strings.NewReader(line))
		if err != nil || len(rs) != 1 {
			return recipient{}, fmt.Errorf("invalid age public key (want age1..., as printed by age-keygen -y): %v", err)
		}
		return recipient{r: rs[0], display: line}, nil
	case strings.HasPrefix(line, "ssh-"):
		pk, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return recipient{}, fmt.Errorf("invalid ssh public key: %v", err)
		}
		r, err := agessh.ParseRecipient(line)
		if err != nil {
			return recipient{}, fmt.Errorf("ssh key type %s cannot be an age recipient: use ssh-ed25519 (or ssh-rsa) or an age key", pk.Type())
		}
		display := pk.Type() + " " + ssh.FingerprintSHA256(pk)
		if comment != "" {
			display += " " + comment
		}
		return recipient{r: r, display: display, sshTag: sshTag(pk)}, nil
	}
	return recipient{}, errors.New("unknown recipient: want an age public key (age1...) or an ssh-ed25519 public key (ssh-ed25519 AAAA...)")
}

// sshTag is the first argument of the stanza age writes for an SSH recipient:
// the first 4 bytes of SHA-256 of the key's wire form, unpadded base64. It
// lets List tell which SSH keys a file is encrypted to.
func sshTag(pk ssh.PublicKey) string {
	h := sha256.Sum256(pk.Marshal())
	return base64.RawStdEncoding.EncodeToString(h[:4])
}

// check validates a host name and, unless key is nil, a key: both become
// path elements.
func check(host string, key *string) error {
	if err := workspace.ValidName(host); err != nil {
		return err
	}
	if key != nil {
		return ValidKey(*key)
	}
	return nil
}

// Set encrypts value to the current recipients and atomically writes
// hosts/NAME/secrets/KEY.age (0644: it is ciphertext). An empty value or one
// over MaxSize is refused.
func (s Store) Set(host, key string, value []byte) error {
	if err := check(host, &key); err != nil {
		return err
	}
	if len(value) == 0 {
		return fmt.Errorf("secret %s is empty: refusing to store an empty value", key)
	}
	if len(value) > MaxSize {
		return fmt.Errorf("secret %s is %d bytes: at most %d (1 MiB) allowed", key, len(value), MaxSize)
	}
	rs, _, err := s.Recipients()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rs...)
	if err != nil {
		return fmt.Errorf("encrypt secret %s: %w", key, err)
	}
	if _, err := w.Write(value); err != nil {
		return fmt.Errorf("encrypt secret %s: %w", key, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("encrypt secret %s: %w", key, err)
	}
	path, err := workspace.Confine(s.WorkspaceDir, s.Path(host, key))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir(host), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", s.rel(s.Dir(host)), err)
	}
	return workspace.WriteFileAtomic(path, buf.Bytes(), 0o644)
}

// Stanza is one recipient block in an encrypted file's header.
type Stanza struct {
	Type string `json:"type"` // "X25519", "ssh-ed25519", "ssh-rsa", "mlkem768x25519", "scrypt"...
	// Recipient is the current recipients.txt entry this stanza is provably
	// for. Only SSH stanzas carry a key tag; X25519 stanzas are anonymous by
	// design, so for them it is always "".
	Recipient string `json:"recipient,omitempty"`
}

// Entry describes one stored secret without decrypting it.
type Entry struct {
	Key     string   `json:"key"`
	Size    int64    `json:"size"` // ciphertext bytes
	Stanzas []Stanza `json:"stanzas"`
	// Stale is true when the file provably is not encrypted to exactly the
	// current recipients (a different number or type of stanzas, or an SSH
	// stanza for a key no longer listed): set it again to re-encrypt. False
	// means "not provably stale": X25519 recipients cannot be told apart.
	Stale bool `json:"stale"`
	// Problem is set when the header cannot be read (a corrupt file).
	Problem string `json:"problem,omitempty"`
}

// List returns the host's secrets sorted by key. It never decrypts; without
// recipients.txt, nothing is marked stale.
func (s Store) List(host string) ([]Entry, error) {
	if err := check(host, nil); err != nil {
		return nil, err
	}
	keys, err := s.keys(host)
	if err != nil {
		return nil, err
	}
	rs, _ := s.recipients() // listing works without recipients
	var out []Entry
	for _, key := range keys {
		e := Entry{Key: key, Stanzas: []Stanza{}}
		path := s.Path(host, key)
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("list secrets of %s: %w", host, err)
		}
		e.Size = fi.Size()
		types, args, err := readStanzas(path)
		if err != nil {
			e.Problem = err.Error()
			out = append(out, e)
			continue
		}
		for i, t := range types {
			st := Stanza{Type: t}
			for _, r := range rs {
				if r.sshTag != "" && len(args[i]) > 0 && args[i][0] == r.sshTag && strings.HasPrefix(r.display, t+" ") {
					st.Recipient = r.display
				}
			}
			e.Stanzas = append(e.Stanzas, st)
		}
		e.Stale = rs != nil && stale(e.Stanzas, rs)
		out = append(out, e)
	}
	return out, nil
}

// stale reports whether stanzas provably differ from the recipients rs.
func stale(stanzas []Stanza, rs []recipient) bool {
	want := map[string]int{}
	for _, r := range rs {
		if r.sshTag != "" {
			t, _, _ := strings.Cut(r.display, " ")
			want[t]++
			continue
		}
		if strings.HasPrefix(r.display, "age1pq1") {
			want["mlkem768x25519"]++
		} else {
			want["X25519"]++
		}
	}
	got := map[string]int{}
	for _, st := range stanzas {
		got[st.Type]++
		if (st.Type == "ssh-ed25519" || st.Type == "ssh-rsa") && st.Recipient == "" {
			return true
		}
	}
	if len(got) != len(want) {
		return true
	}
	for t, n := range want {
		if got[t] != n {
			return true
		}
	}
	return false
}

// readStanzas returns the type and arguments of each recipient stanza of an
// age file (binary or armored) without decrypting it.
func readStanzas(path string) (types []string, args [][]string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	hdr, err := age.ExtractHeader(ageReader(f))
	if err != nil {
		return nil, nil, fmt.Errorf("not an age file: %v", err)
	}
	for _, line := range strings.Split(string(hdr), "\n") {
		if rest, ok := strings.CutPrefix(line, "-> "); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				continue
			}
			types = append(types, fields[0])
			args = append(args, fields[1:])
		}
	}
	return types, args, nil
}

// ageReader accepts both binary and ASCII-armored age files.
func ageReader(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	if head, _ := br.Peek(len(armor.Header)); string(head) == armor.Header {
		return armor.NewReader(br)
	}
	return br
}

// keys lists the keys stored for host, sorted. Files that are not KEY.age
// with a valid key (temporary files, stray files) are not secrets.
func (s Store) keys(host string) ([]string, error) {
	dir, err := workspace.Confine(s.WorkspaceDir, s.Dir(host))
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list secrets of %s: %w", host, err)
	}
	var keys []string
	for _, e := range entries {
		key, ok := strings.CutSuffix(e.Name(), ".age")
		if !ok || !e.Type().IsRegular() || ValidKey(key) != nil {
			continue
		}
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys, nil
}

// Delete removes hosts/NAME/secrets/KEY.age. A missing secret is an error
// that matches fs.ErrNotExist.
func (s Store) Delete(host, key string) error {
	if err := check(host, &key); err != nil {
		return err
	}
	path, err := workspace.Confine(s.WorkspaceDir, s.Path(host, key))
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no secret %s for %s (%s): %w", key, host, s.rel(path), fs.ErrNotExist)
		}
		return fmt.Errorf("remove secret %s of %s: %w", key, host, err)
	}
	return nil
}

// Copy gives host to the secrets of host from, ciphertexts and
// secrets.yaml as they are (they are encrypted to the workspace, not to a
// host).
func (s Store) Copy(from, to string) error {
	keys, err := s.keys(from)
	if err != nil {
		return err
	}
	if _, err := workspace.Confine(s.WorkspaceDir, s.MetaPath(to)); err != nil {
		return err
	}
	if _, err := workspace.Confine(s.WorkspaceDir, s.Dir(to)); err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir(to), 0o755); err != nil {
		return err
	}
	for _, k := range keys {
		data, err := os.ReadFile(s.Path(from, k))
		if err != nil {
			return err
		}
		if err := workspace.WriteFileAtomic(s.Path(to, k), data, 0o644); err != nil {
			return err
		}
	}
	if data, err := os.ReadFile(s.MetaPath(from)); err == nil {
		return workspace.WriteFileAtomic(s.MetaPath(to), data, 0o644)
	}
	return nil
}

// DecryptError: one secret could not be decrypted (no identity matches, a
// corrupt or truncated file). DecryptAll returns no value at all with it.
type DecryptError struct {
	Key  string
	Path string // relative to the workspace
	Err  error
}

func (e *DecryptError) Error() string {
	var nomatch *age.NoIdentityMatchError
	if errors.As(e.Err, &nomatch) {
		return fmt.Sprintf("decrypt secret %s (%s): none of the identities matches its recipients (%s)", e.Key, e.Path, strings.Join(nomatch.StanzaTypes, ", "))
	}
	return fmt.Sprintf("decrypt secret %s (%s): %v", e.Key, e.Path, e.Err)
}

func (e *DecryptError) Unwrap() error { return e.Err }

// DecryptAll decrypts every secret of host in memory. It is all-or-nothing:
// on the first failure it wipes what it decrypted so far and returns nil and
// a *DecryptError. A host with no secrets gives an empty map.
func (s Store) DecryptAll(host string, ids []age.Identity) (map[string][]byte, error) {
	if err := check(host, nil); err != nil {
		return nil, err
	}
	keys, err := s.keys(host)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(keys))
	if len(keys) > 0 && len(ids) == 0 {
		return nil, errors.New("decrypt secrets: no identity to decrypt with")
	}
	for _, key := range keys {
		v, err := decryptFile(s.Path(host, key), ids)
		if err != nil {
			Wipe(out)
			return nil, &DecryptError{Key: key, Path: s.rel(s.Path(host, key)), Err: err}
		}
		out[key] = v
	}
	return out, nil
}

func decryptFile(path string, ids []age.Identity) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := age.Decrypt(ageReader(f), ids...)
	if err != nil {
		return nil, err
	}
	// Read to the end: age authenticates each chunk, so truncation or a
	// flipped bit shows up here, not at Decrypt.
	v, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		clear(v)
		return nil, err
	}
	if len(v) > MaxSize {
		clear(v)
		return nil, fmt.Errorf("plaintext is over %d bytes", MaxSize)
	}
	return v, nil
}

// Wipe overwrites the values with zeros, best effort: Go may have copied
// them, but what this package holds does not linger.
func Wipe(m map[string][]byte) {
	for _, v := range m {
		clear(v)
	}
}
