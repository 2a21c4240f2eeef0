package bootstrap

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"

	"bootstrap/network"
	"bootstrap/templates"
)

// What the pinned nixos-infect needs of the host, from what it does:
//
//   - a 1 GiB swap file, written with dd into /tmp and enabled with swapon
//     (makeSwap, l.232-238), unless swap on a block device exists
//     (checkExistingSwap, l.218-230) or NO_SWAP is set. swapon refuses a file
//     on tmpfs, and set -e (l.5) then ends the script: /tmp must be on a
//     disk with room for it;
//   - Nix from the installer, the nixpkgs channel unpacked in the store and
//     the whole system closure built from it (infect, l.373-396), all on the
//     root filesystem (/nix) before the old system is moved away. NixStoreKiB
//     is bootstrap's estimate of a minimal server; packages in host.nix add
//     to it;
//   - memory for evaluating and building NixOS: the script sizes it as a
//     512 MiB droplet plus its 1 GiB swap file ("smallest (512MB) droplet
//     needs extra memory!", l.443).
const (
	SwapFileKiB       = 1024 * 1024     // makeSwap: dd bs=1M count=1024
	NixStoreKiB       = 2 * 1024 * 1024 // Nix + channel + system closure (estimate)
	MinMemoryKiB      = 400 * 1024      // RAM alone
	MinMemorySwapKiB  = 1400 * 1024     // RAM plus swap: a 512 MiB droplet (about 480 MiB usable) plus the 1 GiB swap file
	swapFileHeadroomK = 64 * 1024       // dd needs the whole file plus a little
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
if [ "$(findmnt -n -o FSTYPE --mountpoint /boot)" != "" ] && [ "$(findmnt -n -o FSTYPE --mountpoint /boot)" != vfat ]; then
  b=$(findmnt -n -o SOURCE --mountpoint /boot)
  kv boot_source "$b"; kv boot_fstype "$(findmnt -n -o FSTYPE --mountpoint /boot)"; kv boot_uuid "$($SUDO blkid -s UUID -o value "$b")"
fi
kv disk_free_kib "$(df -Pk / | awk 'NR==2{print $4}')"
kv mem_kib "$(awk '/^MemTotal:/{print $2}' /proc/meminfo)"
kv swap_kib "$(awk '/^SwapTotal:/{print $2}' /proc/meminfo)"
kv swap_first "$(swapon --show=NAME --noheadings --raw | head -n 1)"
kv tmp_fstype "$(findmnt -n -o FSTYPE --target /tmp)"
kv tmp_on_root "$([ "$(findmnt -n -o TARGET --target /tmp)" = / ] && echo yes || echo no)"
kv tmp_free_kib "$(df -Pk /tmp | awk 'NR==2{print $4}')"
kv boot_id "$(cat /proc/sys/kernel/random/boot_id)"
kv marker "$($SUDO head -n1 /etc/nixos/bootstrap.nix)"
$SUDO cat /root/.ssh/authorized_keys | grep -v '^[[:space:]]*\(#\|$\)' | sed 's/^/authorized_key=/'
[ "$(id -u)" != 0 ] && grep -v '^[[:space:]]*\(#\|$\)' "$HOME/.ssh/authorized_keys" | sed 's/^/user_key=/'
exit 0
`

// facts is one reading of factsScript.
type facts struct {
	OSID, OSLike, OSVersion, OSName  string
	Arch                             string
	UID                              int
	Sudo                             bool
	Boot                             string // "efi" or "bios"
	RootSource, RootFSType           string
	RootUUID, RootDisk               string
	ESPMount, ESPSource, ESPUUID     string
	BootSource, BootFSType, BootUUID string // a separate /boot that is not the ESP
	DiskFreeKiB, MemKiB              int64
	SwapKiB                          int64
	SwapFirst                        string // first active swap area, as swapon shows it
	TmpFSType                        string
	TmpOnRoot                        bool
	TmpFreeKiB                       int64
	BootID                           string
	Marker                           string
	AuthorizedKeys                   []string // root's
	UserKeys                         []string // the login user's, when not root
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
		case "boot_source":
			f.BootSource = v
		case "boot_fstype":
			f.BootFSType = v
		case "boot_uuid":
			f.BootUUID = v
		case "swap_kib":
			f.SwapKiB, _ = strconv.ParseInt(v, 10, 64)
		case "swap_first":
			f.SwapFirst = v
		case "tmp_fstype":
			f.TmpFSType = v
		case "tmp_on_root":
			f.TmpOnRoot = v == "yes"
		case "tmp_free_kib":
			f.TmpFreeKiB, _ = strconv.ParseInt(v, 10, 64)
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
		case "user_key":
			if v = strings.TrimSpace(v); v != "" {
				f.UserKeys = append(f.UserKeys, v)
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

// swapFile reports whether the script will write its 1 GiB swap file:
// checkExistingSwap (l.218-230) skips it only when the first active swap is a
// block device; NO_SWAP (any non-empty value) skips it too.
func (f *facts) swapFile(env map[string]string) bool {
	return env["NO_SWAP"] == "" && !strings.HasPrefix(f.SwapFirst, "/dev/")
}

// check refuses hosts nixos-infect cannot turn into NixOS. resources is
// false when the infect already ran (it used the disk it needed). env is the
// script's environment (--infect-env).
func (f *facts) check(resources bool, env map[string]string) error {
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
	swapFile := f.swapFile(env)
	if swapFile && f.TmpFSType == "tmpfs" {
		return &PreflightError{Reason: "/tmp is a tmpfs, and nixos-infect puts its 1 GiB swap file there: swapon refuses a file on tmpfs and the script stops",
			Hint: "pass --infect-env NO_SWAP=1 on a host with enough memory, or unmount /tmp (nixos-infect's README says the same for OVH)"}
	}
	need := int64(NixStoreKiB)
	if swapFile {
		if f.TmpOnRoot {
			need += SwapFileKiB
		} else if f.TmpFreeKiB < SwapFileKiB+swapFileHeadroomK {
			return &PreflightError{Reason: fmt.Sprintf("only %s free on /tmp, and nixos-infect writes a 1 GiB swap file there", kib(f.TmpFreeKiB)),
				Hint: "free space on /tmp, or pass --infect-env NO_SWAP=1 on a host with enough memory"}
		}
	}
	if f.DiskFreeKiB < need {
		what := "Nix, the channel and the system"
		if swapFile && f.TmpOnRoot {
			what += " plus the 1 GiB swap file in /tmp"
		}
		return &PreflightError{Reason: fmt.Sprintf("only %s free on / (need %s: %s)", kib(f.DiskFreeKiB), kib(need), what), Hint: "free disk space or pick a bigger instance"}
	}
	if f.MemKiB < MinMemoryKiB {
		return &PreflightError{Reason: fmt.Sprintf("only %s of memory (need %s)", kib(f.MemKiB), kib(MinMemoryKiB)), Hint: "pick an instance with more memory"}
	}
	total := f.MemKiB + f.SwapKiB
	if swapFile {
		total += SwapFileKiB
	}
	if total < MinMemorySwapKiB {
		return &PreflightError{Reason: fmt.Sprintf("only %s of memory and swap for building NixOS (need %s)", kib(total), kib(MinMemorySwapKiB)),
			Hint: "drop --infect-env NO_SWAP, add swap, or pick an instance with more memory"}
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
		// A separate /boot holds grub's files and the kernels on EFI hosts
		// (Ubuntu's cloud images): the script leaves it mounted and NixOS
		// must keep mounting it. On BIOS the script unmounts it and grub goes
		// to the root filesystem (l.421 with bootFs=/boot), so it is not declared.
		if f.BootSource != "" && f.ESPMount != "/boot" {
			t.BootDevice, t.BootFSType = f.BootSource, f.BootFSType
			if f.BootUUID != "" {
				t.BootDevice = "/dev/disk/by-uuid/" + f.BootUUID
			}
		}
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
			// This workspace infected it: an earlier run rebooted it, or the
			// infect went on after an interrupted run and the host rebooted
			// since. It is never infected again; the reboot step verifies.
			s.Note("%s, %s: rebooted into NixOS in an earlier run", f.OSName, f.Arch)
			if !s.Rec.Done(StepInfect) {
				s.Rec.mark(StepInfect, StatusSkipped).Note = "the host already runs NixOS: nixos-infect finished before it rebooted"
			}
		default:
			s.alreadyNixOS = true
			s.Note("%s, %s: already NixOS, skipping to capture", f.OSName, f.Arch)
			for _, st := range []string{StepUpload, StepInfect, StepPin, StepReboot} {
				if !s.Rec.Done(st) {
					s.Rec.mark(st, StatusSkipped).Note = "host already runs NixOS"
				}
			}
		}
		return nil
	}

	if err := f.check(!s.Rec.Done(StepInfect), s.infectEnv()); err != nil {
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
	netNote, err := readNetwork(ctx, s)
	if err != nil {
		return err
	}
	s.Note("%s, %s, %s %s, %s free, %s RAM; network: %s", cmp.Or(f.OSName, f.OSID), f.Arch, f.Boot, dev, kib(f.DiskFreeKiB), kib(f.MemKiB), netNote)
	return nil
}

// readNetwork reads the host's live network (package network) and decides
// how NixOS gets it back after the reboot. Once the infect has run, the
// reading recorded before it stands: the host's network may have changed
// since, and the decision made then is the one the configuration holds.
func readNetwork(ctx context.Context, s *State) (string, error) {
	if s.Rec.Done(StepInfect) && s.Rec.NetworkDecision != nil {
		s.net = s.Rec.Network
		return s.Rec.NetworkDecision.Summary, nil
	}
	out, err := s.run(ctx, network.CollectScript)
	if err != nil {
		return "", fmt.Errorf("read the host's network: %w", err)
	}
	nf, err := network.Parse(out)
	if err != nil {
		return "", fmt.Errorf("read the host's network: %w", err)
	}
	d, err := network.Decide(nf, s.Opts.Network, s.infectEnv()["PROVIDER"])
	if err != nil {
		return "", err
	}
	s.net, s.Rec.Network, s.Rec.NetworkDecision = nf, nf, &d
	return d.Summary, nil
}
