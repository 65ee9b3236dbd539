package rootfs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// idMap resolves the tree's own user and group names, not the host's.
type idMap struct {
	users, groups map[string]int
}

func readIDs(t *os.Root) (*idMap, error) {
	m := &idMap{}
	var err error
	if m.users, err = readIDFile(t, "etc/passwd"); err != nil {
		return nil, err
	}
	if m.groups, err = readIDFile(t, "etc/group"); err != nil {
		return nil, err
	}
	return m, nil
}

// readIDFile maps the first field of each line of a passwd or group file
// to the third (the ID).
func readIDFile(t *os.Root, name string) (map[string]int, error) {
	data, err := t.ReadFile(name)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 3 {
			continue
		}
		if id, err := strconv.Atoi(f[2]); err == nil {
			out[f[0]] = id
		}
	}
	return out, sc.Err()
}

// owner resolves "user:group", each a name in the tree or a number.
func (m *idMap) owner(spec string) (uid, gid int, err error) {
	u, g, _ := strings.Cut(spec, ":")
	if uid, err = lookupID(m.users, u, "user"); err != nil {
		return 0, 0, err
	}
	gid, err = lookupID(m.groups, g, "group")
	return uid, gid, err
}

func lookupID(ids map[string]int, name, kind string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	if id, ok := ids[name]; ok {
		return id, nil
	}
	return 0, fmt.Errorf("owner: no %s %q in the image", kind, name)
}
