package jinja

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokKind is a kind of token.
type tokKind int

const (
	tData tokKind = iota
	tVarBegin
	tVarEnd
	tBlockBegin
	tBlockEnd
	tName
	tString
	tInt
	tFloat
	tOp
	tEOF
)

var tokNames = map[tokKind]string{
	tData: "template data", tVarBegin: "begin of print statement", tVarEnd: "end of print statement",
	tBlockBegin: "begin of statement block", tBlockEnd: "end of statement block", tName: "name",
	tString: "string", tInt: "integer", tFloat: "float", tOp: "operator", tEOF: "end of template",
}

// token is one token; val holds the text of data, names, operators and
// (unescaped) strings, and num/flt the value of numbers.
type token struct {
	kind tokKind
	val  string
	num  int64
	flt  float64
	line int
}

func (t token) describe() string {
	switch t.kind {
	case tName, tOp:
		return t.val
	case tString, tInt, tFloat:
		return tokNames[t.kind]
	}
	return tokNames[t.kind]
}

// lexer turns a template into tokens as jinja2's lexer does with
// trim_blocks and lstrip_blocks: newlines normalized to "\n", one trailing
// newline dropped, comments dropped, raw blocks turned into data, and the
// white space around tags stripped as "-", "+", trim_blocks and
// lstrip_blocks say.
type lexer struct {
	name string
	src  string
	pos  int
	line int
	toks []token
	// lineStart: the last match ended with a newline (or none yet), as
	// jinja2's line_starting, which lets lstrip_blocks strip indentation
	// before a tag that follows a tag on its own line.
	lineStart bool
}

// lex tokenizes source.
func lex(name, source string) ([]token, error) {
	l := &lexer{name: name, src: normalizeNewlines(source), line: 1, lineStart: true}
	if err := l.run(); err != nil {
		return nil, err
	}
	return l.toks, nil
}

// normalizeNewlines makes every \r\n and \r a \n and drops one trailing
// newline (jinja2's keep_trailing_newline=False).
func normalizeNewlines(s string) string {
	if strings.ContainsRune(s, '\r') {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		s = strings.ReplaceAll(s, "\r", "\n")
	}
	return strings.TrimSuffix(s, "\n")
}

func (l *lexer) fail(format string, args ...any) error {
	return errorf(l.name, l.line, "TemplateSyntaxError", format, args...)
}

func (l *lexer) emit(kind tokKind, val string) {
	l.toks = append(l.toks, token{kind: kind, val: val, line: l.line})
}

// run lexes the whole source.
func (l *lexer) run() error {
	for l.pos < len(l.src) {
		start, kind := l.nextTag()
		if start < 0 {
			l.data(l.src[l.pos:], "")
			l.pos = len(l.src)
			break
		}
		sign := ""
		if p := start + 2; p < len(l.src) && (l.src[p] == '-' || l.src[p] == '+') {
			sign = l.src[p : p+1]
		}
		if kind == '%' {
			if end, ok := rawBegin(l.src, start); ok {
				l.data(l.src[l.pos:start], sign)
				l.lineStart = l.src[end-1] == '\n'
				l.advance(start, end)
				if err := l.raw(); err != nil {
					return err
				}
				continue
			}
		}
		l.data(l.src[l.pos:start], sign)
		l.advance(l.pos, start+2+len(sign))
		var err error
		switch kind {
		case '#':
			err = l.comment()
		case '{':
			l.emit(tVarBegin, "")
			err = l.tag(tVarEnd, "}}", false)
		case '%':
			l.emit(tBlockBegin, "")
			err = l.tag(tBlockEnd, "%}", true)
		}
		if err != nil {
			return err
		}
	}
	l.emit(tEOF, "")
	return nil
}

// advance moves to end, counting the lines of the source from..end.
func (l *lexer) advance(from, end int) {
	l.line += strings.Count(l.src[from:end], "\n")
	l.pos = end
}

// nextTag finds the next "{{", "{%" or "{#" from l.pos: its offset and
// its second character, or -1.
func (l *lexer) nextTag() (int, byte) {
	for i := l.pos; ; {
		j := strings.IndexByte(l.src[i:], '{')
		if j < 0 {
			return -1, 0
		}
		i += j
		if i+1 < len(l.src) {
			if c := l.src[i+1]; c == '{' || c == '%' || c == '#' {
				return i, c
			}
		}
		i++
	}
}

