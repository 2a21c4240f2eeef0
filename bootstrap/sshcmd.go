package bootstrap

import (
	"fmt"
	"strconv"

	"bootstrap/workspace"
)

// SSHArgs is the OpenSSH command line (argv, "ssh" first) that logs in to a
// host of the workspace as the tool does: after the reboot root with the
// host's deploy key alone (IdentitiesOnly), before it the recorded user with the
// operator's own keys; always the workspace's known_hosts, strictly. remote,
// when not empty, is the command to run there.
func SSHArgs(ws *workspace.Workspace, rec *Record, remote ...string) ([]string, error) {
	if rec.Address == "" || !rec.Done(StepConnect) {
		return nil, &NotReadyError{Name: rec.Name, Reason: fmt.Sprintf("%s was never reached (%s): its host key is not pinned; run its bootstrap again", rec.Name, rec.Where())}
	}
	args := []string{"ssh"}
	user := rec.User
	if rec.Done(StepReboot) {
		user = "root"
		args = append(args, "-i", ws.KeyPath(rec.DeployKeyName()), "-o", "IdentitiesOnly=yes")
	}
	args = append(args, "-o", "UserKnownHostsFile="+ws.KnownHosts(), "-o", "StrictHostKeyChecking=yes")
	if rec.Port != 0 && rec.Port != 22 {
		args = append(args, "-p", strconv.Itoa(rec.Port))
	}
	args = append(args, user+"@"+rec.Address)
	if len(remote) > 0 {
		args = append(append(args, "--"), remote...)
	}
	return args, nil
}
