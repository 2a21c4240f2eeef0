package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"bootstrap/workspace"
)

// ConfigFile is the settings file name, looked up in the workspace and then
// in the user config directory.
const ConfigFile = "bootstrap.yaml"

// EnvPrefix prefixes the environment variable of every setting:
// BOOTSTRAP_CHANNEL, BOOTSTRAP_HOST_NIX...
const EnvPrefix = "BOOTSTRAP"

// FlagOnly are the settings that weaken security or choose what runs as
// root: only a flag on the command line may set them. A bootstrap.yaml comes
// with a commit and BOOTSTRAP_* from a shell profile, and neither may pick
// the script that runs as root (infect-url, infect-sha256, infect-env), a
// host key to trust (host-key, source-host-key, accept-new-host-key), keys
// that become root's (keep-keys), a key shared by every host
// (shared-deploy-key), or skip a confirmation (yes). A key here is refused
// in a file or the environment with a one-line error.
var FlagOnly = []string{"accept-new-host-key", "host-key", "infect-env", "infect-sha256", "infect-url", "keep-keys", "shared-deploy-key", "source-host-key", "yes"}

var flagOnly = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range FlagOnly {
		m[k] = true
	}
	return m
}()

// pathFlags hold file or directory paths: a leading ~ is expanded in each,
// whether it came from a flag, the environment or a file.
var pathFlags = map[string]bool{"workspace": true, "host-nix": true, "identity": true, "secrets-identity": true, "source-identity": true}

// SettingError is a bad value, or a key that may not be set there, from the
// environment or a config file.
type SettingError struct {
	Key, Value, Source string
	Err                error
}

func (e *SettingError) Error() string {
	return fmt.Sprintf("setting %s=%q from %s: %v", e.Key, e.Value, e.Source, e.Err)
}
func (e *SettingError) Unwrap() error { return e.Err }

func (e *SettingError) hint() string {
	if errors.Is(e.Err, errFlagOnly) {
		return "remove it there and pass --" + e.Key + " on the command line"
	}
	return "fix or remove that setting"
}

var errFlagOnly = errors.New("only a flag on the command line may set it")

// ConfigFileError is a bootstrap.yaml that cannot be read or holds keys
// that are no flag.
type ConfigFileError struct {
	Path string
	Err  error
}

func (e *ConfigFileError) Error() string { return fmt.Sprintf("%s: %v", e.Path, e.Err) }
func (e *ConfigFileError) Unwrap() error { return e.Err }

// userConfigFile is bootstrap.yaml in the user's config directory, or "".
func userConfigFile() string {
	if dir, err := os.UserConfigDir(); err == nil {
		return filepath.Join(dir, "bootstrap", ConfigFile)
	}
	return ""
}

// applySettings fills the flags the command line left unset through viper:
// the command's flags are bound, BOOTSTRAP_* is the environment prefix, and
// the user's bootstrap.yaml is merged with the workspace's on top. From
// lowest to highest: flag defaults, the user's file, the workspace's file,
// the environment, the command line. An empty variable sets nothing.
// Values go through the flag's own parser, so a bad one is an error, never
// dropped. Each key applies to the commands that have that flag; a key that
// is no flag of any command is an error.
func applySettings(cmd *cobra.Command, g *globalOptions) error {
	known := flagNames(cmd.Root())
	v := viper.New()
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if err := v.BindPFlags(cmd.Flags()); err != nil {
		return err
	}
	for key := range flagOnly {
		if env := envName(key); os.Getenv(env) != "" {
			return &SettingError{Key: key, Value: os.Getenv(env), Source: env, Err: errFlagOnly}
		}
	}
	files := map[string]*viper.Viper{} // path -> its own settings, for messages
	userFile := userConfigFile()
	if err := mergeFile(v, files, userFile, known, false); err != nil {
		return err
	}
	if f := cmd.Flags().Lookup("workspace"); f != nil {
		ws := expandHome(v.GetString("workspace"))
		if !f.Changed {
			if err := f.Value.Set(ws); err != nil {
				return err
			}
		}
		g.Workspace = ws
	}
	if fi, err := os.Stat(expandHome(g.Workspace)); err == nil && !fi.IsDir() {
		abs, _ := filepath.Abs(g.Workspace)
		return &workspace.NotDirError{Path: abs}
	}
	wsFile := filepath.Join(expandHome(g.Workspace), ConfigFile)
	if err := mergeFile(v, files, wsFile, known, true); err != nil {
		return err
	}

	var firstErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if firstErr != nil || f.Name == "help" || f.Name == "workspace" {
			return
		}
		if !f.Changed && v.IsSet(f.Name) {
			val := settingString(v.Get(f.Name))
			if err := setFlag(f, val); err != nil {
				firstErr = &SettingError{Key: f.Name, Value: val, Source: settingSource(f.Name, files, wsFile, userFile), Err: err}
				return
			}
		}
		if pathFlags[f.Name] {
			firstErr = expandFlag(f)
		}
	})
	return firstErr
}

