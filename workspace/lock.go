package workspace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
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
//
// A run leaves no trace of the lock: unlock removes the lock file, and the
// host's directory when this run made it and left nothing else in it (a run
// refused on bad input has written nothing). Removing a locked file is safe
// because a lock counts only while the path still names the locked file: a
// run that locked a file someone removed meanwhile tries again.
func (w *Workspace) LockHost(name, what string) (unlock func(), err error) {
	path, err := w.Confine(w.HostFile(name, LockFile))
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	// The directories this run makes (the host's, and the workspace's when
	// new), deepest first, to remove again if the run leaves them empty.
	var made []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) || d == filepath.Dir(d) {
			break
		}
		made = append(made, d)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", w.Rel(dir), err)
	}
	removeMade := func() {
		for _, d := range made {
			os.Remove(d) // only when empty: the run wrote nothing there
		}
	}
	fail := func(err error) (func(), error) {
		removeMade()
		return nil, err
	}
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return fail(fmt.Errorf("lock %s: %w", w.Rel(path), err))
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if !errors.Is(err, syscall.EWOULDBLOCK) {
				return fail(fmt.Errorf("lock %s: %w", w.Rel(path), err))
			}
			holder := "holder unknown"
			if data, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(data)) != "" {
				holder = strings.TrimSpace(string(data))
			}
			return nil, &LockedError{Name: name, Holder: holder}
		}
		// The holder before us may have removed the file between our open
		// and our flock: then this lock is on a file no one else will see.
		got, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 != nil || err2 != nil || !os.SameFile(got, now) {
			f.Close()
			continue
		}
		line := fmt.Sprintf("pid %d, %s, since %s\n", os.Getpid(), what, time.Now().UTC().Format(time.RFC3339))
		if f.Truncate(0) == nil {
			f.WriteAt([]byte(line), 0) //nolint:errcheck // the line only names the holder for others' messages
		}
		return func() {
			os.Remove(path) // before the unlock: no one locks a removed file and keeps it
			removeMade()
			syscall.Flock(int(f.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it anyway
			f.Close()
		}, nil
	}
}
