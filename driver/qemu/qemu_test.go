package qemu

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/driver"
	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/confine"
	"github.com/colinux-ng/colinux/driver/qemu/qemutest"
	"github.com/colinux-ng/colinux/internal/testutil"
	"github.com/colinux-ng/colinux/pkg/cobd"
	"github.com/colinux-ng/colinux/runtime"
	"github.com/colinux-ng/colinux/runtime/initramfs"
)

func TestMain(m *testing.M) {
	driver.MaybeInit() // the monitor's PID 1 is this binary, re-executed,
	confine.Init()     // and the holder of idmapping namespaces where cat is missing
	// The suite runs on TCG, which every host has: a KVM that passes the
	// probe can still fail to boot Linux (nested setups), and the
	// checks are about corun's devices, not the accelerator.
	if os.Getenv(AccelEnv) == "" {
		os.Setenv(AccelEnv, "tcg")
	}
	os.Exit(m.Run())
}

// guest returns the cloud kernel from the runtime cache (see qemutest)
// and corun's initramfs.
func guest(t *testing.T) (runtime.Kernel, string) {
	t.Helper()
	testutil.RequireTool(t, Binary())
	testutil.RequireTool(t, "qemu-img")
	k := qemutest.Kernel(t, cache(t))
	arc, err := initramfs.Cached(cache(t).Dir)
	if err != nil {
		t.Fatal(err)
	}
	return k, arc
}

func cache(t *testing.T) runtime.Cache {
	t.Helper()
	c, err := runtime.DefaultCache()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bootWith boots with opts' registry (a temporary one if unset), X11
// display and Ready callback; output and log are the test's.
func bootWith(t *testing.T, cfg *config.Config, stopAfter time.Duration, opts driver.Options) (driver.Result, string, error) {
	t.Helper()
	k, arc := guest(t)
	cfg.Monitor = Name
	cfg.Kernel, cfg.KernelVersion, cfg.Modules, cfg.Initramfs = k.Path, k.Release, k.Modules, arc
	if cfg.Root == "" {
		cfg.Root = cobd.RootDevice
	}
	if cfg.Name == "" {
		cfg.Name = strings.ReplaceAll(t.Name(), "/", "-")
	}
	if err := driver.Prepare(cfg); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var out, log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if stopAfter > 0 {
		ctx, cancel = context.WithTimeout(ctx, stopAfter)
		defer cancel()
	}
	start := time.Now()
	logFile := dir + "/log"
	if opts.Registry.Dir == "" {
		opts.Registry.Dir = dir
	}
	opts.Output, opts.LogFile = &out, logFile
	res, err := driver.Run(ctx, cfg, opts)
	t.Logf("boot took %v", time.Since(start))
	if b, _ := os.ReadFile(logFile); t.Failed() || err != nil {
		log.Write(b)
		t.Logf("log:\n%s", log.String())
	}
	return res, out.String(), err
}

// TestPrepare: cofs without a virtiofsd is refused before anything
// starts.
func TestPrepare(t *testing.T) {
	err := Backend{}.Prepare(&config.Config{Shares: []config.Share{{Index: 0, Path: "/tmp"}}})
	if !errors.Is(err, ErrNoVirtiofsd) {
		t.Errorf("cofs: %v, want ErrNoVirtiofsd", err)
	}
}
