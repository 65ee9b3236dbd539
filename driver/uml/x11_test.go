package uml

import (
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/uml/umltest"
	"github.com/colinux-ng/colinux/driver/x11"
	"github.com/colinux-ng/colinux/driver/x11/x11test"
)

// A guest booted to its own init gets the display in login shells: coinit
// leaves /run/colinux/env and a profile snippet that reads it.
func TestX11BootedGuest(t *testing.T) {
	t.Parallel()
	srv := x11test.Xvfb(t)
	dir := t.TempDir()
	// The image's init brings eth0 up itself, as a distribution's does.
	rc := `ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up
. /etc/profile.d/colinux.sh
echo "env: $DISPLAY $XAUTHORITY"
xclient rtt 10
poweroff -f
`
	img := umltest.Image(t, dir, map[string]string{
		"bin/xclient":        x11test.Client(t),
		"etc/rc.x11":         rc,
		"etc/profile.d/.dir": "",
		"etc/inittab":        "::sysinit:/bin/mount -t proc proc /proc\n::sysinit:/bin/sh /etc/rc.x11\n",
	})
	f, err := x11.New(srv.Display, srv.Authority)
	if err != nil {
		t.Fatal(err)
	}
	_, out, err := bootWith(t, &config.Config{
		Disks: []config.Disk{{Index: 0, Path: img}},
		NICs:  []config.NIC{{Index: 0, Mode: config.Slirp}},
		X11:   true,
	}, "", f)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"env: 10.0.2.2" + srv.Display + " /run/colinux/Xauthority", "10 GetInputFocus round trips"} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, out)
		}
	}
}
