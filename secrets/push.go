package secrets

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"bootstrap/remote"
)

// Dir is where secrets live on the host: root-only (0700), on disk, outside
// /etc/nixos and the Nix store. It survives reboots; infect.LustrateLines keeps
// it across the nixos-infect switch.
const Dir = "/var/lib/bootstrap/secrets"

// Remote is what Push needs of an SSH connection (*remote.Client). WriteFile
// must write atomically and never put data in a command line.
type Remote interface {
	Run(ctx context.Context, cmd string, stdout, stderr io.Writer) error
	WriteFile(ctx context.Context, path string, data []byte, mode fs.FileMode) error
}

// PushResult says what Push changed on the host.
type PushResult struct {
	Written []string // keys written, sorted
	Removed []string // keys pruned (on the host, not in the map), sorted
}

// maxScript bounds one remote command line. Linux limits a single argv string
// (sh -c SCRIPT) to 128 KiB; stay well under it.
const maxScript = 32 << 10

// Push writes the secrets to Dir on the host. Nothing in a command line,
// error or log carries a value: values travel only as SFTP file content.
//
//  1. install -d -m 0700 -o root -g root Dir
//  2. every value is uploaded to Dir/.KEY.tmp with mode 0400 (inside the 0700
//     directory, so even WriteFile's own temporary file is never reachable
//     by anyone but root);
//  3. one command per batch chowns and chmods the temporary files to their
//     final owner, group and mode (meta, else DefaultMeta) and only then
//     renames them over Dir/KEY: each secret appears with its final owner and
//     mode in one rename. A failed upload replaces no secret at all; a failed
//     step 3 removes the temporary files.
//  4. with prune, regular files in Dir named like a key that is not in
//     secrets are removed (and leftover .KEY.tmp files of interrupted pushes).
//
// Entries of meta for keys not in secrets are ignored (see Orphans).
func Push(ctx context.Context, r Remote, secrets map[string][]byte, meta map[string]Meta, prune bool) (PushResult, error) {
	return push(ctx, r, Dir, secrets, meta, prune)
}

func push(ctx context.Context, r Remote, dir string, secrets map[string][]byte, meta map[string]Meta, prune bool) (PushResult, error) {
	var res PushResult
	keys := make([]string, 0, len(secrets))
	for k := range secrets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	metas := make(map[string]Meta, len(keys))
	for _, k := range keys {
		if err := ValidKey(k); err != nil {
			return res, err
		}
		m, ok := meta[k]
		if !ok {
			m = DefaultMeta
		}
		if err := m.Validate(); err != nil {
			return res, fmt.Errorf("secret %s: %w", k, err)
		}
		metas[k] = m
	}

	mkdir := fmt.Sprintf("install -d -m 0700 -o root -g root %s", remote.Quote(dir))
	if err := r.Run(ctx, mkdir, nil, nil); err != nil {
		return res, fmt.Errorf("create %s: %w", dir, err)
	}

	var uploaded []string
	for _, k := range keys {
		if err := r.WriteFile(ctx, path.Join(dir, tmpName(k)), secrets[k], 0o400); err != nil {
			cleanup(ctx, r, dir, append(uploaded, tmpName(k)))
			return res, fmt.Errorf("upload secret %s: %w", k, err)
		}
		uploaded = append(uploaded, tmpName(k))
	}

	bs := batches(keys, func(k string) int {
		return len(finalizeOne(k, metas[k])) + len(remote.Quote(tmpName(k))) + 1 // step + cleanup
	})
	for i, batch := range bs {
		if err := r.Run(ctx, finalizeScript(dir, batch, metas), nil, nil); err != nil {
			// The failing batch cleaned up after itself; later ones never ran.
			var rest []string
			for _, b := range bs[i+1:] {
				for _, k := range b {
					rest = append(rest, tmpName(k))
				}
			}
			cleanup(ctx, r, dir, rest)
			return res, fmt.Errorf("install secrets %s: %w", strings.Join(batch, ", "), err)
		}
		res.Written = append(res.Written, batch...)
	}

	if !prune {
		return res, nil
	}
	var out bytes.Buffer
	list := fmt.Sprintf("find %s -mindepth 1 -maxdepth 1 -type f -printf '%%f\\0'", remote.Quote(dir))
	if err := r.Run(ctx, list, &out, nil); err != nil {
		return res, fmt.Errorf("list %s: %w", dir, err)
	}
	var stale, remove []string
	for _, name := range strings.Split(out.String(), "\x00") {
		switch {
		case name == "":
		case ValidKey(name) == nil:
			if _, ok := secrets[name]; !ok {
				stale = append(stale, name)
				remove = append(remove, name)
			}
		case tmpRE.MatchString(name):
			remove = append(remove, name)
		}
	}
	sort.Strings(stale)
	for _, batch := range batches(remove, func(n string) int { return len(remote.Quote(n)) + 1 }) {
		if err := r.Run(ctx, rmScript(dir, batch), nil, nil); err != nil {
			return res, fmt.Errorf("prune %s: %w", dir, err)
		}
	}
	res.Removed = stale
	return res, nil
}

