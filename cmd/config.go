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
)

// ConfigFile is the settings file name, looked up in the workspace and then
// in the user config directory.
const ConfigFile = "bootstrap.yaml"

// FlagOnly are the settings that weaken security or choose what runs as
// root: they are taken from the command line only. A bootstrap.yaml comes
// with a commit and BOOTSTRAP_* from a shell profile, and neither may pick
// the script that runs as root (infect-url, infect-sha256, infect-env), a
// host key to trust (host-key, source-host-key, accept-new-host-key), keys
// that become root's (keep-keys), a key shared by every host
// (shared-deploy-key), or skip a confirmation (yes).
var FlagOnly = []string{"accept-new-host-key", "host-key", "infect-env", "infect-sha256", "infect-url", "keep-keys", "shared-deploy-key", "source-host-key", "yes"}

// FlagOnlyError is a flag-only setting found in a file or the environment.
type FlagOnlyError struct {
	Key, Source string
}

func (e *FlagOnlyError) Error() string {
	return fmt.Sprintf("setting %s from %s refused: it weakens security, so it is taken from the command line only (--%s)", e.Key, e.Source, e.Key)
}

// CheckFlagOnly refuses key when it is flag-only; source names where it
// was found (a file, or the BOOTSTRAP_ variable).
func CheckFlagOnly(key, source string) error {
	if slices.Contains(FlagOnly, key) {
		return &FlagOnlyError{Key: key, Source: source}
	}
	return nil
}

// envName is the BOOTSTRAP_ variable of a setting.
func envName(key string) string {
	return "BOOTSTRAP_" + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

// checkFlagOnlyEnv refuses every flag-only setting given in the environment
// (an empty variable sets nothing).
func checkFlagOnlyEnv() error {
	for _, k := range FlagOnly {
		if v := os.Getenv(envName(k)); v != "" {
			return CheckFlagOnly(k, envName(k))
		}
	}
	return nil
}

// SettingError is a bad value from the environment or a config file.
type SettingError struct {
	Key, Value, Source string
	Err                error
}

func (e *SettingError) Error() string {
	return fmt.Sprintf("setting %s=%q from %s: %v", e.Key, e.Value, e.Source, e.Err)
}
func (e *SettingError) Unwrap() error { return e.Err }

// applySettings fills every flag the user did not set on the command line
// from BOOTSTRAP_* env, then the workspace's bootstrap.yaml, then the user's.
// Values go through the flag's own parser, so a bad value is an error, never
// silently dropped. Flags win over everything.
func applySettings(cmd *cobra.Command, g *globalOptions) error {
	if err := checkFlagOnlyEnv(); err != nil {
		return err
	}
	known := flagNames(cmd.Root())
	userFile := ""
	if dir, err := os.UserConfigDir(); err == nil {
		userFile = filepath.Join(dir, "bootstrap", ConfigFile)
	}
	user, err := readSettings(userFile, known)
	if err != nil {
		return err
	}
	ws := cmd.Flags().Lookup("workspace")
	if ws != nil && !ws.Changed {
		if env, ok := os.LookupEnv("BOOTSTRAP_WORKSPACE"); ok && env != "" {
			g.Workspace = env
		} else if v, ok := user.get("workspace"); ok {
			g.Workspace = v
		}
	}
	wsFile, err := readSettings(filepath.Join(g.Workspace, ConfigFile), known)
	if err != nil {
		return err
	}
	var firstErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if firstErr != nil || f.Changed || f.Name == "workspace" || f.Name == "help" || slices.Contains(FlagOnly, f.Name) {
			return
		}
		val, src, ok := lookupSetting(f.Name, wsFile, user, g.Workspace, userFile)
		if !ok {
			return
		}
		if err := setFlag(f, val); err != nil {
			firstErr = &SettingError{Key: f.Name, Value: val, Source: src, Err: err}
		}
	})
	return firstErr
}

func lookupSetting(name string, ws, user *settingsFile, wsDir, userFile string) (val, src string, ok bool) {
	env := envName(name)
	if v, ok := os.LookupEnv(env); ok {
		return v, env, true
	}
	if v, ok := ws.get(name); ok {
		return v, filepath.Join(wsDir, ConfigFile), true
	}
	if v, ok := user.get(name); ok {
		return v, userFile, true
	}
	return "", "", false
}

// settingsFile is one config file: viper's reading, and the text of each
// top-level scalar as written, so that a value YAML would read as a number
// (a leading zero, an all-digit string too long for an int) reaches the
// flag as the characters the file holds.
type settingsFile struct {
	v   *viper.Viper
	raw map[string]string
}

func (f *settingsFile) get(name string) (string, bool) {
	if f == nil || !f.v.IsSet(name) {
		return "", false
	}
	if s, ok := f.raw[name]; ok {
		return s, true
	}
	return settingString(f.v.Get(name)), true
}

// rawScalars maps the top-level keys of a YAML mapping whose values are
// scalars to their text.
func rawScalars(data []byte) map[string]string {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	out := map[string]string{}
	m := doc.Content[0].Content
	for i := 0; i+1 < len(m); i += 2 {
		if v := m[i+1]; v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
			out[strings.ToLower(m[i].Value)] = v.Value
		}
	}
	return out
}

func settingString(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = fmt.Sprint(p)
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(x)
	}
}

// setFlag sets a flag from a setting; slice flags take comma-separated values.
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

// readSettings reads one config file; a missing file is no settings. Keys
// that are no flag of any command are an error, so typos do not pass unseen.
func readSettings(path string, known map[string]bool) (*settingsFile, error) {
	if path == "" {
		return nil, nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	v := viper.New()
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var unknown []string
	for _, k := range v.AllKeys() {
		if err := CheckFlagOnly(k, path); err != nil {
			return nil, err
		}
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("%s: unknown setting %s: keys are flag names such as channel, host-nix, identity", path, strings.Join(unknown, ", "))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return &settingsFile{v: v, raw: rawScalars(data)}, nil
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
	return names
}
