package tokenizer

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// piece is a pre-token: a part of the normalized text the model encodes on
// its own. atStart is set on the piece that begins the input text (what
// Metaspace's prepend_scheme "first" looks at).
type piece struct {
	text    string
	atStart bool
}

// preTokenizer is one of tokenizer.json's pre-tokenizers: it cuts pieces
// into smaller ones (and may rewrite them).
type preTokenizer func([]piece) []piece

// newPreTokenizer builds the pre-tokenizer c describes; field names it in
// errors.
func newPreTokenizer(file, field string, c *componentJSON) (preTokenizer, error) {
	switch c.Type {
	case "Sequence":
		seq, err := parseSequence(file, field+".pretokenizers", c.PreTokenizers, newPreTokenizer)
		if err != nil {
			return nil, err
		}
		return func(pieces []piece) []piece {
			for _, p := range seq {
				pieces = p(pieces)
			}
			return pieces
		}, nil
	case "Metaspace":
		repl, prepend, err := metaspaceSettings(file, field, c)
		if err != nil {
			return nil, err
		}
		split := boolOr(c.Split, true)
		return eachPiece(func(p piece, out []piece) []piece {
			s := strings.ReplaceAll(p.text, " ", repl)
			if !strings.HasPrefix(s, repl) && (prepend == "always" || prepend == "first" && p.atStart) {
				s = repl + s
			}
			if !split {
				return append(out, piece{s, p.atStart})
			}
			return splitPiece(out, piece{s, p.atStart}, literalMatches(s, repl), "MergedWithNext")
		}), nil
	case "ByteLevel":
		return byteLevelPreTokenizer(c.AddPrefixSpace != nil && *c.AddPrefixSpace, boolOr(c.UseRegex, true)), nil
	case "Split":
		pat, err := newPattern(file, field+".pattern", c.Pattern)
		if err != nil {
			return nil, err
		}
		switch c.Behavior {
		case "Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous":
		default:
			return nil, fmt.Errorf("%s: field %s.behavior: %q is not one of Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous", file, field, c.Behavior)
		}
		behavior, invert := c.Behavior, c.Invert
		return eachPiece(func(p piece, out []piece) []piece {
			spans := pat.spans(p.text)
			if invert {
				for i := range spans {
					spans[i].match = !spans[i].match
				}
			}
			return splitPiece(out, p, spans, behavior)
		}), nil
	case "WhitespaceSplit":
		return eachPiece(func(p piece, out []piece) []piece {
			first := true
			for _, w := range strings.FieldsFunc(p.text, unicode.IsSpace) {
				out = append(out, piece{w, p.atStart && first && strings.HasPrefix(p.text, w)})
				first = false
			}
			return out
		}), nil
	}
	return nil, unsupportedType(file, field, c.Type, "Sequence, Metaspace, ByteLevel, Split and WhitespaceSplit")
}

// eachPiece makes a pre-tokenizer of a function that appends the pieces
// one piece becomes.
func eachPiece(f func(p piece, out []piece) []piece) preTokenizer {
	return func(pieces []piece) []piece {
		var out []piece
		for _, p := range pieces {
			out = f(p, out)
		}
		return out
	}
}

// metaspaceSettings reads a Metaspace pre-tokenizer's or decoder's
// replacement and prepend scheme (always, first or never), where older
// files write add_prefix_space instead, as Hugging Face reads them.
func metaspaceSettings(file, field string, c *componentJSON) (repl, prepend string, err error) {
	if c.Replacement == nil || utf8.RuneCountInString(*c.Replacement) != 1 {
		return "", "", fmt.Errorf("%s: field %s.replacement: want one character", file, field)
	}
	prepend = "always"
	if c.AddPrefixSpace != nil && !*c.AddPrefixSpace {
		prepend = "never"
	}
	if c.PrependScheme != nil {
		switch p := *c.PrependScheme; {
		case p != "always" && p != "first" && p != "never":
			return "", "", fmt.Errorf("%s: field %s.prepend_scheme: %q is not always, first or never", file, field, p)
		case c.AddPrefixSpace != nil && *c.AddPrefixSpace == (p == "never"):
			return "", "", fmt.Errorf("%s: field %s: add_prefix_space does not match prepend_scheme %q", file, field, p)
		default:
			prepend = p
		}
	}
	return *c.Replacement, prepend, nil
}

// byteLevelPreTokenizer is Hugging Face's ByteLevel pre-tokenizer: a space
// put before each piece that does not start with one (addPrefixSpace), the
// piece cut by GPT-2's pattern (useRegex), and its bytes spelled in GPT-2's
// printable characters.
func byteLevelPreTokenizer(addPrefixSpace, useRegex bool) preTokenizer {
	return eachPiece(func(p piece, out []piece) []piece {
		s := p.text
		if addPrefixSpace && !strings.HasPrefix(s, " ") {
			s = " " + s
		}
		for first := true; s != ""; first = false {
			n := len(s)
			if useRegex {
				n = gpt2Split(s)
			}
			out = append(out, piece{byteLevelChars(s[:n]), p.atStart && first})
			s = s[n:]
		}
		return out
	})
}

