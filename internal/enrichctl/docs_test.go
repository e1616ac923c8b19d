package enrichctl

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// shellWords splits a command line as a POSIX shell would for the simple
// lines docs hold: quotes, backslash-newline, comments, and it stops at a
// pipe, a redirection or && (what follows is another command).
func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	quote := byte(0)
	flush := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			quote, inWord = c, true
		case c == '\\' && i+1 < len(line):
			i++
			if line[i] != '\n' {
				cur.WriteByte(line[i])
				inWord = true
			}
		case c == ' ' || c == '\t' || c == '\n':
			flush()
		case c == '#' && !inWord:
			flush()
			return words
		case c == '|' || c == '>' || c == '<' || c == '&' || c == ';':
			flush()
			return words
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return words
}

var (
	fenceRE  = regexp.MustCompile("(?s)```(\\w*)\n(.*?)```")
	inlineRE = regexp.MustCompile("`(enrichctl [^`]+)`")
)

// docCommandLines finds every enrichctl command line in the docs: in code
// blocks (also after `$ ` or `&&`, and as the arguments of a compose run
// with enrichctl as entrypoint) and in inline code spans. Spans with a
// placeholder (`...`, `<...>`, `N`) are left out.
func docCommandLines(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../README.md")
	out := map[string][]string{}
	add := func(file, line string) {
		if strings.Contains(line, "...") || strings.Contains(line, "…") || regexp.MustCompile(`<[a-z ]+>|\bN\b|\bFILE\b|\bD\b`).MatchString(line) {
			return
		}
		out[file+": "+strings.TrimSpace(line)] = shellWords(line)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, m := range fenceRE.FindAllStringSubmatch(text, -1) {
			body := strings.ReplaceAll(m[2], "\\\n", " ")
			for _, line := range strings.Split(body, "\n") {
				for _, part := range strings.Split(line, "&&") {
					part = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(part), "$ "))
					if i := strings.Index(part, "--entrypoint /usr/local/bin/enrichctl "); i >= 0 {
						// docker compose ... run --entrypoint .../enrichctl SERVICE ARGS
						w := shellWords(part[i+len("--entrypoint /usr/local/bin/enrichctl "):])
						if len(w) > 1 {
							add(f, "enrichctl "+strings.Join(quoteWords(w[1:]), " "))
						}
						continue
					}
					if strings.HasPrefix(part, "enrichctl ") || strings.HasPrefix(part, "bin/enrichctl ") {
						add(f, strings.TrimPrefix(part, "bin/"))
					}
				}
			}
		}
		for _, m := range inlineRE.FindAllStringSubmatch(text, -1) {
			add(f, m[1])
		}
	}
	return out
}

func quoteWords(ws []string) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		if strings.ContainsAny(w, " \t") {
			w = "'" + w + "'"
		}
		out[i] = w
	}
	return out
}

// TestDocsCommandLinesAreValid checks every enrichctl command line the docs
// show against the CLI: the verb exists, every flag exists and takes the
// value given, no stray argument, no conflicting flags. Nothing runs.
func TestDocsCommandLinesAreValid(t *testing.T) {
	t.Parallel()
	lines := docCommandLines(t)
	if len(lines) < 30 {
		t.Fatalf("found %d enrichctl command lines in the docs, want more: %v", len(lines), lines)
	}
	// Lines the docs show as errors.
	wantInvalid := map[string]bool{"enrichctl dlq replay all --dry-run": true}
	for where, words := range lines {
		if len(words) == 0 || words[0] != "enrichctl" {
			continue
		}
		bad := wantInvalid[strings.Join(words, " ")]
		root := newRoot(&app{ctx: context.Background(), env: Env{}.withDefaults()})
		root.InitDefaultHelpCmd()
		root.InitDefaultCompletionCmd()
		cmd, rest, err := root.Find(words[1:])
		if err == nil {
			if err = cmd.ParseFlags(rest); errors.Is(err, pflag.ErrHelp) {
				err = nil
			}
		}
		if err == nil && !cmd.Flags().Changed("help") {
			err = cmd.ValidateArgs(cmd.Flags().Args())
		}
		if err == nil {
			err = cmd.ValidateFlagGroups()
		}
		if err == nil && cmd.RunE == nil && cmd.Run == nil && !cmd.Flags().Changed("help") {
			t.Errorf("%s: %q is not a command that runs", where, cmd.CommandPath())
			continue
		}
		switch {
		case bad && err == nil:
			t.Errorf("%s: the docs show it as an error, but it is valid", where)
		case !bad && err != nil:
			t.Errorf("%s: %v", where, err)
		}
	}
	t.Logf("%d enrichctl command lines in docs/ and the README are valid", len(lines))
}
