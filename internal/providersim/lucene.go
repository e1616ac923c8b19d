package providersim

import (
	"strings"
	"unicode"
)

// A small Lucene query parser, enough for the queries MusicBrainz clients send
// (notes §2.2): field:value, field:"phrase", field:(a b), field:[a TO b], AND/OR/NOT,
// &&/||/!, +/- prefixes, backslash escapes, trailing ~ and *. The default operator is OR,
// as in Lucene.

type occur int

const (
	occurShould occur = iota
	occurMust
	occurMustNot
)

type lclause struct {
	occur occur
	field string // "" = default field
	terms []string
	// fuzzy marks the terms written with a trailing "~" (term~, term~2): they
	// also match words a few edits away (fuzzyDistance). nil when none is.
	fuzzy  []bool
	raw    string // unfolded value, for id fields
	phrase bool
	lo, hi string // range [lo TO hi]
	group  []lclause
}

type lparser struct {
	s   []rune
	pos int
}

func parseLucene(q string) []lclause {
	p := &lparser{s: []rune(q)}
	return p.clauses("", false)
}

func (p *lparser) skipSpace() {
	for p.pos < len(p.s) && unicode.IsSpace(p.s[p.pos]) {
		p.pos++
	}
}

func (p *lparser) peekWord(w string) bool {
	rs := []rune(w)
	if p.pos+len(rs) > len(p.s) || string(p.s[p.pos:p.pos+len(rs)]) != w {
		return false
	}
	end := p.pos + len(rs)
	return end == len(p.s) || unicode.IsSpace(p.s[end]) || p.s[end] == '('
}

func (p *lparser) clauses(field string, inGroup bool) []lclause {
	var out []lclause
	pendingMust := false
	next := occurShould
	for {
		p.skipSpace()
		if p.pos >= len(p.s) {
			return out
		}
		switch {
		case p.s[p.pos] == ')':
			p.pos++
			if inGroup {
				return out
			}
			continue
		case p.peekWord("AND"), p.peekWord("&&"):
			p.pos += 2 + boolToInt(p.s[p.pos] == 'A')
			if len(out) > 0 && out[len(out)-1].occur == occurShould {
				out[len(out)-1].occur = occurMust
			}
			pendingMust = true
			continue
		case p.peekWord("OR"), p.peekWord("||"):
			p.pos += 2
			continue
		case p.peekWord("NOT"):
			p.pos += 3
			next = occurMustNot
			continue
		case p.s[p.pos] == '!' || p.s[p.pos] == '-':
			p.pos++
			next = occurMustNot
			continue
		case p.s[p.pos] == '+':
			p.pos++
			next = occurMust
			continue
		}
		c := p.clause(field)
		c.occur = next
		if pendingMust && c.occur == occurShould {
			c.occur = occurMust
		}
		pendingMust, next = false, occurShould
		out = append(out, c)
	}
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// clause parses [field:]value.
func (p *lparser) clause(field string) lclause {
	start := p.pos
	for p.pos < len(p.s) && (unicode.IsLetter(p.s[p.pos]) || unicode.IsDigit(p.s[p.pos]) || p.s[p.pos] == '-' || p.s[p.pos] == '_') {
		p.pos++
	}
	if p.pos < len(p.s) && p.s[p.pos] == ':' && p.pos > start {
		field = strings.ToLower(string(p.s[start:p.pos]))
		p.pos++
	} else {
		p.pos = start
	}
	c := lclause{field: field}
	if p.pos >= len(p.s) {
		return c
	}
	switch p.s[p.pos] {
	case '"':
		p.pos++
		v := p.until(func(r rune) bool { return r == '"' })
		p.pos++ // closing quote
		p.skipSuffix()
		c.raw, c.terms, c.phrase = v, words(v), true
	case '(':
		p.pos++
		c.group = p.clauses(field, true)
		if merged, ok := mergeTerms(field, c.group); ok {
			return merged
		}
	case '[', '{':
		p.pos++
		v := p.until(func(r rune) bool { return r == ']' || r == '}' })
		p.pos++
		lo, hi, _ := strings.Cut(v, " TO ")
		c.lo, c.hi = strings.TrimSpace(lo), strings.TrimSpace(hi)
	default:
		v := p.until(func(r rune) bool { return unicode.IsSpace(r) || r == ')' })
		fuzzy := false
		if i := strings.IndexAny(v, "^~"); i > 0 { // boost or fuzziness suffix
			fuzzy = strings.Contains(v[i:], "~")
			v = v[:i]
		}
		v = strings.TrimRight(v, "*")
		c.raw, c.terms = v, words(v)
		if fuzzy {
			c.fuzzy = make([]bool, len(c.terms))
			for i := range c.fuzzy {
				c.fuzzy[i] = true
			}
		}
	}
	return c
}

func (p *lparser) skipSuffix() {
	for p.pos < len(p.s) && (p.s[p.pos] == '~' || p.s[p.pos] == '^' || unicode.IsDigit(p.s[p.pos])) {
		p.pos++
	}
}

// until reads up to (not including) the first rune for which stop is true, removing
// backslash escapes.
func (p *lparser) until(stop func(rune) bool) string {
	var b strings.Builder
	for p.pos < len(p.s) {
		r := p.s[p.pos]
		if r == '\\' && p.pos+1 < len(p.s) {
			b.WriteRune(p.s[p.pos+1])
			p.pos += 2
			continue
		}
		if stop(r) {
			break
		}
		b.WriteRune(r)
		p.pos++
	}
	return b.String()
}

// mergeTerms turns field:(a b c) into one clause over the words a b c, scored by how many
// of them match, the way Picard's builder means it.
func mergeTerms(field string, group []lclause) (lclause, bool) {
	if len(group) == 0 {
		return lclause{}, false
	}
	out := lclause{field: field}
	var raws []string
	fuzzy := false
	for _, g := range group {
		if g.occur != occurShould || g.group != nil || g.phrase || g.lo != "" || g.field != field {
			return lclause{}, false
		}
		fuzzy = fuzzy || g.fuzzy != nil
	}
	for _, g := range group {
		out.terms = append(out.terms, g.terms...)
		if fuzzy {
			if g.fuzzy != nil {
				out.fuzzy = append(out.fuzzy, g.fuzzy...)
			} else {
				out.fuzzy = append(out.fuzzy, make([]bool, len(g.terms))...)
			}
		}
		raws = append(raws, g.raw)
	}
	out.raw = strings.Join(raws, " ")
	return out, true
}
