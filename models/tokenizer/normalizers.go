package tokenizer

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// normalizer is one of tokenizer.json's normalizers: it rewrites the text
// between added tokens before pre-tokenization.
type normalizer func(string) string

// maxGrowth bounds how many times longer (in bytes) the normalizers may
// make a text: a file whose normalizers could make it longer (30 Replace
// normalizers that each double it …) is refused when loaded, rather than
// exhausting memory when it encodes. Real ones stay far below: Llama 2's
// Prepend and Replace 12, NFKC with a Replace 16.5, T5's charsmap with a
// Replace 50 (the most among the goldens' tokenizers).
const maxGrowth = 256

// grown is a normalizer with the most times longer it can make a text.
type grown struct {
	fn     normalizer
	growth float64
}

// newNormalizer builds the normalizer c describes; field names it in
// errors (for example "normalizer.normalizers[2]").
func newNormalizer(file, field string, c *componentJSON) (normalizer, error) {
	g, err := buildNormalizer(file, field, c)
	if err != nil {
		return nil, err
	}
	if g.growth > maxGrowth {
		return nil, fmt.Errorf("%s: field %s: can make a text %.0f times longer, more than the %d this package allows", file, field, g.growth, maxGrowth)
	}
	return g.fn, nil
}

// normalizerGrowth is how many times longer in bytes each of these can
// make a text at most, character by character (from Unicode's tables:
// U+FDFA's 3 bytes become 33 under NFKC; İ's 2 become 3 lower-cased).
var normalizerGrowth = map[string]float64{"NFC": 3, "NFD": 3, "NFKC": 11, "NFKD": 11, "Lowercase": 1.5, "BertNormalizer": 3}

// buildNormalizer builds the normalizer c describes, with its growth.
func buildNormalizer(file, field string, c *componentJSON) (grown, error) {
	switch c.Type {
	case "Sequence":
		return buildSequence(file, field, c)
	case "Prepend":
		if c.Prepend == nil {
			return grown{}, fmt.Errorf("%s: field %s.prepend is missing", file, field)
		}
		prefix := *c.Prepend
		return grown{func(s string) string {
			if s == "" {
				return s
			}
			return prefix + s
		}, float64(1 + len(prefix))}, nil
	case "Replace":
		fn, err := c.replacer(file, field)
		if err != nil {
			return grown{}, err
		}
		return grown{fn, replaceGrowth(c)}, nil
	case "Precompiled":
		cm, err := c.charsMap(file, field)
		if err != nil {
			return grown{}, err
		}
		return grown{cm.normalizeGraphemes, cm.growth()}, nil
	case "Strip":
		left, right := c.StripLeft, c.StripRight
		return grown{func(s string) string {
			if left {
				s = strings.TrimLeftFunc(s, unicode.IsSpace)
			}
			if right {
				s = strings.TrimRightFunc(s, unicode.IsSpace)
			}
			return s
		}, 1}, nil
	case "NFC", "NFD", "NFKC", "NFKD":
		f := map[string]normalizer{"NFC": norm.NFC.String, "NFD": norm.NFD.String, "NFKC": norm.NFKC.String, "NFKD": norm.NFKD.String}[c.Type]
		return grown{f, normalizerGrowth[c.Type]}, nil
	case "Lowercase":
		return grown{lowercase, normalizerGrowth[c.Type]}, nil
	case "StripAccents":
		// Hugging Face drops every combining mark (general category M).
		return grown{func(s string) string {
			return strings.Map(func(r rune) rune {
				if unicode.Is(unicode.M, r) {
					return -1
				}
				return r
			}, s)
		}, 1}, nil
	case "Nmt":
		return grown{nmt, 1}, nil
	case "BertNormalizer":
		n := &bertNormalizer{cleanText: boolOr(c.CleanText, true), chineseChars: boolOr(c.HandleChineseChars, true), lowercase: boolOr(c.Lowercase, true)}
		n.stripAccents = boolOr(c.StripAccents, n.lowercase)
		return grown{n.normalize, normalizerGrowth[c.Type]}, nil
	}
	return grown{}, unsupportedType(file, field, c.Type, "Sequence, Prepend, Replace, Precompiled, Strip, NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, Nmt and BertNormalizer")
}

// buildSequence builds a Sequence normalizer: its growth is its parts'
// product, and the part that takes it past maxGrowth is named.
func buildSequence(file, field string, c *componentJSON) (grown, error) {
	seq, err := parseSequence(file, field+".normalizers", c.Normalizers, buildNormalizer)
	if err != nil {
		return grown{}, err
	}
	growth := 1.0
	for i, n := range seq {
		growth *= n.growth
		if growth > maxGrowth {
			return grown{}, fmt.Errorf("%s: field %s.normalizers[%d] (%s): with the normalizers before it, can make a text %.0f times longer, more than the %d this package allows",
				file, field, i, componentType(c.Normalizers[i]), growth, maxGrowth)
		}
	}
	return grown{func(s string) string {
		for _, n := range seq {
			s = n.fn(s)
		}
		return s
	}, growth}, nil
}

