package qemu

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/driver"
	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/uml/umltest"
	"github.com/colinux-ng/colinux/driver/x11"
	"github.com/colinux-ng/colinux/driver/x11/x11test"
)

// A guest program under QEMU opens a window on the host's (Xvfb's)
// display through conet, and the display's screenshot shows its colour.
func TestX11(t *testing.T) {
	t.Parallel()
	srv := x11test.Xvfb(t)
	img := umltest.Image(t, t.TempDir(), map[string]string{"bin/xclient": x11test.Client(t)})
	display, err := x11.New(srv.Display, srv.Authority)
	if err != nil {
		t.Fatal(err)
	}
	const colour = 0x00c0ff
	shown := make(chan bool, 1)
	go func() { // the guest ends once the screenshot showed its window
		defer func() { shown <- true }()
		for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
			if s, _ := srv.Screenshot(t); x11test.RGB(s, x11test.Inside) == colour {
				srv.Done(t)
				return
			}
		}
	}()
	res, out, err := bootWith(t, &config.Config{
		Disks:    []config.Disk{{Index: 0, Path: img}},
		NICs:     []config.NIC{{Index: 0, Mode: config.Slirp}},
		X11:      true,
		Snapshot: true,
		Command:  []string{"sh", "-c", fmt.Sprintf(`echo "DISPLAY=$DISPLAY"; xclient fill %06x`, colour)},
	}, 0, driver.Options{X11: display})
	<-shown
	if err != nil {
		t.Fatal(err)
	}
	if !res.Exited || res.ExitCode != 0 || !strings.Contains(out, "window shown") ||
		!strings.Contains(out, "DISPLAY=10.0.2.2"+srv.Display+"\n") {
		t.Errorf("guest: %+v\n%s", res, out)
	}
}
