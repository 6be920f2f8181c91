package tokenizer

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// decoder is one of tokenizer.json's decoders: it rewrites the token
// strings of the ids being decoded, and the results are joined. partial
// says that the tokens are a part cut out of a longer text (TokenBytes
// decodes one token so): what applies only to the first token is off, and
// byte tokens stay raw bytes even where they are not UTF-8.
type decoder func(tokens []string, partial bool) []string

// newDecoder builds the decoder c describes; field names it in errors.
func newDecoder(file, field string, c *componentJSON) (decoder, error) {
	switch c.Type {
	case "Sequence":
		seq, err := parseSequence(file, field+".decoders", c.Decoders, newDecoder)
		if err != nil {
			return nil, err
		}
		return func(tokens []string, partial bool) []string {
			for _, d := range seq {
				tokens = d(tokens, partial)
			}
			return tokens
		}, nil
	case "Replace":
		replace, err := c.replacer(file, field)
		if err != nil {
			return nil, err
		}
		return eachToken(func(i int, tok string, partial bool) string { return replace(tok) }), nil
	case "Metaspace":
		repl, prepend, err := metaspaceSettings(file, field, c)
		if err != nil {
			return nil, err
		}
		// As in Hugging Face, every replacement character of the first
		// token is dropped (unless prepend_scheme is never).
		return eachToken(func(i int, tok string, partial bool) string {
			if i == 0 && !partial && prepend != "never" {
				return strings.ReplaceAll(tok, repl, "")
			}
			return strings.ReplaceAll(tok, repl, " ")
		}), nil
	case "Strip":
		if c.Content == nil || utf8.RuneCountInString(*c.Content) != 1 {
			return nil, fmt.Errorf("%s: field %s.content: want one character", file, field)
		}
		content, start, stop := *c.Content, c.Start, c.Stop
		return eachToken(func(i int, tok string, partial bool) string {
			if partial {
				return tok
			}
			for n := 0; n < start && strings.HasPrefix(tok, content); n++ {
				tok = tok[len(content):]
			}
			for n := 0; n < stop && strings.HasSuffix(tok, content); n++ {
				tok = tok[:len(tok)-len(content)]
			}
			return tok
		}), nil
	case "ByteFallback":
		return byteFallbackDecoder, nil
	case "Fuse":
		return func(tokens []string, partial bool) []string { return []string{strings.Join(tokens, "")} }, nil
	case "ByteLevel":
		return byteLevelDecoder, nil
	}
	return nil, unsupportedType(file, field, c.Type, "Sequence, Replace, Metaspace, Strip, ByteFallback, Fuse and ByteLevel")
}

// eachToken makes a decoder of a function of one token and its position.
func eachToken(f func(i int, tok string, partial bool) string) decoder {
	return func(tokens []string, partial bool) []string {
		out := make([]string, len(tokens))
		for i, tok := range tokens {
			out[i] = f(i, tok, partial)
		}
		return out
	}
}

// byteFallbackDecoder is Hugging Face's ByteFallback decoder: runs of byte
// tokens <0xNN> become the text their bytes spell, or, when that is not
// UTF-8, one U+FFFD per byte. A run ending the tokens that stops inside a
// character is kept as raw bytes instead, so that a StreamDecoder can wait
// for the rest of the character (Decode then shows a U+FFFD for each byte
// of the cut character, but keeps the whole characters before it, where
// Hugging Face shows a U+FFFD for every byte of the run).
func byteFallbackDecoder(tokens []string, partial bool) []string {
	var out []string
	var run []byte
	flush := func(last bool) {
		if len(run) == 0 {
			return
		}
		switch {
		case utf8.Valid(run):
			out = append(out, string(run))
		case partial || last && incompleteTail(run):
			out = append(out, string(run))
		default:
			out = append(out, strings.Repeat("\uFFFD", len(run)))
		}
		run = run[:0]
	}
	for _, tok := range tokens {
		if b, ok := parseBytePiece(tok); ok {
			run = append(run, b)
			continue
		}
		flush(false)
		out = append(out, tok)
	}
	flush(true)
	return out
}

// byteLevelDecoder is Hugging Face's ByteLevel decoder: the tokens' GPT-2
// characters become the bytes they stand for. (Hugging Face then replaces
// bytes that are not UTF-8 as Rust's from_utf8_lossy does; Decode does it
// with a U+FFFD per byte.)
func byteLevelDecoder(tokens []string, partial bool) []string {
	var out []byte
	for _, tok := range tokens {
		out = appendByteLevelToken(out, tok)
	}
	return []string{string(out)}
}

// appendByteLevelToken appends the bytes a byte-level token spells, as
// Hugging Face's ByteLevel decoder does: a token holding a character
// outside GPT-2's byte alphabet is taken as its own UTF-8 text.
func appendByteLevelToken(out []byte, tok string) []byte {
	n := len(out)
	for _, r := range tok {
		b, ok := runeToByte[r]
		if !ok {
			return append(out[:n], tok...)
		}
		out = append(out, b)
	}
	return out
}