// componentType reads the type of a component, for messages.
func componentType(raw json.RawMessage) string {
	var c struct {
		Type string `json:"type"`
	}
	json.Unmarshal(raw, &c)
	return c.Type
}

// charsMap decodes a Precompiled normalizer's precompiled_charsmap.
func (c *componentJSON) charsMap(file, field string) (*charsMap, error) {
	if c.PrecompiledCharsmap == nil {
		return nil, fmt.Errorf("%s: field %s.precompiled_charsmap is missing", file, field)
	}
	blob, err := base64.StdEncoding.DecodeString(*c.PrecompiledCharsmap)
	if err != nil {
		return nil, fmt.Errorf("%s: field %s.precompiled_charsmap: not base64: %w", file, field, err)
	}
	cm, err := parseCharsMap(blob)
	if err != nil {
		return nil, fmt.Errorf("%s: field %s.precompiled_charsmap: %w", file, field, err)
	}
	return cm, nil
}

// growth bounds how many times longer the map makes a text: each
// character (of at least one byte) becomes at most the longest
// replacement.
func (c *charsMap) growth() float64 {
	longest := 1
	if c != nil {
		for _, r := range bytes.Split(c.replacements, []byte{0}) {
			longest = max(longest, len(r))
		}
	}
	return float64(longest)
}

// replaceGrowth bounds how many times longer a Replace makes a text: its
// content over the shortest text its pattern matches (empty matches are
// skipped, so at least one byte).
func replaceGrowth(c *componentJSON) float64 {
	shortest := 1
	switch p := c.Pattern; {
	case p.String != nil:
		if *p.String == "" {
			return 1 // replaces nothing
		}
		shortest = len(*p.String)
	case p.Regex != nil:
		if expr, _, err := translateOniguruma(*p.Regex); err == nil {
			if re, err := syntax.Parse(expr, syntax.Perl); err == nil {
				shortest = max(1, minMatchLen(re))
			}
		}
	}
	return max(1, float64(len(*c.Content))/float64(shortest))
}

// minMatchLen is the fewest bytes re can match.
func minMatchLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		n := 0
		for _, r := range re.Rune {
			n += utf8.RuneLen(r)
		}
		return n
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpCapture:
		return minMatchLen(re.Sub[0])
	case syntax.OpPlus:
		return minMatchLen(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min * minMatchLen(re.Sub[0])
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n += minMatchLen(s)
		}
		return n
	case syntax.OpAlternate:
		n := -1
		for _, s := range re.Sub {
			if m := minMatchLen(s); n < 0 || m < n {
				n = m
			}
		}
		return max(n, 0)
	}
	return 0 // empty, star, quest, anchors
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// lowercase maps each character to its lower case as Rust's
// char::to_lowercase does: İ becomes "i̇", the one full mapping that
// differs from Go's simple one.
func lowercase(s string) string {
	s = strings.ReplaceAll(s, "\u0130", "i\u0307")
	return strings.Map(unicode.ToLower, s)
}

// nmt is Hugging Face's Nmt normalizer (SentencePiece's NMT rules without
// NFKC): control characters removed, other spaces made ' '.
func nmt(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 0x01 && r <= 0x08, r == 0x0B, r >= 0x0E && r <= 0x1F, r == 0x7F, r == 0x8F, r == 0x9F:
			return -1
		case r == '\t', r == '\n', r == 0x0C, r == '\r', r == 0x1680, r >= 0x200B && r <= 0x200F,
			r == 0x2028, r == 0x2029, r == 0x2581, r == 0xFEFF, r == 0xFFFD:
			return ' '
		}
		return r
	}, s)
}

// normalizeGraphemes is Hugging Face's Precompiled normalizer, which reads
// SentencePiece's map differently from SentencePiece: text is taken one
// extended grapheme cluster at a time; a cluster shorter than 6 bytes that
// starts with a key is replaced whole by the replacement of the shortest
// such key (so "\r\n" becomes what "\r" maps to), and any other cluster is
// mapped one character at a time.
func (c *charsMap) normalizeGraphemes(s string) string {
	var b strings.Builder
	for s != "" {
		g := s[:graphemeLen(s)]
		s = s[len(g):]
		if len(g) < 6 {
			if n, repl := c.match(g, true); n > 0 {
				b.WriteString(repl)
				continue
			}
		}
		for g != "" {
			_, size := utf8.DecodeRuneInString(g)
			if n, repl := c.match(g[:size], true); n > 0 {
				b.WriteString(repl)
			} else {
				b.WriteString(g[:size])
			}
			g = g[size:]
		}
	}
	return b.String()
}

