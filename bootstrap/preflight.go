package bootstrap

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"

	"bootstrap/templates"
)

// Minimums for nixos-infect: it installs Nix and builds a whole system
// closure on the root filesystem, and adds 1 GiB of swap for small machines.
const (
	MinFreeDiskKiB = 1536 * 1024 // 1.5 GiB free on /
	MinMemoryKiB   = 400 * 1024  // 400 MiB RAM
)

// factsScript prints key=value lines describing the host. It only reads, so
// it is safe on any host, NixOS included. lsblk -s walks from the root
// filesystem up to its disk (through partitions, LVM, RAID) for grub.
const factsScript = `exec 2>/dev/null
kv() { printf '%s=%s\n' "$1" "$2"; }
[ -r /etc/os-release ] && . /etc/os-release
kv os_id "${ID:-}"; kv os_like "${ID_LIKE:-}"; kv os_version "${VERSION_ID:-}"; kv os_name "${PRETTY_NAME:-}"
kv arch "$(uname -m)"
kv uid "$(id -u)"
SUDO=
if [ "$(id -u)" != 0 ]; then if sudo -n true; then kv sudo yes; SUDO="sudo -n"; else kv sudo no; fi; fi
if [ -d /sys/firmware/efi ]; then kv boot efi; else kv boot bios; fi
src=$(findmnt -n -o SOURCE /)
kv root_source "$src"
kv root_fstype "$(findmnt -n -o FSTYPE /)"
kv root_uuid "$($SUDO blkid -s UUID -o value "$src" || findmnt -n -o UUID /)"
kv root_disk "$(lsblk -nsrpo NAME,TYPE "$src" | awk '$2=="disk"{print $1; exit}')"
for d in /boot/efi /boot/EFI /boot; do
  if [ "$(findmnt -n -o FSTYPE --mountpoint "$d")" = vfat ]; then
    esp=$(findmnt -n -o SOURCE --mountpoint "$d")
    kv esp_mount "$d"; kv esp_source "$esp"; kv esp_uuid "$($SUDO blkid -s UUID -o value "$esp")"
    break
  fi
done
kv disk_free_kib "$(df -Pk / | awk 'NR==2{print $4}')"
kv mem_kib "$(awk '/^MemTotal:/{print $2}' /proc/meminfo)"
kv boot_id "$(cat /proc/sys/kernel/random/boot_id)"
kv marker "$($SUDO head -n1 /etc/nixos/bootstrap.nix)"
{ $SUDO cat /root/.ssh/authorized_keys; [ "$(id -u)" != 0 ] && cat "$HOME/.ssh/authorized_keys"; } | grep -v '^[[:space:]]*\(#\|$\)' | sed 's/^/authorized_key=/'
exit 0
`

// facts is one reading of factsScript.
type facts struct {
	OSID, OSLike, OSVersion, OSName string
	Arch                            string
	UID                             int
	Sudo                            bool
	Boot                            string // "efi" or "bios"
	RootSource, RootFSType          string
	RootUUID, RootDisk              string
	ESPMount, ESPSource, ESPUUID    string
	DiskFreeKiB, MemKiB             int64
	BootID                          string
	Marker                          string
	AuthorizedKeys                  []string
}

func parseFacts(out string) (*facts, error) {
	f := &facts{UID: -1}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch k {
		case "os_id":
			f.OSID = v
		case "os_like":
			f.OSLike = v
		case "os_version":
			f.OSVersion = v
		case "os_name":
			f.OSName = v
		case "arch":
			f.Arch = v
		case "uid":
			if n, err := strconv.Atoi(v); err == nil {
				f.UID = n
			}
		case "sudo":
			f.Sudo = v == "yes"
		case "boot":
			f.Boot = v
		case "root_source":
			f.RootSource = v
		case "root_fstype":
			f.RootFSType = v
		case "root_uuid":
			f.RootUUID = v
		case "root_disk":
			f.RootDisk = v
		case "esp_mount":
			f.ESPMount = v
		case "esp_source":
			f.ESPSource = v
		case "esp_uuid":
			f.ESPUUID = v
		case "disk_free_kib":
			f.DiskFreeKiB, _ = strconv.ParseInt(v, 10, 64)
		case "mem_kib":
			f.MemKiB, _ = strconv.ParseInt(v, 10, 64)
		case "boot_id":
			f.BootID = v
		case "marker":
			f.Marker = v
		case "authorized_key":
			if v = strings.TrimSpace(v); v != "" {
				f.AuthorizedKeys = append(f.AuthorizedKeys, v)
			}
		}
	}
	if f.BootID == "" || f.UID < 0 {
		return nil, fmt.Errorf("could not read host facts (no boot id or uid in the output of the facts script)")
	}
	return f, nil
}

// NixOS reports whether the host runs NixOS now.
func (f *facts) NixOS() bool { return f.OSID == "nixos" }

// Ours reports whether /etc/nixos/bootstrap.nix carries our marker.
func (f *facts) Ours() bool { return f.Marker == templates.Marker }

// PreflightError is a host that cannot be infected; nothing was changed.
type PreflightError struct {
	Reason string
	Hint   string
}

func (e *PreflightError) Error() string { return e.Reason }

