package network

import "strings"

// CollectScript is a POSIX sh script that prints the host's network facts
// for Parse. It only reads, so it is safe on any host, NixOS included, and
// exits 0 whatever is missing. Run as root it reads everything; run as
// another user it reads root-only files (netplan's 0600 YAML, some lease
// directories) through SUDO="sudo -n" when passwordless sudo works, like
// the preflight facts script, and skips them otherwise.
//
// Each section starts on a line of its own with "==> " and a header:
// a command ("ip -j addr"), "file PATH" (at most 64 KiB of the file), "hex
// PATH" (a binary lease as od hex bytes) or "exists PATH".
// A file whose own text holds such a line would confuse the reader; every
// file read is root's, so that is left as is. At most 16 files of each
// kind are read.
const CollectScript = `exec 2>/dev/null
LC_ALL=C; export LC_ALL
SUDO=
if [ "$(id -u)" != 0 ] && sudo -n true; then SUDO="sudo -n"; fi
sec() { printf '\n==> %s\n' "$*"; }
sec ip -j addr; ip -j addr | head -c 1048576
sec ip -j -d link; ip -j -d link | head -c 1048576
sec ip -j route; ip -j route | head -c 262144
sec ip -j -6 route; ip -j -6 route | head -c 262144
if command -v resolvectl >/dev/null; then sec resolvectl dns; resolvectl dns | head -c 65536; fi
$SUDO sh -c '
sec() { printf "\n==> %s\n" "$*"; }
dump() {
  n=0
  for f in "$@"; do
    [ -f "$f" ] || continue
    n=$((n+1)); [ "$n" -le 16 ] || break
    sec file "$f"; head -c 65536 "$f"
  done
}
hex() {
  n=0
  for f in "$@"; do
    [ -f "$f" ] || continue
    n=$((n+1)); [ "$n" -le 16 ] || break
    sec hex "$f"; head -c 4096 "$f" | od -An -tx1 -v
  done
}
dump /etc/resolv.conf /run/systemd/resolve/resolv.conf
dump /var/lib/dhcp/dhclient*.leases /var/lib/dhclient/*
dump /run/systemd/netif/leases/*
hex /var/lib/dhcpcd/*.lease /var/lib/dhcpcd/*.lease6 /var/lib/dhcpcd5/*.lease /var/lib/dhcpcd5/*.lease6
dump /etc/netplan/*.yaml
dump /etc/network/interfaces /etc/network/interfaces.d/*
dump /etc/systemd/network/*.network /run/systemd/network/*.network
dump /etc/cloud/cloud.cfg.d/*network* /var/lib/cloud/instance/network-config.json
dump /var/lib/cloud/instance/datasource /sys/class/dmi/id/sys_vendor /sys/class/dmi/id/product_name
for f in /etc/hetzner-build; do [ -e "$f" ] && sec exists "$f"; done
'
sec end
exit 0
`

// section is one "==> header" block of CollectScript's output.
type section struct {
	kind string // "cmd", "file", "hex", "exists"
	name string // the command line, or the path
	body string
}

// splitSections cuts CollectScript's output into its sections. Lines before
// the first header are ignored; so is everything after "==> end".
func splitSections(out string) []section {
	var secs []section
	var cur *section
	var body strings.Builder
	flush := func() {
		if cur != nil {
			cur.body = strings.Trim(body.String(), "\n")
			secs = append(secs, *cur)
		}
		cur = nil
		body.Reset()
	}
	for line := range strings.Lines(out) {
		h, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "==> ")
		if !ok {
			if cur != nil {
				body.WriteString(line)
			}
			continue
		}
		flush()
		if h == "end" {
			break
		}
		s := section{kind: "cmd", name: h}
		for _, k := range []string{"file", "hex", "exists"} {
			if p, ok := strings.CutPrefix(h, k+" "); ok && strings.HasPrefix(p, "/") {
				s = section{kind: k, name: p}
			}
		}
		cur = &s
	}
	flush()
	return secs
}