// rawBegin matches "{%(-|+)?\s*raw\s*(-%}\s*|%})" at start.
func rawBegin(src string, start int) (int, bool) {
	p := start + 2
	if p < len(src) && (src[p] == '-' || src[p] == '+') {
		p++
	}
	p = skipSpace(src, p)
	if !strings.HasPrefix(src[p:], "raw") {
		return 0, false
	}
	p = skipSpace(src, p+3)
	switch {
	case strings.HasPrefix(src[p:], "-%}"):
		return skipSpace(src, p+3), true
	case strings.HasPrefix(src[p:], "%}"):
		return p + 2, true
	}
	return 0, false
}

// data emits the text before a tag whose sign ("-", "+" or "") is given,
// stripped as jinja2 does: "-" strips all white space before the tag;
// otherwise lstrip_blocks strips the spaces and tabs that are alone on the
// tag's line before a block or comment tag (sign "" and not a variable).
func (l *lexer) data(text, sign string) {
	tagAt := l.pos + len(text)
	isVar := tagAt+1 < len(l.src) && l.src[tagAt] == '{' && l.src[tagAt+1] == '{'
	switch {
	case sign == "-":
		text = strings.TrimRightFunc(text, pyIsSpace)
	case sign == "" && !isVar && tagAt < len(l.src):
		lpos := strings.LastIndexByte(text, '\n') + 1
		if (lpos > 0 || l.lineStart) && lpos < len(text) && strings.IndexFunc(text[lpos:], notSpace) < 0 {
			text = text[:lpos]
		}
	}
	if text != "" {
		l.emit(tData, text)
	}
	l.line += strings.Count(l.src[l.pos:tagAt], "\n")
	l.pos = tagAt
}

func notSpace(r rune) bool { return !pyIsSpace(r) }

// pyIsSpace is Python's str.isspace for one character (re's \s).
func pyIsSpace(r rune) bool {
	switch {
	case r == ' ' || (r >= '\t' && r <= '\r') || (r >= 0x1c && r <= 0x1f) || r == 0x85 || r == 0xa0 || r == 0x1680:
		return true
	case r >= 0x2000 && r <= 0x200a, r == 0x2028, r == 0x2029, r == 0x202f, r == 0x205f, r == 0x3000:
		return true
	}
	return false
}

func skipSpace(s string, p int) int {
	for p < len(s) {
		r, n := utf8.DecodeRuneInString(s[p:])
		if !pyIsSpace(r) {
			break
		}
		p += n
	}
	return p
}

// endTag matches a tag's end at l.pos: "+END", "-END" then white space,
// or "END" then one newline when trim (trim_blocks). It returns the offset
// after the match, or -1.
func (l *lexer) endTag(end string, trim bool) int {
	s, p := l.src, l.pos
	switch {
	case trim && strings.HasPrefix(s[p:], "+"+end):
		return p + 1 + len(end)
	case strings.HasPrefix(s[p:], "-"+end):
		return skipSpace(s, p+1+len(end))
	case strings.HasPrefix(s[p:], end):
		p += len(end)
		if trim && p < len(s) && s[p] == '\n' {
			p++
		}
		return p
	}
	return -1
}

// comment skips a comment up to its "#}" (with its sign and trim).
func (l *lexer) comment() error {
	for i := l.pos; i < len(l.src); i++ {
		save := l.pos
		l.pos = i
		if end := l.endTag("#}", true); end >= 0 {
			l.lineStart = l.src[end-1] == '\n'
			l.advance(save, end)
			return nil
		}
		l.pos = save
	}
	return l.fail("Missing end of comment tag")
}

// raw emits the text of a raw block up to its endraw tag as data.
func (l *lexer) raw() error {
	for i := l.pos; ; i++ {
		j := strings.Index(l.src[i:], "{%")
		if j < 0 {
			return l.fail("Missing end of raw directive")
		}
		i += j
		p := i + 2
		sign := ""
		if p < len(l.src) && (l.src[p] == '-' || l.src[p] == '+') {
			sign = l.src[p : p+1]
			p++
		}
		p = skipSpace(l.src, p)
		if !strings.HasPrefix(l.src[p:], "endraw") {
			continue
		}
		save := l.pos
		l.pos = skipSpace(l.src, p+6)
		end := l.endTag("%}", true)
		l.pos = save
		if end < 0 {
			continue
		}
		l.data(l.src[l.pos:i], sign)
		l.lineStart = l.src[end-1] == '\n'
		l.advance(l.pos, end)
		return nil
	}
}

