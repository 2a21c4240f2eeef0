package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// ConfigFile is the settings file name, looked up in the workspace and then
// in the user config directory.
const ConfigFile = "bootstrap.yaml"

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
		} else if user != nil && user.IsSet("workspace") {
			g.Workspace = user.GetString("workspace")
		}
	}
	wsFile, err := readSettings(filepath.Join(g.Workspace, ConfigFile), known)
	if err != nil {
		return err
	}
	var firstErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if firstErr != nil || f.Changed || f.Name == "workspace" || f.Name == "help" {
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

func lookupSetting(name string, ws, user *viper.Viper, wsDir, userFile string) (val, src string, ok bool) {
	env := "BOOTSTRAP_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if v, ok := os.LookupEnv(env); ok {
		return v, env, true
	}
	if ws != nil && ws.IsSet(name) {
		return settingString(ws.Get(name)), filepath.Join(wsDir, ConfigFile), true
	}
	if user != nil && user.IsSet(name) {
		return settingString(user.Get(name)), userFile, true
	}
	return "", "", false
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
func readSettings(path string, known map[string]bool) (*viper.Viper, error) {
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
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("%s: unknown setting %s: keys are flag names such as channel, host-nix, identity", path, strings.Join(unknown, ", "))
	}
	return v, nil
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
