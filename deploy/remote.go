package deploy

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"bootstrap/bootstrap"
	"bootstrap/channel"
	"bootstrap/remote"
)

// Paths on the host.
const (
	// NixOSDir is the configuration nixos-rebuild builds. Push manages its
	// top-level *.nix files, the ones bootstrap's capture copies back.
	NixOSDir = "/etc/nixos"
	// SystemProfile is the system profile whose generations nix-env lists.
	SystemProfile = bootstrap.SystemProfile
	// channelsProfile is root's channels, one generation per nix-channel --update.
	channelsProfile = "/nix/var/nix/profiles/per-user/root/channels"
	// CopiesDir holds CopiesDir/N/*.nix: /etc/nixos as it was when
	// generation N was made by push (root only). Rollback restores them.
	CopiesDir = "/var/lib/bootstrap/etc-nixos"
	// confirmDir holds the scripts of armed confirm timers.
	confirmDir = "/var/lib/bootstrap/confirm"
	// runDir holds a push's job and confirmation state (tmpfs: gone at reboot).
	runDir = "/run/bootstrap-deploy"
	// stagingPrefix + id is the scratch copy of /etc/nixos --dry-run builds.
	stagingPrefix = "/var/lib/bootstrap/staging-"
)

// Runner runs a shell command line on the host as root.
type Runner interface {
	Run(ctx context.Context, cmd string, stdout, stderr io.Writer) error
}

// Remote is what deploy needs of an SSH connection (*remote.Client).
// WriteFile must replace the file atomically.
type Remote interface {
	Runner
	WriteFile(ctx context.Context, path string, data []byte, mode fs.FileMode) error
	ReadFile(ctx context.Context, path string) ([]byte, error)
	Close() error
}

// Dialer opens a fresh connection to the host as root, with the deploy key
// and the pinned host key, retrying until ctx ends.
type Dialer func(ctx context.Context) (Remote, error)

func quote(s string) string { return remote.Quote(s) }

// listFilesCmd prints the names of /etc/nixos's top-level *.nix files.
func listFilesCmd() string {
	return fmt.Sprintf("find %s -mindepth 1 -maxdepth 1 -type f -name '*.nix' -printf '%%f\\n'", NixOSDir)
}

// removeCmd deletes files of /etc/nixos by base name.
func removeCmd(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quote(NixOSDir + "/" + n)
	}
	return "rm -f -- " + strings.Join(q, " ")
}

// rebuildArgs is nixos-rebuild's command line (PATH lookup: the host's own
// nixos-rebuild, on its own channel).
func rebuildArgs(action Action, upgrade bool, extra ...string) string {
	args := []string{"nixos-rebuild", string(action)}
	if upgrade {
		args = append(args, "--upgrade")
	}
	for _, a := range extra {
		args = append(args, quote(a))
	}
	return strings.Join(args, " ")
}

// jobCmd runs inner as job id: it records its pid (the session's process
// group: sshd makes each session a process group leader) so another
// connection can wait for it or stop it, and its exit status when done.
func jobCmd(id, inner string) string {
	d := runDir + "/" + id
	return fmt.Sprintf("mkdir -p %s && echo $$ > %s.pid || exit; %s; rc=$?; echo $rc > %s.rc; exit $rc",
		runDir, d, inner, d)
}

// waitJobCmd waits for job id to end and prints its exit status, or "gone"
// when it ended without recording one (killed).
func waitJobCmd(id string) string {
	d := runDir + "/" + id
	return fmt.Sprintf(`pid=$(cat %[1]s.pid 2>/dev/null); while [ ! -e %[1]s.rc ] && [ -n "$pid" ] && kill -0 -- "-$pid" 2>/dev/null; do sleep 1; done; cat %[1]s.rc 2>/dev/null || echo gone`, d)
}

// stopJobCmd stops job id's process group (SIGTERM), waits up to a minute
// for it to end and prints its exit status or "gone", like waitJobCmd.
func stopJobCmd(id string) string {
	d := runDir + "/" + id
	return fmt.Sprintf(`pid=$(cat %[1]s.pid 2>/dev/null); if [ -n "$pid" ] && [ ! -e %[1]s.rc ]; then kill -TERM -- "-$pid" 2>/dev/null; fi; i=0; while [ ! -e %[1]s.rc ] && [ -n "$pid" ] && kill -0 -- "-$pid" 2>/dev/null && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done; cat %[1]s.rc 2>/dev/null || echo gone`, d)
}

// copyDir is where the copy of /etc/nixos for generation n is kept.
func copyDir(n int) string { return fmt.Sprintf("%s/%d", CopiesDir, n) }

