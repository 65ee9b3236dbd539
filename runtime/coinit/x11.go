package coinit

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

// X11Authority is where corun puts the guest's Xauthority file in the
// initramfs (see initramfs.Extend): the cookie stays off the kernel
// command line, which every user can read.
const X11Authority = "colinux/Xauthority"

// Where the guest finds its display: a tmpfs on /run, as an initramfs
// leaves it for the init system.
const (
	runDir        = "/run/colinux"
	guestAuth     = runDir + "/Xauthority"      // root's alone
	envFile       = runDir + "/env"             // KEY=value lines
	environmentD  = "/run/environment.d"        // systemd user sessions
	profileScript = "/etc/profile.d/colinux.sh" // login shells
)

const profile = `# Written by coLinux's coinit: the host's display for guests run with
# corun --x11 (the variables are in /run/colinux/env while it is offered).
if [ -r /run/colinux/env ]; then
	set -a
	. /run/colinux/env
	set +a
fi
`

// setupX11 gives the guest the host's display: the Xauthority file from
// the initramfs and an environment file on a fresh /run. A booted guest
// also gets a profile snippet, so login shells read the environment file.
// It returns the variables for a command and the mounts it made.
func setupX11(cfg Config) (env, mounts []string, err error) {
	if cfg.X11 == "" {
		return nil, nil, nil
	}
	auth, err := os.ReadFile("/" + X11Authority)
	if err != nil {
		return nil, nil, fmt.Errorf("x11: the initramfs holds no Xauthority: %w", err)
	}
	mounts, err = mountRun()
	if err != nil {
		return nil, nil, fmt.Errorf("x11: %w", err)
	}
	env = []string{"DISPLAY=" + cfg.X11, "XAUTHORITY=" + guestAuth}
	err = firstError(
		os.MkdirAll(newRoot+runDir, 0o755),
		os.WriteFile(newRoot+guestAuth, auth, 0o600),
		os.WriteFile(newRoot+envFile, []byte(strings.Join(env, "\n")+"\n"), 0o644),
		os.MkdirAll(newRoot+environmentD, 0o755),
		os.Symlink("../colinux/env", newRoot+environmentD+"/50-colinux.conf"),
	)
	if err != nil {
		return nil, mounts, fmt.Errorf("x11: %w", err)
	}
	if len(cfg.Command) == 0 {
		writeProfile()
	}
	return env, mounts, nil
}

// writeProfile installs the profile snippet unless it is there already;
// a read-only root goes without (DISPLAY is then in /run/colinux/env).
func writeProfile() {
	if old, err := os.ReadFile(newRoot + profileScript); err == nil && bytes.Equal(old, []byte(profile)) {
		return
	}
	if _, err := os.Stat(newRoot + "/etc/profile.d"); err != nil {
		return // not a shell the snippet would reach
	}
	if err := os.WriteFile(newRoot+profileScript, []byte(profile), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "coinit: x11: %s not written (%v); source /run/colinux/env\n", profileScript, err)
	}
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
