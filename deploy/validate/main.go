package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "validate:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	root := fs.String("root", "../..", "repository root")
	write := fs.Bool("write", false, "write the generated files of the kustomize base before checking")
	out := fs.String("out", "", "write each rendered build to DIR/<build>.yaml")
	if err := fs.Parse(args); err != nil {
		return err
	}
	abs, err := filepath.Abs(*root)
	if err != nil {
		return err
	}
	if *write {
		written, err := writeGenerated(abs)
		if err != nil {
			return err
		}
		fmt.Printf("generated %s\n", strings.Join(written, ", "))
	}
	if stale, err := staleGenerated(abs); err != nil {
		return err
	} else if len(stale) > 0 {
		return fmt.Errorf("generated files out of date: %v (run make manifests)", stale)
	}
	tmp, err := os.MkdirTemp("", "validate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bs, err := builds(abs, tmp)
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range bs {
		objs, err := renderAndDecode(ctx, b)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", b.name, err))
			continue
		}
		errs = append(errs, checkObjects(abs, b, objs)...)
		kinds := map[string]int{}
		for _, o := range objs {
			kinds[o.kind]++
		}
		var ks []string
		for k, n := range kinds {
			ks = append(ks, fmt.Sprintf("%s×%d", k, n))
		}
		sort.Strings(ks)
		fmt.Printf("%-32s %2d objects decoded strictly: %s\n", b.name, len(objs), strings.Join(ks, " "))
		if *out != "" {
			rendered, err := render(ctx, b.dir)
			if err != nil {
				return err
			}
			name := strings.NewReplacer("/", "_", "+", "_").Replace(b.name) + ".yaml"
			if err := os.MkdirAll(*out, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(*out, name), rendered, 0o644); err != nil {
				return err
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Printf("%d builds valid\n", len(bs))
	return nil
}
