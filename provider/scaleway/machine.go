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
		sr = &Record{Zone: m.Spec.Zone, CommercialType: m.Spec.CommercialType, ImageLabel: m.Spec.ImageLabel, ProjectID: m.Spec.ProjectID}
		if err := run.Record.Encode(Kind, sr); err != nil {
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
		if found.ServerID != res.ServerID {
			return none, fmt.Errorf("server %s of %s no longer exists: run bootstrap destroy %s, then create it again", res.ServerID, m.Spec.Name, m.Spec.Name)
		}
		m.forgetKey()
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

// Connected is called once the first SSH connection pinned the host key:
// the private half is on the server and no longer needed here.
func (m *Machine) Connected() { m.forgetKey() }

func (m *Machine) forgetKey() {
	if m.KeyFile != "" {
		os.Remove(m.KeyFile)
	}
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
	Zone           string   `json:"zone"`
	CommercialType string   `json:"commercial_type"`
	ImageLabel     string   `json:"image_label"`
	ProjectID      string   `json:"project_id,omitempty"`
	IPID           string   `json:"ip_id,omitempty"`
	IPAddress      string   `json:"ip_address,omitempty"`
	ServerID       string   `json:"server_id,omitempty"`
	VolumeIDs      []string `json:"volume_ids,omitempty"`
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
	return Resources{Zone: sr.Zone, IPID: sr.IPID, IPAddress: sr.IPAddress, ServerID: sr.ServerID, VolumeIDs: append([]string(nil), sr.VolumeIDs...)}
}

func (sr *Record) set(r *Resources) {
	sr.IPID, sr.IPAddress, sr.ServerID = r.IPID, r.IPAddress, r.ServerID
	sr.VolumeIDs = append([]string(nil), r.VolumeIDs...)
	if r.Zone != "" {
		sr.Zone = r.Zone
	}
}
