package config

import (
	"fmt"
	"reflect"
	"strings"
)

// placeholderMarkers are the values example secrets ship with (deploy/k8s/base/secret.yaml,
// deploy/k8s/overlays/example/secrets.example.env). A variable that still contains one was
// copied from an example and never set: the binary refuses to start with it, so that a pod with
// example secrets crash-loops and never becomes ready instead of running against nothing.
var placeholderMarkers = []string{"CHANGE_ME", "CHANGEME", "REPLACE_ME", "REPLACE_USER", "REPLACE_PASSWORD"}

// placeholderErrors checks the string fields with an `env` tag of the struct v (its own fields,
// not those of embedded structs, which validate themselves) and returns one error per variable
// that still holds a placeholder. The value is not printed: it may carry a real password next to
// the placeholder.
func placeholderErrors(v any) []error {
	rv := reflect.ValueOf(v)
	rt := rv.Type()
	var errs []error
	for i := range rt.NumField() {
		f := rt.Field(i)
		name := f.Tag.Get("env")
		if f.Anonymous || name == "" {
			continue
		}
		var values []string
		switch fv := rv.Field(i); fv.Kind() {
		case reflect.String:
			values = []string{fv.String()}
		case reflect.Slice:
			if fv.Type().Elem().Kind() == reflect.String {
				for j := range fv.Len() {
					values = append(values, fv.Index(j).String())
				}
			}
		}
		for _, val := range values {
			if marker := placeholderIn(val); marker != "" {
				errs = append(errs, fmt.Errorf("%s: still holds the example placeholder %q; set the real value (docs/deploy.md#kubernetes)", name, marker))
				break
			}
		}
	}
	return errs
}

// placeholderIn returns the placeholder marker val contains, or "".
func placeholderIn(val string) string {
	upper := strings.ToUpper(val)
	for _, m := range placeholderMarkers {
		if strings.Contains(upper, m) {
			return m
		}
	}
	return ""
}
