// Package cliflags lets a command's flags follow its arguments, as
// qemu-img's and most Unix tools' do (`coimage convert IN OUT --force`).
// urfave/cli v2 reads flags only up to a command's first argument and
// takes the rest as arguments.
package cliflags

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// FlagsFirst returns a command line (os.Args: the program, then a command
// of commands, then its words) with the command's flags moved, in their
// order, before its arguments. A flag that takes a value moves with the
// word after it unless written --flag=VALUE. Words from "--" on stay where
// they are: they are arguments, whatever they look like (a guest's
// command, a file named -x). Unknown flags move too, so that the parser
// rejects them by name. Other command lines come back unchanged.
func FlagsFirst(commands []*cli.Command, args []string) []string {
	if len(args) < 3 {
		return args
	}
	var cmd *cli.Command
	for _, c := range commands {
		if c.HasName(args[1]) {
			cmd = c
		}
	}
	if cmd == nil || cmd.SkipFlagParsing {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		d, ok := f.(cli.DocGenerationFlag)
		for _, name := range f.Names() {
			takesValue[name] = ok && d.TakesValue()
		}
	}
	var flags, rest []string
	words := args[2:]
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w == "--" {
			rest = append(rest, words[i:]...)
			break
		}
		if w == "-" || !strings.HasPrefix(w, "-") {
			rest = append(rest, w)
			continue
		}
		flags = append(flags, w)
		name, _, inline := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if takesValue[name] && !inline && i+1 < len(words) {
			i++
			flags = append(flags, words[i])
		}
	}
	return append(append([]string{args[0], args[1]}, flags...), rest...)
}
