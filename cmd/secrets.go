package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"bootstrap/bootstrap"
	"bootstrap/secrets"
	"bootstrap/workspace"
)

// SecretsOptions are the inputs of `bootstrap secrets ...`.
type SecretsOptions struct {
	Name       string
	Key        string
	File       string // set: "" or "-" is stdin
	JSON       bool
	Prune      bool
	Identities []string
	Timeout    time.Duration
	NewHost    bool // set: NAME need not be in the workspace yet

	// identitiesGiven: --identity was on the command line, not from settings.
	identitiesGiven bool

	global *globalOptions
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func newSecretsCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Keep a host's secrets encrypted in the workspace and write them to the host",
		Long: `Secrets are stored as hosts/NAME/secrets/KEY.age, encrypted with age to the
public keys in the workspace's recipients.txt (age1... or ssh-ed25519 keys, one per
line: the operators' own keys, not the deploy key or a host key). They are
decrypted only in memory, at bootstrap or with "secrets push", and written to
` + secrets.Dir + `/KEY on the host: directory 0700 root, files 0400 root
unless hosts/NAME/secrets.yaml says otherwise:

  db-password:
    owner: postgres
    group: postgres
    mode: "0440"

They never go under /etc/nixos or into the Nix store, and survive reboots.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				if s := suggestions(cmd, args[0]); len(s) > 0 {
					return usagef("unknown secrets command %q: did you mean %s? (set, list, rm or push)", args[0], strings.Join(s, " or "))
				}
				return usagef("unknown secrets command %q: use set, list, rm or push", args[0])
			}
			return nil
		},
		Example: `  bootstrap secrets set web-1 db-password -
  bootstrap secrets list web-1
  bootstrap secrets push web-1 --prune`,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newSecretsSetCmd(g), newSecretsListCmd(g), newSecretsRmCmd(g), newSecretsPushCmd(g))
	return cmd
}

func (o *SecretsOptions) parseArgs(cmd *cobra.Command, args []string) error {
	o.stdin, o.stdout, o.stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	o.Name = args[0]
	if err := workspace.ValidName(o.Name); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if len(args) > 1 {
		o.Key = args[1]
		if err := secrets.ValidKey(o.Key); err != nil {
			return &UsageError{Msg: err.Error()}
		}
	}
	if len(args) > 2 {
		o.File = args[2]
	}
	return nil
}

func newSecretsSetCmd(g *globalOptions) *cobra.Command {
	o := &SecretsOptions{global: g}
	cmd := &cobra.Command{
		Use:   "set NAME KEY [FILE|-]",
		Short: "Encrypt a secret from FILE or stdin into hosts/NAME/secrets/KEY.age",
		Long: `Encrypt a secret to the workspace's recipients. The value is read from FILE, or
from stdin (typed without echo on a terminal; taken byte for byte from a pipe,
trailing newline included). It is never printed. Empty values and values over
1 MiB are refused. NAME must be a host of the workspace (hosts/NAME), so a typo
does not start a new one: pass --new-host for a host you are about to bootstrap.`,
		Example: `  bootstrap secrets set web-1 db-password            # type it, hidden
  bootstrap secrets set web-1 tls.key ./web-1.key
  pass show web-1/api | bootstrap secrets set web-1 api-token -
  bootstrap secrets set web-2 db-password --new-host # before bootstrap scaleway web-2`,
		Args:              argsBetween(2, 3),
		ValidArgsFunction: firstArgHostName(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.parseArgs(cmd, args); err != nil {
				return err
			}
			return runSecretsSet(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.NewHost, "new-host", false, "NAME is not in the workspace yet: keep the secret for the host you will bootstrap under that name")
	return cmd
}

func runSecretsSet(_ context.Context, o *SecretsOptions) error {
	ws, err := workspace.Load(o.global.Workspace)
	if err != nil {
		return err
	}
	store := secrets.Store{WorkspaceDir: ws.Dir}
	// Recipients first: no point asking for a value that cannot be stored.
	_, display, err := store.Recipients()
	if err != nil {
		if errors.Is(err, secrets.ErrNoRecipients) {
			return &UsageError{Msg: err.Error()}
		}
		return err
	}
	if fi, err := os.Stat(ws.HostDir(o.Name)); (err != nil || !fi.IsDir()) && !o.NewHost {
		hosts, _ := ws.Hosts()
		known := "it has none yet"
		if len(hosts) > 0 {
			known = "it has " + strings.Join(hosts, ", ")
		}
		return usagef("the workspace has no host %s (%s): check the name, or pass --new-host to keep a secret for a host you are about to bootstrap", o.Name, known)
	}
	value, err := o.readValue()
	if err != nil {
		return err
	}
	defer clear(value)
	if err := store.Set(o.Name, o.Key, value); err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "stored %s, encrypted to %d recipient(s) of %s\n", ws.Rel(store.Path(o.Name, o.Key)), len(display), secrets.RecipientsFile)
	return nil
}

