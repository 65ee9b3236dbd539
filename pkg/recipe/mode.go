package recipe

import (
	"fmt"
	"strconv"
	"strings"
)

// Mode holds Unix permission bits as chmod(1) takes them, including the
// setuid, setgid and sticky bits (07777).
type Mode uint32

// DefaultMode is the mode of a file whose recipe entry gives none.
const DefaultMode Mode = 0o644

func (m Mode) String() string { return fmt.Sprintf("%04o", uint32(m)) }

// MarshalText writes the mode as recipes do, e.g. 0644.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// parseScalar takes three or four octal digits ("644", "0644", "0o644").
// The raw YAML text is used, so an unquoted 0644 is octal as a reader
// expects, never decimal 644.
func (m *Mode) parseScalar(text string) error {
	digits := strings.TrimPrefix(text, "0o")
	n, err := strconv.ParseUint(digits, 8, 32)
	if err != nil || len(digits) < 3 || len(digits) > 4 {
		return fmt.Errorf("want an octal mode like \"0644\", got %q", text)
	}
	*m = Mode(n)
	return nil
}
