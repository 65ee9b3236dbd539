package qemu

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/driver"
	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/confine"
	"github.com/colinux-ng/colinux/driver/instance"
	"github.com/colinux-ng/colinux/driver/qmp"
	"github.com/colinux-ng/colinux/driver/uml/umltest"
)

// TestConfined: QEMU runs confined (the record says how), and asked
// through QMP to open a host file beyond its policy it cannot, while a
// file the policy names (the guest kernel) opens.
func TestConfined(t *testing.T) {
	t.Parallel()
	if !confine.Probe().Confined() {
		t.Skip("this host offers no confinement")
	}
	img := umltest.Image(t, t.TempDir(), nil)
	cfg := &config.Config{Disks: []config.Disk{{Index: 0, Path: img}}, Snapshot: true,
		Command: []string{"sleep", "600"}}
	var rec instance.Record
	var opened, refused string
	reg := instance.Registry{Dir: t.TempDir()}
	ready := func(name string) {
		var err error
		if rec, err = reg.Get(name); err != nil {
			t.Error(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := qmp.Dial(ctx, QMPPath(rec.Dir))
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		hmp := func(cmd string) string {
			out, err := c.Execute(ctx, "human-monitor-command", map[string]string{"command-line": cmd})
			if err != nil {
				t.Errorf("%s: %v", cmd, err)
			}
			var s string
			json.Unmarshal(out, &s)
			return s
		}
		opened = hmp("drive_add 0 if=none,id=allowed,format=raw,readonly=on,file=" + cfg.Kernel)
		refused = hmp("drive_add 0 if=none,id=denied,format=raw,readonly=on,file=/etc/shadow")
		c.Execute(ctx, "quit", nil)
	}
	bootWith(t, cfg, 0, driver.Options{Registry: reg, Ready: ready}) // ends by the quit: no result to check
	if rec.Confinement == nil || !rec.Confinement.Confined() {
		t.Fatalf("the record says QEMU ran unconfined: %+v", rec.Confinement)
	}
	t.Logf("confinement: %v; %q; %q", rec.Confinement, opened, refused)
	if strings.TrimSpace(opened) != "OK" {
		t.Errorf("drive_add of the kernel, which the policy names: %q", opened)
	}
	if !strings.Contains(refused, "Could not open '/etc/shadow'") {
		t.Errorf("drive_add of /etc/shadow: %q, want it refused", refused)
	}
}
