package kubeconfig

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestContexts(t *testing.T) {
	for _, c := range []struct {
		name, raw string
		want      []string
		current   string
		field     string // of the error; "" for none
	}{
		{"two", "current-context: b\ncontexts:\n- name: a\n  context: {cluster: x, user: y}\n- name: b\n", []string{"a", "b"}, "b", ""},
		{"current unknown", "current-context: zz\ncontexts:\n- name: a\n", []string{"a"}, "", ""},
		{"duplicates and junk", "contexts:\n- name: a\n- name: a\n- 7\n- {name: 3}\n- name: '\"><script>'\n", []string{"a", `"><script>`}, "", ""},
		{"json", `{"contexts":[{"name":"j"}],"current-context":"j"}`, []string{"j"}, "j", ""},
		{"none", "clusters: []\n", nil, "", "contexts"},
		{"empty", "", nil, "", "(file)"},
		{"not yaml", "token: s3cret\n  : : [", nil, "", "(file)"},
	} {
		names, cur, err := Contexts([]byte(c.raw))
		var fe *FieldError
		switch {
		case c.field != "":
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Errorf("%s: error %v, want one of field %s", c.name, err, c.field)
			} else if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("%s: the error quotes the file: %v", c.name, err)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case !slices.Equal(names, c.want) || cur != c.current:
			t.Errorf("%s: %q %q, want %q %q", c.name, names, cur, c.want, c.current)
		}
	}
}
