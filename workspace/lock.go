package workspace

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// LockFile is the file in a host's directory that a run changing the host
// holds locked (flock), with a line saying who holds it.
const LockFile = ".lock"

// LockedError is a host another run holds: nothing was done.
type LockedError struct {
	Name   string
	Holder string // as the holder wrote it: pid, command, since when
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%s is locked by another run (%s): wait for it to end, or stop it", e.Name, e.Holder)
}

// LockHost takes hosts/NAME/.lock for one run that changes the host's
// record, without waiting: a second run fails at once with a
// *LockedError naming the holder. what describes the run for that message.
// The lock goes with the process (flock), so a killed run leaves none
// behind; unlock releases it earlier.
func (w *Workspace) LockHost(name, what string) (unlock func(), err error) {
	path, err := w.Confine(w.HostFile(name, LockFile))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", w.Rel(filepath.Dir(path)), err)
	}
	l := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o600))
	ok, err := l.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", w.Rel(path), err)
	}
	if !ok {
		holder := "holder unknown"
		if data, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(data)) != "" {
			holder = strings.TrimSpace(string(data))
		}
		return nil, &LockedError{Name: name, Holder: holder}
	}
	// The same inode, rewritten in place: the lock stays on it.
	line := fmt.Sprintf("pid %d, %s, since %s\n", os.Getpid(), what, time.Now().UTC().Format(time.RFC3339))
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		l.Unlock()
		return nil, fmt.Errorf("lock %s: %w", w.Rel(path), err)
	}
	return func() { l.Unlock() }, nil
}