// readValue reads the secret from the file or stdin, at most MaxSize bytes.
func (o *SecretsOptions) readValue() ([]byte, error) {
	var (
		value []byte
		err   error
		from  = "stdin"
	)
	switch {
	case o.File != "" && o.File != "-":
		from = o.File
		var f *os.File
		f, err = os.Open(o.File)
		if err != nil {
			return nil, usagef("read secret %s from %s: %v", o.Key, o.File, err)
		}
		defer f.Close()
		value, err = io.ReadAll(io.LimitReader(f, secrets.MaxSize+1))
	case isTerminal(o.stdin):
		fmt.Fprintf(o.stderr, "Value of %s for %s (not echoed): ", o.Key, o.Name)
		value, err = term.ReadPassword(int(o.stdin.(*os.File).Fd()))
		fmt.Fprintln(o.stderr)
	default:
		value, err = io.ReadAll(io.LimitReader(o.stdin, secrets.MaxSize+1))
	}
	if err != nil {
		clear(value)
		return nil, fmt.Errorf("read secret %s from %s: %w", o.Key, from, err)
	}
	if len(value) == 0 {
		return nil, usagef("the value of %s from %s is empty: nothing stored", o.Key, from)
	}
	if len(value) > secrets.MaxSize {
		clear(value)
		return nil, usagef("the value of %s from %s is over 1 MiB: nothing stored", o.Key, from)
	}
	return value, nil
}

