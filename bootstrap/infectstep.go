package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"bootstrap/infect"
)

// infectStep uploads the pinned nixos-infect (fetched and sha256-checked
// before the host was contacted) and runs it detached with NIX_CHANNEL and
// NIXOS_IMPORT, streaming its output into the log. It never reboots:
// NO_REBOOT is set and the reboot step does it, so the exit status is known.
// It never runs on a host that already runs NixOS.
type infectStep struct{}

func (infectStep) Name() string { return StepInfect }

func (infectStep) Run(ctx context.Context, s *State) error {
	if s.facts != nil && s.facts.NixOS() {
		// Preflight marks an infect that finished before a reboot as done;
		// reaching here means a record that says otherwise. Never again.
		return fmt.Errorf("refusing to run nixos-infect: %w", infect.ErrRunsNixOS)
	}
	job := infectJob(s, s.script)
	start := time.Now()
	status, _, err := job.Status(ctx, s.client)
	if err != nil {
		return err
	}
	verb := "running"
	if status == infect.Running {
		// An earlier run was interrupted while the infect went on: follow
		// it instead of starting a second one. Its output is streamed again
		// from the start.
		verb = "re-attached to the running"
		fmt.Fprintf(s.Log, "re-attaching to the nixos-infect started by an earlier run; its output follows from the start\n")
	} else if status != infect.Succeeded {
		// Before the script: its own entries are appended at its end, ours
		// must be there whatever it does.
		if err := infect.EnsureLustrate(ctx, s.client); err != nil {
			return err
		}
	}
	fmt.Fprintf(s.Opts.Stdout, "  %-9s  %s nixos-infect %s on %s, output in %s\n", StepInfect, verb, short(s.Opts.Infect.SHA256), s.Rec.Address, s.WS.Rel(s.WS.HostFile(s.Rec.Name, "bootstrap.log")))
	code, err := job.RunOrAttach(ctx, s.client, s.Log)
	if err != nil {
		if errors.Is(err, infect.ErrRunsNixOS) {
			return fmt.Errorf("refusing to run nixos-infect: %w", err)
		}
		return err
	}
	s.Note("nixos-infect %s exited %d after %s", short(s.Opts.Infect.SHA256), code, time.Since(start).Round(time.Second))
	return nil
}

// infectEnv is the script's extra environment: this run's --infect-env, or
// the one recorded by an earlier run.
func (s *State) infectEnv() map[string]string {
	if s.Opts.InfectEnv != nil {
		return s.Opts.InfectEnv
	}
	return s.Rec.InfectEnv
}

// infectJob is the remote job: the operator's --infect-env, then what
// bootstrap needs (which ParseEnv keeps the operator from setting).
func infectJob(s *State, script []byte) infect.Job {
	env := maps.Clone(s.infectEnv())
	if env == nil {
		env = map[string]string{}
	}
	env["NIX_CHANNEL"] = s.Opts.Channel.String()
	env["NIXOS_IMPORT"] = "./host.nix"
	env["NO_REBOOT"] = "1"
	if s.facts != nil && s.facts.Boot == "bios" {
		maps.Copy(env, infect.BIOSEnv)
	}
	return infect.Job{Dir: infect.DefaultDir, Script: script, Env: env, WorkDir: NixOSDir}
}
