package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/colinux-ng/colinux/internal/atomicfile"
)

// umlFacts are what corun learns about a User-mode Linux kernel binary
// by reading it whole (umlTraits) and by running it with --version: some
// ten milliseconds of a boot, so they are remembered in the cache, by
// the binary's identity.
type umlFacts struct {
	Mode        string `json:"mode"`
	NoRandomize bool   `json:"noRandomize,omitempty"`
	Release     string `json:"release,omitempty"` // "" when it did not run
}

// factsDir holds the remembered facts, one file per kernel binary.
const factsDir = "facts"

// umlFacts returns the facts of the UML kernel at path: remembered ones
// while the file is the same (path, size, modification time, inode),
// else fresh ones, which it then remembers (best effort: a cache that
// cannot be written costs only time).
func (c Cache) umlFacts(path string) umlFacts {
	memo := ""
	if fi, err := os.Stat(path); err == nil {
		id := fmt.Sprintf("%s\x00%d\x00%d", path, fi.Size(), fi.ModTime().UnixNano())
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			id += fmt.Sprintf("\x00%d\x00%d", st.Dev, st.Ino)
		}
		sum := sha256.Sum256([]byte(id))
		memo = filepath.Join(c.Dir, factsDir, hex.EncodeToString(sum[:8])+".json")
		var f umlFacts
		if b, err := os.ReadFile(memo); err == nil && json.Unmarshal(b, &f) == nil && f.Mode != "" {
			return f
		}
	}
	var f umlFacts
	f.Mode, f.NoRandomize = umlTraits(path)
	// A User-mode Linux kernel prints its release and exits; one this
	// host cannot run says nothing.
	if out, err := exec.Command(path, "--version").Output(); err == nil {
		f.Release = strings.TrimSpace(string(out))
	}
	if memo != "" && os.MkdirAll(filepath.Dir(memo), 0o755) == nil {
		if b, err := json.Marshal(f); err == nil {
			atomicfile.WriteFile(memo, b, 0o644)
		}
	}
	return f
}
