//go:build linux

package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/internal/cliflags"
)

// corunSection returns the README's "## corun" section: its shell code
// blocks (lines) and its prose.
func corunSection(t *testing.T) (blocks [][]string, prose string) {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## corun\n")
	if !ok {
		t.Fatal("README has no ## corun section")
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	var text strings.Builder
	var block []string
	inBlock := false
	for _, line := range strings.Split(section, "\n") {
		switch {
		case strings.HasPrefix(line, "```sh"):
			inBlock, block = true, nil
		case inBlock && strings.HasPrefix(line, "```"):
			inBlock = false
			blocks = append(blocks, block)
		case inBlock:
			block = append(block, line)
		default:
			text.WriteString(line + "\n")
		}
	}
	return blocks, text.String()
}

// readmeWords splits an example line into words, without its comment,
// with $HOME as home.
func readmeWords(line, home string) []string {
	if i := strings.Index(line, " #"); i >= 0 {
		line = line[:i]
	}
	return strings.Fields(os.Expand(line, func(v string) string {
		if v == "HOME" {
			return home
		}
		return os.Getenv(v)
	}))
}

// settingExample is a setting shown in the prose, `key=value`; grammar
// (`cobd0..15=FILE[,ro]`, `mem=MiB`) is left out.
var settingExample = regexp.MustCompile("`([a-z][a-z0-9]*=[^`\\s]+)`")

func isGrammar(s string) bool {
	return strings.ContainsAny(s, "[…") || strings.Contains(s, "..") || strings.ToLower(s) != s
}

// TestREADMESettings: every corun run line and every concrete setting in
// the README's corun section parses as the README says.
func TestREADMESettings(t *testing.T) {
	blocks, prose := corunSection(t)
	var checked []string
	for _, block := range blocks {
		for _, line := range block {
			w := readmeWords(line, "/home/me")
			if len(w) < 2 || w[1] != "run" {
				continue
			}
			flags := flag.NewFlagSet("run", flag.ContinueOnError)
			for _, f := range runCommand.Flags {
				f.Apply(flags)
			}
			err := flags.Parse(cliflags.FlagsFirst([]*cli.Command{runCommand}, w)[2:])
			var settings []string
			if err == nil {
				settings, _, err = splitRunArgs(flags.Args())
			}
			if err == nil {
				_, err = config.Parse(substituteFiles(settings))
			}
			if err != nil {
				t.Errorf("README: %s: %v", line, err)
			}
			checked = append(checked, line)
		}
	}
	for _, m := range settingExample.FindAllStringSubmatch(prose, -1) {
		if isGrammar(m[1]) {
			continue
		}
		if _, err := config.Parse([]string{m[1]}); err != nil {
			t.Errorf("README: `%s`: %v", m[1], err)
		}
		checked = append(checked, m[1])
	}
	if !strings.Contains(strings.Join(checked, "\n"), "eth0=slirp,tcp:8080:80") || len(checked) < 8 {
		t.Errorf("found too little to check in the README: %q", checked)
	}
	c, err := config.Parse([]string{"eth0=slirp,tcp:8080:80"})
	if err != nil || len(c.NICs) != 1 || len(c.NICs[0].Forwards) != 1 || c.NICs[0].Forwards[0].GuestPort != 80 {
		t.Errorf("eth0=slirp,tcp:8080:80 is not a port forward: %+v, %v", c, err)
	}
}

// substituteFiles keeps @file settings to files that exist in the repository.
func substituteFiles(settings []string) []string {
	var out []string
	for _, s := range settings {
		if name, ok := strings.CutPrefix(s, "@"); ok {
			s = "@" + filepath.Join("../..", name)
		}
		out = append(out, s)
	}
	return out
}

// TestREADME runs the README's corun examples in order, from the
// repository's root, with busybox images for root.img and for the images
// coimage builds into out/.
func TestREADME(t *testing.T) {
	t.Parallel()
	blocks, _ := corunSection(t)
	if len(blocks) == 0 {
		t.Fatal("no code block in the README's corun section")
	}
	dir := t.TempDir()
	root := shellImage(t, filepath.Join(dir, "root"))
	deb := filepath.Join(dir, "debian.img")
	if err := os.Rename(shellImage(t, filepath.Join(dir, "deb")), deb); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(filepath.Join(home, "share"), 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	repo, _ := filepath.Abs("../..")
	files := map[string]string{"root.img": root}
	var started []string
	defer func() {
		for _, name := range started {
			run(t, "stop", "--force", name)
		}
	}()
	for _, line := range blocks[0] {
		w := readmeWords(line, home)
		if len(w) < 2 || w[0] != "bin/corun" {
			continue
		}
		args := w[1:]
		for i, a := range args {
			if f, ok := files[a]; ok {
				args[i] = f
			} else if strings.HasPrefix(a, "out/") && strings.HasSuffix(a, ".img") { // built by coimage
				args[i] = deb
			}
			args[i] = strings.ReplaceAll(args[i], "tcp:8080:", fmt.Sprintf("tcp:%d:", port))
		}
		if args[0] == "run" { // the test's kernel, after the image and settings
			i := len(args)
			for j, a := range args {
				if a == "--" {
					i = j
					break
				}
			}
			args = append(append(append([]string{}, args[:i]...), kernelArg(t)), args[i:]...)
		}
		t.Logf("README: %s", line)
		switch {
		case args[0] == "run" && !contains(args, "--") && !contains(args, "--detach"),
			args[0] == "attach":
			cmd, con := startOnPTYIn(t, repo, args...)
			con.expect(t, "# ", time.Minute)
			con.typ(t, "\x1d")
			if code := waitExit(t, cmd, 10*time.Second); code != 0 {
				t.Fatalf("%s: exit %d:\n%s", line, code, con.String())
			}
			con.expect(t, "detached from", 5*time.Second)
			m := regexp.MustCompile(`detached from (\S+);`).FindStringSubmatch(con.String())
			if args[0] == "run" {
				if _, errOut, code := run(t, "stop", m[1]); code != 0 {
					t.Fatalf("stop %s: exit %d: %s", m[1], code, errOut)
				}
			}
		default:
			if args[0] == "rm" { // something to remove: a web whose corun was killed
				deadInstance(t, args[1], root)
			}
			out, errOut, code := runIn(t, repo, args...)
			if code != 0 {
				t.Fatalf("%s: exit %d: %s %s", line, code, out, errOut)
			}
			if contains(args, "--detach") {
				started = append(started, strings.TrimSpace(out))
			}
			if args[0] == "ls" && !regexp.MustCompile(`(?m)^web .* running$`).MatchString(out) {
				t.Errorf("%s: web is not shown running:\n%s", line, out)
			}
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// deadInstance leaves a dead instance name: its background corun killed.
func deadInstance(t *testing.T, name, img string) {
	t.Helper()
	if out, errOut, code := run(t, "run", "--detach", "--name", name, img, kernelArg(t)); code != 0 {
		t.Fatalf("run --detach: exit %d: %s %s", code, out, errOut)
	}
	r, _ := lsGet(t, name)
	syscall.Kill(r.Owner, syscall.SIGKILL)
	if !waitFor(10*time.Second, func() bool { r, _ := lsGet(t, name); return r.State == "dead" }) {
		t.Fatalf("%s is not dead after its corun was killed: %+v", name, ls(t))
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
