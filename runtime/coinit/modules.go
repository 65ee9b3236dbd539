package coinit

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/colinux-ng/colinux/pkg/cobd"
)

// loadModules loads the modules the initramfs carries, in the order the
// host resolved. A module that fails is reported and skipped: what it
// would have driven is then missing, and mounting the root says so.
func loadModules() {
	f, err := os.Open(filepath.Join(ModulesDir, ModulesOrder))
	if err != nil {
		return // UML: everything is built in or comes over hostfs
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name := sc.Text()
		if name == "" {
			continue
		}
		if err := loadModule(filepath.Join(ModulesDir, filepath.Base(name))); err != nil {
			fmt.Fprintf(os.Stderr, "coinit: load %s: %v\n", name, err)
		}
	}
}

func loadModule(path string) error {
	m, err := os.Open(path)
	if err != nil {
		return err
	}
	defer m.Close()
	err = unix.FinitModule(int(m.Fd()), "", 0)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// aliasDisks names virtio disks as UML names cobd disks: QEMU gives each
// disk the serial "cobdN", and /dev/ubdX links to its vdX, so that root=,
// fstabs and scripts written for coLinux's names work on both monitors
// whatever order the disks were probed in.
func aliasDisks() {
	serials, _ := filepath.Glob("/sys/block/vd*/serial")
	for _, p := range serials {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(string(b)), "cobd"))
		if err != nil || !strings.HasPrefix(string(b), "cobd") {
			continue
		}
		if alias := cobd.Device(n); alias != "" {
			dev := filepath.Base(filepath.Dir(p))
			os.Symlink(dev, alias)
		}
	}
}

// waitForRoot gives the disk drivers a moment to present the root device
// (and its alias) before the mount is tried.
func waitForRoot(root string) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		aliasDisks()
		if _, err := os.Stat(root); err == nil || time.Now().After(deadline) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