// graphemeLen returns the length in bytes of the extended grapheme cluster
// (Unicode's UAX #29) at the start of s, which is not empty. It applies the
// rules that can join characters into clusters shorter than 6 bytes — the
// only ones Precompiled treats as units — and Hangul's: CR LF, breaks
// around controls, extending marks, ZWJ, spacing marks and prepended
// characters. Emoji ZWJ sequences (GB11) and regional-indicator pairs
// (GB12/13), whose clusters are longer, are left apart; their characters
// are mapped one by one either way.
func graphemeLen(s string) int {
	r, n := utf8.DecodeRuneInString(s)
	prev := graphemeClass(r)
	for n < len(s) {
		r, size := utf8.DecodeRuneInString(s[n:])
		next := graphemeClass(r)
		if !joinGraphemes(prev, next) {
			break
		}
		n += size
		prev = next
	}
	return n
}

// gcb is a Grapheme_Cluster_Break value.
type gcb int

const (
	gcbOther gcb = iota
	gcbCR
	gcbLF
	gcbControl
	gcbExtend
	gcbZWJ
	gcbSpacingMark
	gcbPrepend
	gcbL
	gcbV
	gcbT
	gcbLV
	gcbLVT
)

// joinGraphemes reports whether no cluster boundary falls between
// characters of classes a and b (rules GB3 to GB9b).
func joinGraphemes(a, b gcb) bool {
	switch {
	case a == gcbCR && b == gcbLF:
		return true
	case a == gcbCR || a == gcbLF || a == gcbControl, b == gcbCR || b == gcbLF || b == gcbControl:
		return false
	case a == gcbL && (b == gcbL || b == gcbV || b == gcbLV || b == gcbLVT),
		(a == gcbLV || a == gcbV) && (b == gcbV || b == gcbT),
		(a == gcbLVT || a == gcbT) && b == gcbT:
		return true
	}
	return b == gcbExtend || b == gcbZWJ || b == gcbSpacingMark || a == gcbPrepend
}

// prependChars are the characters of Grapheme_Cluster_Break=Prepend that
// are not Prepended_Concatenation_Mark (Indic consonants written first).
var prependChars = &unicode.RangeTable{R16: []unicode.Range16{{0x0D4E, 0x0D4E, 1}}, R32: []unicode.Range32{
	{0x111C2, 0x111C3, 1}, {0x1193F, 0x1193F, 1}, {0x11941, 0x11941, 1}, {0x11A3A, 0x11A3A, 1},
	{0x11A84, 0x11A89, 1}, {0x11D46, 0x11D46, 1}, {0x11F02, 0x11F02, 1}}}

// notSpacingMarks are spacing marks (Mc) that Grapheme_Cluster_Break
// counts as Other.
var notSpacingMarks = &unicode.RangeTable{R16: []unicode.Range16{
	{0x102B, 0x102C, 1}, {0x1038, 0x1038, 1}, {0x1062, 0x1064, 1}, {0x1067, 0x106D, 1}, {0x1083, 0x1083, 1},
	{0x1087, 0x108C, 1}, {0x108F, 0x108F, 1}, {0x109A, 0x109C, 1}, {0x1A61, 0x1A61, 1}, {0x1A63, 0x1A64, 1},
	{0xAA7B, 0xAA7B, 1}, {0xAA7D, 0xAA7D, 1}}, R32: []unicode.Range32{{0x11720, 0x11721, 1}}}

// graphemeClass returns r's Grapheme_Cluster_Break, from Go's Unicode
// tables.
func graphemeClass(r rune) gcb {
	switch {
	case r == '\r':
		return gcbCR
	case r == '\n':
		return gcbLF
	case r == 0x200D:
		return gcbZWJ
	case r == 0x200C, r >= 0x1F3FB && r <= 0x1F3FF, unicode.In(r, unicode.Mn, unicode.Me, unicode.Other_Grapheme_Extend):
		return gcbExtend
	case unicode.In(r, unicode.Prepended_Concatenation_Mark, prependChars):
		return gcbPrepend
	case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp):
		return gcbControl
	case r == 0x0E33, r == 0x0EB3, unicode.Is(unicode.Mc, r) && !unicode.Is(notSpacingMarks, r):
		return gcbSpacingMark
	case r >= 0x1100 && r <= 0x115F, r >= 0xA960 && r <= 0xA97C:
		return gcbL
	case r >= 0x1160 && r <= 0x11A7, r >= 0xD7B0 && r <= 0xD7C6:
		return gcbV
	case r >= 0x11A8 && r <= 0x11FF, r >= 0xD7CB && r <= 0xD7FB:
		return gcbT
	case r >= 0xAC00 && r <= 0xD7A3:
		if (r-0xAC00)%28 == 0 {
			return gcbLV
		}
		return gcbLVT
	}
	return gcbOther
}
