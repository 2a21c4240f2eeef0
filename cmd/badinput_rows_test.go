package cmd

import (
	"path/filepath"
	"testing"
)

// wsFile writes the workspace's bootstrap.yaml; userFile the user's.
func wsFile(content string) func(*testing.T, *fixture) {
	return func(t *testing.T, f *fixture) { write(t, filepath.Join(f.ws, ConfigFile), content, 0o644) }
}

func userFile(content string) func(*testing.T, *fixture) {
	return func(t *testing.T, f *fixture) {
		write(t, filepath.Join(f.home, ".config", "bootstrap", ConfigFile), content, 0o644)
	}
}

// hostState replaces a host's state.json.
func hostState(name, content string) func(*testing.T, *fixture) {
	return func(t *testing.T, f *fixture) {
		write(t, filepath.Join(f.ws, "hosts", name, "state.json"), content, 0o644)
	}
}

const badSHA = "abababababababababababababababababababababababababababababababab"

func badInputRows() []badInput {
	// ssh is a valid bootstrap ssh up to where a row changes it; --yes and a
	// local nixos-infect, so no row ever reaches the pinned URL.
	// A row that should fail and does not gives up on the closed port
	// within a second.
	ssh := func(extra ...string) []string {
		return append([]string{"ssh", "root@127.0.0.1", "--port", "{closed}", "--channel", "nixos-24.11", "--yes", "--connect-timeout", "1s",
			"--infect-url", "{infecturl}", "--infect-sha256", "{infectsha}"}, extra...)
	}
	// sshSet leaves --port and --channel to the settings under test.
	sshSet := func(extra ...string) []string {
		return append([]string{"ssh", "root@127.0.0.9", "--yes", "--connect-timeout", "1s",
			"--infect-url", "{infecturl}", "--infect-sha256", "{infectsha}"}, extra...)
	}
	scw := func(extra ...string) []string {
		return append([]string{"scaleway", "web-9", "--channel", "nixos-24.11", "--yes",
			"--infect-url", "{infecturl}", "--infect-sha256", "{infectsha}"}, extra...)
	}
	return []badInput{
		// Commands, arguments and flags (cobra's own errors included).
		{args: []string{"sssh"}, code: 2, want: `unknown command "sssh": did you mean ssh?`},
		{args: []string{"sh"}, code: 2, want: `did you mean ssh?`},
		{args: []string{"stauts"}, code: 2, want: "did you mean status?"},
		{args: []string{"completionn"}, code: 2, want: "did you mean completion?"},
		{args: []string{"frobnicate"}, code: 2, want: "bootstrap --help lists the commands"},
		{args: []string{"ssh"}, code: 2, want: "missing [USER@]HOST; usage: bootstrap ssh [USER@]HOST [flags]"},
		{args: []string{"ssh", "a", "b"}, code: 2, want: "too many arguments (b); usage: bootstrap ssh"},
		{args: []string{"scaleway"}, code: 2, want: "missing NAME; usage: bootstrap scaleway NAME"},
		{args: []string{"destroy"}, code: 2, want: "missing NAME; usage: bootstrap destroy NAME [flags]"},
		{args: []string{"forget"}, code: 2, want: "missing NAME; usage: bootstrap forget NAME"},
		{args: []string{"connect"}, code: 2, want: "missing NAME; usage: bootstrap connect NAME [-- COMMAND...]"},
		{args: []string{"clone"}, code: 2, want: "missing SOURCE NAME; usage: bootstrap clone SOURCE NAME"},
		{args: []string{"clone", "web-1"}, code: 2, want: "missing NAME; usage: bootstrap clone SOURCE NAME"},
		{args: []string{"generations"}, code: 2, want: "usage: bootstrap generations NAME"},
		{args: []string{"rollback"}, code: 2, want: "usage: bootstrap rollback NAME [GENERATION]"},
		{args: []string{"rollback", "web-1", "1", "2"}, code: 2, want: "too many arguments (2)"},
		{args: []string{"status", "web-1"}, code: 2, want: "status takes host names only with --check (bootstrap status --check web-1)"},
		{args: []string{"version", "now"}, code: 2, want: "usage: bootstrap version"},
		{args: []string{"secrets", "lst", "web-1"}, code: 2, want: "did you mean list?"},
		{args: []string{"secrets", "set", "web-1"}, code: 2, want: "missing KEY; usage: bootstrap secrets set NAME KEY [FILE|-]"},
		{args: []string{"secrets", "rm", "web-1"}, code: 2, want: "usage: bootstrap secrets rm NAME KEY"},
		{args: []string{"secrets", "push"}, code: 2, want: "usage: bootstrap secrets push NAME"},
		{args: ssh("--chanel", "nixos-24.11"), code: 2, want: "unknown flag --chanel: did you mean --channel?"},
		{args: ssh("--timout", "5m"), code: 2, want: "did you mean --timeout?"},
		{args: ssh("--conect-timeout", "5m"), code: 2, want: "did you mean --connect-timeout?"},
		{args: ssh("--hostnix", "x.nix"), code: 2, want: "did you mean --host-nix?"},
		{args: []string{"destroy", "cloud-1", "--yse"}, code: 2, want: "did you mean --yes?"},
		{args: []string{"push", "web-1", "--paralel", "2"}, code: 2, want: "did you mean --parallel?"},
		{args: scw("--zoen", "fr-par-1"), code: 2, want: "did you mean --zone?"},
		{args: scw("--frobnicate"), code: 2, want: "bootstrap scaleway --help lists the flags"},
		{args: ssh("-x"), code: 2, want: "unknown shorthand flag: 'x' in -x"},
		{args: []string{"ssh", "root@127.0.0.1", "--channel"}, code: 2, want: "flag needs an argument: --channel"},
		{args: ssh("--port", "twenty"), code: 2, want: `invalid argument "twenty" for "-p, --port"`},
		{args: ssh("--timeout", "soon"), code: 2, want: `invalid argument "soon" for "--timeout"`},
		{args: []string{"--quiet", "--verbose", "status"}, code: 2, want: "--quiet and --verbose contradict each other"},

		// bootstrap ssh: the target, the channel, the flags.
		{args: []string{"ssh", "root@127.0.0.1", "--yes"}, code: 2, want: "--channel is required, e.g. --channel nixos-"},
		{args: ssh("--channel", "24.11"), code: 2, want: "want nixos-YY.MM, nixos-YY.MM-small or nixos-unstable"},
		{args: ssh("--channel", "nixos-unstabel"), code: 2, want: "want nixos-YY.MM"},
		{args: ssh("--channel", "nixos-19.09"), code: 2, want: "older than the oldest supported channel nixos-20.09"},
		{args: ssh("--channel", "nixos-24.12"), code: 2, want: "24.12 is not a NixOS release"},
		{args: ssh("--channel", "nixos-99.11"), code: 2, want: "nixos-99.11 is not a NixOS release yet: the newest is nixos-"},
		{args: ssh("--channel", "nixos-99.11-small"), code: 2, want: "is not a NixOS release yet"},
		{args: []string{"ssh", "root@", "--channel", "nixos-24.11"}, code: 2, want: "want [USER@]HOST"},
		{args: []string{"ssh", "@127.0.0.1", "--channel", "nixos-24.11"}, code: 2, want: "want [USER@]HOST"},
		{args: []string{"ssh", "root@127.0.0.1:22", "--channel", "nixos-24.11"}, code: 2, want: "give the port with --port, not HOST:PORT"},
		{args: []string{"ssh", "root@[::1]:22", "--channel", "nixos-24.11"}, code: 2, want: "give the port with --port, not [HOST]:PORT"},
		{args: []string{"ssh", "root@[::1", "--channel", "nixos-24.11"}, code: 2, want: "a [ without its ]"},
		{args: []string{"ssh", "root@[web-1]", "--channel", "nixos-24.11"}, code: 2, want: "brackets hold an IPv6 address"},
		{args: []string{"ssh", "root@203.0.113.300", "--channel", "nixos-24.11"}, code: 2, want: "not a valid IPv4 address"},
		{args: []string{"ssh", "root@web_1.example.com", "--channel", "nixos-24.11"}, code: 2, want: "not a host name or IP address"},
		{args: []string{"ssh", "root@2001:db8::g", "--channel", "nixos-24.11"}, code: 2, want: "not an IPv6 address"},
		{args: []string{"ssh", "ro ot@127.0.0.1", "--channel", "nixos-24.11"}, code: 2, want: "want [USER@]HOST"},
		{args: ssh("--port", "0"), code: 2, want: "--port 0 is not a TCP port: give 1 to 65535"},
		{args: ssh("--port", "70000"), code: 2, want: "--port 70000 is not a TCP port"},
		{args: ssh("--name", "Web_1"), code: 2, want: `invalid name "Web_1"`},
		{args: ssh("--host-key", "MD5:aa"), code: 2, want: "--host-key \"MD5:aa\" is not a SHA256 fingerprint"},
		{args: []string{"ssh", "root@127.0.0.1", "--channel", "nixos-24.11", "--infect-url", "{infecturl}"}, code: 2, want: "--infect-url and --infect-sha256 go together"},
		{args: []string{"ssh", "root@127.0.0.1", "--channel", "nixos-24.11", "--infect-sha256", "{infectsha}"}, code: 2, want: "give both or neither"},
		{args: []string{"ssh", "root@127.0.0.1", "--channel", "nixos-24.11", "--infect-url", "ftp://127.0.0.1/x", "--infect-sha256", badSHA}, code: 2, want: "--infect-url must be an http(s) URL"},
		{args: []string{"ssh", "root@127.0.0.1", "--channel", "nixos-24.11", "--infect-url", "{infecturl}", "--infect-sha256", "abc"}, code: 2, want: "--infect-sha256 must be 64 hex characters"},
		{args: ssh("--infect-env", "NIX_CHANNEL=nixos-24.11"), code: 2, want: "it is --channel"},
		{args: []string{"ssh", "root@127.0.0.1", "--channel", "nixos-24.11", "--infect-env", "NIX_INSTAL_URL=x"}, code: 2, want: "use one of"},
		{args: ssh("--infect-env", "novalue"), code: 2, want: "NAME=VALUE"},
		{args: ssh("--network", "wifi"), code: 2, want: `--network "wifi": want auto, dhcp or static`},
		{args: ssh("--timeout", "0s"), code: 2, want: "must be positive (e.g. 10m)"},
		{args: ssh("--connect-timeout", "-1s"), code: 2, want: "must be positive"},
		{args: ssh("--reboot-timeout", "0s"), code: 2, want: "must be positive"},
		{args: ssh("--host-nix", "{home}/nix/missing.nix"), code: 2, want: "does not exist: fix --host-nix"},
		{args: ssh("--host-nix", "{home}/nix/empty.nix"), code: 2, want: "empty: write a NixOS module there"},
		{args: ssh("--host-nix", "{home}/nix/big.nix"), code: 2, want: "over the 1 MiB a host.nix may have"},
		{args: ssh("--host-nix", "{home}/nix/dir.nix"), code: 2, want: "is a directory"},
		{args: ssh("--host-nix", "{home}/nix/syntax.nix"), code: 2, want: "does not parse as Nix: syntax error", needs: "nix-instantiate"},
		{args: ssh("-i", "{home}/keys/missing"), code: 2, want: "does not exist: fix --identity"},
		{args: ssh("-i", "{home}/keys/id_open"), code: 2, want: "is readable by others (mode 0644): chmod 600"},
		{args: ssh("-i", "{home}/keys/id.pub"), code: 2, want: "is a public key: --identity takes the private key"},
		{args: ssh("-i", "{home}/keys"), code: 2, want: "is a directory"},
		{args: ssh("--agent"), code: 2, want: "--agent needs an ssh-agent: SSH_AUTH_SOCK is not set"},
		{args: ssh("--dry-run", "--json"), code: 2, want: "leave out one"},
		{args: []string{"ssh", "root@127.0.0.1", "--port", "{closed}", "--channel", "nixos-24.11", "--infect-url", "{infecturl}", "--infect-sha256", "{infectsha}"}, code: 2, want: "pass --yes to confirm (no terminal to ask on)"},

		// Settings: the environment and bootstrap.yaml, through the flag's parser.
		{args: sshSet("--channel", "nixos-24.11"), env: []string{"BOOTSTRAP_PORT=twenty-two"}, code: 2, want: `setting port="twenty-two" from BOOTSTRAP_PORT`},
		{args: ssh(), env: []string{"BOOTSTRAP_TIMEOUT=soon"}, code: 2, want: "from BOOTSTRAP_TIMEOUT"},
		{args: ssh(), env: []string{"BOOTSTRAP_NETWORK=wifi"}, code: 2, want: "--network \"wifi\""},
		{args: sshSet(), env: []string{"BOOTSTRAP_CHANNEL=nixos-99.05"}, code: 2, want: "nixos-99.05 is not a NixOS release yet"},
		{args: ssh(), env: []string{"BOOTSTRAP_HOST_NIX=~/nix/missing.nix"}, code: 2, want: "{home}/nix/missing.nix does not exist"},
		{args: ssh(), env: []string{"BOOTSTRAP_IDENTITY=~/keys/id_open"}, code: 2, want: "{home}/keys/id_open is readable by others"},
		{args: ssh(), setup: wsFile("chanel: nixos-24.11\n"), code: 2, want: "unknown setting chanel: keys are flag names"},
		{args: ssh(), setup: wsFile("channel: [\n"), code: 2, want: "not valid YAML settings"},
		{args: ssh(), setup: wsFile("workspace: /elsewhere\n"), code: 2, want: "cannot move the workspace"},
		{args: sshSet("--channel", "nixos-24.11"), setup: wsFile("port: 99999\n"), code: 2, want: "--port 99999 is not a TCP port"},
		{args: []string{"ssh", "root@127.0.0.9", "--channel", "nixos-24.11"}, setup: wsFile("yes: maybe\n"), code: 2, want: `setting yes="maybe" from {ws}/bootstrap.yaml`},
		{args: ssh(), setup: wsFile("identity: [~/keys/missing]\n"), code: 2, want: "identity {home}/keys/missing does not exist"},
		{args: sshSet(), setup: wsFile("channel: nixos-24.12\n"), code: 2, want: "24.12 is not a NixOS release"},
		{args: ssh(), setup: userFile("reboot-timeout: soon\n"), code: 2, want: "{home}/.config/bootstrap/bootstrap.yaml"},
		{args: ssh(), setup: userFile("typo-key: 1\n"), code: 2, want: "unknown setting typo-key"},
		{args: []string{"status"}, setup: userFile("channel: [\n"), code: 2, want: "not valid YAML settings"},

		// Read-only commands and commands on hosts of a workspace that does
		// not exist: refused, and the workspace is not created.
		{args: []string{"generations", "web-1", "-w", "{missing}"}, code: 2, want: "no host web-1 in workspace {missing}"},
		{args: []string{"rollback", "web-1", "-w", "{missing}"}, code: 2, want: "bootstrap it first"},
		{args: []string{"push", "web-1", "-w", "{missing}"}, code: 2, want: "no host web-1"},
		{args: []string{"connect", "web-1", "-w", "{missing}"}, code: 2, want: "no host web-1"},
		{args: []string{"forget", "web-1", "-w", "{missing}"}, code: 2, want: "nothing to forget"},
		{args: []string{"destroy", "web-1", "-w", "{missing}"}, code: 2, want: "nothing to destroy"},
		{args: []string{"secrets", "push", "web-1", "-w", "{missing}"}, code: 2, want: "no host web-1"},
		{args: []string{"secrets", "rm", "web-1", "db", "-w", "{missing}"}, code: 2, want: "db"},
		{args: []string{"secrets", "set", "web-1", "db", "-w", "{missing}"}, code: 2, want: "recipients.txt"},
		{args: ssh("--dry-run", "--channel", "nixos-24.12", "-w", "{missing}"), code: 2, want: "24.12 is not a NixOS release"},
		{args: []string{"status", "-w", "{file}"}, code: 2, want: "is a file, not a directory: fix --workspace"},
		{args: []string{"ssh", "root@127.0.0.1", "--channel", "nixos-24.11", "-w", "{missing}"}, code: 2, want: "pass --yes"},

		// The workspace's hosts.
		{args: ssh("--port", "{recorder}", "--name", "web-1", "--channel", "nixos-24.05"), code: 2, want: "pass --channel nixos-24.11 to resume web-1, or to start over: bootstrap forget web-1"},
		{args: []string{"ssh", "root@127.0.0.2", "--port", "{recorder}", "--name", "web-1", "--channel", "nixos-24.11", "--yes", "--infect-url", "{infecturl}", "--infect-sha256", "{infectsha}"}, code: 2, want: "give 127.0.0.1 to resume web-1, or, if the machine there is gone, to start over: bootstrap forget web-1"},
		{args: ssh("--port", "2222", "--name", "web-1"), code: 2, want: "pass --port {recorder} to resume web-1"},
		{args: []string{"scaleway", "web-1", "--channel", "nixos-24.11", "--yes", "--infect-url", "{infecturl}", "--infect-sha256", "{infectsha}"}, code: 2, want: "web-1 is a ssh host: resume it with bootstrap ssh", api: "get"},
		{args: []string{"destroy", "web-1", "--yes"}, code: 2, want: "bootstrap forget web-1 drops it from the workspace"},
		{args: []string{"destroy", "nope-1", "--yes"}, code: 2, want: "nothing to destroy"},
		{args: []string{"destroy", "Web-1"}, code: 2, want: `invalid name "Web-1"`},
		{args: []string{"forget", "web-1"}, code: 2, want: "pass --yes to confirm"},
		{args: []string{"forget", "cloud-1", "--yes"}, code: 2, want: "bootstrap destroy cloud-1 deletes it and forgets it; or pass --orphan"},
		{args: []string{"forget", "Web-1"}, code: 2, want: "invalid name"},
		{args: []string{"generations", "half-1"}, code: 2, want: "half-1 has not finished bootstrapping"},
		{args: []string{"rollback", "web-1", "abc"}, code: 2, want: "is not a generation number"},
		{args: []string{"rollback", "web-1", "0"}, code: 2, want: "is not a generation number"},
		{args: []string{"rollback", "web-1", "--timeout", "0s"}, code: 2, want: "--timeout must be positive"},
		{args: []string{"connect", "half-1"}, code: 2, want: "half-1 has not finished bootstrapping"},
		{args: []string{"connect", "web-1", "uptime"}, code: 2, want: "put the remote command after --: bootstrap connect web-1 -- uptime"},
		{args: []string{"connect", "web-1", "cloud-1", "--", "uptime"}, code: 2, want: "give one NAME before --"},
		{args: []string{"push"}, code: 2, want: "name the hosts to push (bootstrap push NAME...), or pass --all"},
		{args: []string{"push", "--all", "web-1"}, code: 2, want: "--all pushes every host: name no hosts with it"},
		{args: []string{"push", "web-1", "--dry-run", "--boot"}, code: 2, want: "leave out --boot"},
		{args: []string{"push", "web-1", "--confirm-timeout", "5s"}, code: 2, want: "give at least 10s"},
		{args: []string{"push", "web-1", "--parallel", "0"}, code: 2, want: "--parallel must be at least 1"},
		{args: []string{"push", "half-1"}, code: 2, want: "half-1 has not finished bootstrapping"},
		{args: []string{"secrets", "set", "web-2", "db"}, code: 2, want: "the workspace has no host web-2 (it has cloud-1, half-1, web-1): check the name, or pass --new-host"},
		{args: []string{"secrets", "set", "web-1", ".db"}, code: 2, want: "invalid secret key"},
		{args: []string{"secrets", "set", "web-1", "db", "{home}/nix/missing.nix"}, code: 2, want: "missing.nix"},
		{args: []string{"secrets", "push", "half-1"}, code: 2, want: "half-1 has not finished bootstrapping"},
		{args: []string{"clone", "web-1", "web-1"}, code: 2, want: "the workspace already holds a host web-1: pick another name"},
		{args: []string{"clone", "web-1", "New_1"}, code: 2, want: "(NAME is the second argument)"},
		{args: []string{"clone", "web-1", "new-1", "--to", "ftp"}, code: 2, want: `--to "ftp": want ssh or scaleway`},
		{args: []string{"clone", "root@127.0.0.1", "new-1"}, code: 2, want: "say where the clone runs: --to ssh --host [USER@]HOST"},
		{args: []string{"clone", "root@127.0.0.1", "new-1", "--to", "ssh"}, code: 2, want: "--to ssh needs --host [USER@]HOST"},
		{args: []string{"clone", "web-1", "new-1", "--to", "ssh", "--host", "root@127.0.0.1:22"}, code: 2, want: "give the port with --port"},
		{args: []string{"clone", "root@127.0.0.1", "new-1", "--to", "ssh", "--host", "root@127.0.0.1", "--source-identity", "{home}/keys/id_open"}, code: 2, want: "is readable by others"},
		{args: []string{"clone", "root@127.0.0.1", "new-1", "--to", "ssh", "--host", "root@127.0.0.1", "--source-host-key", "nope"}, code: 2, want: "--source-host-key \"nope\" is not a SHA256 fingerprint"},
		{args: []string{"clone", "web-1", "new-1", "--dry-run", "--json"}, code: 2, want: "leave out one"},

		// Broken records break their host, not status.
		{args: []string{"status"}, setup: hostState("bad-1", `{"name": "bad-1", "provid`), code: 1, want: "restore hosts/bad-1/state.json from version control"},
		{args: []string{"status"}, setup: hostState("bad-1", `{}`), code: 1, want: "hosts/bad-1/state.json holds no host record (no name or provider)"},
		{args: []string{"status"}, setup: hostState("bad-1", `null`), code: 1, want: "holds no host record"},
		{args: []string{"status"}, setup: hostState("bad-1", `{"name": "bad-1", "provider": "ssh", "port": "22"}`), code: 1, want: "or drop the host with bootstrap forget bad-1"},
		{args: []string{"status"}, setup: hostState("bad-1", `{"version": 99, "name": "bad-1", "provider": "ssh"}`), code: 1, want: "upgrade bootstrap"},
		{args: []string{"push", "bad-1"}, setup: hostState("bad-1", `{"name": `), code: 1, want: "bootstrap forget bad-1"},

		// The script is checked before any host is contacted.
		{args: []string{"ssh", "root@127.0.0.1", "--port", "{recorder}", "--name", "new-1", "--channel", "nixos-24.11", "--yes", "--infect-url", "{infecturl}", "--infect-sha256", badSHA}, code: 6, want: "checksum mismatch"},
		{args: []string{"ssh", "root@127.0.0.1", "--port", "{recorder}", "--name", "new-1", "--channel", "nixos-24.11", "--yes", "--infect-url", "http://127.0.0.1:{closed}/nixos-infect", "--infect-sha256", badSHA}, code: 6, want: "offline? pass --infect-url URL --infect-sha256 HEX"},

		// Hosts that do not answer SSH: after the input was good, so these
		// may write the host's record.
		{args: ssh("--name", "u-1", "--connect-timeout", "1s"), code: 3, want: "no SSH answer within --connect-timeout 1s", touches: true},
		{args: []string{"ssh", "root@[::1]", "--port", "{closed6}", "--channel", "nixos-24.11", "--yes", "--connect-timeout", "1s", "--infect-url", "{infecturl}", "--infect-sha256", "{infectsha}"}, code: 3, want: "[::1]:{closed6} unreachable", touches: true},
		{args: ssh("--port", "{http}", "--name", "http-1"), code: 3, want: "is not an SSH server: it answered \"HTTP/1.1 400 Bad Request\"; something other than sshd listens there: check the host and --port", touches: true},
		{args: ssh("--port", "{sshd}", "--name", "k-1"), code: 4, want: "check the fingerprint out of band", touches: true},
		{args: []string{"ssh", "root@[::1]", "--port", "{sshd6}", "--name", "k-6", "--channel", "nixos-24.11", "--yes", "--infect-url", "{infecturl}", "--infect-sha256", "{infectsha}"}, code: 4, want: "host key of [::1]:{sshd6} is unknown", touches: true},
		{args: ssh("--port", "{sshd}", "--name", "k-2", "--host-key", "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), code: 4, want: "the host key changed", touches: true},
		{args: ssh("--port", "{sshd}", "--name", "k-3", "--host-key", "{sshdfp}", "-i", "{home}/keys/id"), code: 9, want: "put one of these keys in the user's authorized_keys", touches: true},
		// A first run that never reached its host does not hold the rerun to its port.
		{args: ssh("--port", "{sshd}", "--name", "half-1"), code: 4, want: "--host-key SHA256:", touches: true},

		// Scaleway: checked with read-only calls before anything is written.
		{args: []string{"scaleway", "Bad_Name", "--channel", "nixos-24.11"}, code: 2, want: "(NAME is the first argument)"},
		{args: []string{"scaleway", "web-9", "--yes"}, code: 2, want: "--channel is required"},
		{args: scw("--channel", "nixos-24.12"), code: 2, want: "24.12 is not a NixOS release"},
		{args: scw("--type", "NOPE-XL"), code: 2, want: `unknown commercial type "NOPE-XL"`, api: "get"},
		{args: scw("--image", "windows_11"), code: 2, want: "windows_11", api: "get"},
		{args: scw("--zone", "xx-nowhere-9"), code: 2, want: `unknown zone "xx-nowhere-9"`},
		{args: scw("--project", "nope"), code: 2, want: "project id \"nope\" is malformed", api: "get"},
		{args: scw("--profile", "nope"), code: 2, want: `scaleway profile "nope" is not in`},
		{args: scw(), env: []string{"SCW_SECRET_KEY="}, code: 2, want: "scaleway secret key missing: set SCW_SECRET_KEY"},
		{args: scw(), env: []string{"SCW_ACCESS_KEY=nope"}, code: 2, want: "set SCW_ACCESS_KEY"},
		{args: scw(), env: []string{"SCW_DEFAULT_PROJECT_ID=nope"}, code: 2, want: "SCW_DEFAULT_PROJECT_ID"},
		{args: scw(), env: []string{"SCW_API_URL=http://127.0.0.1:{closed}"}, code: 10, want: "check the network, SCW_API_URL and the credentials"},
		{args: scw(), env: []string{"SCW_SECRET_KEY=00000000-0000-4000-8000-000000000000"}, code: 10, want: "nothing billable was created", api: "get"},
		{args: []string{"scaleway", "web-9", "--channel", "nixos-24.11", "--infect-url", "{infecturl}", "--infect-sha256", "{infectsha}"}, code: 2, want: "pass --yes to confirm", api: "get"},
		{args: scw("--dry-run", "--json"), code: 2, want: "leave out one"},
		{args: scw("-i", "{home}/keys/id_open"), code: 2, want: "is readable by others"},
		{args: []string{"destroy", "cloud-1", "--profile", "nope"}, code: 2, want: `scaleway profile "nope" is not in`},
	}
}
