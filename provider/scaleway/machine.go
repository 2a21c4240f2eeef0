package scaleway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"

	"golang.org/x/crypto/ssh"

	"bootstrap/provider"
	"bootstrap/workspace"
)

// Machine is a Scaleway instance for the bootstrap pipeline: it creates the
// flexible IP and the server (or adopts what an earlier run created) and
// records every id in the host's state the moment it exists.
type Machine struct {
	Provider *Provider
	Spec     Spec // HostKey is filled in by Provision
	// KeyFile holds the server's ed25519 host key, generated here, from the
	// moment it goes into the cloud-init user data until the first SSH
	// connection has pinned its public half; then it is deleted.
	KeyFile string

	res Resources // what Provision found or created
}

// Step names the provisioning step.
func (m *Machine) Step() string { return provider.StepCreate }

// Starting describes what Provision is about to do, for the progress line.
func (m *Machine) Starting(rec provider.Record) string {
	if sr, ok, _ := LoadRecord(rec); ok && sr.ServerID != "" {
		return fmt.Sprintf("checking server %s in %s", sr.ServerID, m.Spec.Zone)
	}
	return fmt.Sprintf("creating a %s server (%s) and a flexible IPv4 in %s, then waiting for it to run", m.Spec.CommercialType, m.Spec.ImageLabel, m.Spec.Zone)
}

// Provision creates the server or finds the one an earlier run created.
// A failure of the API itself is a *provider.APIError.
func (m *Machine) Provision(ctx context.Context, run *provider.Run) (provider.Provisioned, error) {
	p, err := m.provision(ctx, run)
	return p, wrapAPI(err)
}

func (m *Machine) provision(ctx context.Context, run *provider.Run) (provider.Provisioned, error) {
	var none provider.Provisioned
	sr, ok, err := LoadRecord(*run.Record)
	if err != nil {
		return none, err
	}
	if !ok {
		// Record before create: where and with which tags this host's
		// resources will be is in state.json before the first create is
		// sent, so that a run killed at any instant leaves nothing destroy
		// cannot find.
		sr = &Record{Zone: m.Spec.Zone, CommercialType: m.Spec.CommercialType, ImageLabel: m.Spec.ImageLabel, ProjectID: m.Spec.ProjectID,
			Tags: identityTags(m.Spec.WorkspaceID, m.Spec.Name)}
		if err := run.Record.Encode(Kind, sr); err != nil {
			return none, err
		}
		if err := run.Save(); err != nil {
			return none, err
		}
	}
	for _, c := range [][3]string{{"zone", sr.Zone, m.Spec.Zone}, {"type", sr.CommercialType, m.Spec.CommercialType}, {"image", sr.ImageLabel, m.Spec.ImageLabel}} {
		if c[1] != c[2] {
			return none, &provider.ConflictError{Name: m.Spec.Name, Field: c[0], Recorded: c[1], Given: c[2]}
		}
	}
	res := sr.Resources()

	if run.Connected && res.ServerID != "" {
		// Connected before: the host key is pinned. Only check it still exists.
		found, err := m.Provider.Find(ctx, sr.Zone, m.Spec.WorkspaceID, m.Spec.Name)
		if err != nil {
			return none, fmt.Errorf("look up %s: %w", m.Spec.Name, err)
		}
		if !slices.ContainsFunc(found.Servers, func(s *instance.Server) bool { return s.ID == res.ServerID }) {
			return none, fmt.Errorf("server %s of %s no longer exists: run bootstrap destroy %s, then create it again", res.ServerID, m.Spec.Name, m.Spec.Name)
		}
		// An earlier run connected, and may have been stopped before the
		// user data was deleted: delete it now (already gone is fine).
		m.res = res
		if err := m.Connected(ctx); err != nil {
			return none, err
		}
		return provider.Provisioned{Address: sr.IPAddress, Note: fmt.Sprintf("server %s exists (%s, %s) at %s", res.ServerID, sr.CommercialType, sr.Zone, sr.IPAddress)}, nil
	}

	key, err := m.hostKey()
	if err != nil {
		return none, err
	}
	spec := m.Spec
	spec.HostKey = key
	err = m.Provider.Create(ctx, spec, &res, func(r *Resources) error {
		sr.set(r)
		if err := run.Record.Encode(Kind, sr); err != nil {
			return err
		}
		return run.Save()
	})
	if err != nil {
		return none, err
	}
	m.res = res
	pub, err := ssh.NewPublicKey(key.Public())
	if err != nil {
		return none, err
	}
	return provider.Provisioned{
		Address: res.IPAddress,
		HostKey: pub,
		Note:    fmt.Sprintf("server %s (%s, %s) running at %s", res.ServerID, sr.CommercialType, sr.Zone, res.IPAddress),
	}, nil
}

