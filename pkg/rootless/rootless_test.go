package rootless

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSubIDs(t *testing.T) {
	const file = "alice:100000:65536\n1001:200000:65536\nsmall:300000:1000\nbad:x:65536\n"
	for _, tc := range []struct {
		name, uid string
		want      Range
		err       string
	}{
		{"alice", "1000", Range{100000, 65536}, ""},
		{"bob", "1001", Range{200000, 65536}, ""}, // by uid
		{"small", "1002", Range{}, "fewer than 65535 ids"},
		{"bad", "1003", Range{}, "no range for bad"},
		{"carol", "1004", Range{}, "no range for carol"},
	} {
		got, err := parseSubIDs(strings.NewReader(file), tc.name, tc.uid)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want error %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v %v, want %+v", tc.name, got, err, tc.want)
		}
	}
}

// TestCheck: each missing piece gives an ErrSetup that names it and says
// how to add it; a host with all of them passes.
func TestCheck(t *testing.T) {
	write := func(t *testing.T, path, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(h *host)
		want  string // "" for success
	}{
		{"all there", func(*host) {}, ""},
		{"absent sysctls", func(h *host) { os.RemoveAll(h.procSys) }, ""},
		{"user namespaces off", func(h *host) { write(t, filepath.Join(h.procSys, "user/max_user_namespaces"), "0\n") },
			"sysctl -w user.max_user_namespaces="},
		{"Debian's unprivileged switch off", func(h *host) {
			write(t, filepath.Join(h.procSys, "kernel/unprivileged_userns_clone"), "0\n")
		}, "sysctl -w kernel.unprivileged_userns_clone=1"},
		{"AppArmor restriction, unconfined", func(h *host) {
			write(t, filepath.Join(h.procSys, "kernel/apparmor_restrict_unprivileged_userns"), "1\n")
		}, "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"},
		{"AppArmor restriction, with a profile", func(h *host) {
			write(t, filepath.Join(h.procSys, "kernel/apparmor_restrict_unprivileged_userns"), "1\n")
			write(t, h.apparmor, "coimage (enforce)\n")
		}, ""},
		{"no newuidmap", func(h *host) {
			h.lookPath = func(name string) (string, error) {
				if name == "newuidmap" {
					return "", os.ErrNotExist
				}
				return "/usr/bin/" + name, nil
			}
		}, "newuidmap not found: install Debian's uidmap package"},
		{"no subuid file", func(h *host) { os.Remove(h.subuid) }, "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice"},
		{"no subgid range", func(h *host) { write(t, h.subgid, "bob:100000:65536\n") }, "subgid: no range for alice; add a range as root: usermod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			h := host{procSys: filepath.Join(dir, "sys"), apparmor: filepath.Join(dir, "attr"),
				subuid: filepath.Join(dir, "subuid"), subgid: filepath.Join(dir, "subgid"),
				lookPath: func(name string) (string, error) { return "/usr/bin/" + name, nil }}
			write(t, filepath.Join(h.procSys, "user/max_user_namespaces"), "15000\n")
			write(t, filepath.Join(h.procSys, "kernel/unprivileged_userns_clone"), "1\n")
			write(t, filepath.Join(h.procSys, "kernel/apparmor_restrict_unprivileged_userns"), "0\n")
			write(t, h.apparmor, "unconfined\n")
			write(t, h.subuid, "alice:100000:65536\n")
			write(t, h.subgid, "alice:200000:65536\n")
			tc.setup(&h)
			got, err := h.check("alice", "1000")
			if tc.want == "" {
				if err != nil || got.uids != (Range{100000, 65536}) || got.gids != (Range{200000, 65536}) || got.newgidmap != "/usr/bin/newgidmap" {
					t.Errorf("%+v, %v", got, err)
				}
				return
			}
			if !errors.Is(err, ErrSetup) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v, want ErrSetup saying %q", err, tc.want)
			}
		})
	}
}
