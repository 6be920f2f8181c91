package jinja

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// A strMethod is a Python str method.
type strMethod func(ev *evaluator, s string, a *args) any

// strMethods are the str methods templates call. Python's other str
// methods (strUnsupported) are an error when called rather than an
// undefined value.
var strMethods map[string]strMethod

var strUnsupported = []string{"encode", "expandtabs", "format_map", "isidentifier", "isprintable", "maketrans", "translate"}

func init() {
	strMethods = map[string]strMethod{
		"strip":  func(ev *evaluator, s string, a *args) any { return pyStrip(ev, s, a, true, true) },
		"lstrip": func(ev *evaluator, s string, a *args) any { return pyStrip(ev, s, a, true, false) },
		"rstrip": func(ev *evaluator, s string, a *args) any { return pyStrip(ev, s, a, false, true) },
		"split": func(ev *evaluator, s string, a *args) any {
			return pySplit(ev, s, a, false)
		},
		"rsplit": func(ev *evaluator, s string, a *args) any {
			return pySplit(ev, s, a, true)
		},
		"splitlines": func(ev *evaluator, s string, a *args) any {
			ev.growItems(int64(len(s)))
			return ev.stringList(pySplitlines(s, truth(a.get(0, "keepends", false))))
		},
		"startswith": func(ev *evaluator, s string, a *args) any { return pyAffix(ev, s, a, strings.HasPrefix) },
		"endswith":   func(ev *evaluator, s string, a *args) any { return pyAffix(ev, s, a, strings.HasSuffix) },
		"upper":      func(ev *evaluator, s string, a *args) any { return ev.mapped(s, cases.Upper(language.Und).String) },
		"lower":      func(ev *evaluator, s string, a *args) any { return ev.mapped(s, cases.Lower(language.Und).String) },
		"casefold":   func(ev *evaluator, s string, a *args) any { return ev.mapped(s, cases.Fold().String) },
		"title":      func(ev *evaluator, s string, a *args) any { return ev.mapped(s, pyTitle) },
		"capitalize": func(ev *evaluator, s string, a *args) any { return ev.mapped(s, pyCapitalize) },
		"swapcase":   func(ev *evaluator, s string, a *args) any { return ev.mapped(s, swapCase) },
		"replace": func(ev *evaluator, s string, a *args) any {
			return ev.replace(s, ev.strArg(a, 0, "old"), ev.strArg(a, 1, "new"), a.get(2, "count", int64(-1)))
		},
		"find":  func(ev *evaluator, s string, a *args) any { return ev.find(s, a, false, false) },
		"rfind": func(ev *evaluator, s string, a *args) any { return ev.find(s, a, true, false) },
		"index": func(ev *evaluator, s string, a *args) any { return ev.find(s, a, false, true) },
		"rindex": func(ev *evaluator, s string, a *args) any {
			return ev.find(s, a, true, true)
		},
		"count": func(ev *evaluator, s string, a *args) any {
			sub := ev.strArg(a, 0, "sub")
			ev.scan(len(s))
			if sub == "" {
				return int64(runeCount(s) + 1)
			}
			return int64(strings.Count(s, sub))
		},
		"join": func(ev *evaluator, s string, a *args) any {
			return ev.joinStrings(s, ev.iterate(a.get(0, "iterable", nil)))
		},
		"format":     func(ev *evaluator, s string, a *args) any { return ev.format(s, a) },
		"isdigit":    strPredicate(func(r rune) bool { return unicode.IsDigit(r) || unicode.Is(unicode.No, r) }),
		"isdecimal":  strPredicate(unicode.IsDigit),
		"isnumeric":  strPredicate(unicode.IsNumber),
		"isalpha":    strPredicate(unicode.IsLetter),
		"isalnum":    strPredicate(func(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }),
		"isspace":    strPredicate(pyIsSpace),
		"isascii":    func(ev *evaluator, s string, a *args) any { return isASCII(s) },
		"isupper":    func(ev *evaluator, s string, a *args) any { return casedAll(s, unicode.IsUpper) },
		"islower":    func(ev *evaluator, s string, a *args) any { return casedAll(s, unicode.IsLower) },
		"istitle":    func(ev *evaluator, s string, a *args) any { return s != "" && pyTitle(s) == s && casedAll(s, isCased) },
		"partition":  func(ev *evaluator, s string, a *args) any { return ev.partition(s, ev.strArg(a, 0, "sep"), false) },
		"rpartition": func(ev *evaluator, s string, a *args) any { return ev.partition(s, ev.strArg(a, 0, "sep"), true) },
		"removeprefix": func(ev *evaluator, s string, a *args) any {
			return strings.TrimPrefix(s, ev.strArg(a, 0, "prefix"))
		},
		"removesuffix": func(ev *evaluator, s string, a *args) any {
			return strings.TrimSuffix(s, ev.strArg(a, 0, "suffix"))
		},
		"zfill":  func(ev *evaluator, s string, a *args) any { return ev.zfill(s, ev.intArg(a, 0, "width")) },
		"ljust":  func(ev *evaluator, s string, a *args) any { return ev.justify(s, a, 'l') },
		"rjust":  func(ev *evaluator, s string, a *args) any { return ev.justify(s, a, 'r') },
		"center": func(ev *evaluator, s string, a *args) any { return ev.justify(s, a, 'c') },
	}
}

