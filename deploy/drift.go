package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"bootstrap/bootstrap"
	"bootstrap/channel"
	"bootstrap/remote"
	"bootstrap/workspace"
)

// Drift is how a bootstrapped host differs from what the workspace says of
// it: the files of /etc/nixos against hosts/NAME (what a push would
// change), and the nixpkgs revision, channel, generation and host key
// against its record (what changed on the host behind the workspace's back).
type Drift struct {
	Host        string       `json:"host"`
	Files       []FileDrift  `json:"files"`
	Differences []Difference `json:"differences"`
	// Diff is the unified diff of the files, from the host to the workspace.
	Diff string `json:"diff,omitempty"`
	// Nixpkgs is what the host runs and its channel holds now.
	Nixpkgs *bootstrap.Nixpkgs `json:"nixpkgs,omitempty"`
	// Error: the host could not be checked (unreachable...).
	Error string `json:"error,omitempty"`
}

// FileDrift is one file of /etc/nixos (top level, *.nix: the files push
// manages) that differs from hosts/NAME.
type FileDrift struct {
	File  string `json:"file"`
	State string `json:"state"` // "differs", "only in the workspace", "only on the host"
}

// Difference is one recorded fact the host no longer matches.
type Difference struct {
	What      string `json:"what"` // revision, next boot revision, channel, channel revision, generation, host key
	Workspace string `json:"workspace"`
	Host      string `json:"host"`
}

// Drifted reports whether the host differs, or could not be checked.
func (d *Drift) Drifted() bool {
	return len(d.Files) > 0 || len(d.Differences) > 0 || d.Error != ""
}

// DriftError is a check that found drift on some hosts.
type DriftError struct {
	Drifted []string
	Total   int
}

func (e *DriftError) Error() string {
	return fmt.Sprintf("drift on %d of %d host(s): %s", len(e.Drifted), e.Total, strings.Join(e.Drifted, ", "))
}

// Hint says what to do next.
func (e *DriftError) Hint() string {
	return "bootstrap push NAME --dry-run shows what a push would change (push applies the workspace's files; --upgrade moves the nixpkgs on purpose and records it); or copy the host's change into hosts/NAME"
}

// DefaultCheckTimeout bounds the check of one host.
const DefaultCheckTimeout = time.Minute

// CheckRequest is a drift check of hosts of a workspace.
type CheckRequest struct {
	Names   []string // none: every host the workspace bootstrapped
	Timeout time.Duration
	// Skipped hears of each host passed over when Names is empty (not
	// bootstrapped); nil: none.
	Skipped func(name string, why error)
}

// Check compares hosts with the workspace (see Drift). A named host the
// workspace has not bootstrapped is a *bootstrap.NotReadyError before
// anything is contacted. Nothing is written, on the hosts or in the
// workspace. The error is a *DriftError when any host drifted.
func Check(ctx context.Context, ws *workspace.Workspace, r CheckRequest) ([]Drift, error) {
	recs, err := pushHosts(ws, Request{Names: r.Names, All: len(r.Names) == 0, Skipped: r.Skipped})
	if err != nil {
		return nil, err
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	drifts := make([]Drift, len(recs))
	var drifted []string
	for i, rec := range recs {
		hctx, cancel := context.WithTimeout(ctx, timeout)
		drifts[i] = checkHost(hctx, ws, rec)
		cancel()
		if err := ctx.Err(); err != nil {
			return drifts, err
		}
		if drifts[i].Drifted() {
			drifted = append(drifted, rec.Name)
		}
	}
	if len(drifted) > 0 {
		return drifts, &DriftError{Drifted: drifted, Total: len(recs)}
	}
	return drifts, nil
}

// checkHost connects to one host and compares it.
func checkHost(ctx context.Context, ws *workspace.Workspace, rec *bootstrap.Record) Drift {
	d := Drift{Host: rec.Name, Files: []FileDrift{}, Differences: []Difference{}}
	local, err := localFiles(ws, rec.Name)
	if err != nil {
		d.Error = err.Error()
		return d
	}
	c, err := bootstrap.DialHost(ctx, ws, rec)
	var mismatch *remote.HostKeyMismatchError
	switch {
	case errors.As(err, &mismatch):
		d.Differences = append(d.Differences, Difference{What: "host key", Workspace: mismatch.Want, Host: mismatch.Got})
		d.Error = err.Error()
		return d
	case err != nil:
		d.Error = fmt.Sprintf("connect: %v", err)
		return d
	}
	defer c.Close()
	if got := remote.Fingerprint(c.HostKey()); rec.HostKey != "" && got != rec.HostKey {
		d.Differences = append(d.Differences, Difference{What: "host key", Workspace: rec.HostKey, Host: got})
	}
	compare(ctx, c, rec, local, &d)
	return d
}

// compare compares the host's files and nixpkgs with the workspace's, into d.
func compare(ctx context.Context, r Remote, rec *bootstrap.Record, local map[string][]byte, d *Drift) {
	host, err := hostFiles(ctx, r, rec.Name, io.Discard)
	if err != nil {
		d.Error = err.Error()
		return
	}
	changes := Changes(local, host)
	for _, ch := range changes {
		state := map[ChangeKind]string{Added: "only in the workspace", Modified: "differs", Removed: "only on the host"}[ch.Kind]
		d.Files = append(d.Files, FileDrift{File: ch.File, State: state})
	}
	d.Diff = UnifiedDiff(rec.Name, changes)
	n, err := bootstrap.ReadNixpkgs(ctx, r, "status --check")
	if err != nil {
		d.Error = err.Error()
		return
	}
	d.Nixpkgs = n
	d.Differences = append(d.Differences, nixpkgsDrift(rec, n)...)
}

// nixpkgsDrift compares what the host runs and its channel holds with what
// its record says. A record from before revisions were recorded names only
// the channel: the rest is reported as not recorded.
func nixpkgsDrift(rec *bootstrap.Record, n *bootstrap.Nixpkgs) []Difference {
	var out []Difference
	add := func(what, ws, host string) {
		if ws != host {
			out = append(out, Difference{What: what, Workspace: cmp.Or(ws, "unknown"), Host: cmp.Or(host, "unknown")})
		}
	}
	r := rec.Nixpkgs
	if r == nil {
		out = append(out, Difference{What: "revision", Workspace: "not recorded (a push records it)", Host: n.String()})
		if sub, err := channel.ParseSubscription(n.Subscription); err != nil || sub.Channel.String() != rec.Channel {
			add("channel", rec.Channel, n.Subscription)
		}
		return out
	}
	// Revisions are compared; their releases only say which they are.
	rev := func(what, wsRelease, wsRev, hostRelease, hostRev string) {
		if wsRev != hostRev {
			add(what, label(wsRelease, wsRev), label(hostRelease, hostRev))
		}
	}
	rev("revision", r.Release, r.Revision, n.Release, n.Revision)
	if r.BootRevision != "" || n.BootRevision != "" { // else the next boot runs the same
		rev("next boot revision", r.BootRelease, r.NextRevision(), n.BootRelease, n.NextRevision())
	}
	add("channel", r.Subscription, n.Subscription)
	rev("channel revision", r.ChannelRelease, r.ChannelRevision, n.ChannelRelease, n.ChannelRevision)
	add("generation", generation(r.Generation), generation(n.Generation))
	return out
}

func label(release, revision string) string {
	if revision == "" {
		return ""
	}
	if release == "" {
		return revision
	}
	return release + " (" + revision + ")"
}

func generation(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}
