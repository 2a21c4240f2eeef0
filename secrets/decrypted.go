package secrets

import (
	"context"
	"maps"
	"slices"

	"filippo.io/age"
)

// Decrypted is a host's secrets, decrypted in memory before the host is
// contacted, and what Push needs to write them there: decrypt, then push.
// Wipe it when done.
type Decrypted struct {
	Host   string
	Values map[string][]byte // by key; empty when the host has none
	Meta   map[string]Meta   // owners and modes from secrets.yaml
	// Orphans are secrets.yaml entries without a secret; Push ignores them.
	Orphans []string
}

// Decrypt decrypts every secret of host, all or nothing, without contacting
// anything. identities is called only when the host has secrets, and its
// error is returned as it is; so is secrets.yaml read only then. A secret
// that cannot be decrypted is a *DecryptError, a bad secrets.yaml a
// *MetaError; nothing is kept then.
func (s Store) Decrypt(host string, identities func() ([]age.Identity, error)) (*Decrypted, error) {
	if err := check(host, nil); err != nil {
		return nil, err
	}
	keys, err := s.keys(host)
	if err != nil {
		return nil, err
	}
	d := &Decrypted{Host: host, Values: map[string][]byte{}, Meta: map[string]Meta{}}
	if len(keys) == 0 {
		return d, nil
	}
	ids, err := identities()
	if err != nil {
		return nil, err
	}
	if d.Values, err = s.DecryptAll(host, ids); err != nil {
		return nil, err
	}
	if d.Meta, err = s.Meta(host); err != nil {
		d.Wipe()
		return nil, err
	}
	d.Orphans = Orphans(d.Meta, slices.Collect(maps.Keys(d.Values)))
	return d, nil
}

// Push writes the secrets to Dir on the host with their owners and modes
// (see the function Push); with prune it removes the host's others.
func (d *Decrypted) Push(ctx context.Context, r Remote, prune bool) (PushResult, error) {
	return Push(ctx, r, d.Values, d.Meta, prune)
}

// Empty reports a host without secrets.
func (d *Decrypted) Empty() bool { return d == nil || len(d.Values) == 0 }

// Wipe clears the values from memory.
func (d *Decrypted) Wipe() {
	if d != nil {
		Wipe(d.Values)
	}
}
