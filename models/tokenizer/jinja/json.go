package jinja

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// filterToJSON is transformers' tojson: Python's json.dumps(x,
// ensure_ascii=False, indent=None, separators=None, sort_keys=False), its
// arguments in that order.
func filterToJSON(ev *evaluator, v any, a *args) any {
	j := &jsonWriter{ev: ev, ensureASCII: truth(a.get(0, "ensure_ascii", false)), itemSep: ", ", keySep: ": "}
	switch ind := a.get(1, "indent", nil).(type) {
	case nil:
	case string:
		j.indent, j.indented, j.itemSep = ind, true, ","
	default:
		n, ok := intOf(ind)
		if !ok {
			ev.fail("TypeError", "can't multiply sequence by non-int of type '%s'", typeName(ind))
		}
		if n > 1000 {
			ev.fail("Unsupported", "a tojson indent of more than 1000 spaces")
		}
		j.indent, j.indented, j.itemSep = strings.Repeat(" ", int(max(n, 0))), true, ","
	}
	if seps := a.get(2, "separators", nil); seps != nil {
		items := ev.iterate(seps)
		if len(items) != 2 {
			ev.fail("ValueError", "too many values to unpack (expected 2)")
		}
		j.itemSep, j.keySep = ev.toStr(items[0]), ev.toStr(items[1])
	}
	j.sortKeys = truth(a.get(3, "sort_keys", false))
	j.value(v, 0)
	ev.grow(int64(j.b.Len()))
	return j.b.String()
}

// jsonWriter writes values as Python's json module does.
type jsonWriter struct {
	ev                    *evaluator
	b                     strings.Builder
	ensureASCII, sortKeys bool
	indent                string
	indented              bool
	itemSep, keySep       string
}

func (j *jsonWriter) newline(depth int) {
	if j.indented {
		j.b.WriteByte('\n')
		for range depth {
			j.b.WriteString(j.indent)
		}
	}
}

func (j *jsonWriter) value(v any, depth int) {
	ev := j.ev
	if depth > ev.lim.Depth {
		ev.fail("RecursionError", "values nest deeper than %d levels (Limits.Depth) while encoding JSON", ev.lim.Depth)
	}
	ev.step(1)
	if j.b.Len() > int(ev.lim.Value) {
		ev.tooBig(int64(j.b.Len()))
	}
	switch x := v.(type) {
	case nil:
		j.b.WriteString("null")
	case bool:
		j.b.WriteString(strconv.FormatBool(x))
	case int64:
		j.b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		j.b.WriteString(jsonFloat(x))
	case string:
		j.str(x)
	case *list:
		if len(x.items) == 0 {
			j.b.WriteString("[]")
			return
		}
		j.b.WriteByte('[')
		for i, it := range x.items {
			if i > 0 {
				j.b.WriteString(j.itemSep)
			}
			j.newline(depth + 1)
			j.value(it, depth+1)
		}
		j.newline(depth)
		j.b.WriteByte(']')
	case *dict:
		j.object(x, depth)
	default:
		ev.fail("TypeError", "Object of type %s is not JSON serializable", typeName(v))
	}
}

func (j *jsonWriter) object(d *dict, depth int) {
	if len(d.keys) == 0 {
		j.b.WriteString("{}")
		return
	}
	order := make([]int, len(d.keys))
	for i := range order {
		order[i] = i
	}
	if j.sortKeys {
		keys := make([]any, len(d.keys))
		copy(keys, d.keys)
		idx := make([]any, len(order))
		for i := range idx {
			idx[i] = int64(i)
		}
		j.ev.sortItems(idx, func(v any) any { return keys[v.(int64)] }, false)
		for i, v := range idx {
			order[i] = int(v.(int64))
		}
	}
	j.b.WriteByte('{')
	for n, i := range order {
		if n > 0 {
			j.b.WriteString(j.itemSep)
		}
		j.newline(depth + 1)
		switch k := d.keys[i].(type) {
		case string:
			j.str(k)
		case nil:
			j.b.WriteString(`"null"`)
		case bool:
			j.b.WriteString(`"` + strconv.FormatBool(k) + `"`)
		case int64:
			j.b.WriteString(`"` + strconv.FormatInt(k, 10) + `"`)
		case float64:
			j.b.WriteString(`"` + jsonFloat(k) + `"`)
		default:
			j.ev.fail("TypeError", "keys must be str, int, float, bool or None, not %s", typeName(k))
		}
		j.b.WriteString(j.keySep)
		j.value(d.vals[i], depth+1)
	}
	j.newline(depth)
	j.b.WriteByte('}')
}

// jsonFloat is Python's json float: repr, with NaN and Infinity.
func jsonFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return pyFloat(f)
}

// str writes a JSON string as Python's json does: \" \\ \n \r \t \b \f,
// other control characters as \u00XX, and with ensure_ascii every
// non-ASCII character as \uXXXX (surrogate pairs above U+FFFF).
func (j *jsonWriter) str(s string) {
	j.ev.scan(len(s))
	b := &j.b
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || (j.ensureASCII && r == 0x7f):
			fmt.Fprintf(b, `\u%04x`, r)
		case j.ensureASCII && r > 0x7f:
			if r > 0xffff {
				r -= 0x10000
				fmt.Fprintf(b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			} else {
				fmt.Fprintf(b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
