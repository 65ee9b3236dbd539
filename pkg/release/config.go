package release

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Configuration below $XDG_CONFIG_HOME/colinux/ (os.UserConfigDir):
//
//	index       the default index URL (the first line that is not a # comment)
//	keys/*.pub  trusted minisign public keys; several allow key rotation
const (
	configIndexFile = "index"
	configKeysDir   = "keys"
)

// ConfigDir is $XDG_CONFIG_HOME/colinux (or the platform's equivalent).
func ConfigDir() (string, error) {
	base, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "colinux"), nil
}

// CacheDir is $XDG_CACHE_HOME/colinux (or the platform's equivalent).
func CacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "colinux"), nil
}

// ConfigPath names an entry of the configuration in help and errors: its
// path on this system, or the XDG form where there is no home directory.
func ConfigPath(name string) string { return userPath(ConfigDir, "$XDG_CONFIG_HOME", name) }

// CachePath is ConfigPath for the cache.
func CachePath(name string) string { return userPath(CacheDir, "$XDG_CACHE_HOME", name) }

func userPath(dir func() (string, error), env, name string) string {
	if d, err := dir(); err == nil {
		return filepath.Join(d, name)
	}
	return env + "/colinux/" + name
}

// DefaultPuller is a Puller with the configured index, the configured
// trusted keys and the user's cache. A missing configuration is not an
// error: Pull then says what to configure.
func DefaultPuller() (*Puller, error) {
	cfg, err := ConfigDir()
	if err != nil {
		return nil, err
	}
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	p := &Puller{CacheDir: cache}
	if p.Index, err = readIndexURL(filepath.Join(cfg, configIndexFile)); err != nil {
		return nil, err
	}
	if p.Keys, err = loadKeyDir(filepath.Join(cfg, configKeysDir)); err != nil {
		return nil, err
	}
	return p, nil
}

func readIndexURL(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			return line, nil
		}
	}
	return "", sc.Err()
}

func loadKeyDir(dir string) ([]Key, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.pub"))
	if err != nil {
		return nil, err
	}
	var keys []Key
	for _, p := range paths {
		k, err := LoadPublicKey(p)
		if err != nil {
			return nil, fmt.Errorf("trusted key %w", err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}