// operators, longest first where one is a prefix of another.
var operators = []string{"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"}

// tag lexes the inside of a {{ }} or {% %} tag up to its end.
func (l *lexer) tag(endKind tokKind, end string, trim bool) error {
	var brackets []byte
	for {
		l.pos = l.skipSpaceCounting(l.pos)
		if l.pos >= len(l.src) {
			return l.fail("unexpected end of template, expected '%s'", tokNames[endKind])
		}
		if len(brackets) == 0 {
			if e := l.endTag(end, trim); e >= 0 {
				l.emit(endKind, "")
				l.lineStart = l.src[e-1] == '\n'
				l.advance(l.pos, e)
				return nil
			}
		}
		if err := l.exprToken(&brackets); err != nil {
			return err
		}
	}
}

func (l *lexer) skipSpaceCounting(p int) int {
	q := skipSpace(l.src, p)
	l.line += strings.Count(l.src[p:q], "\n")
	return q
}

// exprToken lexes one token inside a tag, in jinja2's order: float,
// integer, name, string, operator.
func (l *lexer) exprToken(brackets *[]byte) error {
	s, p := l.src, l.pos
	if n := floatLen(s, p); n > 0 {
		f, err := strconv.ParseFloat(strings.ReplaceAll(s[p:p+n], "_", ""), 64)
		if err != nil && !isRangeErr(err) {
			return l.fail("invalid float %q", s[p:p+n])
		}
		l.toks = append(l.toks, token{kind: tFloat, flt: f, line: l.line})
		l.pos += n
		return nil
	}
	if n := intLen(s, p); n > 0 {
		v, err := strconv.ParseInt(strings.ReplaceAll(s[p:p+n], "_", ""), 0, 64)
		if err != nil {
			return errorf(l.name, l.line, "OverflowError", "integer literal %s does not fit in 64 bits", s[p:p+n])
		}
		l.toks = append(l.toks, token{kind: tInt, num: v, line: l.line})
		l.pos += n
		return nil
	}
	if c := s[p]; c == '_' || isLetter(c) {
		q := p + 1
		for q < len(s) && (s[q] == '_' || isLetter(s[q]) || isDigit(s[q])) {
			q++
		}
		l.emit(tName, s[p:q])
		l.pos = q
		return nil
	}
	if c := s[p]; c == '\'' || c == '"' {
		return l.stringToken(c)
	}
	for _, op := range operators {
		if strings.HasPrefix(s[p:], op) {
			if err := balance(brackets, op[0]); err != nil {
				return l.fail("%s", err.Error())
			}
			l.emit(tOp, op)
			l.pos += len(op)
			return nil
		}
	}
	r, _ := utf8.DecodeRuneInString(s[p:])
	return l.fail("unexpected char %q at %d", r, p)
}