// keepCopyCmd copies /etc/nixos/*.nix to copyDir(n), replacing it in one
// rename; with onlyIfMissing an existing copy is kept.
func keepCopyCmd(n int, onlyIfMissing bool) string {
	dst := copyDir(n)
	tmp := fmt.Sprintf("%s/.%d.tmp", CopiesDir, n)
	cmd := fmt.Sprintf(`install -d -m 0700 %[1]s && rm -rf %[2]s && mkdir %[2]s && for f in %[3]s/*.nix; do if [ -f "$f" ]; then cp -p -- "$f" %[2]s/ || exit; fi; done && rm -rf %[4]s && mv %[2]s %[4]s`,
		CopiesDir, tmp, NixOSDir, dst)
	if onlyIfMissing {
		return fmt.Sprintf("[ -d %s ] || { %s; }", dst, cmd)
	}
	return cmd
}

// pruneCopiesCmd deletes the copies of generations that no longer exist
// (garbage collected).
func pruneCopiesCmd() string {
	return fmt.Sprintf(`for d in %s/*; do n=${d##*/}; case $n in ''|*[!0-9]*) continue ;; esac; [ -e %s-$n-link ] || rm -rf -- "$d"; done; true`,
		CopiesDir, SystemProfile)
}

// restoreCopyScript makes /etc/nixos's top-level *.nix files those of
// copyDir(n), each replaced atomically; it says so when there is no copy or
// a file could not be restored, and goes on (the activation comes next).
func restoreCopyScript(n int) string {
	src := copyDir(n)
	return fmt.Sprintf(`if [ -d %[1]s ]; then
  for f in %[2]s/*.nix; do [ -f "$f" ] || continue; [ -f %[1]s/"${f##*/}" ] || rm -f -- "$f"; done
  ok=1
  for f in %[1]s/*.nix; do [ -f "$f" ] || continue; t=%[2]s/."${f##*/}".bootstrap-tmp; cp -p -- "$f" "$t" && mv -f -- "$t" %[2]s/"${f##*/}" || ok=""; done
  if [ -n "$ok" ]; then echo "restored %[2]s from %[1]s"; else echo "could not restore all of %[2]s from %[1]s" >&2; fi
else
  echo "no copy of %[2]s was kept for generation %[3]d: %[2]s left as it is"
fi`, src, NixOSDir, n)
}

// RollbackCommand is what switches the host to generation n by hand (e.g.
// from its console): the profile, then the activation.
func RollbackCommand(n int) string {
	return fmt.Sprintf("nix-env -p %s --switch-generation %d && %s/bin/switch-to-configuration switch", SystemProfile, n, SystemProfile)
}

// rollbackScript switches the profile to generation n, puts root's channel
// back on the nixpkgs it was built from, restores the copy of /etc/nixos
// kept for it, then runs switch-to-configuration (switch, or boot: make it
// the next boot's default without activating it). It exits 3 when n does
// not exist and with switch-to-configuration's status.
func rollbackScript(n int, activation string) string {
	return fmt.Sprintf(`nix-env -p %[1]s --switch-generation %[2]d || exit 3
%[3]s
%[4]s
%[1]s/bin/switch-to-configuration %[5]s`, SystemProfile, n, channelBackScript(SystemProfile, channelsProfile), restoreCopyScript(n), activation)
}

// channelBackScript switches root's channels profile to its newest
// generation holding the nixpkgs revision the system profile's system was
// built from, when the channel holds another: a later nixos-rebuild (a
// push) then builds that revision again instead of moving the host, as
// the channel was moved by an upgrade after that system was built. Without
// such a generation (collected as garbage) the channel is left as it is.
func channelBackScript(system, channels string) string {
	return fmt.Sprintf(`want=$(%[1]s/sw/bin/nixos-version --revision 2>/dev/null) || want=
have=$(cat %[2]s/nixos/.git-revision 2>/dev/null) || have=
if [ -n "$want" ] && [ "$want" != "$have" ]; then
  best=
  for l in %[2]s-*-link; do
    n=${l#%[2]s-}; n=${n%%-link}
    case $n in ''|*[!0-9]*) continue ;; esac
    if [ "$(cat "$l/nixos/.git-revision" 2>/dev/null)" = "$want" ] && { [ -z "$best" ] || [ "$n" -gt "$best" ]; }; then best=$n; fi
  done
  if [ -n "$best" ] && nix-env -p %[2]s --switch-generation "$best" >/dev/null 2>&1; then
    echo "root's channel back on its generation $best: nixpkgs $want"
  else
    echo "no generation of root's channel holds nixpkgs $want: the channel is left as it is"
  fi
fi`, system, channels)
}

// followCmd subscribes root's nixos channel to the channel c (instead of
// one release of it), without updating it.
func followCmd(c channel.Channel) string {
	return "HOME=/root nix-channel --add " + quote(c.URL()) + " nixos"
}