// get returns positional argument i, else the keyword argument name,
// else def.
func (a *args) get(i int, name string, def any) any {
	if i >= 0 && i < len(a.pos) {
		return a.pos[i]
	}
	for j, n := range a.names {
		if n == name {
			return a.kw[j]
		}
	}
	return def
}

// has reports whether argument i (or name) was given.
func (a *args) has(i int, name string) bool {
	return (i >= 0 && i < len(a.pos)) || slices.Contains(a.names, name)
}

// strArg returns a string argument, failing as Python does for another
// type.
func (ev *evaluator) strArg(a *args, i int, name string) string {
	v := a.get(i, name, nil)
	s, ok := v.(string)
	if !ok {
		if u, isU := v.(undefined); isU {
			ev.failUndefined(u)
		}
		ev.fail("TypeError", "argument %s must be str, not %s", name, typeName(v))
	}
	return s
}

// intArg returns an int argument.
func (ev *evaluator) intArg(a *args, i int, name string) int64 {
	v := a.get(i, name, nil)
	n, ok := intOf(v)
	if !ok {
		if u, isU := v.(undefined); isU {
			ev.failUndefined(u)
		}
		ev.fail("TypeError", "argument %s: '%s' object cannot be interpreted as an integer", name, typeName(v))
	}
	return n
}

