package jinja

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// globalFuncs are the names every template sees: jinja2's range (with
// the sandbox's MAX_RANGE), dict, namespace, joiner and cycler, and
// transformers' raise_exception and strftime_now.
func globalFuncs() map[string]any {
	return map[string]any{
		"range":           &builtin{"range", globalRange},
		"dict":            &builtin{"dict", globalDict},
		"namespace":       &builtin{"namespace", globalNamespace},
		"joiner":          &builtin{"joiner", globalJoiner},
		"raise_exception": &builtin{"raise_exception", raiseException},
		"strftime_now": &builtin{"strftime_now", func(ev *evaluator, a *args) any {
			return strftime(ev.now(), ev.toStr(a.get(0, "format", "")))
		}},
	}
}

func raiseException(ev *evaluator, a *args) any {
	ev.fail("TemplateError", "%s", ev.toStr(a.get(0, "message", "")))
	return nil
}

// globalRange is range() of at most maxRange items, as jinja2's sandbox's
// safe_range.
func globalRange(ev *evaluator, a *args) any {
	if len(a.pos) == 0 || len(a.pos) > 3 || len(a.names) > 0 {
		ev.fail("TypeError", "range expected at most 3 arguments, got %d", len(a.pos))
	}
	var n [3]int64
	for i, v := range a.pos {
		x, ok := intOf(v)
		if !ok {
			if u, isU := v.(undefined); isU {
				ev.failUndefined(u)
			}
			ev.fail("TypeError", "'%s' object cannot be interpreted as an integer", typeName(v))
		}
		n[i] = x
	}
	r := rangeVal{0, n[0], 1}
	if len(a.pos) > 1 {
		r = rangeVal{n[0], n[1], 1}
	}
	if len(a.pos) == 3 {
		if n[2] == 0 {
			ev.fail("ValueError", "range() arg 3 must not be zero")
		}
		r.step = n[2]
	}
	// The length in floating point: the int64 one could overflow.
	span := (float64(r.stop) - float64(r.start)) / float64(r.step)
	if span > maxRange {
		ev.fail("OverflowError", "Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).", maxRange)
	}
	return r
}

// globalDict is dict(mapping or pairs, **kwargs).
func globalDict(ev *evaluator, a *args) any {
	d := newDict()
	if len(a.pos) > 1 {
		ev.fail("TypeError", "dict expected at most 1 argument, got %d", len(a.pos))
	}
	if len(a.pos) == 1 {
		switch src := a.pos[0].(type) {
		case *dict:
			for i, k := range src.keys {
				d.set(ev.mustHash(k), k, src.vals[i])
			}
		case *namespace:
			ev.fail("TypeError", "'Namespace' object is not iterable")
		default:
			for i, it := range ev.iterate(src) {
				pair := ev.iterate(it)
				if len(pair) != 2 {
					ev.fail("ValueError", "dictionary update sequence element #%d has length %d; 2 is required", i, len(pair))
				}
				d.set(ev.mustHash(pair[0]), pair[0], pair[1])
			}
		}
	}
	for i, name := range a.names {
		d.setStr(name, a.kw[i])
	}
	ev.growItems(int64(len(d.keys)))
	return d
}

// globalNamespace is transformers' namespace(): jinja2's Namespace that
// refuses names starting with an underscore.
func globalNamespace(ev *evaluator, a *args) any {
	d := globalDict(ev, a).(*dict)
	for _, k := range d.keys {
		if s, ok := k.(string); ok {
			checkNamespaceName(ev, s)
		}
	}
	return &namespace{attrs: d}
}

// globalJoiner is jinja2's joiner(sep=", "): "" on the first call, sep
// after.
func globalJoiner(ev *evaluator, a *args) any {
	sep := a.get(0, "sep", ", ")
	used := false
	return &builtin{"joiner", func(ev *evaluator, _ *args) any {
		if !used {
			used = true
			return ""
		}
		return sep
	}}
}

// strftime formats t as Python's datetime.strftime on Linux (glibc).
func strftime(t time.Time, format string) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i+1 >= len(format) {
			b.WriteByte(c)
			continue
		}
		i++
		pad := true
		if format[i] == '-' && i+1 < len(format) {
			pad = false
			i++
		}
		d := format[i]
		if layout, ok := strftimeLayouts[d]; ok {
			b.WriteString(t.Format(layout))
		} else if num, ok := strftimeNumbers[d]; ok {
			v, width := num(t)
			if pad && width > 0 {
				fmt.Fprintf(&b, "%0*d", width, v)
			} else {
				b.WriteString(strconv.Itoa(v))
			}
		} else if d == 'e' {
			fmt.Fprintf(&b, "%2d", t.Day())
		} else if d == '%' {
			b.WriteByte('%')
		} else {
			b.WriteByte('%')
			b.WriteByte(d)
		}
	}
	return b.String()
}

