package config

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/colinux-ng/colinux/internal/lazyregexp"
	"github.com/colinux-ng/colinux/pkg/cobd"
)

// CommandLine is the Source name of settings given as arguments.
const CommandLine = "command line"

// Parse reads settings left to right. Each argument is a setting, or
// @FILE to read a configuration file at that point.
func Parse(args []string) (*Config, error) {
	b := newBuilder()
	cmdline := map[string]setting{} // the command line is one source
	for _, a := range args {
		if name, ok := strings.CutPrefix(a, "@"); ok {
			settings, err := readFile(name)
			if err != nil {
				return nil, err
			}
			if err := b.applySource(settings, map[string]setting{}); err != nil {
				return nil, err
			}
			continue
		}
		if err := b.applySource([]setting{{source: CommandLine, text: a}}, cmdline); err != nil {
			return nil, err
		}
	}
	return b.finish(), nil
}

// setting is one word of a source and where it came from.
type setting struct {
	source string
	line   int
	text   string
}

func (s setting) errorf(format string, args ...any) error {
	return &SyntaxError{Source: s.source, Line: s.line, Text: s.text, Msg: fmt.Sprintf(format, args...)}
}

func readFile(name string) ([]setting, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("configuration file: %w", err)
	}
	return parseFile(data, name)
}

// parseFile splits a configuration file into its settings; name labels
// errors.
func parseFile(data []byte, name string) ([]setting, error) {
	var out []setting
	for i, line := range strings.Split(string(data), "\n") {
		words, err := splitWords(line)
		if err != nil {
			return nil, &SyntaxError{Source: name, Line: i + 1, Text: strings.TrimSpace(line), Msg: err.Error()}
		}
		for _, w := range words {
			out = append(out, setting{source: name, line: i + 1, text: w})
		}
	}
	return out, nil
}

