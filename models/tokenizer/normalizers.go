package tokenizer

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// normalizer is one of tokenizer.json's normalizers: it rewrites the text
// between added tokens before pre-tokenization.
type normalizer func(string) string

// newNormalizer builds the normalizer c describes; field names it in
// errors (for example "normalizer.normalizers[2]").
func newNormalizer(file, field string, c *componentJSON) (normalizer, error) {
	switch c.Type {
	case "Sequence":
		seq, err := parseSequence(file, field+".normalizers", c.Normalizers, newNormalizer)
		if err != nil {
			return nil, err
		}
		return func(s string) string {
			for _, n := range seq {
				s = n(s)
			}
			return s
		}, nil
	case "Prepend":
		if c.Prepend == nil {
			return nil, fmt.Errorf("%s: field %s.prepend is missing", file, field)
		}
		prefix := *c.Prepend
		return func(s string) string {
			if s == "" {
				return s
			}
			return prefix + s
		}, nil
	case "Replace":
		return c.replacer(file, field)
	case "Precompiled":
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
		return cm.normalizeGraphemes, nil
	case "Strip":
		left, right := c.StripLeft, c.StripRight
		return func(s string) string {
			if left {
				s = strings.TrimLeftFunc(s, unicode.IsSpace)
			}
			if right {
				s = strings.TrimRightFunc(s, unicode.IsSpace)
			}
			return s
		}, nil
	case "NFC":
		return norm.NFC.String, nil
	case "NFD":
		return norm.NFD.String, nil
	case "NFKC":
		return norm.NFKC.String, nil
	case "NFKD":
		return norm.NFKD.String, nil
	case "Lowercase":
		return lowercase, nil
	case "StripAccents":
		// Hugging Face drops every combining mark (general category M).
		return func(s string) string {
			return strings.Map(func(r rune) rune {
				if unicode.Is(unicode.M, r) {
					return -1
				}
				return r
			}, s)
		}, nil
	case "Nmt":
		return nmt, nil
	case "BertNormalizer":
		n := &bertNormalizer{cleanText: boolOr(c.CleanText, true), chineseChars: boolOr(c.HandleChineseChars, true), lowercase: boolOr(c.Lowercase, true)}
		n.stripAccents = boolOr(c.StripAccents, n.lowercase)
		return n.normalize, nil
	}
	return nil, unsupportedType(file, field, c.Type, "Sequence, Prepend, Replace, Precompiled, Strip, NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, Nmt and BertNormalizer")
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
