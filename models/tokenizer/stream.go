package tokenizer

import (
	"bytes"
	"unicode/utf8"
)

// StreamDecoder turns ids arriving one at a time (generation) into text
// without ever splitting a UTF-8 character: a token holding the first bytes
// of a character yields nothing until the token completing it arrives. The
// text it yields, joined, is Decode of all the ids (for text that decodes
// to valid UTF-8).
//
// It decodes a sliding window of the last ids, so that formats whose
// decoding depends on the neighbours (SentencePiece's leading space,
// WordPiece's "##") come out as in a full Decode.
type StreamDecoder struct {
	t           *Tokenizer
	skipSpecial bool
	ids         []int32
	prefix      int // window start: ids[prefix:read] are already shown
	read        int
}

// NewStreamDecoder returns a StreamDecoder; skipSpecialTokens is as for
// Decode.
func (t *Tokenizer) NewStreamDecoder(skipSpecialTokens bool) *StreamDecoder {
	return &StreamDecoder{t: t, skipSpecial: skipSpecialTokens}
}

// Next adds id and returns the text it completes, often "" while a
// character is incomplete.
func (d *StreamDecoder) Next(id int32) string {
	if d.skipSpecial && d.t.IsSpecial(id) {
		return "" // dropped here, so that windows hold only shown tokens
	}
	d.ids = append(d.ids, id)
	shown := d.t.DecodeBytes(d.ids[d.prefix:d.read], d.skipSpecial)
	all := d.t.DecodeBytes(d.ids[d.prefix:], d.skipSpecial)
	if len(all) < len(shown) || !bytes.HasPrefix(all, shown) {
		// The window decodes differently once extended (rare); show the
		// part that differs from here on.
		shown = shown[:commonPrefix(shown, all)]
	}
	fresh := all[len(shown):]
	if incompleteTail(fresh) {
		return ""
	}
	d.prefix, d.read = d.read, len(d.ids)
	return validUTF8(fresh)
}

// Flush returns what is held back (an incomplete character, shown as
// U+FFFD) and starts afresh.
func (d *StreamDecoder) Flush() string {
	shown := d.t.DecodeBytes(d.ids[d.prefix:d.read], d.skipSpecial)
	all := d.t.DecodeBytes(d.ids[d.prefix:], d.skipSpecial)
	var out string
	if len(all) > len(shown) {
		out = validUTF8(all[commonPrefix(shown, all):])
	}
	d.ids, d.prefix, d.read = d.ids[:0], 0, 0
	return out
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// incompleteTail reports whether b ends with the start of a UTF-8 character
// that more bytes could complete.
func incompleteTail(b []byte) bool {
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		if utf8.RuneStart(b[i]) {
			return !utf8.FullRune(b[i:])
		}
	}
	return false
}
