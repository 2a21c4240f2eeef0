package bootstrap

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"bootstrap/remote"
	"bootstrap/workspace"
)

// CloudMachineError is a host whose record says a cloud machine was made
// for it and not destroyed: forgetting it would leave it billed and
// unknown to the workspace.
type CloudMachineError struct{ Name, Provider string }

func (e *CloudMachineError) Error() string {
	return fmt.Sprintf("%s is a %s machine that may still exist and be billed: forgetting it would lose track of it", e.Name, e.Provider)
}

// Hint says what to do instead.
func (e *CloudMachineError) Hint() string {
	return "bootstrap destroy " + e.Name + " deletes it and forgets it; or pass --orphan to forget it anyway"
}

// Forgotten is what ForgetHost removed (or, for a dry run, would remove).
type Forgotten struct {
	Name     string   `json:"name"`
	Dir      string   `json:"dir"`              // relative to the workspace
	Files    []string `json:"files"`            // relative to the workspace
	HostKeys []string `json:"known_hosts"`      // known_hosts names whose lines go
	Record   bool     `json:"had_record"`       // there was a state.json
	Broken   string   `json:"broken,omitempty"` // why state.json could not be read
}

// ForgetHost drops a host from the workspace: its directory hosts/NAME
// (record, .nix files, log, secrets) and its known_hosts entries. It never
// contacts anything. A cloud machine that was not destroyed is refused
// (*CloudMachineError) unless orphan. A broken record does not stop it:
// forgetting is how such a host goes. With dryRun nothing is removed.
func ForgetHost(ws *workspace.Workspace, name string, orphan, dryRun bool) (*Forgotten, error) {
	if err := workspace.ValidName(name); err != nil {
		return nil, &NotReadyError{Name: name, Reason: err.Error()}
	}
	dir := ws.HostDir(name)
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &NotReadyError{Name: name, Reason: fmt.Sprintf("no host %s in workspace %s (no %s): nothing to forget", name, ws.Dir, ws.Rel(dir))}
	case err != nil:
		return nil, err
	case !fi.IsDir():
		return nil, &NotReadyError{Name: name, Reason: fmt.Sprintf("%s is not a directory (%s): remove it by hand", ws.Rel(dir), fi.Mode().Type())}
	}
	f := &Forgotten{Name: name, Dir: ws.Rel(dir)}
	rec, ok, err := LoadRecord(ws, name)
	var broken *BrokenRecordError
	switch {
	case errors.As(err, &broken):
		f.Broken = broken.Error()
	case err != nil:
		return nil, err
	case ok:
		f.Record = true
		if !rec.Machine.IsZero() && !orphan {
			return nil, &CloudMachineError{Name: name, Provider: rec.Provider}
		}
		if rec.Address != "" {
			f.HostKeys = []string{remote.KnownHostsName(rec.Address, cmpPort(rec.Port))}
		}
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			f.Files = append(f.Files, ws.Rel(p))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", ws.Rel(dir), err)
	}
	if dryRun {
		return f, nil
	}
	if ok && rec.Address != "" {
		if err := ws.ForgetHost(rec.Address, cmpPort(rec.Port)); err != nil {
			return nil, err
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("remove %s: %w", ws.Rel(dir), err)
	}
	return f, nil
}

func cmpPort(p int) int {
	if p == 0 {
		return 22
	}
	return p
}