// strftimeLayouts are the strftime directives a Go time layout writes.
var strftimeLayouts = map[byte]string{
	'a': "Mon", 'A': "Monday", 'b': "Jan", 'h': "Jan", 'B': "January", 'p': "PM",
	'z': "-0700", 'Z': "MST", 'F': "2006-01-02", 'T': "15:04:05", 'D': "01/02/06",
	'c': "Mon Jan _2 15:04:05 2006", 'x': "01/02/06", 'X': "15:04:05",
}

// strftimeNumbers are the numeric strftime directives: the number and the
// width it is zero-padded to (0: never padded; "%-d" drops the padding).
var strftimeNumbers = map[byte]func(t time.Time) (v, width int){
	'd': func(t time.Time) (int, int) { return t.Day(), 2 },
	'm': func(t time.Time) (int, int) { return int(t.Month()), 2 },
	'y': func(t time.Time) (int, int) { return t.Year() % 100, 2 },
	'Y': func(t time.Time) (int, int) { return t.Year(), 4 },
	'H': func(t time.Time) (int, int) { return t.Hour(), 2 },
	'I': func(t time.Time) (int, int) { return (t.Hour()+11)%12 + 1, 2 },
	'M': func(t time.Time) (int, int) { return t.Minute(), 2 },
	'S': func(t time.Time) (int, int) { return t.Second(), 2 },
	'j': func(t time.Time) (int, int) { return t.YearDay(), 3 },
	'w': func(t time.Time) (int, int) { return int(t.Weekday()), 0 },
	'u': func(t time.Time) (int, int) { return (int(t.Weekday())+6)%7 + 1, 0 },
}

// fromGo converts a Go value to a template value: nil, bools, integers,
// floats, strings, json.Number, json.RawMessage (decoded keeping its
// objects' key order), slices and arrays (lists), and maps with string
// keys (dicts, keys sorted since Go maps have no order).
func fromGo(v any) (any, error) {
	return fromGoDepth(v, 0)
}

// maxGoDepth bounds the nesting of converted Go values.
const maxGoDepth = 500

func fromGoDepth(v any, depth int) (any, error) {
	if depth > maxGoDepth {
		return nil, fmt.Errorf("nested more than %d levels", maxGoDepth)
	}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case bool, int64, float64, string:
		return x, nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil && !isRangeErr(err) {
			return nil, err
		}
		return f, nil
	case json.RawMessage:
		return parseJSON(x)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return nil, fmt.Errorf("%d does not fit in 64-bit signed integers", u)
		}
		return int64(u), nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil, nil
		}
		out := &list{items: make([]any, rv.Len())}
		for i := range rv.Len() {
			item, err := fromGoDepth(rv.Index(i).Interface(), depth+1)
			if err != nil {
				return nil, err
			}
			out.items[i] = item
		}
		return out, nil
	case reflect.Map:
		return mapFromGo(rv, depth)
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, nil
		}
		return fromGoDepth(rv.Elem().Interface(), depth+1)
	case reflect.Struct:
		return structFromGo(rv, depth)
	}
	return nil, fmt.Errorf("a %T has no template value", v)
}

func mapFromGo(rv reflect.Value, depth int) (any, error) {
	if rv.Type().Key().Kind() != reflect.String {
		return nil, fmt.Errorf("a %s: map keys must be strings", rv.Type())
	}
	keys := rv.MapKeys()
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.String()
	}
	slices.Sort(names)
	d := newDict()
	for _, name := range names {
		item, err := fromGoDepth(rv.MapIndex(reflect.ValueOf(name).Convert(rv.Type().Key())).Interface(), depth+1)
		if err != nil {
			return nil, err
		}
		d.setStr(name, item)
	}
	return d, nil
}

// structFromGo makes a dict of a struct's exported fields, named as
// encoding/json would name them.
func structFromGo(rv reflect.Value, depth int) (any, error) {
	d := newDict()
	t := rv.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		tag, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if tag != "" {
			name = tag
		}
		if strings.Contains(opts, "omitempty") && rv.Field(i).IsZero() {
			continue
		}
		item, err := fromGoDepth(rv.Field(i).Interface(), depth+1)
		if err != nil {
			return nil, err
		}
		d.setStr(name, item)
	}
	return d, nil
}

// parseJSON decodes JSON into template values, objects keeping their key
// order.
func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	v, err := decodeJSON(dec, 0)
	if err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("JSON: data after the value")
	}
	return v, nil
}

func decodeJSON(dec *json.Decoder, depth int) (any, error) {
	if depth > maxGoDepth {
		return nil, fmt.Errorf("JSON nested more than %d levels", maxGoDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			out := &list{}
			for dec.More() {
				item, err := decodeJSON(dec, depth+1)
				if err != nil {
					return nil, err
				}
				out.items = append(out.items, item)
			}
			_, err := dec.Token()
			return out, err
		}
		d := newDict()
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			item, err := decodeJSON(dec, depth+1)
			if err != nil {
				return nil, err
			}
			d.setStr(k.(string), item)
		}
		_, err := dec.Token()
		return d, err
	}
	return fromGoDepth(tok, depth)
}
