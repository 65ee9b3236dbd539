package recipe

import (
	"reflect"
	"testing"
)

// TestFedoraGentooRecipes: the shipped recipes load, carry the sections
// debian.yaml has, and name their keys under keys/ without a mirror
// (coimage ships none: the user gives one).
func TestFedoraGentooRecipes(t *testing.T) {
	fedora, err := Load("../../recipes/fedora.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s := fedora.Source.Fedora; s.Method != "container" || s.Release != fedora.Image.Release || s.Key != "keys/fedora.gpg" || s.Mirror != "" {
		t.Errorf("fedora source %+v", s)
	}
	gentoo, err := Load("../../recipes/gentoo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s := gentoo.Source.Gentoo; s.Flavor != "systemd" || !s.Portage || !s.Binpkgs || s.Key != "keys/gentoo-release.asc" || s.Mirror != "" {
		t.Errorf("gentoo source %+v", s)
	}
	for _, r := range []*Recipe{fedora, gentoo} {
		if r.Hostname != "colinux" || len(r.Packages.Install) == 0 || len(r.Scripts) == 0 || len(r.Files) == 0 {
			t.Errorf("%s: sections missing: %+v", r.File, r)
		}
		if r.Users.Root.Locked || !reflect.DeepEqual(r.Console.Getty, []string{ConsoleTTY, SerialTTY}) ||
			!reflect.DeepEqual(r.Network.DHCP, []string{DefaultInterface}) || !r.Size.Auto() {
			t.Errorf("%s: users, console, network or size differ from debian.yaml's", r.File)
		}
	}
}
