package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/burrow-dev/burrow/internal/client"
	"github.com/burrow-dev/burrow/internal/tlsutil"
)

// Config is the client configuration file: kubectl-like contexts.
type Config struct {
	CurrentContext string    `yaml:"current-context"`
	Contexts       []Context `yaml:"contexts"`
}

// Context is one controller and the credentials for it.
type Context struct {
	Name        string `yaml:"name"`
	URL         string `yaml:"url"`
	Token       string `yaml:"token"`
	Fingerprint string `yaml:"fingerprint,omitempty"`
	CAFile      string `yaml:"ca-file,omitempty"`
}

// useConfig makes path the client config for this process (--config).
func useConfig(path string) {
	if path != "" {
		os.Setenv("BURROW_CONFIG", path)
	}
}

// configPath is $BURROW_CONFIG, else $XDG_CONFIG_HOME/burrow/config.yaml.
func configPath() (string, error) {
	if p := os.Getenv("BURROW_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find config directory: %w (set BURROW_CONFIG)", err)
	}
	return filepath.Join(dir, "burrow", "config.yaml"), nil
}

func loadConfig() (*Config, string, error) {
	path, err := configPath()
	if err != nil {
		return nil, "", err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Config{}, path, nil
	}
	if err != nil {
		return nil, path, fmt.Errorf("read config: %w", err)
	}
	var c Config
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil, path, fmt.Errorf("config %s: %w", path, err)
	}
	return &c, path, nil
}

// save writes the config with mode 0600: it holds tokens.
func (c *Config) save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("config directory: %w", err)
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return os.Rename(tmp, path)
}

func (c *Config) find(name string) *Context {
	for i := range c.Contexts {
		if c.Contexts[i].Name == name {
			return &c.Contexts[i]
		}
	}
	return nil
}

// upsert adds or replaces a context and makes it current.
func (c *Config) upsert(ctx Context) {
	if old := c.find(ctx.Name); old != nil {
		*old = ctx
	} else {
		c.Contexts = append(c.Contexts, ctx)
	}
	c.CurrentContext = ctx.Name
}

// clientConfig resolves the named context (the current one if name is
// ""), then applies BURROW_URL, BURROW_TOKEN, BURROW_FINGERPRINT and
// BURROW_CA_FILE over it.
func clientConfig(name string) (client.Config, error) {
	c, path, err := loadConfig()
	if err != nil {
		return client.Config{}, err
	}
	var cur Context
	if name == "" {
		name = c.CurrentContext
	} else if c.find(name) == nil {
		return client.Config{}, fmt.Errorf("no context named %s in %s; `burrow context list` shows them", name, path)
	}
	if ctx := c.find(name); ctx != nil {
		cur = *ctx
	}
	override(&cur.URL, "BURROW_URL")
	override(&cur.Token, "BURROW_TOKEN")
	override(&cur.Fingerprint, "BURROW_FINGERPRINT")
	override(&cur.CAFile, "BURROW_CA_FILE")
	if cur.URL == "" || cur.Token == "" {
		return client.Config{}, fmt.Errorf("not logged in: run `burrow login URL --token TOKEN` (or `burrow dev`), or set BURROW_URL and BURROW_TOKEN (config: %s)", path)
	}
	return client.Config{URL: cur.URL, Token: cur.Token, TLS: tlsutil.ClientOptions{Fingerprint: cur.Fingerprint, CAFile: cur.CAFile}}, nil
}

func override(dst *string, env string) {
	if v := os.Getenv(env); v != "" {
		*dst = v
	}
}

func newClient() (*client.Client, error) { return newClientFor("") }

// newClientFor is newClient for a named context ("" = the current one).
func newClientFor(name string) (*client.Client, error) {
	cfg, err := clientConfig(name)
	if err != nil {
		return nil, err
	}
	return client.New(cfg)
}

// contextName is the context a command uses: name, else the current one,
// else "default".
func contextName(name string) string {
	if name != "" {
		return name
	}
	if c, _, err := loadConfig(); err == nil && c.CurrentContext != "" {
		return c.CurrentContext
	}
	return "default"
}