// byteLevelChars spells s's UTF-8 bytes in GPT-2's printable characters.
func byteLevelChars(s string) string {
	var b strings.Builder
	for i := range len(s) {
		b.WriteRune(byteToRune[s[i]])
	}
	return b.String()
}

// span is a part of a piece's text: a pattern match or the text between.
type span struct {
	start, end int
	match      bool
}

// splitPiece appends the pieces p becomes when cut at spans (which cover
// its text in order), with the matches treated as Hugging Face's
// SplitDelimiterBehavior says: kept on their own (Isolated), dropped
// (Removed), joined to the piece before or after (MergedWithPrevious,
// MergedWithNext), or consecutive ones joined (Contiguous). Empty pieces
// are dropped.
func splitPiece(out []piece, p piece, spans []span, behavior string) []piece {
	var parts []span
	for i, sp := range spans {
		last := len(parts) - 1
		switch {
		case behavior == "Removed" && sp.match:
			continue
		case behavior == "MergedWithPrevious" && sp.match && last >= 0 && (i == 0 || !spans[i-1].match):
			parts[last].end = sp.end
			continue
		case behavior == "MergedWithNext" && last >= 0 && parts[last].match && !sp.match:
			parts[last].end, parts[last].match = sp.end, false
			continue
		case behavior == "Contiguous" && sp.match && last >= 0 && parts[last].match:
			parts[last].end = sp.end
			continue
		}
		if behavior == "MergedWithNext" && sp.match && last >= 0 && parts[last].match {
			parts[last].match = false // a match followed by a match stays alone
		}
		parts = append(parts, sp)
	}
	for _, sp := range parts {
		if sp.end > sp.start {
			out = append(out, piece{p.text[sp.start:sp.end], p.atStart && sp.start == 0})
		}
	}
	return out
}

// literalMatches returns the spans of s cut at each occurrence of lit.
func literalMatches(s, lit string) []span {
	var spans []span
	prev := 0
	for i := 0; lit != ""; {
		j := strings.Index(s[i:], lit)
		if j < 0 {
			break
		}
		if i+j > prev {
			spans = append(spans, span{prev, i + j, false})
		}
		spans = append(spans, span{i + j, i + j + len(lit), true})
		i += j + len(lit)
		prev = i
	}
	if prev < len(s) || len(spans) == 0 {
		spans = append(spans, span{prev, len(s), false})
	}
	return spans
}

// pattern is tokenizer.json's {"String": …} or {"Regex": …}, as Replace and
// Split use it.
type pattern struct {
	literal string
	re      *regexp.Regexp // nil for a literal
	// wsGroup is the capture group of a "\s+" alternative that stood after
	// a "\s+(?!\S)" one, which Go's regexp cannot run: the match of \s+ is
	// shortened as the look-ahead would have (see spans).
	wsGroup int
}

// newPattern compiles a pattern. Regex patterns are Oniguruma's syntax,
// which Hugging Face uses; newPattern translates what differs for Go's
// regexp (whose leftmost-first matching gives Oniguruma's matches for
// patterns without look-around): \s, \d and \w mean Unicode's classes, and
// the look-ahead "\s+(?!\S)|\s+" that GPT-2, GPT-4 and Llama 3 patterns end
// with is run as described at pattern.wsGroup. Other look-around,
// possessive quantifiers and back-references are refused.
func newPattern(file, field string, pj *patternJSON) (*pattern, error) {
	switch {
	case pj == nil || (pj.String == nil) == (pj.Regex == nil):
		return nil, fmt.Errorf("%s: field %s: want {\"String\": …} or {\"Regex\": …}", file, field)
	case pj.String != nil:
		return &pattern{literal: *pj.String}, nil
	}
	expr, wsGroup, err := translateOniguruma(*pj.Regex)
	if err != nil {
		return nil, refused(file, field+".Regex", fmt.Sprintf("%q: %v", *pj.Regex, err))
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, refused(file, field+".Regex", fmt.Sprintf("%q: Go's regexp cannot run it: %v", *pj.Regex, err))
	}
	return &pattern{re: re, wsGroup: wsGroup}, nil
}

// Oniguruma's Unicode \s (White_Space), \d and \w, written for Go's regexp
// (whose own are ASCII). In a class they go without the brackets.
const (
	onigSpace = `\t\n\v\f\r\x{85}\p{Z}`
	onigDigit = `\p{Nd}`
	onigWord  = `\p{L}\p{M}\p{Nd}\p{Pc}`
)

// translateOniguruma rewrites an Oniguruma pattern for Go's regexp: every
// top-level alternative becomes a capture group (inner groups become
// non-capturing), and "\s+(?!\S)" followed by the alternative "\s+" is
// dropped, wsGroup then naming the group of that "\s+".
func translateOniguruma(src string) (expr string, wsGroup int, err error) {
	alts := topLevelAlternatives(src)
	var out []string
	for i := 0; i < len(alts); i++ {
		if alts[i] == `\s+(?!\S)` && i+1 < len(alts) && alts[i+1] == `\s+` {
			wsGroup = len(out) + 1
			continue
		}
		alt, err := translateAlternative(alts[i])
		if err != nil {
			return "", 0, err
		}
		out = append(out, "("+alt+")")
	}
	return strings.Join(out, "|"), wsGroup, nil
}

