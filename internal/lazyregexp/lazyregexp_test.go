package lazyregexp

import "testing"

func TestCompilesOnFirstUse(t *testing.T) {
	bad := New(`(`) // would panic at start-up if compiled there
	defer func() {
		if recover() == nil {
			t.Error("a bad expression did not panic when used")
		}
	}()
	re := New(`^a([0-9]+)$`)
	if !re.MatchString("a12") || re.MatchString("b12") {
		t.Error("MatchString")
	}
	if m := re.FindStringSubmatch("a7"); len(m) != 2 || m[1] != "7" {
		t.Errorf("FindStringSubmatch = %q", m)
	}
	if m := re.FindAllSubmatch([]byte("a3"), -1); len(m) != 1 || string(m[0][1]) != "3" {
		t.Errorf("FindAllSubmatch = %q", m)
	}
	if s := New(`[^a-z]+`).ReplaceAllString("a b!!c", "-"); s != "a-b-c" {
		t.Errorf("ReplaceAllString = %q", s)
	}
	bad.MatchString("x")
}