// balance tracks brackets: a tag ends only where they are balanced.
func balance(stack *[]byte, c byte) error {
	switch c {
	case '(', '[', '{':
		*stack = append(*stack, map[byte]byte{'(': ')', '[': ']', '{': '}'}[c])
	case ')', ']', '}':
		if len(*stack) == 0 {
			return &Error{Msg: "unexpected '" + string(c) + "'"}
		}
		want := (*stack)[len(*stack)-1]
		*stack = (*stack)[:len(*stack)-1]
		if want != c {
			return &Error{Msg: "unexpected '" + string(c) + "', expected '" + string(want) + "'"}
		}
	}
	return nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// digitsLen matches (\d+_)*\d+ at p.
func digitsLen(s string, p int) int {
	q := p
	for {
		start := q
		for q < len(s) && isDigit(s[q]) {
			q++
		}
		if q == start {
			if q > p && s[q-1] == '_' {
				return q - 1 - p
			}
			return q - p
		}
		if q < len(s) && s[q] == '_' && q+1 < len(s) && isDigit(s[q+1]) {
			q++
			continue
		}
		return q - p
	}
}

// floatLen matches jinja2's float_re at p: digits, then a fraction and/or
// an exponent (one of them required), not right after a '.'.
func floatLen(s string, p int) int {
	if p > 0 && s[p-1] == '.' {
		return 0
	}
	n := digitsLen(s, p)
	if n == 0 {
		return 0
	}
	q := p + n
	frac := 0
	if q < len(s) && s[q] == '.' {
		frac = digitsLen(s, q+1)
	}
	exp := func(at int) int {
		if at < len(s) && (s[at] == 'e' || s[at] == 'E') {
			e := at + 1
			if e < len(s) && (s[e] == '+' || s[e] == '-') {
				e++
			}
			if d := digitsLen(s, e); d > 0 {
				return e + d - at
			}
		}
		return 0
	}
	if frac > 0 {
		q += 1 + frac
		return q + exp(q) - p
	}
	if e := exp(q); e > 0 {
		return q + e - p
	}
	return 0
}

// intLen matches jinja2's integer_re at p: 0b, 0o, 0x, decimal, or zeros.
func intLen(s string, p int) int {
	if p >= len(s) || !isDigit(s[p]) {
		return 0
	}
	prefixed := func(ok func(byte) bool) int {
		q := p + 2
		for q < len(s) {
			if ok(s[q]) {
				q++
			} else if s[q] == '_' && q+1 < len(s) && ok(s[q+1]) {
				q += 2
			} else {
				break
			}
		}
		if q == p+2 {
			return 0
		}
		return q - p
	}
	if s[p] == '0' && p+1 < len(s) {
		switch s[p+1] | 0x20 {
		case 'b':
			if n := prefixed(func(c byte) bool { return c == '0' || c == '1' }); n > 0 {
				return n
			}
		case 'o':
			if n := prefixed(func(c byte) bool { return c >= '0' && c <= '7' }); n > 0 {
				return n
			}
		case 'x':
			if n := prefixed(func(c byte) bool { return isDigit(c) || (c|0x20) >= 'a' && (c|0x20) <= 'f' }); n > 0 {
				return n
			}
		}
	}
	digit := isDigit
	if s[p] == '0' {
		digit = func(c byte) bool { return c == '0' }
	}
	q := p + 1
	for q < len(s) {
		if digit(s[q]) {
			q++
		} else if s[q] == '_' && q+1 < len(s) && digit(s[q+1]) {
			q += 2
		} else {
			break
		}
	}
	return q - p
}

// stringToken lexes a quoted string and unescapes it as Python's
// unicode-escape codec does.
func (l *lexer) stringToken(quote byte) error {
	s := l.src
	q := l.pos + 1
	for q < len(s) && s[q] != quote {
		if s[q] == '\\' {
			q++
		}
		q++
	}
	if q >= len(s) {
		r, _ := utf8.DecodeRuneInString(s[l.pos:])
		return l.fail("unexpected char %q at %d", r, l.pos)
	}
	val, err := unescape(s[l.pos+1 : q])
	if err != nil {
		return l.fail("%v", err)
	}
	l.toks = append(l.toks, token{kind: tString, val: val, line: l.line})
	l.advance(l.pos, q+1)
	return nil
}

// unescape decodes Python's string escapes: \\ \' \" \n \t \r \a \b \f \v,
// octal \ooo, \xhh, \uhhhh, \Uhhhhhhhh and a backslash-newline; any other
// backslash stays.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch e := s[i]; e {
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'a':
			b.WriteByte(7)
		case 'b':
			b.WriteByte(8)
		case 'f':
			b.WriteByte(12)
		case 'v':
			b.WriteByte(11)
		case '\n':
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if i+n >= len(s) {
				return "", &Error{Msg: "truncated \\" + string(e) + " escape"}
			}
			v, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32)
			if err != nil || v > utf8.MaxRune {
				return "", &Error{Msg: "truncated or invalid \\" + string(e) + " escape"}
			}
			b.WriteRune(rune(v))
			i += n
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := i
			for j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7' {
				j++
			}
			v, _ := strconv.ParseUint(s[i:j], 8, 32)
			b.WriteRune(rune(v))
			i = j - 1
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	return b.String(), nil
}
