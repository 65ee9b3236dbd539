package recipe

import (
	"fmt"
	"reflect"
	"strings"
	"text/template"
	"text/template/parse"
)

// expand runs every string value of the recipe (except the variables
// themselves) through text/template with the variables as data, so
// "{{ .release }}" becomes the variable's value. A literal "{{" is written
// {{ "{{" }}. Errors carry the line of the value's key.
func (r *Recipe) expand() error {
	var errs []error
	eachString(reflect.ValueOf(r).Elem(), "", func(s reflect.Value, path string) {
		out, err := expandString(s.String(), r.Variables)
		if err != nil {
			errs = append(errs, r.errorAt(path, "%v", err))
			return
		}
		s.SetString(out)
	})
	return joinSorted(errs)
}

func expandString(text string, vars map[string]string) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	t, err := template.New("").Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("template %s", strings.TrimPrefix(err.Error(), "template: :"))
	}
	// Only substitution is allowed: no loops to hang a build, no logic to
	// hide what a recipe does. Checked before running so the message is
	// plain.
	for _, n := range t.Root.Nodes {
		if _, ok := n.(*parse.TextNode); ok {
			continue
		}
		name, literal, ok := substitution(n)
		switch {
		case !ok:
			return "", fmt.Errorf("only {{ .name }} substitution is supported, got %s", n)
		case !literal && !hasKey(vars, name):
			return "", fmt.Errorf("undefined variable %q (define it under variables)", name)
		}
	}
	var b strings.Builder
	if err := t.Execute(&b, vars); err != nil {
		return "", fmt.Errorf("template %s", strings.TrimPrefix(err.Error(), "template: :"))
	}
	return b.String(), nil
}

// substitution recognizes {{ .name }} and a quoted literal such as
// {{ "{{" }}, the way to write braces.
func substitution(n parse.Node) (name string, literal, ok bool) {
	a, isAction := n.(*parse.ActionNode)
	if !isAction || len(a.Pipe.Decl) > 0 || len(a.Pipe.Cmds) != 1 || len(a.Pipe.Cmds[0].Args) != 1 {
		return "", false, false
	}
	switch arg := a.Pipe.Cmds[0].Args[0].(type) {
	case *parse.FieldNode:
		if len(arg.Ident) == 1 {
			return arg.Ident[0], false, true
		}
	case *parse.StringNode:
		return "", true, true
	}
	return "", false, false
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// eachString calls fn for every string reachable from v through recipe
// keys, with its key path as the decoder records it.
func eachString(v reflect.Value, path string, fn func(s reflect.Value, path string)) {
	switch v.Kind() {
	case reflect.String:
		fn(v, path)
	case reflect.Pointer:
		if !v.IsNil() {
			eachString(v.Elem(), path, fn)
		}
	case reflect.Slice:
		for i := range v.Len() {
			eachString(v.Index(i), fmt.Sprintf("%s[%d]", path, i), fn)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			name, inline := yamlKey(v.Type().Field(i))
			switch {
			case inline:
				eachString(v.Field(i), path, fn)
			case name != "":
				eachString(v.Field(i), joinPath(path, name), fn)
			}
		}
	}
	// Maps are not walked: the only one is variables, which is the data.
}