// mergeFile merges a bootstrap.yaml into v (a missing file is no
// settings), refusing keys that are no flag, flag-only keys, and the
// workspace in the workspace's own file.
func mergeFile(v *viper.Viper, files map[string]*viper.Viper, path string, known map[string]bool, inWorkspace bool) error {
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return &ConfigFileError{Path: path, Err: err}
	}
	m, err := yamlSettings(data)
	if err != nil {
		return &ConfigFileError{Path: path, Err: fmt.Errorf("not valid YAML settings: %w", err)}
	}
	fv := viper.New()
	if err := fv.MergeConfigMap(m); err != nil {
		return &ConfigFileError{Path: path, Err: err}
	}
	var unknown []string
	for _, k := range fv.AllKeys() {
		switch {
		case flagOnly[k]:
			return &SettingError{Key: k, Value: settingString(fv.Get(k)), Source: path, Err: errFlagOnly}
		case inWorkspace && k == "workspace":
			return &ConfigFileError{Path: path, Err: errors.New("a workspace's own file cannot move the workspace: remove the workspace key")}
		case !known[k]:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return &ConfigFileError{Path: path, Err: fmt.Errorf("unknown setting %s: keys are flag names such as channel, host-nix, identity", strings.Join(unknown, ", "))}
	}
	files[path] = fv
	if err := v.MergeConfigMap(m); err != nil {
		return &ConfigFileError{Path: path, Err: err}
	}
	return nil
}

// yamlSettings reads a bootstrap.yaml mapping with every value as the text
// written: YAML would read an all-digit sha256 as a number, and 00123 as 83.
// A list keeps its items' text.
func yamlSettings(data []byte) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	out := map[string]any{}
	if len(doc.Content) == 0 {
		return out, nil
	}
	if doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("want a mapping of setting names to values")
	}
	m := doc.Content[0].Content
	for i := 0; i+1 < len(m); i += 2 {
		k, v := strings.ToLower(m[i].Value), m[i+1]
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag != "!!null" {
				out[k] = v.Value
			}
		case yaml.SequenceNode:
			items := make([]any, 0, len(v.Content))
			for _, it := range v.Content {
				if it.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("%s: a list of values, not nested structures", k)
				}
				items = append(items, it.Value)
			}
			out[k] = items
		default:
			return nil, fmt.Errorf("%s: a value or a list of values, not a mapping", k)
		}
	}
	return out, nil
}

// settingSource says where viper found a key: the environment, else the
// file that holds it, the workspace's first.
func settingSource(key string, files map[string]*viper.Viper, wsFile, userFile string) string {
	if env := envName(key); os.Getenv(env) != "" {
		return env
	}
	for _, p := range []string{wsFile, userFile} {
		if fv := files[p]; fv != nil && fv.IsSet(key) {
			return p
		}
	}
	return "settings"
}

func envName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

func settingString(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = fmt.Sprint(p)
		}
		return strings.Join(parts, ",")
	case []string:
		return strings.Join(x, ",")
	default:
		return fmt.Sprint(x)
	}
}

// setFlag sets a flag from a setting; slice flags take comma-separated
// values. It leaves the flag unchanged in pflag's eyes (not given on the
// command line).
func setFlag(f *pflag.Flag, val string) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		var items []string
		for _, it := range strings.Split(val, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		return sv.Replace(items)
	}
	return f.Value.Set(val)
}

// expandFlag expands a leading ~ in a path flag's value(s).
func expandFlag(f *pflag.Flag) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		items := slices.Clone(sv.GetSlice())
		for i, it := range items {
			items[i] = expandHome(it)
		}
		return sv.Replace(items)
	}
	if s := f.Value.String(); s != expandHome(s) {
		return f.Value.Set(expandHome(s))
	}
	return nil
}

// expandHome expands "~" and a leading "~/" to the home directory, as a
// shell does; "~user" is left alone.
func expandHome(p string) string {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return p
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~"))
}

func flagNames(root *cobra.Command) map[string]bool {
	names := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { names[f.Name] = true })
		c.PersistentFlags().VisitAll(func(f *pflag.Flag) { names[f.Name] = true })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	delete(names, "help")
	delete(names, "version")
	return names
}