// check refuses hosts nixos-infect cannot turn into NixOS. resources is
// false when the infect already ran (it used the disk it needed).
func (f *facts) check(resources bool) error {
	debianLike := f.OSID == "debian" || f.OSID == "ubuntu" ||
		strings.Contains(" "+f.OSLike+" ", " debian ") || strings.Contains(" "+f.OSLike+" ", " ubuntu ")
	switch {
	case !debianLike:
		name := cmp.Or(f.OSName, f.OSID, "unknown")
		return &PreflightError{Reason: fmt.Sprintf("unsupported OS %q", name), Hint: "bootstrap infects Debian and Ubuntu hosts; reinstall the host with one of them"}
	case f.Arch != "x86_64" && f.Arch != "aarch64":
		return &PreflightError{Reason: fmt.Sprintf("unsupported architecture %q", f.Arch), Hint: "NixOS is installed on x86_64 and aarch64 hosts only"}
	case f.UID != 0 && !f.Sudo:
		return &PreflightError{Reason: fmt.Sprintf("logged in as uid %d without passwordless sudo", f.UID), Hint: "log in as root (root@HOST) or give the user passwordless sudo"}
	case f.Boot == "efi" && f.ESPSource == "":
		return &PreflightError{Reason: "EFI host without a mounted EFI system partition", Hint: "mount the ESP on /boot/efi or /boot and run again"}
	case f.RootSource == "" || f.RootFSType == "":
		return &PreflightError{Reason: "could not find the root filesystem", Hint: "check that findmnt works on the host"}
	}
	if !resources {
		return nil
	}
	if f.DiskFreeKiB < MinFreeDiskKiB {
		return &PreflightError{Reason: fmt.Sprintf("only %s free on / (need %s)", kib(f.DiskFreeKiB), kib(MinFreeDiskKiB)), Hint: "free disk space or pick a bigger instance"}
	}
	if f.MemKiB < MinMemoryKiB {
		return &PreflightError{Reason: fmt.Sprintf("only %s of memory (need %s)", kib(f.MemKiB), kib(MinMemoryKiB)), Hint: "pick an instance with more memory"}
	}
	return nil
}

func kib(n int64) string {
	switch {
	case n >= 1024*1024:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1024*1024))
	default:
		return fmt.Sprintf("%d MiB", n/1024)
	}
}

// templateFacts turns a reading into what the templates need. The root
// device is named by UUID when known, so a disk renamed by the new kernel
// (sda vs vda) still mounts.
func (f *facts) templateFacts() templates.Facts {
	t := templates.Facts{BootMode: f.Boot, RootDevice: f.RootSource, RootFSType: f.RootFSType}
	if f.RootUUID != "" {
		t.RootDevice = "/dev/disk/by-uuid/" + f.RootUUID
	}
	if f.Boot == "efi" {
		t.ESPMount = f.ESPMount
		t.ESPDevice = f.ESPSource
		if f.ESPUUID != "" {
			t.ESPDevice = "/dev/disk/by-uuid/" + f.ESPUUID
		}
	} else {
		t.GrubDevice = cmp.Or(f.RootDisk, f.RootSource)
	}
	return t
}

// preflightStep reads the host and refuses what cannot work, before anything
// is changed. It also notices where an earlier, interrupted run left the host.
type preflightStep struct{}

func (preflightStep) Name() string { return StepPreflight }
func (preflightStep) always()      {}

func (preflightStep) Run(ctx context.Context, s *State) error {
	out, err := s.run(ctx, factsScript)
	if err != nil {
		return fmt.Errorf("read host facts: %w", err)
	}
	f, err := parseFacts(out)
	if err != nil {
		return err
	}
	s.facts = f
	if f.UID != 0 && f.Sudo {
		s.client.SetSudo(true)
	}
	s.Rec.OS = cmp.Or(f.OSName, f.OSID)
	s.Rec.Arch = f.Arch

	if f.NixOS() {
		switch {
		case s.Rec.Done(StepInfect) || (f.Ours() && s.Rec.Done(StepUpload)):
			// An earlier run infected and rebooted it; the reboot step verifies.
			s.Note("%s, %s: rebooted into NixOS in an earlier run", f.OSName, f.Arch)
		default:
			s.alreadyNixOS = true
			s.Note("%s, %s: already NixOS, skipping to capture", f.OSName, f.Arch)
			for _, st := range []string{StepUpload, StepInfect, StepReboot} {
				if !s.Rec.Done(st) {
					s.Rec.mark(st, StatusSkipped).Note = "host already runs NixOS"
				}
			}
		}
		return nil
	}

	if err := f.check(!s.Rec.Done(StepInfect)); err != nil {
		return err
	}
	if !s.Rec.Done(StepInfect) && !s.Rec.RebootRequested {
		s.Rec.BootIDBefore = f.BootID
	}
	tf := f.templateFacts()
	s.Rec.Facts = &tf
	dev := tf.GrubDevice
	if f.Boot == "efi" {
		dev = "ESP " + tf.ESPDevice
	}
	s.Note("%s, %s, %s %s, %s free, %s RAM", cmp.Or(f.OSName, f.OSID), f.Arch, f.Boot, dev, kib(f.DiskFreeKiB), kib(f.MemKiB))
	return nil
}