// method returns obj's method name bound to obj: a builtin, the
// undefined value of a method the immutable sandbox refuses, or ok false
// when obj's type has no such attribute.
func (ev *evaluator) method(obj any, name string) (any, bool) {
	unsafe := func() (any, bool) {
		return undefined{security: true, hint: fmt.Sprintf("access to attribute '%s' of '%s' object is unsafe.", name, typeName(obj))}, true
	}
	unsupported := func() (any, bool) {
		return &builtin{name, func(ev *evaluator, _ *args) any {
			ev.fail("Unsupported", "the %s method %s is not supported", typeName(obj), name)
			return nil
		}}, true
	}
	switch o := obj.(type) {
	case string:
		if f, ok := strMethods[name]; ok {
			return &builtin{name, func(ev *evaluator, a *args) any { return f(ev, o, a) }}, true
		}
		if slices.Contains(strUnsupported, name) {
			return unsupported()
		}
	case *dict:
		switch name {
		case "clear", "pop", "popitem", "setdefault", "update":
			return unsafe()
		case "get":
			return &builtin{name, func(ev *evaluator, a *args) any {
				if v, ok := o.get(ev.mustHash(a.get(0, "key", nil))); ok {
					return v
				}
				return a.get(1, "default", nil)
			}}, true
		case "items":
			return &builtin{name, func(ev *evaluator, a *args) any { return ev.dictItems(o) }}, true
		case "keys":
			return &builtin{name, func(ev *evaluator, a *args) any { return &list{items: slices.Clone(o.keys)} }}, true
		case "values":
			return &builtin{name, func(ev *evaluator, a *args) any { return &list{items: slices.Clone(o.vals)} }}, true
		case "copy":
			return &builtin{name, func(ev *evaluator, a *args) any { return o }}, true
		case "fromkeys":
			return &builtin{name, dictFromKeys}, true
		}
	case *list:
		if !o.tuple && slices.Contains([]string{"append", "clear", "pop", "reverse", "insert", "sort", "extend", "remove"}, name) {
			return unsafe()
		}
		switch name {
		case "count":
			return &builtin{name, func(ev *evaluator, a *args) any {
				n := int64(0)
				for _, it := range o.items {
					if ev.equal(it, a.get(0, "value", nil), 0) {
						n++
					}
				}
				return n
			}}, true
		case "index":
			return &builtin{name, func(ev *evaluator, a *args) any {
				for i, it := range o.items {
					if ev.equal(it, a.get(0, "value", nil), 0) {
						return int64(i)
					}
				}
				ev.fail("ValueError", "%s is not in %s", ev.reprOf(a.get(0, "value", nil)), typeName(o))
				return nil
			}}, true
		case "copy":
			if !o.tuple {
				return &builtin{name, func(ev *evaluator, a *args) any { return &list{items: o.items} }}, true
			}
		}
	case int64, float64, bool:
		if slices.Contains([]string{"real", "imag", "conjugate", "bit_length", "bit_count", "to_bytes", "as_integer_ratio", "is_integer", "hex", "numerator", "denominator"}, name) {
			return unsupported()
		}
	}
	return nil, false
}

// dictItems is dict.items(), as a list of (key, value) tuples.
func (ev *evaluator) dictItems(d *dict) *list {
	ev.growItems(int64(len(d.keys)) * 3)
	out := &list{items: make([]any, len(d.keys))}
	for i, k := range d.keys {
		out.items[i] = &list{items: []any{k, d.vals[i]}, tuple: true}
	}
	return out
}

// dictFromKeys is dict.fromkeys(keys, value=None).
func dictFromKeys(ev *evaluator, a *args) any {
	d := newDict()
	v := a.get(1, "value", nil)
	keys := ev.iterate(a.get(0, "iterable", nil))
	ev.growItems(int64(len(keys)))
	for _, k := range keys {
		d.set(ev.mustHash(k), k, v)
	}
	return d
}

func (ev *evaluator) reprOf(v any) string {
	var b strings.Builder
	ev.repr(&b, v, true, 0)
	return b.String()
}

// mapped applies a string mapping, counting the new string.
func (ev *evaluator) mapped(s string, f func(string) string) string {
	ev.grow(int64(len(s)) * 3)
	return f(s)
}

func (ev *evaluator) stringList(parts []string) *list {
	ev.growItems(int64(len(parts)))
	out := &list{items: make([]any, len(parts))}
	for i, p := range parts {
		out.items[i] = p
	}
	return out
}

// pyStrip is str.strip / lstrip / rstrip: white space, or the characters
// of the argument.
func pyStrip(ev *evaluator, s string, a *args, left, right bool) any {
	ev.scan(len(s))
	cut := pyIsSpace
	if c := a.get(0, "chars", nil); c != nil {
		chars, ok := c.(string)
		if !ok {
			ev.fail("TypeError", "strip arg must be None or str")
		}
		cut = func(r rune) bool { return strings.ContainsRune(chars, r) }
	}
	if left {
		s = strings.TrimLeftFunc(s, cut)
	}
	if right {
		s = strings.TrimRightFunc(s, cut)
	}
	return s
}

