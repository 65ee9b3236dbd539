//go:build linux

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/colinux-ng/colinux/driver/qemu"
	"github.com/colinux-ng/colinux/driver/uml/umltest"
	"github.com/colinux-ng/colinux/runtime"
)

// TestKernelList: corun kernel lists each cached kernel with its monitor
// and mode — UML's ptrace or seccomp, the accelerator QEMU gets — marks
// the ones corun run picks, says why QEMU emulates the CPU, and names
// the virtiofsd cofs uses under QEMU.
func TestKernelList(t *testing.T) {
	t.Parallel()
	uml := umltest.BootKernel(t)
	qemuTCG(t) // the cloud kernel and virtiofsd, fetched once
	cacheHome := t.TempDir()
	if err := shareRuntime(cacheHome, userCache); err != nil {
		t.Fatal(err)
	}
	// A cached UML kernel: the installed one, as version 9.9-test.
	umlDir := filepath.Join(cacheHome, "colinux/runtime/9.9-test")
	if err := os.MkdirAll(umlDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(uml.Path, filepath.Join(umlDir, "linux")); err != nil {
		t.Fatal(err)
	}
	cache := runtime.Cache{Dir: filepath.Join(cacheHome, "colinux/runtime")}
	k, err := cache.Latest(runtime.QEMU)
	if err != nil {
		t.Fatal(err)
	}
	vfs, ok := cache.FindVirtiofsd()
	if !ok {
		t.Fatal("no virtiofsd found after qemutest.Virtiofsd")
	}
	out, errOut, code := runEnv(t, "", []string{"XDG_CACHE_HOME=" + cacheHome, qemu.AccelEnv + "=tcg"}, "kernel")
	if code != 0 {
		t.Fatalf("corun kernel: exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		`(?m)^MONITOR +MODE +PACKAGE VERSION +RELEASE +DEFAULT +KERNEL$`,
		`(?m)^uml +` + umltest.Mode(uml.Version) + ` +9\.9-test +\* +` + regexp.QuoteMeta(filepath.Join(umlDir, "linux")) + `$`,
		`(?m)^qemu +tcg +` + regexp.QuoteMeta(k.Version+" ") + ` *` + regexp.QuoteMeta(k.Release) + ` +\* +` + regexp.QuoteMeta(k.Path) + `$`,
		`(?m)^QEMU emulates the CPU here \(tcg\): ` + qemu.AccelEnv + `=tcg$`,
		`(?m)^virtiofsd for cofs under QEMU: ` + regexp.QuoteMeta(vfs[len(vfs)-1]) + `$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("corun kernel does not match %s:\n%s", want, out)
		}
	}
}
