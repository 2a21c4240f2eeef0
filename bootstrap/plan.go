package bootstrap

import (
	"cmp"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"bootstrap/infect"
	"bootstrap/network"
	"bootstrap/remote"
	"bootstrap/secrets"
	"bootstrap/templates"
	"bootstrap/workspace"
)

// Plan prints what Bootstrap would do, without contacting the host or writing
// anything: the steps, each remote command, and the files with their content.
func Plan(w io.Writer, ws *workspace.Workspace, opts Options) error {
	rec, existed, err := recordFor(ws, opts)
	if err != nil {
		return err
	}
	if rec.Port == 0 {
		rec.Port = 22
	}
	deployLine, deployNote := "", ""
	keyName := deployKeyName(opts.Name, rec, existed, opts.SharedDeployKey)
	if k, err := ws.LoadKey(keyName); err == nil {
		deployLine = k.AuthorizedKey
	} else {
		// Render with a throwaway key: the real one is generated on the first real run.
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		pk, _ := ssh.NewPublicKey(pub)
		deployLine = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " placeholder-deploy-key"
		deployNote = " (would be generated: " + keyName + ", 0600)"
	}
	s := &State{Opts: opts, WS: ws, Rec: rec}
	fmt.Fprintf(w, "dry run: %s to NixOS %s; no host is contacted and nothing is written\n\n", opts.Name, opts.Channel)
	if existed {
		fmt.Fprintf(w, "resuming: steps done earlier are skipped: %s\n\n", doneSteps(rec))
	}
	offered := slices.Clone(opts.PlanKeys)
	if offered == nil {
		for _, k := range opts.Keys {
			offered = append(offered, k.String())
		}
	}
	offered = append(offered, keyName+deployNote)
	addr := opts.Host
	if addr == "" {
		addr = "<address of the new " + opts.Provider + " machine>"
		s.Rec.Address = addr
	}
	if rec.Done(StepReboot) {
		offered = []string{keyName + deployNote}
	}
	fmt.Fprintf(w, "1. connect    ssh %s@%s port %d, offering only, in this order: %s\n", rec.User, addr, rec.Port, strings.Join(offered, ", "))
	fmt.Fprintf(w, "              host key: %s\n", planHostKey(ws, opts, rec.Port))
	if opts.Host != "" {
		fmt.Fprintf(w, "              gives up after --connect-timeout %s\n", cmp.Or(opts.ConnectTimeout, DefaultConnectTimeout))
	}
	if rec.User != "root" && !rec.Done(StepReboot) {
		fmt.Fprintf(w, "              as %s: until the reboot every remote command below runs through sudo -n sh -c '...', and files go through a temp file and sudo -n install (preflight refuses the host without passwordless sudo)\n", rec.User)
	}
	fmt.Fprintf(w, "2. preflight  remote (read only):\n%s\n", indent(factsScript))
	fmt.Fprintf(w, "              and the live network (read only):\n%s\n", indent(network.CollectScript))
	switch d := rec.NetworkDecision; {
	case d != nil:
		fmt.Fprintf(w, "              network: %s (recorded at the earlier preflight: %s)\n", d.Summary, d.Reason)
	case opts.Network == network.ModeStatic:
		fmt.Fprintf(w, "              network: static: networking.nix from the live network, imported by configuration.nix\n")
	case opts.Network == network.ModeDHCP:
		fmt.Fprintf(w, "              network: dhcp: NixOS's default DHCP, no networking.nix\n")
	default:
		fmt.Fprintf(w, "              network: auto: static (networking.nix) when an address is not from DHCP or SLAAC or the provider needs it, else NixOS's DHCP\n")
	}

	facts := templates.Facts{BootMode: "bios", GrubDevice: "/dev/sda", RootDevice: "/dev/sda1", RootFSType: "ext4"}
	factsNote := "example facts (BIOS, /dev/sda1 ext4): the real ones are read at preflight"
	if rec.Facts != nil {
		facts, factsNote = *rec.Facts, "facts recorded at the earlier preflight"
	}
	cfg := templates.Config{Name: opts.Name, Channel: opts.Channel, DeployKey: deployLine, Facts: facts, AutoUpgrade: opts.AutoUpgrade}
	boot, err := templates.BootstrapNix(cfg)
	if err != nil {
		return fmt.Errorf("render bootstrap.nix: %w", err)
	}
	conf, err := templates.ConfigurationNix(cfg)
	if err != nil {
		return fmt.Errorf("render configuration.nix: %w", err)
	}
	fmt.Fprintf(w, "3. upload     write %s/{host.nix,bootstrap.nix,configuration.nix}, then upload each to %s/ (temp file, rename)\n", ws.Rel(ws.HostDir(opts.Name)), NixOSDir)
	src := opts.HostNixPath
	if src == "" {
		src = "default from templates"
	}
	keep := "root's authorized_keys, each with its options, without a cloud image's login refusal"
	switch opts.KeepKeys {
	case KeepNone:
		keep = "no other key (--keep-keys none)"
	case "", KeepAll:
	default:
		keep = fmt.Sprintf("the %d key(s) of %s", len(opts.KeepKeysLines), opts.KeepKeys)
	}
	fmt.Fprintf(w, "              root's keys on NixOS: the deploy key and %s; the upload names each key found, carried or dropped (a sudo user's are never carried)\n", keep)
	fmt.Fprintf(w, "   --- host.nix (%s)\n%s", src, indent(string(opts.HostNix)))
	fmt.Fprintf(w, "   --- bootstrap.nix (%s; root's existing authorized keys are added at run time)\n%s", factsNote, indent(string(boot)))
	fmt.Fprintf(w, "   --- configuration.nix\n%s", indent(string(conf)))
	fmt.Fprintf(w, "4. secrets    %s\n", planSecrets(ws, opts.Name))
	fmt.Fprintf(w, "5. infect     fetch %s (sha256 %s, cached in %s)\n", opts.Infect.URL, opts.Infect.SHA256, cmp.Or(opts.InfectCacheDir, "no cache"))
	fmt.Fprintf(w, "              add %s to %s (refused if the host already runs NixOS)\n", strings.Join(infect.LustrateLines, ", "), infect.LustrateFile)
	fmt.Fprintf(w, "              upload it to %s/ and run it detached in %s with %s; output to %s:\n%s",
		infect.DefaultDir, NixOSDir, planEnv(s), ws.Rel(ws.HostFile(opts.Name, "bootstrap.log")), indent(infectJob(s, nil).Plan()))
	n := 6
	if p := rec.Pin; p != nil {
		fmt.Fprintf(w, "6. pin        build %s (nixpkgs %s) instead of the channel's head, for the boot into NixOS; remote:\n%s", p.Release, p.Revision, indent(pinScript(p, opts.Channel, false)))
		n++
	}
	fmt.Fprintf(w, "%d. reboot     remote: %s\n", n, rebootCommand)
	fmt.Fprintf(w, "              wait up to %s for SSH with the same host key, the deploy key alone and a new boot id, then verify:\n%s", opts.RebootTimeout, indent(verifyScript))
	fmt.Fprintf(w, "              and record the nixpkgs it runs (root's channel: %s):\n%s", s.subscription(), indent(nixpkgsScript))
	fmt.Fprintf(w, "%d. capture    remote: nixos-generate-config --show-hardware-config -> %s and %s/hardware-configuration.nix\n",
		n+1, ws.Rel(ws.HostFile(opts.Name, "hardware-configuration.nix")), NixOSDir)
	fmt.Fprintf(w, "              copy back %s/*.nix into %s/\n", NixOSDir, ws.Rel(ws.HostDir(opts.Name)))
	fmt.Fprintf(w, "state: %s after every step\n", ws.Rel(ws.HostFile(opts.Name, "state.json")))
	return nil
}