// splitWords splits a configuration line at blanks, honouring double
// quotes (which are removed) and stopping at a # that starts a word.
func splitWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted = !quoted
			inWord = true
		case quoted:
			cur.WriteRune(r)
		case r == ' ' || r == '\t' || r == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case r == '#' && !inWord:
			return words, nil
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		return nil, errors.New("unterminated double quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// indexed matches keys with a device number: cobd0, cofs12, eth1, ttys0, exec0.
var indexed = lazyregexp.New(`^(cobd|cofs|eth|ttys|exec)([0-9]+)$`)

// applySource applies settings of one source, refusing a key that source
// already set (seen holds the source's keys so far).
func (b *builder) applySource(settings []setting, seen map[string]setting) error {
	for _, s := range settings {
		key, value, hasValue := strings.Cut(s.text, "=")
		if key == "" {
			return s.errorf("setting without a name")
		}
		norm := key
		if m := indexed.FindStringSubmatch(key); m != nil {
			n, err := strconv.Atoi(m[2])
			if err != nil || n > 99 {
				return s.errorf("bad device number %q", m[2])
			}
			norm = m[1] + strconv.Itoa(n)
		}
		if !known(norm, hasValue) {
			b.cfg.KernelArgs = append(b.cfg.KernelArgs, s.text)
			continue
		}
		if first, dup := seen[norm]; dup {
			at := ""
			if first.line > 0 {
				at = fmt.Sprintf(" (first at line %d)", first.line)
			}
			return s.errorf("%s is given twice%s", norm, at)
		}
		seen[norm] = s
		if !hasValue {
			b.applyWord(key)
			continue
		}
		if err := b.apply(s, norm, value); err != nil {
			return err
		}
	}
	return nil
}

// known reports whether corun handles a key itself; the rest go to the
// guest kernel verbatim (repeats included: console= may be given twice).
func known(key string, hasValue bool) bool {
	if !hasValue {
		return key == "ro" || key == "rw"
	}
	switch key {
	case "kernel", "initrd", "root", "mem", "cpus", "monitor", "cocon", "sysfs", "x11":
		return true
	}
	return indexed.MatchString(key)
}

// applyWord handles ro and rw.
func (b *builder) applyWord(word string) {
	b.cfg.ReadOnly = word == "ro"
}

func (b *builder) apply(s setting, key, value string) error {
	if m := indexed.FindStringSubmatch(key); m != nil {
		n, _ := strconv.Atoi(m[2])
		return b.applyDevice(s, m[1], n, value)
	}
	switch key {
	case "kernel", "initrd":
		if value == "" {
			return s.errorf("%s needs a file name", key)
		}
		if key == "kernel" {
			b.cfg.Kernel = value
		} else {
			b.cfg.Initrd = value
		}
	case "root":
		b.cfg.Root = guestDevice(value)
	case "mem":
		mib, err := parseMemory(value)
		if err != nil {
			return s.errorf("%v", err)
		}
		b.cfg.MemoryMiB = mib
	case "cpus":
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 || n > MaxCPUs {
			return s.errorf("cpus wants a number of CPUs, 1…%d", MaxCPUs)
		}
		b.cfg.CPUs = n
	case "monitor":
		if value == "" {
			return s.errorf("monitor wants uml, qemu or auto")
		}
		b.cfg.Monitor = value
	case "sysfs":
		if value != "ro" && value != "rw" {
			return s.errorf("sysfs wants ro or rw")
		}
		b.cfg.SysfsReadOnly = value == "ro"
	case "x11":
		if value != "on" && value != "off" {
			return s.errorf("x11 wants on or off")
		}
		b.cfg.X11 = value == "on"
	case "cocon":
		b.warn(key, "console size is the terminal's own; ignored")
	}
	return nil
}

func (b *builder) applyDevice(s setting, kind string, n int, value string) error {
	name := kind + strconv.Itoa(n)
	switch kind {
	case "cobd":
		if n >= cobd.MaxDevices {
			return s.errorf("User-mode Linux has cobd0…cobd%d only", cobd.MaxDevices-1)
		}
		file, ro := strings.CutSuffix(value, ",ro")
		if file == "" {
			return s.errorf("%s needs an image file", name)
		}
		b.disks[n] = Disk{Index: n, Path: file, ReadOnly: ro}
	case "cofs":
		if n >= MaxShares {
			return s.errorf("cofs0…cofs%d only", MaxShares-1)
		}
		share, err := parseShare(n, value)
		if err != nil {
			return s.errorf("%v", err)
		}
		b.shares[n] = share
	case "eth":
		nic, err := parseNIC(n, value)
		if err != nil {
			return s.errorf("%v", err)
		}
		b.nics[n] = nic
	case "ttys":
		b.warn(name, "host serial ports are not supported; ignored")
	case "exec":
		b.warn(name, "starting host programs is not supported; ignored")
	}
	return nil
}

// parseShare reads "dir[,/guest/path][,ro]".
func parseShare(n int, value string) (Share, error) {
	parts := strings.Split(value, ",")
	s := Share{Index: n, Path: parts[0], Target: fmt.Sprintf("/mnt/cofs%d", n)}
	if s.Path == "" {
		return s, fmt.Errorf("cofs%d needs a host directory", n)
	}
	for _, opt := range parts[1:] {
		switch {
		case opt == "ro":
			s.ReadOnly = true
		case strings.HasPrefix(opt, "/"):
			s.Target = path.Clean(opt)
		default:
			return s, fmt.Errorf("unknown cofs option %q (want ro or an absolute guest path)", opt)
		}
	}
	return s, nil
}

// parseMemory reads coLinux's mem=, a number of MiB, also accepting the
// suffixes M and G.
func parseMemory(v string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(v, "G"), strings.HasSuffix(v, "g"):
		mult, v = 1024, v[:len(v)-1]
	case strings.HasSuffix(v, "M"), strings.HasSuffix(v, "m"):
		v = v[:len(v)-1]
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 || n > 1<<20/mult {
		return 0, errors.New("mem wants a size in MiB, such as 512, 512M or 2G")
	}
	return n * mult, nil
}

// guestDevice maps coLinux's device names for cobdN (/dev/cobd0 and
// Gentoo's /dev/cobd/0) to the guest's; other names pass unchanged.
func guestDevice(name string) string {
	for _, prefix := range []string{"/dev/cobd/", "/dev/cobd"} {
		if rest, ok := strings.CutPrefix(name, prefix); ok {
			if n, err := strconv.Atoi(rest); err == nil {
				if d := cobd.Device(n); d != "" {
					return d
				}
			}
		}
	}
	return name
}