// pySplit is str.split / rsplit (sep, maxsplit).
func pySplit(ev *evaluator, s string, a *args, fromRight bool) any {
	ev.scan(len(s))
	limit := int64(-1)
	if v := a.get(1, "maxsplit", nil); v != nil {
		limit = ev.intArg(a, 1, "maxsplit")
	}
	sepv := a.get(0, "sep", nil)
	if sepv == nil {
		ev.growItems(countFields(s))
		return ev.stringList(splitSpace(s, limit, fromRight))
	}
	sep := ev.strArg(a, 0, "sep")
	if sep == "" {
		ev.fail("ValueError", "empty separator")
	}
	ev.growItems(int64(strings.Count(s, sep)) + 1)
	if limit < 0 || limit > int64(len(s)) {
		return ev.stringList(strings.Split(s, sep))
	}
	if !fromRight {
		return ev.stringList(strings.SplitN(s, sep, int(limit)+1))
	}
	var parts []string
	for range limit {
		i := strings.LastIndex(s, sep)
		if i < 0 {
			break
		}
		parts = append(parts, s[i+len(sep):])
		s = s[:i]
	}
	parts = append(parts, s)
	slices.Reverse(parts)
	return ev.stringList(parts)
}

// countFields counts the runs of non-space characters of s.
func countFields(s string) int64 {
	n, in := int64(0), false
	for _, r := range s {
		space := pyIsSpace(r)
		if !space && !in {
			n++
		}
		in = !space
	}
	return n
}

// splitSpace splits at runs of white space, at most limit times (< 0:
// no limit), from the left or the right, as Python's split() does.
func splitSpace(s string, limit int64, fromRight bool) []string {
	fields := strings.FieldsFunc(s, pyIsSpace)
	if limit < 0 || int64(len(fields)) <= limit+1 {
		return fields
	}
	if !fromRight {
		rest := strings.TrimLeftFunc(s, pyIsSpace)
		var out []string
		for range limit {
			i := strings.IndexFunc(rest, pyIsSpace)
			out = append(out, rest[:i])
			rest = strings.TrimLeftFunc(rest[i:], pyIsSpace)
		}
		return append(out, rest)
	}
	rest := strings.TrimRightFunc(s, pyIsSpace)
	var out []string
	for range limit {
		i := strings.LastIndexFunc(rest, pyIsSpace)
		_, n := utf8.DecodeRuneInString(rest[i:])
		out = append(out, rest[i+n:])
		rest = strings.TrimRightFunc(rest[:i], pyIsSpace)
	}
	out = append(out, rest)
	slices.Reverse(out)
	return out
}

// pySplitlines is str.splitlines: Python's line boundaries.
func pySplitlines(s string, keep bool) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		end := i + n
		switch r {
		case '\r':
			if end < len(s) && s[end] == '\n' {
				end++
			}
		case '\n', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
		default:
			i = end
			continue
		}
		if keep {
			out = append(out, s[start:end])
		} else {
			out = append(out, s[start:i])
		}
		start, i = end, end
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// window is s[start:end] for the optional start and end arguments (1 and
// 2) of str.find, startswith and the like, with Python's slice rules, and
// the rune offset at which it starts.
func (ev *evaluator) window(s string, a *args) (string, int) {
	if !a.has(1, "start") && !a.has(2, "end") {
		return s, 0
	}
	r := []rune(s)
	start, end := int64(0), int64(len(r))
	if v := a.get(1, "start", nil); v != nil {
		start = ev.intArg(a, 1, "start")
	}
	if v := a.get(2, "end", nil); v != nil {
		end = ev.intArg(a, 2, "end")
	}
	idx := sliceIndices(int64(len(r)), start, end, 1, true, true)
	if len(idx) == 0 {
		return "", int(min(max(start, 0), int64(len(r))))
	}
	return string(r[idx[0] : idx[len(idx)-1]+1]), idx[0]
}