// topLevelAlternatives splits a pattern at the "|" outside groups and
// classes.
func topLevelAlternatives(src string) []string {
	var alts []string
	depth, inClass, start := 0, false, 0
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case c == '\\':
			i++
		case inClass:
			inClass = c != ']'
		case c == '[':
			inClass = true
			if strings.HasPrefix(src[i+1:], "^]") {
				i += 2
			} else if strings.HasPrefix(src[i+1:], "]") {
				i++
			}
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			alts = append(alts, src[start:i])
			start = i + 1
		}
	}
	return append(alts, src[start:])
}

// translateAlternative rewrites one alternative's escapes and groups.
func translateAlternative(src string) (string, error) {
	var b strings.Builder
	inClass := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\\' && i+1 < len(src):
			i++
			e := src[i]
			switch {
			case strings.IndexByte("sdw", e) >= 0:
				class := map[byte]string{'s': onigSpace, 'd': onigDigit, 'w': onigWord}[e]
				if inClass {
					b.WriteString(class)
				} else {
					b.WriteString("[" + class + "]")
				}
			case strings.IndexByte("SDW", e) >= 0 && !inClass:
				b.WriteString("[^" + map[byte]string{'S': onigSpace, 'D': onigDigit, 'W': onigWord}[e] + "]")
			case strings.IndexByte("SDWhHbBAzZGkg123456789", e) >= 0:
				return "", fmt.Errorf(`\%c is not supported here`, e)
			case (e == 'p' || e == 'P') && strings.HasPrefix(src[i+1:], "{"):
				end := strings.IndexByte(src[i:], '}')
				if end < 0 {
					return "", fmt.Errorf(`\%c{ is not closed`, e)
				}
				b.WriteString(`\` + src[i:i+end+1]) // a property: its "}" is no quantifier
				i += end
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		case inClass:
			b.WriteByte(c)
			inClass = c != ']'
		case c == '[':
			b.WriteByte(c)
			inClass = true
			for _, lead := range []string{"^]", "]", "^"} {
				if strings.HasPrefix(src[i+1:], lead) {
					b.WriteString(lead)
					i += len(lead)
					break
				}
			}
		case c == '(' && strings.HasPrefix(src[i+1:], "?"):
			if rest := src[i+1:]; strings.HasPrefix(rest, "?=") || strings.HasPrefix(rest, "?!") || strings.HasPrefix(rest, "?<") || strings.HasPrefix(rest, "?>") {
				return "", fmt.Errorf("look-around and atomic groups are not supported (only a final \\s+(?!\\S)|\\s+)")
			}
			b.WriteByte(c)
		case c == '(':
			b.WriteString("(?:")
		case (c == '+' || c == '*' || c == '?' || c == '}') && strings.HasPrefix(src[i+1:], "+"):
			return "", fmt.Errorf("possessive quantifiers are not supported")
		case c == '^' || c == '$':
			return "", fmt.Errorf("anchors are not supported")
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// spans cuts s at the pattern's matches, as Hugging Face's find_matches
// does (empty matches are skipped).
func (p *pattern) spans(s string) []span {
	if p.re == nil {
		return literalMatches(s, p.literal)
	}
	var spans []span
	prev := 0
	for pos := 0; pos < len(s); {
		loc := p.re.FindStringSubmatchIndex(s[pos:])
		if loc == nil {
			break
		}
		start, end := pos+loc[0], pos+loc[1]
		if p.wsGroup > 0 && loc[2*p.wsGroup] >= 0 && end < len(s) {
			// "\s+(?!\S)" would have matched: a run of white space followed
			// by a non-space leaves its last character to the next match,
			// unless it is a single character (then "\s+" takes it).
			if _, n := utf8.DecodeLastRuneInString(s[start:end]); end-n > start {
				end -= n
			}
		}
		if end == start {
			_, n := utf8.DecodeRuneInString(s[start:])
			pos = start + max(n, 1)
			continue
		}
		if start > prev {
			spans = append(spans, span{prev, start, false})
		}
		spans = append(spans, span{start, end, true})
		pos, prev = end, end
	}
	if prev < len(s) || len(spans) == 0 {
		spans = append(spans, span{prev, len(s), false})
	}
	return spans
}

// replaceAll replaces every match of the pattern in s with content.
func (p *pattern) replaceAll(s, content string) string {
	if p.re == nil {
		if p.literal == "" {
			return s
		}
		return strings.ReplaceAll(s, p.literal, content)
	}
	var b strings.Builder
	for _, sp := range p.spans(s) {
		if sp.match {
			b.WriteString(content)
		} else {
			b.WriteString(s[sp.start:sp.end])
		}
	}
	return b.String()
}