// tmpName is the temporary name of key's file in Dir. Keys never start with a
// dot, so it cannot collide with a key.
func tmpName(key string) string { return "." + key + ".tmp" }

// tmpRE matches Push's temporary files: .KEY.tmp, and WriteFile's own
// .KEY.tmp.tmp-<hex> beside it.
var tmpRE = regexp.MustCompile(`^\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}\.tmp(\.tmp-[0-9a-f]+)?$`)

// finalizeOne gives the temporary file its final owner and mode (chown
// first: it may clear mode bits), then renames it over the key. mv -T never
// moves into a directory that happens to have the key's name.
func finalizeOne(key string, m Meta) string {
	tmp, dst := remote.Quote(tmpName(key)), remote.Quote(key)
	return fmt.Sprintf("chown -- %s %s && chmod -- %04o %s && mv -f -T -- %s %s",
		remote.Quote(m.Owner+":"+m.Group), tmp, uint32(m.Mode.Perm()), tmp, tmp, dst)
}

// finalizeScript installs a batch of uploaded temporary files; on any
// failure it removes the batch's temporary files that are left.
func finalizeScript(dir string, keys []string, metas map[string]Meta) string {
	steps := make([]string, len(keys))
	tmps := make([]string, len(keys))
	for i, k := range keys {
		steps[i] = finalizeOne(k, metas[k])
		tmps[i] = remote.Quote(tmpName(k))
	}
	return fmt.Sprintf("cd -- %s || exit; { %s; } || { rc=$?; rm -f -- %s; exit $rc; }",
		remote.Quote(dir), strings.Join(steps, " && "), strings.Join(tmps, " "))
}

func rmScript(dir string, names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = remote.Quote(n)
	}
	return fmt.Sprintf("cd -- %s || exit; rm -f -- %s", remote.Quote(dir), strings.Join(q, " "))
}

// cleanup removes temporary files after a failure, best effort and even when
// ctx is already cancelled: they are root-only, but should not linger.
func cleanup(ctx context.Context, r Remote, dir string, names []string) {
	if len(names) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	for _, batch := range batches(names, func(n string) int { return len(remote.Quote(n)) + 1 }) {
		_ = r.Run(ctx, rmScript(dir, batch), nil, nil)
	}
}

// batches splits items so that each batch's cost stays under maxScript.
func batches(items []string, cost func(string) int) [][]string {
	var out [][]string
	var cur []string
	n := 0
	for _, it := range items {
		c := cost(it) + 8
		if len(cur) > 0 && n+c > maxScript {
			out = append(out, cur)
			cur, n = nil, 0
		}
		cur = append(cur, it)
		n += c
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}
