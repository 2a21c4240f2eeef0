package secrets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strconv"

	"go.yaml.in/yaml/v3"

	"bootstrap/workspace"
)

// Meta is how one secret is installed on the host.
type Meta struct {
	Owner string
	Group string
	Mode  fs.FileMode
}

// DefaultMeta applies to every key secrets.yaml does not mention.
var DefaultMeta = Meta{Owner: "root", Group: "root", Mode: 0o400}

var (
	userRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	modeRE = regexp.MustCompile(`^0?[0-7]{3}$`)
)

// Validate checks owner and group names and the mode: permission bits only,
// none for others (a secret is never world-accessible).
func (m Meta) Validate() error {
	if !userRE.MatchString(m.Owner) {
		return fmt.Errorf("invalid owner %q: want a user name like root or postgres", m.Owner)
	}
	if !userRE.MatchString(m.Group) {
		return fmt.Errorf("invalid group %q: want a group name like root or keys", m.Group)
	}
	if m.Mode&^fs.ModePerm != 0 {
		return fmt.Errorf("invalid mode %v: permission bits only", m.Mode)
	}
	if m.Mode&0o007 != 0 {
		return fmt.Errorf("mode %04o gives others access: a secret may be readable by its owner and group only", uint32(m.Mode))
	}
	return nil
}

// metaEntry is one key's block in secrets.yaml.
type metaEntry struct {
	Owner string   `yaml:"owner"`
	Group string   `yaml:"group"`
	Mode  modeText `yaml:"mode"`
}

// modeText keeps the mode's text as written: YAML would read an unquoted 0440
// as a number (octal or decimal depending on the YAML version).
type modeText string

func (m *modeText) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: mode must be an octal string like \"0440\"", n.Line)
	}
	*m = modeText(n.Value)
	return nil
}

// Meta reads the host's optional secrets.yaml:
//
//	db-password:
//	  owner: postgres
//	  group: postgres
//	  mode: "0440"
//
// Omitted fields default to DefaultMeta's; a missing file is an empty map.
// Unknown fields, invalid keys, names or modes are errors. Entries for keys
// that have no secret are returned too (Push ignores them; see Orphans).
func (s Store) Meta(host string) (map[string]Meta, error) {
	if err := check(host, nil); err != nil {
		return nil, err
	}
	path, err := workspace.Confine(s.WorkspaceDir, s.MetaPath(host))
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]Meta{}, nil
	}
	if err != nil {
		return nil, &MetaError{Path: s.rel(path), Err: fmt.Errorf("read %s: %w", s.rel(path), err)}
	}
	m, err := parseMeta(data)
	if err != nil {
		return nil, &MetaError{Path: s.rel(path), Err: fmt.Errorf("%s: %w", s.rel(path), err)}
	}
	return m, nil
}

// MetaError is a secrets.yaml that cannot be read or is wrong: the
// operator's to fix.
type MetaError struct {
	Path string // relative to the workspace
	Err  error  // names Path
}

func (e *MetaError) Error() string { return e.Err.Error() }
func (e *MetaError) Unwrap() error { return e.Err }

func parseMeta(data []byte) (map[string]Meta, error) {
	var raw map[string]metaEntry
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	out := make(map[string]Meta, len(raw))
	for key, e := range raw {
		if err := ValidKey(key); err != nil {
			return nil, err
		}
		m := DefaultMeta
		if e.Owner != "" {
			m.Owner = e.Owner
		}
		if e.Group != "" {
			m.Group = e.Group
		}
		if e.Mode != "" {
			if !modeRE.MatchString(string(e.Mode)) {
				return nil, fmt.Errorf("%s: invalid mode %q: want an octal string like \"0440\"", key, e.Mode)
			}
			v, _ := strconv.ParseUint(string(e.Mode), 8, 32)
			m.Mode = fs.FileMode(v)
		}
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		out[key] = m
	}
	return out, nil
}

// Orphans returns the keys meta mentions that are not in keys,
// sorted: usually a typo in secrets.yaml, or a secret removed since.
func Orphans(meta map[string]Meta, keys []string) []string {
	have := make(map[string]bool, len(keys))
	for _, k := range keys {
		have[k] = true
	}
	var out []string
	for k := range meta {
		if !have[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Listing is what `secrets list` shows of a host (and prints as JSON):
// keys, sizes, owners and recipients, never values.
type Listing struct {
	Host       string   `json:"host"`
	Secrets    []Listed `json:"secrets"`
	Recipients []string `json:"recipients"`
	// RecipientsError says why recipients.txt could not be read, if so.
	RecipientsError string `json:"recipients_error,omitempty"`
	// Orphans are secrets.yaml entries with no secret (ignored by push).
	Orphans []string `json:"orphans,omitempty"`
}

// Listed is one secret of a Listing: its file and where it goes on the host.
type Listed struct {
	Entry
	Owner string `json:"owner"`
	Group string `json:"group"`
	Mode  string `json:"mode"`
}

// Listing lists host's secrets with their owners and modes, and the
// workspace's recipients; it decrypts nothing.
func (s Store) Listing(host string) (Listing, error) {
	entries, err := s.List(host)
	if err != nil {
		return Listing{}, err
	}
	meta, err := s.Meta(host)
	if err != nil {
		return Listing{}, err
	}
	l := Listing{Host: host, Secrets: []Listed{}, Recipients: []string{}}
	if _, display, err := s.Recipients(); err != nil {
		l.RecipientsError = err.Error()
	} else {
		l.Recipients = display
	}
	var keys []string
	for _, e := range entries {
		m, ok := meta[e.Key]
		if !ok {
			m = DefaultMeta
		}
		l.Secrets = append(l.Secrets, Listed{Entry: e, Owner: m.Owner, Group: m.Group, Mode: fmt.Sprintf("%04o", uint32(m.Mode))})
		keys = append(keys, e.Key)
	}
	l.Orphans = Orphans(meta, keys)
	return l, nil
}
