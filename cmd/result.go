package cmd

import (
	"encoding/json"
	"fmt"
	"io"

	"bootstrap/bootstrap"
	"bootstrap/workspace"
)

// hostResult is the --json object of ssh, scaleway and clone: one per
// host, also on failure. The README documents its fields.
type hostResult struct {
	Name         string          `json:"name"`
	OK           bool            `json:"ok"`
	ExitCode     int             `json:"exit_code"`
	Error        string          `json:"error,omitempty"`
	Hint         string          `json:"hint,omitempty"`
	State        string          `json:"state"` // "ready", or where it stopped: "infect failed"
	Provider     string          `json:"provider,omitempty"`
	User         string          `json:"user,omitempty"`
	Address      string          `json:"address,omitempty"`
	Port         int             `json:"port,omitempty"`
	Channel      string          `json:"channel,omitempty"`
	HostKey      string          `json:"host_key,omitempty"`
	NixOSVersion string          `json:"nixos_version,omitempty"`
	CloneOf      string          `json:"clone_of,omitempty"`
	Machine      json.RawMessage `json:"machine,omitempty"` // the cloud's record: zone, ids
	SSH          []string        `json:"ssh,omitempty"`     // what bootstrap connect runs
}

// resultOf reads the host's record after a run that ended with err.
func resultOf(ws *workspace.Workspace, name string, err error) hostResult {
	r := hostResult{Name: name, OK: err == nil, State: "new"}
	if err != nil {
		r.Error, r.Hint, r.ExitCode = explain(err)
	}
	rec, ok, lerr := bootstrap.LoadRecord(ws, name)
	if lerr != nil || !ok {
		return r
	}
	r.State, r.Provider, r.User, r.Address, r.Port = rec.Where(), rec.Provider, rec.User, rec.Address, rec.Port
	r.Channel, r.HostKey, r.NixOSVersion, r.CloneOf = rec.Channel, rec.HostKey, rec.NixOSVersion, rec.CloneOf
	if !rec.Machine.IsZero() {
		r.Machine = rec.Machine.Data
	}
	if argv, err := bootstrap.SSHArgs(ws, rec); err == nil {
		r.SSH = argv
	}
	return r
}

// printWarnings prints what resolving found worth a warning, on stderr.
func (o *pipelineOptions) printWarnings(stderr io.Writer) {
	for _, w := range o.warnings {
		fmt.Fprintf(stderr, "%s %s\n", paint(colour(stderr), "33", "warning:"), w)
	}
}

// streams are where the pipeline's progress lines and, with --verbose,
// its remote commands and retries go: progress on stdout (stderr with
// --json, which keeps stdout for the object; nowhere with --quiet).
func (o *pipelineOptions) streams(g *globalOptions, stdout, stderr io.Writer) (progress, verbose io.Writer) {
	return progressOut(g, o.JSON, stdout, stderr), verboseOut(g, stderr)
}

// verboseOut is stderr with --verbose, else nil: where remote commands and
// retries are echoed.
func verboseOut(g *globalOptions, stderr io.Writer) io.Writer {
	if g.Verbose {
		return stderr
	}
	return nil
}

// progressOut is where a command's progress lines go: stdout; stderr with
// --json, which keeps stdout for the objects; nowhere with --quiet.
func progressOut(g *globalOptions, asJSON bool, stdout, stderr io.Writer) io.Writer {
	switch {
	case g.Quiet:
		return io.Discard
	case asJSON:
		return stderr
	}
	return stdout
}

// report prints the run's result: the --json object, or with --quiet the
// one line the progress would have ended with. It returns err.
func (o *pipelineOptions) report(g *globalOptions, stdout io.Writer, ws *workspace.Workspace, name string, err error) error {
	switch {
	case o.JSON && !isUsage(err):
		if jerr := writeJSON(stdout, resultOf(ws, name, err)); jerr != nil && err == nil {
			return jerr
		}
	case g.Quiet && err == nil:
		r := resultOf(ws, name, nil)
		fmt.Fprintf(stdout, "done: %s runs NixOS %s at %s\n", name, r.Channel, r.Address)
	}
	return err
}
