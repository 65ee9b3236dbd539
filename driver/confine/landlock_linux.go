package confine

import (
	"fmt"
	"os"

	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// landlockABI is the Landlock ABI version the host kernel offers and
// go-landlock knows, 0 when there is none.
func landlockABI() int {
	v, err := llsys.LandlockGetABIVersion()
	if err != nil || v < 0 {
		return 0
	}
	return min(v, maxABI)
}

// maxABI is the newest ABI go-landlock describes: landlock.V11.
const maxABI = 11

// restrictThread enforces p with Landlock on the calling thread, which
// must be locked and must exec next (the new program inherits the
// domain). Everything Landlock handles and p does not grant is denied:
// other files, TCP bind and connect (ABI ≥ 4: the kernel's networks are
// unix sockets and TAP devices), signals and abstract unix sockets
// beyond the sandbox (ABI ≥ 6), and changes to the mount tree.
func restrictThread(p Policy) (abi int, err error) {
	abi = landlockABI()
	if abi == 0 {
		return 0, nil
	}
	type ruleFunc func(paths ...string) landlock.FSRule
	execFiles := func(paths ...string) landlock.FSRule {
		return landlock.PathAccess(llsys.AccessFSExecute|llsys.AccessFSReadFile, paths...)
	}
	// Read-write directories: everything but device nodes (a guest that
	// could make one in a share could open the host's disks through it)
	// and moving files between directories. Connecting to a unix socket
	// (the kernel's networks) is a right of its own from ABI 9 on.
	rwDirs := func(paths ...string) landlock.FSRule {
		return landlock.PathAccess(llsys.AccessFSExecute|llsys.AccessFSReadFile|llsys.AccessFSReadDir|
			llsys.AccessFSWriteFile|llsys.AccessFSTruncate|llsys.AccessFSRemoveDir|llsys.AccessFSRemoveFile|
			llsys.AccessFSMakeDir|llsys.AccessFSMakeReg|llsys.AccessFSMakeSock|llsys.AccessFSMakeFifo|
			llsys.AccessFSMakeSym|llsys.AccessFSResolveUnix, paths...)
	}
	rwFiles := func(paths ...string) landlock.FSRule { return landlock.RWFiles(paths...).WithResolveUnix() }
	devs := func(paths ...string) landlock.FSRule { return landlock.RWFiles(paths...).WithIoctlDev() }
	var rules []landlock.Rule
	for _, set := range []struct {
		dir, file ruleFunc
		paths     []string
	}{
		{landlock.RODirs, landlock.ROFiles, p.Read},
		{landlock.RODirs, execFiles, p.Exec},
		{rwDirs, rwFiles, p.ReadWrite},
		{devs, devs, p.Devices},
	} {
		for _, path := range set.paths {
			fi, err := os.Stat(path)
			if err != nil {
				return 0, fmt.Errorf("landlock: %w", err)
			}
			if fi.IsDir() {
				rules = append(rules, set.dir(path))
			} else {
				rules = append(rules, set.file(path))
			}
		}
	}
	fd, flags, err := landlock.V11.BestEffort().NewRulesetFD(rules...)
	if err != nil {
		return 0, fmt.Errorf("landlock: %w", err)
	}
	if fd < 0 {
		return 0, nil
	}
	defer unix.Close(fd)
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return 0, fmt.Errorf("no_new_privs: %w", err)
	}
	if err := llsys.LandlockRestrictSelf(fd, flags); err != nil {
		return 0, fmt.Errorf("landlock: %w", err)
	}
	return abi, nil
}
