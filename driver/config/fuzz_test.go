package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzSettings: a configuration file (an @FILE argument, perhaps shipped
// beside a downloaded image) gives a Config or a SyntaxError, never a
// panic, and the devices come out in index order.
func FuzzSettings(f *testing.F) {
	example, err := os.ReadFile("testdata/example.conf")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte("cobd0=\"/img/a b.img\",ro cofs3=/srv,ro mem=1G cpus=2\neth0=slirp,tcp:8080:80 # comment\nmonitor=qemu\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		settings, err := parseFile(data, "fuzz.conf")
		var syntax *SyntaxError
		if err != nil {
			if !errors.As(err, &syntax) {
				t.Fatalf("%v: not a SyntaxError", err)
			}
			return
		}
		b := newBuilder()
		if err := b.applySource(settings, map[string]setting{}); err != nil {
			return
		}
		c := b.finish()
		for i := 1; i < len(c.Disks); i++ {
			if c.Disks[i-1].Index >= c.Disks[i].Index {
				t.Fatalf("disks out of order: %+v", c.Disks)
			}
		}
	})
}