// pyAffix is startswith / endswith (a string or a tuple of strings, with
// optional start and end).
func pyAffix(ev *evaluator, s string, a *args, test func(string, string) bool) any {
	s, _ = ev.window(s, a)
	var affixes []any
	switch p := a.get(0, "prefix", nil).(type) {
	case string:
		affixes = []any{p}
	case *list:
		if !p.tuple {
			ev.fail("TypeError", "startswith first arg must be str or a tuple of str, not list")
		}
		affixes = p.items
	default:
		ev.fail("TypeError", "startswith first arg must be str or a tuple of str, not %s", typeName(p))
	}
	for _, x := range affixes {
		xs, ok := x.(string)
		if !ok {
			ev.fail("TypeError", "tuple for startswith must only contain str, not %s", typeName(x))
		}
		if test(s, xs) {
			return true
		}
	}
	return false
}

// pyTitle is str.title: the first cased character after an uncased one
// upper (title) case, the others lower.
func pyTitle(s string) string {
	var b strings.Builder
	prevCased := false
	for _, r := range s {
		if prevCased {
			b.WriteString(cases.Lower(language.Und).String(string(r)))
		} else {
			b.WriteRune(unicode.ToTitle(r))
		}
		prevCased = isCased(r)
	}
	return b.String()
}

func isCased(r rune) bool { return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) }

// pyCapitalize is str.capitalize: the first character title case, the
// rest lower.
func pyCapitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToTitle(r)) + cases.Lower(language.Und).String(s[n:])
}

func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsUpper(r):
			return unicode.ToLower(r)
		case unicode.IsLower(r):
			return unicode.ToUpper(r)
		}
		return r
	}, s)
}

// strPredicate is an is…() method: true when s is not empty and every
// character passes.
func strPredicate(ok func(rune) bool) strMethod {
	return func(ev *evaluator, s string, a *args) any {
		return s != "" && strings.IndexFunc(s, func(r rune) bool { return !ok(r) }) < 0
	}
}

// casedAll is isupper / islower: at least one cased character, and every
// cased one passes.
func casedAll(s string, ok func(rune) bool) bool {
	seen := false
	for _, r := range s {
		if isCased(r) {
			if !ok(r) {
				return false
			}
			seen = true
		}
	}
	return seen
}

// replace is str.replace(old, new, count); the result's size is checked
// before it is made.
func (ev *evaluator) replace(s, old, repl string, countArg any) string {
	n, ok := intOf(countArg)
	if !ok {
		ev.fail("TypeError", "'%s' object cannot be interpreted as an integer", typeName(countArg))
	}
	ev.scan(len(s))
	matches := int64(strings.Count(s, old))
	if n >= 0 {
		matches = min(matches, n)
	}
	ev.grow(int64(len(s)) + matches*int64(max(len(repl)-len(old), 0)))
	return strings.Replace(s, old, repl, int(max(n, -1)))
}

// find is str.find / rfind / index / rindex, in characters.
func (ev *evaluator) find(s string, a *args, last, raise bool) any {
	sub := ev.strArg(a, 0, "sub")
	ev.scan(len(s))
	s, offset := ev.window(s, a)
	i := strings.Index(s, sub)
	if last {
		i = strings.LastIndex(s, sub)
	}
	if i < 0 {
		if raise {
			ev.fail("ValueError", "substring not found")
		}
		return int64(-1)
	}
	return int64(offset + runeCount(s[:i]))
}

// joinStrings is sep.join(items): every item must be a string.
func (ev *evaluator) joinStrings(sep string, items []any) string {
	total := 0
	for i, it := range items {
		s, ok := it.(string)
		if !ok {
			ev.fail("TypeError", "sequence item %d: expected str instance, %s found", i, typeName(it))
		}
		total += len(s) + len(sep)
	}
	ev.step(int64(len(items)))
	ev.grow(int64(total))
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = it.(string)
	}
	return strings.Join(parts, sep)
}

func (ev *evaluator) partition(s, sep string, last bool) any {
	if sep == "" {
		ev.fail("ValueError", "empty separator")
	}
	i := strings.Index(s, sep)
	if last {
		i = strings.LastIndex(s, sep)
	}
	if i < 0 {
		if last {
			return &list{items: []any{"", "", s}, tuple: true}
		}
		return &list{items: []any{s, "", ""}, tuple: true}
	}
	return &list{items: []any{s[:i], sep, s[i+len(sep):]}, tuple: true}
}

