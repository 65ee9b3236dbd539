package cliflags

import (
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

var convert = &cli.Command{
	Name: "convert",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "force"},
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}},
		&cli.IntFlag{Name: "partition"},
	},
}

func TestFlagsFirst(t *testing.T) {
	skip := &cli.Command{Name: "build", SkipFlagParsing: true}
	commands := []*cli.Command{convert, skip}
	for _, tc := range []struct{ in, want string }{
		{"coimage convert in out --force", "coimage convert --force in out"},
		{"coimage convert in --partition 2 out", "coimage convert --partition 2 in out"},
		{"coimage convert in out -f vmdk --force=false", "coimage convert -f vmdk --force=false in out"},
		{"coimage convert --format=vdi in out", "coimage convert --format=vdi in out"},
		// a value that looks like a flag is still the value
		{"coimage convert in out --partition -1", "coimage convert --partition -1 in out"},
		{"coimage convert in out --bogus", "coimage convert --bogus in out"},
		{"coimage convert - out --force", "coimage convert --force - out"},
		{"coimage convert in -- -x --force", "coimage convert in -- -x --force"},
		{"coimage convert in out --partition", "coimage convert --partition in out"},
		{"coimage build recipe --output x", "coimage build recipe --output x"},
		{"coimage nosuch a --b", "coimage nosuch a --b"},
		{"coimage --version", "coimage --version"},
	} {
		got := FlagsFirst(commands, strings.Fields(tc.in))
		if !slices.Equal(got, strings.Fields(tc.want)) {
			t.Errorf("%s: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestParsedByCLI: what FlagsFirst returns, urfave/cli reads as meant.
func TestParsedByCLI(t *testing.T) {
	var force bool
	var format string
	var args []string
	cmd := *convert
	cmd.Action = func(c *cli.Context) error {
		force, format, args = c.Bool("force"), c.String("format"), c.Args().Slice()
		return nil
	}
	app := &cli.App{Commands: []*cli.Command{&cmd}}
	line := strings.Fields("coimage convert in.vmdk out.img --force -f vmdk")
	if err := app.Run(FlagsFirst(app.Commands, line)); err != nil {
		t.Fatal(err)
	}
	if !force || format != "vmdk" || !slices.Equal(args, []string{"in.vmdk", "out.img"}) {
		t.Errorf("force=%v format=%q args=%q", force, format, args)
	}
}
