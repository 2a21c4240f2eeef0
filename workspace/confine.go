package workspace

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// A workspace comes from a commit, so none of its contents is trusted to
// name a path: a record's name, a host directory or a file in it may be a
// symlink, or a "../", that leads elsewhere. Every path built from
// workspace data is confined under the workspace root before it is read,
// written or deleted.

// OutsideError is a path that leads outside the workspace, lexically or
// through a symlink. Nothing was read, written or deleted there.
type OutsideError struct {
	Path string // as built, relative to the workspace when possible
	To   string // where it leads, resolved
}

func (e *OutsideError) Error() string {
	return fmt.Sprintf("%s leads outside the workspace (to %s): refusing to touch it; check the workspace for symlinks and names with ../", e.Path, e.To)
}

// Confine returns path (absolute, or relative to the workspace) as an
// absolute path if it lies under the workspace once every symlink of its
// existing part is resolved, and an *OutsideError otherwise.
func (w *Workspace) Confine(path string) (string, error) { return Confine(w.Dir, path) }

// Confine is Workspace.Confine for a workspace rooted at root, for the
// packages that keep only its directory (secrets).
func Confine(root, path string) (string, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	abs := path
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(root, abs)
	}
	abs = filepath.Clean(abs)
	shown := path
	if r, err := filepath.Rel(root, abs); err == nil {
		shown = r
	}
	if !within(root, abs) {
		return "", &OutsideError{Path: shown, To: abs}
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if errors.Is(err, fs.ErrNotExist) {
		return abs, nil // no workspace yet: nothing in it to resolve
	}
	if err != nil {
		return "", fmt.Errorf("workspace %s: %w", root, err)
	}
	resolved, err := resolveExisting(abs, 0)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", shown, err)
	}
	if !within(realRoot, resolved) {
		return "", &OutsideError{Path: shown, To: resolved}
	}
	return abs, nil
}

// within reports whether path is root or below it (both clean and absolute).
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// resolveExisting resolves the symlinks of the longest existing prefix of
// path (the whole path when it exists, a dangling last symlink included)
// and appends the rest.
func resolveExisting(path string, depth int) (string, error) {
	if depth > 40 {
		return "", fmt.Errorf("%s: too many levels of symbolic links", path)
	}
	rest := ""
	p := path
	for {
		if _, err := os.Lstat(p); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return path, nil
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
	real, err := filepath.EvalSymlinks(p)
	if errors.Is(err, fs.ErrNotExist) {
		// A dangling symlink: where it points is where a write would go.
		target, lerr := os.Readlink(p)
		if lerr != nil {
			return "", err
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		return resolveExisting(filepath.Join(filepath.Clean(target), rest), depth+1)
	}
	if err != nil {
		return "", err
	}
	return filepath.Join(real, rest), nil
}