func newSecretsListCmd(g *globalOptions) *cobra.Command {
	o := &SecretsOptions{global: g}
	cmd := &cobra.Command{
		Use:   "list NAME",
		Short: "List a host's secrets (keys, sizes, recipients; never values)",
		Long: `List a host's secrets: each key, its size, its owner and mode on the host, and
whom it is encrypted to. Values are never decrypted or shown; nothing is written.`,
		Example: `  bootstrap secrets list web-1
  bootstrap secrets list web-1 --json | jq -r '.secrets[].key'`,
		Args:              exactArgs(1),
		ValidArgsFunction: firstArgHostName(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.parseArgs(cmd, args); err != nil {
				return err
			}
			return runSecretsList(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the listing as JSON")
	return cmd
}

func runSecretsList(_ context.Context, o *SecretsOptions) error {
	ws, err := workspace.Load(o.global.Workspace)
	if err != nil {
		return err
	}
	store := secrets.Store{WorkspaceDir: ws.Dir}
	l, err := store.Listing(o.Name)
	if err != nil {
		return err
	}
	if o.JSON {
		enc := json.NewEncoder(o.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(l)
	}

	if len(l.Secrets) == 0 {
		fmt.Fprintf(o.stdout, "no secrets for %s (%s)\n", o.Name, ws.Rel(store.Dir(o.Name)))
	} else {
		tw := tabwriter.NewWriter(o.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tSIZE\tON HOST\tENCRYPTED TO")
		for _, s := range l.Secrets {
			fmt.Fprintf(tw, "%s\t%d\t%s:%s %s\t%s\n", s.Key, s.Size, s.Owner, s.Group, s.Mode, encryptedTo(s.Entry))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, s := range l.Secrets {
		if s.Stale {
			fmt.Fprintf(o.stdout, "note: %s is not encrypted to the current recipients: set it again to re-encrypt\n", s.Key)
		}
	}
	for _, k := range l.Orphans {
		fmt.Fprintf(o.stdout, "note: %s names %s, which has no secret (push ignores it)\n", ws.Rel(store.MetaPath(o.Name)), k)
	}
	fmt.Fprintln(o.stdout)
	if l.RecipientsError != "" {
		fmt.Fprintf(o.stdout, "recipients: %s\n", l.RecipientsError)
		return nil
	}
	fmt.Fprintf(o.stdout, "recipients (%s):\n", secrets.RecipientsFile)
	for _, r := range l.Recipients {
		fmt.Fprintf(o.stdout, "  %s\n", r)
	}
	return nil
}

// encryptedTo summarizes a file's stanzas. X25519 stanzas are anonymous, so
// they are only counted; ssh ones name the recipients.txt key they match.
func encryptedTo(e secrets.Entry) string {
	if e.Problem != "" {
		return "unreadable: " + e.Problem
	}
	var parts []string
	n := map[string]int{}
	for _, s := range e.Stanzas {
		if s.Recipient != "" {
			parts = append(parts, s.Recipient)
			continue
		}
		n[s.Type]++
	}
	var anon []string
	for t, c := range n {
		anon = append(anon, fmt.Sprintf("%d %s", c, t))
	}
	slices.Sort(anon)
	out := strings.Join(append(anon, parts...), ", ")
	if e.Stale {
		out += " (stale)"
	}
	return out
}

func newSecretsRmCmd(g *globalOptions) *cobra.Command {
	o := &SecretsOptions{global: g}
	return &cobra.Command{
		Use:   "rm NAME KEY",
		Short: "Remove a secret from the workspace (the host keeps it until push --prune)",
		Example: `  bootstrap secrets rm web-1 db-password
  bootstrap secrets push web-1 --prune   # then remove it from the host too`,
		Args:              exactArgs(2),
		ValidArgsFunction: firstArgHostName(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.parseArgs(cmd, args); err != nil {
				return err
			}
			return runSecretsRm(cmd.Context(), o)
		},
	}
}

func runSecretsRm(_ context.Context, o *SecretsOptions) error {
	ws, err := workspace.Load(o.global.Workspace)
	if err != nil {
		return err
	}
	store := secrets.Store{WorkspaceDir: ws.Dir}
	if err := store.Delete(o.Name, o.Key); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &UsageError{Msg: err.Error()}
		}
		return err
	}
	fmt.Fprintf(o.stdout, "removed %s; the host keeps its copy until: bootstrap secrets push %s --prune\n", ws.Rel(store.Path(o.Name, o.Key)), o.Name)
	if meta, err := store.Meta(o.Name); err == nil {
		if _, ok := meta[o.Key]; ok {
			fmt.Fprintf(o.stdout, "note: %s still has an entry for %s\n", ws.Rel(store.MetaPath(o.Name)), o.Key)
		}
	}
	return nil
}

func newSecretsPushCmd(g *globalOptions) *cobra.Command {
	o := &SecretsOptions{global: g}
	cmd := &cobra.Command{
		Use:   "push NAME",
		Short: "Decrypt a host's secrets in memory and write them to " + secrets.Dir,
		Long: `Decrypt every secret of a bootstrapped workspace host (all or nothing: one that
cannot be decrypted stops the push before the host is contacted), then connect
as root with the workspace deploy key and the pinned host key, and install each
secret atomically with its owner, group and mode. --prune also removes the
secrets that are on the host but no longer in the workspace.

Identities: --identity files (age identities or ed25519/rsa ssh private keys);
else $` + secrets.IdentityEnv + `; else those of ~/.config/bootstrap/age.txt,
~/.ssh/id_ed25519 and ~/.ssh/id_rsa that exist. An identity from settings
(bootstrap.yaml, BOOTSTRAP_IDENTITY: shared with "ssh -i") is tried together
with those usual places.`,
		Example: `  bootstrap secrets push web-1
  bootstrap secrets push web-1 --prune --identity ~/.config/bootstrap/age.txt`,
		Args:              exactArgs(1),
		ValidArgsFunction: firstArgHostName(g),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			o.identitiesGiven = cmd.Flags().Changed("identity")
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.parseArgs(cmd, args); err != nil {
				return err
			}
			return runSecretsPush(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.Prune, "prune", false, "remove secrets from the host that are no longer in the workspace")
	f.StringArrayVarP(&o.Identities, "identity", "i", nil, "age identity file or ssh private key to decrypt with (repeatable)")
	f.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "overall time limit")
	return cmd
}

// identityPaths: command-line identities exactly; identities from settings
// plus the usual places that exist; none: secrets' defaults.
func (o *SecretsOptions) identityPaths() []string {
	if o.identitiesGiven || len(o.Identities) == 0 {
		return o.Identities
	}
	paths := slices.Clone(o.Identities)
	for _, p := range secrets.UsualIdentityPaths() {
		if _, err := os.Stat(p); err == nil && !slices.Contains(paths, p) {
			paths = append(paths, p)
		}
	}
	return paths
}

func runSecretsPush(ctx context.Context, o *SecretsOptions) error {
	ctx, ws, release, err := openHost(ctx, o.global, o.Name, o.Timeout)
	if err != nil {
		return err
	}
	defer release()
	rec, err := bootstrap.LoadHost(ws, o.Name, bootstrap.StepReboot)
	if err != nil {
		return err
	}

	// Decrypt everything before contacting the host: all or nothing.
	store := secrets.Store{WorkspaceDir: ws.Dir}
	paths := o.identityPaths()
	d, err := store.Decrypt(o.Name, func() ([]age.Identity, error) {
		ids, err := secrets.LoadIdentitiesWithPassphrase(paths, func(path string) ([]byte, error) {
			return passphrasePrompt(path, o.stderr)()
		})
		if err != nil {
			return nil, &UsageError{Msg: err.Error()}
		}
		return ids, nil
	})
	var usage *UsageError
	var de *secrets.DecryptError
	var meta *secrets.MetaError
	switch {
	case errors.As(err, &usage), errors.As(err, &meta):
		return err
	case errors.As(err, &de) && len(paths) > 0:
		return fmt.Errorf("nothing uploaded to %s: %w (identities tried: %s)", o.Name, err, strings.Join(paths, ", "))
	case err != nil:
		return fmt.Errorf("nothing uploaded to %s: %w", o.Name, err)
	}
	defer d.Wipe()
	if d.Empty() && !o.Prune {
		fmt.Fprintf(o.stdout, "no secrets for %s in %s: nothing to push\n", o.Name, ws.Rel(store.Dir(o.Name)))
		return nil
	}
	for _, k := range d.Orphans {
		fmt.Fprintf(o.stderr, "warning: %s names %s, which has no secret: ignored\n", ws.Rel(store.MetaPath(o.Name)), k)
	}

	c, err := bootstrap.DialHost(ctx, ws, rec)
	if err != nil {
		return err
	}
	defer c.Close()
	res, err := d.Push(ctx, c, o.Prune)
	if err != nil {
		return fmt.Errorf("push secrets to %s: %w", o.Name, err)
	}
	fmt.Fprintf(o.stdout, "wrote %d secret(s) to %s:%s", len(res.Written), o.Name, secrets.Dir)
	if len(res.Written) > 0 {
		fmt.Fprintf(o.stdout, " (%s)", strings.Join(res.Written, ", "))
	}
	fmt.Fprintln(o.stdout)
	if len(res.Removed) > 0 {
		fmt.Fprintf(o.stdout, "removed %d stale secret(s): %s\n", len(res.Removed), strings.Join(res.Removed, ", "))
	}
	return nil
}
