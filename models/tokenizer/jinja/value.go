package jinja

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Values are Go values standing for Python's:
//
//	nil        None
//	bool       bool
//	int64      int
//	float64    float
//	string     str
//	*list      list, or tuple when tuple is set
//	*dict      dict (insertion-ordered)
//	*namespace jinja2's Namespace
//	undefined  jinja2's Undefined
//	rangeVal   range
//	*macro, *builtin, *loopVal  macros, functions and methods, loop

// list is a Python list or tuple.
type list struct {
	items []any
	tuple bool
}

// dict is a Python dict: keys in insertion order.
type dict struct {
	keys, vals []any
	index      map[string]int // key's hash → position
}

func newDict() *dict { return &dict{index: map[string]int{}} }

// set adds or replaces key's value; a replaced key keeps its first
// spelling, as in Python (1 and True are one key).
func (d *dict) set(key string, k, v any) {
	if i, ok := d.index[key]; ok {
		d.vals[i] = v
		return
	}
	d.index[key] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
}

func (d *dict) get(key string) (any, bool) {
	i, ok := d.index[key]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// setStr sets a string key.
func (d *dict) setStr(k string, v any) { d.set("s"+k, k, v) }

// getStr looks a string key up.
func (d *dict) getStr(k string) (any, bool) { return d.get("s" + k) }

// namespace is jinja2's Namespace: attributes set with {% set ns.a = … %}.
type namespace struct{ attrs *dict }

// undefined is jinja2's Undefined: empty text, false, no items, and an
// error (UndefinedError, or SecurityError for what the sandbox refused)
// when used any other way.
type undefined struct {
	hint     string
	security bool
}

// rangeVal is range(start, stop, step), at most maxRange items.
type rangeVal struct{ start, stop, step int64 }

func (r rangeVal) len() int64 {
	switch {
	case r.step > 0 && r.start < r.stop:
		return (r.stop - r.start + r.step - 1) / r.step
	case r.step < 0 && r.start > r.stop:
		return (r.start - r.stop - r.step - 1) / -r.step
	}
	return 0
}

// builtin is a Go function callable from templates (globals, methods
// bound to their value, loop.cycle …).
type builtin struct {
	name string
	fn   func(ev *evaluator, a *args) any
}

// macro is a macro (or a call block's caller) bound to the scope it was
// defined in.
type macro struct {
	def     *macroDef
	closure *scope
}

// args are a call's arguments.
type args struct {
	pos   []any
	names []string
	kw    []any
}

// typeName is Python's type name of v, for error messages.
func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case *list:
		if v.tuple {
			return "tuple"
		}
		return "list"
	case *dict:
		return "dict"
	case *namespace:
		return "Namespace"
	case undefined:
		return "Undefined"
	case rangeVal:
		return "range"
	case *macro:
		return "Macro"
	case *loopVal:
		return "LoopContext"
	}
	return "builtin_function_or_method"
}

// truth is Python's bool(v).
func truth(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case int64:
		return v != 0
	case float64:
		return v != 0
	case string:
		return v != ""
	case *list:
		return len(v.items) > 0
	case *dict:
		return len(v.keys) > 0
	case undefined:
		return false
	case rangeVal:
		return v.len() > 0
	}
	return true
}

// toStr is Python's str(v), which {{ }} prints.
func (ev *evaluator) toStr(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case undefined:
		return ""
	}
	var b strings.Builder
	ev.repr(&b, v, false, 0)
	return b.String()
}

// repr writes Python's repr(v) (str(v) at the top when !quote).
func (ev *evaluator) repr(b *strings.Builder, v any, quote bool, depth int) {
	if depth > ev.lim.Depth {
		ev.fail("RecursionError", "values nest deeper than %d levels (Limits.Depth)", ev.lim.Depth)
	}
	ev.step(1)
	if b.Len() > int(ev.lim.Value) {
		ev.tooBig(int64(b.Len()))
	}
	switch v := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		b.WriteString(map[bool]string{true: "True", false: "False"}[v])
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case float64:
		b.WriteString(pyFloat(v))
	case string:
		if quote {
			pyQuote(b, v)
		} else {
			b.WriteString(v)
		}
	case *list:
		open, end := "[", "]"
		if v.tuple {
			open, end = "(", ")"
		}
		b.WriteString(open)
		for i, it := range v.items {
			if i > 0 {
				b.WriteString(", ")
			}
			ev.repr(b, it, true, depth+1)
		}
		if v.tuple && len(v.items) == 1 {
			b.WriteString(",")
		}
		b.WriteString(end)
	case *dict:
		ev.reprDict(b, v, depth)
	case *namespace:
		b.WriteString("<Namespace ")
		ev.reprDict(b, v.attrs, depth)
		b.WriteString(">")
	case undefined:
		if quote {
			b.WriteString("Undefined")
		}
	case rangeVal:
		if v.step == 1 {
			fmt.Fprintf(b, "range(%d, %d)", v.start, v.stop)
		} else {
			fmt.Fprintf(b, "range(%d, %d, %d)", v.start, v.stop, v.step)
		}
	case *macro:
		fmt.Fprintf(b, "<Macro '%s'>", v.def.name)
	case *loopVal:
		fmt.Fprintf(b, "<LoopContext %d/%d>", v.index+1, v.n)
	case *builtin:
		fmt.Fprintf(b, "<built-in method %s>", v.name)
	default:
		fmt.Fprintf(b, "%v", v)
	}
}

