package match

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The parser's fast paths (no regular expressions for the common ASCII
// cases) must agree exactly with the regular expressions they spare. These
// are the reference implementations they are held to.

var bracketRE = regexp.MustCompile(`\s*[\(\[\{]([^\(\)\[\]\{\}]*)[\)\]\}]`)

func keyRef(s string) string { return regexpKey(Fold(s)) }

func splitArtistsRef(s string) []string {
	if s = strings.TrimSpace(s); s == "" {
		return nil
	}
	return regexpSplitArtists(s)
}

func numbersRef(k string) string {
	ns := regexp.MustCompile(`\d+`).FindAllString(k, -1)
	for i, n := range ns {
		ns[i] = strings.TrimLeft(n, "0")
	}
	sort.Strings(ns)
	return strings.Join(ns, " ")
}

func levenshteinRef(a, b string) int { return levenshtein([]rune(a), []rune(b)) }

// checkFastPaths reports every disagreement between a fast path and its
// reference on s.
func checkFastPaths(t *testing.T, s string) {
	t.Helper()
	if got, want := Key(s), keyRef(s); got != want {
		t.Errorf("Key(%q) = %q, want %q", s, got, want)
	}
	if got, want := findBracket(s), bracketRE.FindStringSubmatchIndex(s); !reflect.DeepEqual(got, want) {
		t.Errorf("findBracket(%q) = %v, want %v", s, got, want)
	}
	if got, want := splitArtists(s), splitArtistsRef(s); !reflect.DeepEqual(got, want) {
		t.Errorf("splitArtists(%q) = %q, want %q", s, got, want)
	}
	if got, want := numbers(s), numbersRef(s); got != want {
		t.Errorf("numbers(%q) = %q, want %q", s, got, want)
	}
	if !mayFeature(s) && (featInlineRE.MatchString(s) || featSplit.MatchString(" "+s+" ")) {
		t.Errorf("mayFeature(%q) = false, but a feat. expression matches", s)
	}
	if !mayFeatureBracket(s) && featRE.MatchString(s) {
		t.Errorf("mayFeatureBracket(%q) = false, but featRE matches", s)
	}
	if !maySplit(s) && len(artistSplit.Split(" "+s+" ", -1)) > 1 {
		t.Errorf("maySplit(%q) = false, but artistSplit splits it", s)
	}
	if !strings.ContainsAny(s, "-–—") && dashSuffixRE.MatchString(s) {
		t.Errorf("dashSuffixRE matches %q without a dash", s)
	}
	k := Key(s)
	if !versionWords[k[strings.LastIndexByte(k, ' ')+1:]] && namedVersionRE.MatchString(k) {
		t.Errorf("versionWords gate refuses %q, but namedVersionRE matches", k)
	}
	if !strings.Contains(k, "remaster") && remasterRE.MatchString(k) {
		t.Errorf("remaster gate refuses %q, but remasterRE matches", k)
	}
	if !strings.HasPrefix(k, "id") && numberedIDRE.MatchString(k) {
		t.Errorf("id gate refuses %q, but numberedIDRE matches", k)
	}
	if isASCII(s) {
		for _, o := range []string{"", "bicep", "glue", strings.ToUpper(s), s + "x"} {
			if got, want := levenshtein([]byte(s), []byte(o)), levenshteinRef(s, o); got != want {
				t.Errorf("levenshtein over bytes (%q, %q) = %d, want %d over runes", s, o, got, want)
			}
		}
	}
}

// edgeStrings are separators, brackets and white space the corpus may not
// hold.
var edgeStrings = []string{
	"", " ", "a", "(", ")", "()", "( )", "[x]", "{y}", "a (b", "a (b [c] d)", "a (b) (c)", "a\t(b)", "x (y] z",
	"((a))", "a)(b)", "Title  -  Extended Mix", "A - B - C", "A – B", "A—B", "Feat. X", "ft X", "FT. X",
	"with Y", "Withy", "a feat b", "a featuring b", "a,b", "a; b", "a/b", "a & b", "a&b", "a + b", "a and b",
	"A AND B", "a x b", "X Ambassadors", "a vs. b", "a VS b", "a versus b", "a meets b", "a pres. b",
	"a presents b", "a\tand\tb", "a\nx\nb", "Track 07", "id2", "ID 3", "00 7 0070", "rock'n'roll", "Above & Beyond",
	"Röyksopp", "Âme & Dixon", "Sigur Rós", "Mø ft. Diplo", "ſ", "K", "Ünïcödé (Ëxtended Mïx)", "DJ Koze (2)",
	"Weiss (UK)", "Artist*", "2019 Remaster", "Remastered 2011", "Bicep Remix", "Extended VIP Mix", "re work",
}

// corpusStrings are every string of the simulator's catalog and the
// evaluation set: real artist and title spellings.
func corpusStrings(t *testing.T) []string {
	t.Helper()
	set := map[string]bool{}
	var collect func(v any)
	collect = func(v any) {
		switch x := v.(type) {
		case string:
			set[x] = true
		case []any:
			for _, e := range x {
				collect(e)
			}
		case map[string]any:
			for _, e := range x {
				collect(e)
			}
		}
	}
	b, err := os.ReadFile("../../testdata/catalog/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	collect(v)
	f, err := os.Open("../../testdata/eval/cases.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var c any
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		collect(c)
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func TestFastPathsAgreeWithExpressions(t *testing.T) {
	strs := append(corpusStrings(t), edgeStrings...)
	if len(strs) < 1000 {
		t.Fatalf("corpus has %d strings, want at least 1000", len(strs))
	}
	for _, s := range strs {
		checkFastPaths(t, s)
		// The same words in bracket and dash positions.
		checkFastPaths(t, "Title ("+s+")")
		checkFastPaths(t, "Title - "+s)
	}
}

func FuzzFastPaths(f *testing.F) {
	for _, s := range edgeStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkFastPaths(t, s)
	})
}