func (ev *evaluator) zfill(s string, width int64) string {
	n := int64(runeCount(s))
	if width <= n {
		return s
	}
	ev.grow(width)
	pad := strings.Repeat("0", int(width-n))
	if s != "" && (s[0] == '+' || s[0] == '-') {
		return s[:1] + pad + s[1:]
	}
	return pad + s
}

// justify is ljust / rjust / center (width, fillchar).
func (ev *evaluator) justify(s string, a *args, how byte) string {
	width := ev.intArg(a, 0, "width")
	fill := " "
	if a.has(1, "fillchar") {
		fill = ev.strArg(a, 1, "fillchar")
		if runeCount(fill) != 1 {
			ev.fail("TypeError", "The fill character must be exactly one character long")
		}
	}
	n := int64(runeCount(s))
	if width <= n {
		return s
	}
	ev.grow(width * int64(len(fill)))
	pad := width - n
	left := int64(0)
	switch how {
	case 'r':
		left = pad
	case 'c':
		left = pad/2 + (pad & width & 1)
	}
	return strings.Repeat(fill, int(left)) + s + strings.Repeat(fill, int(pad-left))
}

// format is str.format with jinja2's sandboxed formatter: fields {}, {0},
// {name}, with .attr and [key] through the sandbox, !s and !r; format
// specs are not supported.
func (ev *evaluator) format(s string, a *args) string {
	var b strings.Builder
	auto := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{', c == '}' && i+1 < len(s) && s[i+1] == '}':
			b.WriteByte(c)
			i++
			continue
		case c == '}':
			ev.fail("ValueError", "Single '}' encountered in format string")
		case c != '{':
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			ev.fail("ValueError", "expected '}' before end of string")
		}
		field := s[i+1 : i+end]
		i += end
		field, conv, _ := strings.Cut(field, "!")
		if strings.Contains(field, ":") || strings.Contains(conv, ":") {
			ev.fail("Unsupported", "format specs in str.format are not supported")
		}
		v := ev.formatField(field, a, &auto)
		if conv == "r" {
			b.WriteString(ev.reprOf(v))
		} else {
			b.WriteString(ev.toStr(v))
		}
		if b.Len() > int(ev.lim.Value) {
			ev.tooBig(int64(b.Len()))
		}
	}
	ev.grow(int64(b.Len()))
	return b.String()
}

// formatField resolves a str.format field name: an argument, then .attr
// and [key] parts.
func (ev *evaluator) formatField(field string, a *args, auto *int) any {
	end := strings.IndexAny(field, ".[")
	if end < 0 {
		end = len(field)
	}
	first, rest := field[:end], field[end:]
	var v any
	switch n, err := strconv.Atoi(first); {
	case first == "":
		if *auto >= len(a.pos) {
			ev.fail("IndexError", "Replacement index %d out of range for positional args tuple", *auto)
		}
		v = a.pos[*auto]
		*auto++
	case err == nil:
		if n >= len(a.pos) {
			ev.fail("IndexError", "Replacement index %d out of range for positional args tuple", n)
		}
		v = a.pos[n]
	default:
		i := slices.Index(a.names, first)
		if i < 0 {
			ev.fail("KeyError", "'%s'", first)
		}
		v = a.kw[i]
	}
	for rest != "" {
		if rest[0] == '.' {
			end := strings.IndexAny(rest[1:], ".[")
			if end < 0 {
				end = len(rest) - 1
			}
			v, rest = ev.getattr(v, rest[1:1+end]), rest[1+end:]
			continue
		}
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			ev.fail("ValueError", "Missing ']' in format string")
		}
		var key any = rest[1:end]
		if n, err := strconv.Atoi(rest[1:end]); err == nil {
			key = int64(n)
		}
		v, rest = ev.getitem(v, key), rest[end+1:]
	}
	return v
}