func (ev *evaluator) reprDict(b *strings.Builder, d *dict, depth int) {
	b.WriteString("{")
	for i, k := range d.keys {
		if i > 0 {
			b.WriteString(", ")
		}
		ev.repr(b, k, true, depth+1)
		b.WriteString(": ")
		ev.repr(b, d.vals[i], true, depth+1)
	}
	b.WriteString("}")
}

// pyFloat formats f as Python's repr(float): the shortest digits that
// read back, positional from 1e-4 to below 1e16, else with an exponent of
// at least two digits; integral values keep ".0".
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	neg := strings.HasPrefix(mant, "-")
	mant = strings.TrimPrefix(mant, "-")
	digits := strings.Replace(mant, ".", "", 1)
	var s string
	if exp < -4 || exp >= 16 {
		s = digits[:1]
		if len(digits) > 1 {
			s += "." + digits[1:]
		}
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		s += fmt.Sprintf("e%s%02d", sign, exp)
	} else if exp < 0 {
		s = "0." + strings.Repeat("0", -exp-1) + digits
	} else if len(digits) <= exp+1 {
		s = digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
	} else {
		s = digits[:exp+1] + "." + digits[exp+1:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// pyQuote writes Python's repr of a string.
func pyQuote(b *strings.Builder, s string) {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(b, `\x%02x`, r)
		case r != ' ' && !unicode.IsPrint(r):
			switch {
			case r < 0x100:
				fmt.Fprintf(b, `\x%02x`, r)
			case r < 0x10000:
				fmt.Fprintf(b, `\u%04x`, r)
			default:
				fmt.Fprintf(b, `\U%08x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
}

// number returns v as a float64 and whether it is an int (bool counts as
// int), for arithmetic; ok is false for other types.
func number(v any) (f float64, i int64, isInt, ok bool) {
	switch v := v.(type) {
	case bool:
		if v {
			return 1, 1, true, true
		}
		return 0, 0, true, true
	case int64:
		return float64(v), v, true, true
	case float64:
		return v, 0, false, true
	}
	return 0, 0, false, false
}

// hash returns v's dict key: equal values (1, 1.0, True) share one.
// Lists, dicts and the like are unhashable: ok is false.
func (ev *evaluator) hash(v any, depth int) (string, bool) {
	if depth > ev.lim.Depth {
		ev.fail("RecursionError", "values nest deeper than %d levels (Limits.Depth)", ev.lim.Depth)
	}
	switch v := v.(type) {
	case nil:
		return "n", true
	case bool, int64:
		_, i, _, _ := number(v)
		return "i" + strconv.FormatInt(i, 10), true
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<63 {
			return "i" + strconv.FormatInt(int64(v), 10), true
		}
		return "f" + strconv.FormatUint(math.Float64bits(v), 16), true
	case string:
		ev.scan(len(v))
		return "s" + v, true
	case *list:
		if !v.tuple {
			return "", false
		}
		var b strings.Builder
		b.WriteString("t(")
		for _, it := range v.items {
			ev.step(1)
			k, ok := ev.hash(it, depth+1)
			if !ok {
				return "", false
			}
			b.WriteString(strconv.Itoa(len(k)))
			b.WriteString(":")
			b.WriteString(k)
			if b.Len() > int(ev.lim.Value) {
				ev.tooBig(int64(b.Len()))
			}
		}
		b.WriteString(")")
		return b.String(), true
	case undefined:
		return "u", true
	case *dict:
		return "", false
	}
	return fmt.Sprintf("p%p", v), true
}

// equal is Python's ==.
func (ev *evaluator) equal(a, b any, depth int) bool {
	if depth > ev.lim.Depth {
		ev.fail("RecursionError", "values nest deeper than %d levels (Limits.Depth)", ev.lim.Depth)
	}
	ev.step(1)
	if fa, ia, aInt, ok := number(a); ok {
		fb, ib, bInt, ok := number(b)
		if !ok {
			return false
		}
		if aInt && bInt {
			return ia == ib
		}
		return fa == fb
	}
	switch a := a.(type) {
	case nil:
		return b == nil
	case string:
		bs, ok := b.(string)
		if ok {
			ev.scan(len(a))
		}
		return ok && a == bs
	case undefined:
		_, ok := b.(undefined)
		return ok
	case *list:
		bl, ok := b.(*list)
		if !ok || a.tuple != bl.tuple || len(a.items) != len(bl.items) {
			return false
		}
		for i := range a.items {
			if !ev.equal(a.items[i], bl.items[i], depth+1) {
				return false
			}
		}
		return true
	case *dict:
		bd, ok := b.(*dict)
		if !ok || len(a.keys) != len(bd.keys) {
			return false
		}
		for i, k := range a.keys {
			key, _ := ev.hash(k, depth+1)
			bv, ok := bd.get(key)
			if !ok || !ev.equal(a.vals[i], bv, depth+1) {
				return false
			}
		}
		return true
	case rangeVal:
		br, ok := b.(rangeVal)
		return ok && a == br
	}
	return a == b
}

// runeCount is len() of a Python str.
func runeCount(s string) int { return utf8.RuneCountInString(s) }

// isASCII reports whether s is all ASCII (then bytes are characters).
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