// Connected is called once the first SSH connection, verified against the
// host key generated here, is recorded: the key is pinned in the
// workspace. The private half is then needed neither in the cloud nor
// here: the server's "cloud-init" user data, which holds it and which
// anyone who can read the project's instances can read, is deleted, then
// the local copy. Provision does it again on a later run (an earlier one
// may have stopped in between); already gone is fine.
func (m *Machine) Connected(ctx context.Context) error {
	if m.res.ServerID != "" {
		if err := m.Provider.DeleteUserData(ctx, m.res.Zone, m.res.ServerID); err != nil {
			return fmt.Errorf("the server's cloud-init user data still holds its host private key; delete it with a rerun: %w", err)
		}
	}
	if m.KeyFile != "" {
		if err := os.Remove(m.KeyFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete the host private key %s: %w", m.KeyFile, err)
		}
	}
	return nil
}

// hostKey loads the pending host key, or generates it (0600) so that a
// resumed run sets the same user data.
func (m *Machine) hostKey() (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(m.KeyFile)
	if err == nil {
		k, err := ssh.ParseRawPrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", m.KeyFile, err)
		}
		if pk, ok := k.(*ed25519.PrivateKey); ok {
			return *pk, nil
		}
		return nil, fmt.Errorf("%s is not an ed25519 key", m.KeyFile)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", m.KeyFile, err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "root@"+m.Spec.Name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(m.KeyFile), 0o755); err != nil {
		return nil, err
	}
	if err := workspace.WriteFileAtomic(m.KeyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return priv, nil
}

// Kind names this provider's machine records.
const Kind = "scaleway"

// Record is what a Scaleway host's state.json keeps for this provider (as
// its machine record): the settings it was created with and the ids of
// everything created for it, written the moment each exists.
type Record struct {
	Zone           string `json:"zone"`
	CommercialType string `json:"commercial_type"`
	ImageLabel     string `json:"image_label"`
	ProjectID      string `json:"project_id,omitempty"`
	// Tags are the tags every resource of the host carries, recorded
	// before the first create: destroy finds by them what a run created
	// without recording it.
	Tags      []string `json:"tags,omitempty"`
	IPID      string   `json:"ip_id,omitempty"`
	IPAddress string   `json:"ip_address,omitempty"`
	ServerID  string   `json:"server_id,omitempty"`
	VolumeIDs []string `json:"volume_ids,omitempty"`
	Pending   string   `json:"pending,omitempty"` // a create in flight (see Resources.Pending)
}

// LoadRecord reads this provider's record out of a host's machine record;
// ok is false when the host has none (nothing was created yet).
func LoadRecord(m provider.Record) (rec *Record, ok bool, err error) {
	rec = &Record{}
	if ok, err = m.Decode(Kind, rec); !ok || err != nil {
		return nil, ok, err
	}
	return rec, true, nil
}

// Resources is what the record holds, for Create and Destroy.
func (sr *Record) Resources() Resources {
	return Resources{Zone: sr.Zone, IPID: sr.IPID, IPAddress: sr.IPAddress, ServerID: sr.ServerID, VolumeIDs: append([]string(nil), sr.VolumeIDs...), Pending: sr.Pending}
}

func (sr *Record) set(r *Resources) {
	sr.IPID, sr.IPAddress, sr.ServerID, sr.Pending = r.IPID, r.IPAddress, r.ServerID, r.Pending
	sr.VolumeIDs = append([]string(nil), r.VolumeIDs...)
	if r.Zone != "" {
		sr.Zone = r.Zone
	}
}