// planHostKey says how the host key will be checked, as remote.HostKeys
// decides: pinned, --host-key, the operator's known_hosts, accepted, asked,
// or refused.
func planHostKey(ws *workspace.Workspace, opts Options, port int) string {
	if opts.Host == "" {
		return "generated here (ed25519), put in the new server's cloud-init user data and pinned in known_hosts before the first connection: nothing is trusted on first use"
	}
	name := remote.KnownHostsName(opts.Host, port)
	if fps, _ := remote.PinnedKeys(ws.KnownHosts(), name); len(fps) > 0 {
		return "pinned in " + ws.Rel(ws.KnownHosts()) + " (" + strings.Join(fps, ", ") + "): any other key stops the run"
	}
	if opts.HostKey != "" {
		return "unknown to the workspace: must be --host-key " + opts.HostKey + ", then pinned in " + ws.Rel(ws.KnownHosts())
	}
	for _, f := range opts.ExtraKnownHosts {
		if fps, _ := remote.PinnedKeys(f, name); len(fps) > 0 {
			return "known in " + f + " (" + strings.Join(fps, ", ") + "): must match, then pinned in " + ws.Rel(ws.KnownHosts())
		}
	}
	switch {
	case opts.AcceptNewHostKey:
		return "unknown: accepted on first contact (--accept-new-host-key) and pinned in " + ws.Rel(ws.KnownHosts())
	case opts.ConfirmHostKey != nil:
		return "unknown: you will be asked to confirm its fingerprint, then it is pinned in " + ws.Rel(ws.KnownHosts())
	}
	return "unknown: refused, there is no terminal to ask on: pass --host-key SHA256:... (checked out of band) or --accept-new-host-key"
}

// planSecrets says what the secrets step will write, without decrypting.
func planSecrets(ws *workspace.Workspace, name string) string {
	store := secrets.Store{WorkspaceDir: ws.Dir}
	entries, err := store.List(name)
	if err != nil {
		return "cannot list " + ws.Rel(store.Dir(name)) + ": " + err.Error()
	}
	if len(entries) == 0 {
		return "none in " + ws.Rel(store.Dir(name)) + ": nothing is written"
	}
	var keys []string
	for _, e := range entries {
		keys = append(keys, e.Key)
	}
	return fmt.Sprintf("decrypt %d secret(s) of %s in memory before connecting (%s), then write each over SFTP to %s/KEY (root, 0400; secrets.yaml's owners and modes once NixOS runs)",
		len(keys), ws.Rel(store.Dir(name)), strings.Join(keys, ", "), secrets.Dir)
}

// planEnv is the script's environment as the plan shows it. bootFs depends
// on the boot mode, known here only from an earlier preflight.
func planEnv(s *State) string {
	env := infectJob(s, nil).Env
	mode := ""
	if s.Rec.Facts != nil {
		mode = s.Rec.Facts.BootMode
		if mode == templates.BIOS {
			maps.Copy(env, infect.BIOSEnv)
		}
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		parts = append(parts, k+"="+env[k])
	}
	out := strings.Join(parts, " ")
	if mode == "" {
		out += ", and bootFs=/boot if preflight finds a BIOS host (the pinned script's l.418-421 need it there)"
	}
	return out
}

func doneSteps(r *Record) string {
	var done []string
	for _, st := range stepOrder {
		if r.Done(st) {
			done = append(done, st)
		}
	}
	if len(done) == 0 {
		return "none"
	}
	return strings.Join(done, ", ")
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(strings.TrimRight(s, "\n")+"\n", "\n") {
		if l == "" {
			continue
		}
		b.WriteString("      | ")
		b.WriteString(l)
	}
	return b.String()
}
