package jinja

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// A filterFunc is a filter: the value and the filter's arguments.
type filterFunc func(ev *evaluator, v any, a *args) any

// filters are jinja2's filters, with transformers' tojson. The ones chat
// templates do not use (unsupportedFilters) parse, and fail when run.
var filters map[string]filterFunc

var unsupportedFilters = []string{"filesizeformat", "forceescape", "groupby", "pprint", "random", "striptags",
	"truncate", "urlencode", "urlize", "wordwrap", "xmlattr"}

func init() {
	filters = map[string]filterFunc{
		"abs":        filterAbs,
		"attr":       filterAttr,
		"batch":      filterBatch,
		"capitalize": func(ev *evaluator, v any, a *args) any { return ev.mapped(ev.toStr(v), pyCapitalize) },
		"center": func(ev *evaluator, v any, a *args) any {
			if !a.has(0, "width") {
				a = &args{pos: []any{int64(80)}}
			}
			return ev.justify(ev.toStr(v), a, 'c')
		},
		"count":    func(ev *evaluator, v any, a *args) any { return ev.length(v) },
		"default":  filterDefault,
		"dictsort": filterDictsort,
		"escape":   filterEscape,
		"first":    func(ev *evaluator, v any, a *args) any { return ev.firstLast(v, true) },
		"float":    filterFloat,
		"format": func(ev *evaluator, v any, a *args) any {
			return ev.printf(ev.toStr(v), &list{items: a.pos, tuple: true})
		},
		"indent": filterIndent,
		"int":    filterInt,
		"items":  filterItems,
		"join":   filterJoin,
		"last":   func(ev *evaluator, v any, a *args) any { return ev.firstLast(v, false) },
		"length": func(ev *evaluator, v any, a *args) any { return ev.length(v) },
		"list":   func(ev *evaluator, v any, a *args) any { return &list{items: slices.Clone(ev.iterate(v))} },
		"lower": func(ev *evaluator, v any, a *args) any {
			return ev.mapped(ev.toStr(v), cases.Lower(language.Und).String)
		},
		"map":        filterMap,
		"max":        func(ev *evaluator, v any, a *args) any { return ev.minMax(v, a, false) },
		"min":        func(ev *evaluator, v any, a *args) any { return ev.minMax(v, a, true) },
		"reject":     func(ev *evaluator, v any, a *args) any { return ev.selectItems(v, a, false, false) },
		"rejectattr": func(ev *evaluator, v any, a *args) any { return ev.selectItems(v, a, false, true) },
		"replace":    filterReplace,
		"reverse":    filterReverse,
		"round":      filterRound,
		"safe":       func(ev *evaluator, v any, a *args) any { return ev.toStr(v) },
		"select":     func(ev *evaluator, v any, a *args) any { return ev.selectItems(v, a, true, false) },
		"selectattr": func(ev *evaluator, v any, a *args) any { return ev.selectItems(v, a, true, true) },
		"slice":      filterSlice,
		"sort":       filterSort,
		"string":     func(ev *evaluator, v any, a *args) any { return ev.toStr(v) },
		"sum":        filterSum,
		"title":      func(ev *evaluator, v any, a *args) any { return ev.mapped(ev.toStr(v), titleFilter) },
		"tojson":     filterToJSON,
		"trim": func(ev *evaluator, v any, a *args) any {
			return pyStrip(ev, ev.toStr(v), &args{pos: []any{a.get(0, "chars", nil)}}, true, true)
		},
		"unique": filterUnique,
		"upper": func(ev *evaluator, v any, a *args) any {
			return ev.mapped(ev.toStr(v), cases.Upper(language.Und).String)
		},
		"wordcount": filterWordcount,
	}
	filters["d"] = filters["default"]
	filters["e"] = filters["escape"]
	for _, name := range unsupportedFilters {
		filters[name] = func(ev *evaluator, v any, a *args) any {
			ev.fail("Unsupported", "the filter %s is not supported", name)
			return nil
		}
	}
}

// applyFilter runs filter f on v.
func (ev *evaluator) applyFilter(f *filterExpr, v any, sc *scope) any {
	a := &args{}
	for _, e := range f.args {
		a.pos = append(a.pos, ev.eval(e, sc))
	}
	for i, e := range f.kwargs {
		a.names = append(a.names, f.kwNames[i])
		a.kw = append(a.kw, ev.eval(e, sc))
	}
	ev.line = f.line
	fn := filters[f.name]
	if fn == nil { // jinja2 defers the check inside if statements
		ev.fail("TemplateRuntimeError", "No filter named '%s' found.", f.name)
	}
	return fn(ev, v, a)
}

func filterAbs(ev *evaluator, v any, a *args) any {
	switch x := v.(type) {
	case bool, int64:
		i, _ := intOf(x)
		if i < 0 {
			return ev.unary("-", i)
		}
		return i
	case float64:
		return math.Abs(x)
	case undefined:
		ev.failUndefined(x)
	}
	ev.fail("TypeError", "bad operand type for abs(): '%s'", typeName(v))
	return nil
}

func filterAttr(ev *evaluator, v any, a *args) any {
	name := ev.toStr(a.get(0, "name", nil))
	if r, ok := ev.attribute(v, name); ok {
		return r
	}
	return undefined{hint: fmt.Sprintf("'%s object' has no attribute '%s'", typeName(v), name)}
}

// filterBatch groups items into lists of n, the last one filled with
// fill_with when given.
func filterBatch(ev *evaluator, v any, a *args) any {
	n := ev.intArg(a, 0, "linecount")
	if n <= 0 {
		ev.fail("ValueError", "batch size must be positive")
	}
	items := ev.iterate(v)
	ev.growItems(int64(len(items))*2 + 1)
	out := &list{}
	for i := 0; i < len(items); i += int(n) {
		end := min(i+int(n), len(items))
		chunk := slices.Clone(items[i:end])
		if fill := a.get(1, "fill_with", nil); fill != nil || a.has(1, "fill_with") {
			for len(chunk) < int(n) {
				chunk = append(chunk, fill)
			}
		}
		out.items = append(out.items, &list{items: chunk})
	}
	return out
}

func filterDefault(ev *evaluator, v any, a *args) any {
	_, isUndef := v.(undefined)
	if isUndef || (truth(a.get(1, "boolean", false)) && !truth(v)) {
		return a.get(0, "default_value", "")
	}
	return v
}

// filterDictsort sorts a dict's items by key (or value), ignoring case
// unless case_sensitive.
func filterDictsort(ev *evaluator, v any, a *args) any {
	d, ok := v.(*dict)
	if !ok {
		if u, isU := v.(undefined); isU {
			ev.failUndefined(u)
		}
		ev.fail("AttributeError", "'%s' object has no attribute 'items'", typeName(v))
	}
	by := ev.toStr(a.get(2, "by", "key"))
	pos := 0
	switch by {
	case "key":
	case "value":
		pos = 1
	default:
		ev.fail("FilterArgumentError", "You can only sort by either \"key\" or \"value\"")
	}
	items := ev.dictItems(d).items
	caseSensitive := truth(a.get(0, "case_sensitive", false))
	ev.sortItems(items, func(it any) any {
		k := it.(*list).items[pos]
		if !caseSensitive {
			k = ev.ignoreCase(k)
		}
		return k
	}, truth(a.get(3, "reverse", false)))
	return &list{items: items}
}

// ignoreCase lower-cases strings, as jinja2's sort keys do.
func (ev *evaluator) ignoreCase(v any) any {
	if s, ok := v.(string); ok {
		return cases.Lower(language.Und).String(s)
	}
	return v
}

// sortItems sorts items stably by key, as Python's sorted does.
func (ev *evaluator) sortItems(items []any, key func(any) any, reverse bool) {
	keys := make([]any, len(items))
	for i, it := range items {
		keys[i] = key(it)
	}
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	ev.step(int64(len(items)))
	sort.SliceStable(idx, func(i, j int) bool {
		if reverse {
			c, _ := ev.order(keys[idx[j]], keys[idx[i]], "<", 0)
			return c < 0
		}
		c, _ := ev.order(keys[idx[i]], keys[idx[j]], "<", 0)
		return c < 0
	})
	sorted := make([]any, len(items))
	for i, j := range idx {
		sorted[i] = items[j]
	}
	copy(items, sorted)
}

// filterEscape escapes HTML as markupsafe does.
func filterEscape(ev *evaluator, v any, a *args) any {
	s := ev.toStr(v)
	ev.grow(int64(len(s)) * 5)
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

func (ev *evaluator) firstLast(v any, first bool) any {
	if s, ok := v.(string); ok {
		ev.grow(int64(len(s)) * 4)
		r := []rune(s)
		switch {
		case len(r) == 0:
			return undefined{hint: "No first item, sequence was empty."}
		case first:
			return string(r[0])
		}
		return string(r[len(r)-1])
	}
	items := ev.iterate(v)
	switch {
	case len(items) == 0:
		return undefined{hint: "No first item, sequence was empty."}
	case first:
		return items[0]
	}
	return items[len(items)-1]
}

func filterFloat(ev *evaluator, v any, a *args) any {
	def := a.get(0, "default", 0.0)
	switch x := v.(type) {
	case float64:
		return x
	case bool, int64:
		f, _, _, _ := number(x)
		return f
	case string:
		if f, err := strconv.ParseFloat(strings.TrimFunc(strings.ReplaceAll(x, "_", ""), pyIsSpace), 64); err == nil || isRangeErr(err) {
			return f
		}
	case undefined:
		ev.failUndefined(x)
	}
	return def
}

// filterInt is jinja2's int filter: int(value, base), else int(float(value)),
// else the default.
func filterInt(ev *evaluator, v any, a *args) any {
	def := a.get(0, "default", int64(0))
	base := int64(10)
	if a.has(1, "base") {
		base = ev.intArg(a, 1, "base")
	}
	switch x := v.(type) {
	case bool, int64:
		i, _ := intOf(x)
		return i
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) >= 1<<63 {
			return def
		}
		return int64(x)
	case string:
		s := strings.ReplaceAll(strings.TrimFunc(x, pyIsSpace), "_", "")
		if i, err := strconv.ParseInt(s, int(base), 64); err == nil {
			return i
		}
		if base == 16 || base == 0 {
			if i, err := strconv.ParseInt(s, 0, 64); err == nil {
				return i
			}
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) && math.Abs(f) < 1<<63 {
			return int64(f)
		}
	case undefined:
		ev.failUndefined(x)
	}
	return def
}

func filterItems(ev *evaluator, v any, a *args) any {
	switch x := v.(type) {
	case *dict:
		return ev.dictItems(x)
	case undefined:
		return &list{}
	}
	ev.fail("TypeError", "Can only get item pairs from a mapping.")
	return nil
}

// filterIndent is jinja2's indent(width=4, first=False, blank=False).
func filterIndent(ev *evaluator, v any, a *args) any {
	s := ev.toStr(v)
	indent := strings.Repeat(" ", 4)
	switch w := a.get(0, "width", int64(4)).(type) {
	case string:
		indent = w
	default:
		n, ok := intOf(w)
		if !ok {
			ev.fail("TypeError", "can't multiply sequence by non-int of type '%s'", typeName(w))
		}
		if n > ev.lim.Value {
			ev.tooBig(n)
		}
		indent = strings.Repeat(" ", int(max(n, 0)))
	}
	ev.growItems(int64(len(s)) + 1)
	lines := pySplitlines(s+"\n", false)
	ev.grow(int64(len(s)) + int64(len(lines)+1)*int64(len(indent)))
	var b strings.Builder
	if truth(a.get(1, "first", false)) {
		b.WriteString(indent)
	}
	blank := truth(a.get(2, "blank", false))
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
			if blank || l != "" {
				b.WriteString(indent)
			}
		}
		b.WriteString(l)
	}
	return b.String()
}

// filterJoin joins the items' text (or an attribute of each) with d.
func filterJoin(ev *evaluator, v any, a *args) any {
	sep := ev.toStr(a.get(0, "d", ""))
	items := ev.iterate(v)
	if attr := a.get(1, "attribute", nil); attr != nil {
		get := ev.attrGetter(attr, nil)
		mapped := make([]any, len(items))
		for i, it := range items {
			mapped[i] = get(it)
		}
		items = mapped
	}
	strs := make([]any, len(items))
	for i, it := range items {
		strs[i] = ev.toStr(it)
	}
	return ev.joinStrings(sep, strs)
}

// attrGetter is jinja2's make_attrgetter: "a.b.0" looked up item first,
// part by part, with def in place of an undefined result.
func (ev *evaluator) attrGetter(attr any, def any) func(any) any {
	var parts []any
	if s, ok := attr.(string); ok {
		for _, p := range strings.Split(s, ".") {
			if n, err := strconv.ParseInt(p, 10, 64); err == nil {
				parts = append(parts, n)
			} else {
				parts = append(parts, p)
			}
		}
	} else {
		parts = []any{attr}
	}
	return func(v any) any {
		for _, p := range parts {
			v = ev.getitem(v, p)
		}
		if _, ok := v.(undefined); ok && def != nil {
			return def
		}
		return v
	}
}

// filterMap applies a filter to each item, or takes an attribute of each.
func filterMap(ev *evaluator, v any, a *args) any {
	items := ev.iterate(v)
	ev.growItems(int64(len(items)))
	out := &list{items: make([]any, len(items))}
	if attr := a.get(-1, "attribute", nil); attr != nil {
		get := ev.attrGetter(attr, a.get(-1, "default", nil))
		for i, it := range items {
			out.items[i] = get(it)
		}
		return out
	}
	if len(a.pos) == 0 {
		ev.fail("FilterArgumentError", "map requires a filter argument")
	}
	name, ok := a.pos[0].(string)
	f := filters[name]
	if !ok || f == nil {
		ev.fail("TemplateRuntimeError", "No filter named '%v' found.", a.pos[0])
	}
	rest := &args{pos: a.pos[1:], names: a.names, kw: a.kw}
	for i, it := range items {
		ev.step(1)
		out.items[i] = f(ev, it, rest)
	}
	return out
}

// minMax is jinja2's min and max (case_sensitive=False, attribute=None).
func (ev *evaluator) minMax(v any, a *args, isMin bool) any {
	items := ev.iterate(v)
	if len(items) == 0 {
		return undefined{hint: "No aggregated item, sequence was empty."}
	}
	key := ev.itemKey(a.get(0, "case_sensitive", false), a.get(1, "attribute", nil))
	best, bestKey := items[0], key(items[0])
	for _, it := range items[1:] {
		k := key(it)
		c, _ := ev.order(k, bestKey, "<", 0)
		if (isMin && c < 0) || (!isMin && c > 0) {
			best, bestKey = it, k
		}
	}
	return best
}

// itemKey is the sort key of sort, unique, min and max: the item or its
// attribute, lower-cased unless case_sensitive.
func (ev *evaluator) itemKey(caseSensitive, attr any) func(any) any {
	get := func(v any) any { return v }
	if attr != nil {
		get = ev.attrGetter(attr, nil)
	}
	return func(v any) any {
		k := get(v)
		if !truth(caseSensitive) {
			k = ev.ignoreCase(k)
		}
		return k
	}
}

// selectItems is select / reject (a test on each item) and selectattr /
// rejectattr (a test on an attribute of each item).
func (ev *evaluator) selectItems(v any, a *args, keep, byAttr bool) any {
	items := ev.iterate(v)
	pos := a.pos
	get := func(v any) any { return v }
	if byAttr {
		if len(pos) == 0 {
			ev.fail("FilterArgumentError", "Missing parameter for attribute name")
		}
		get = ev.attrGetter(pos[0], nil)
		pos = pos[1:]
	}
	test := func(v any) bool { return truth(v) }
	if len(pos) > 0 {
		name, ok := pos[0].(string)
		t := tests[name]
		if !ok || t == nil {
			ev.fail("TemplateRuntimeError", "No test named '%v' found.", pos[0])
		}
		rest := &args{pos: pos[1:], names: a.names, kw: a.kw}
		test = func(v any) bool { return t(ev, v, rest) }
	}
	out := &list{}
	for _, it := range items {
		ev.step(1)
		if test(get(it)) == keep {
			out.items = append(out.items, it)
		}
	}
	ev.growItems(int64(len(out.items)))
	return out
}

func filterReplace(ev *evaluator, v any, a *args) any {
	count := a.get(2, "count", nil)
	if count == nil {
		count = int64(-1)
	}
	return ev.replace(ev.toStr(v), ev.toStr(a.get(0, "old", "")), ev.toStr(a.get(1, "new", "")), count)
}

func filterReverse(ev *evaluator, v any, a *args) any {
	if s, ok := v.(string); ok {
		ev.grow(int64(len(s)) * 5)
		r := []rune(s)
		slices.Reverse(r)
		return string(r)
	}
	items := slices.Clone(ev.iterate(v))
	ev.growItems(int64(len(items)))
	slices.Reverse(items)
	return &list{items: items}
}

// filterRound is jinja2's round(precision=0, method='common'): Python's
// round (ties to even), or floor or ceil at the precision.
func filterRound(ev *evaluator, v any, a *args) any {
	prec := int64(0)
	if a.has(0, "precision") {
		prec = ev.intArg(a, 0, "precision")
	}
	method := ev.toStr(a.get(1, "method", "common"))
	f, i, isInt, ok := number(v)
	if !ok {
		if u, isU := v.(undefined); isU {
			ev.failUndefined(u)
		}
		ev.fail("TypeError", "type %s doesn't define __round__ method", typeName(v))
	}
	switch method {
	case "common":
		if isInt {
			return i
		}
		if prec < 0 || prec > 300 || math.IsInf(f, 0) || math.IsNaN(f) {
			return f
		}
		r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', int(prec), 64), 64)
		return r
	case "floor", "ceil":
		scale := math.Pow(10, float64(prec))
		if method == "floor" {
			return math.Floor(f*scale) / scale
		}
		return math.Ceil(f*scale) / scale
	}
	ev.fail("FilterArgumentError", "method must be common, ceil or floor")
	return nil
}

// filterSlice cuts the items into n columns, as jinja2's slice does.
func filterSlice(ev *evaluator, v any, a *args) any {
	n := ev.intArg(a, 0, "slices")
	if n <= 0 {
		ev.fail("ZeroDivisionError", "integer division or modulo by zero")
	}
	items := ev.iterate(v)
	per, extra := len(items)/int(n), len(items)%int(n)
	fill, hasFill := a.get(1, "fill_with", nil), a.has(1, "fill_with")
	out := &list{}
	offset := 0
	for i := range int(n) {
		start := offset + i*per
		if i < extra {
			offset++
		}
		end := offset + (i+1)*per
		chunk := slices.Clone(items[start:end])
		if hasFill && i >= extra {
			chunk = append(chunk, fill)
		}
		out.items = append(out.items, &list{items: chunk})
	}
	ev.growItems(int64(len(items) + int(n)))
	return out
}

func filterSort(ev *evaluator, v any, a *args) any {
	items := slices.Clone(ev.iterate(v))
	ev.growItems(int64(len(items)))
	ev.sortItems(items, ev.itemKey(a.get(1, "case_sensitive", false), a.get(2, "attribute", nil)), truth(a.get(0, "reverse", false)))
	return &list{items: items}
}

func filterSum(ev *evaluator, v any, a *args) any {
	items := ev.iterate(v)
	if attr := a.get(0, "attribute", nil); attr != nil {
		get := ev.attrGetter(attr, nil)
		mapped := make([]any, len(items))
		for i, it := range items {
			mapped[i] = get(it)
		}
		items = mapped
	}
	total := a.get(1, "start", int64(0))
	for _, it := range items {
		total = ev.binop("+", total, it)
	}
	return total
}

// filterWordcount counts the runs of Python's \w characters.
func filterWordcount(ev *evaluator, v any, a *args) any {
	s := ev.toStr(v)
	ev.scan(len(s))
	n, in := int64(0), false
	for _, r := range s {
		word := r == '_' || unicode.In(r, unicode.L, unicode.N, unicode.Mn, unicode.Pc)
		if word && !in {
			n++
		}
		in = word
	}
	return n
}

// titleFilter is jinja2's title filter: the text cut after "-", white
// space and opening brackets, each piece's first character upper case and
// the rest lower.
func titleFilter(s string) string {
	lower, upper := cases.Lower(language.Und), cases.Upper(language.Und)
	var b strings.Builder
	start := true
	for _, r := range s {
		switch {
		case r == '-' || r == '(' || r == '{' || r == '[' || r == '<' || pyIsSpace(r):
			b.WriteRune(r)
			start = true
		case start:
			b.WriteString(upper.String(string(r)))
			start = false
		default:
			b.WriteString(lower.String(string(r)))
		}
	}
	return b.String()
}

// filterUnique keeps the first of items equal (ignoring case unless
// case_sensitive, or by attribute).
func filterUnique(ev *evaluator, v any, a *args) any {
	key := ev.itemKey(a.get(0, "case_sensitive", false), a.get(1, "attribute", nil))
	seen := map[string]bool{}
	out := &list{}
	for _, it := range ev.iterate(v) {
		ev.step(1)
		k := ev.mustHash(key(it))
		if !seen[k] {
			seen[k] = true
			out.items = append(out.items, it)
		}
	}
	ev.growItems(int64(len(out.items)))
	return out
}

// printf is Python's %-formatting (the % operator on a string, and the
// format filter): %s %r %d %i %f %x %o %e %g %% with flags, width and
// precision; a dict argument gives %(name)s.
func (ev *evaluator) printf(format string, arg any) string {
	var values []any
	named, isDict := arg.(*dict)
	if l, ok := arg.(*list); ok && l.tuple {
		values = l.items
	} else if !isDict {
		values = []any{arg}
	}
	var b strings.Builder
	next := 0
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		var v any
		hasV := false
		if j < len(format) && format[j] == '(' && isDict {
			end := strings.IndexByte(format[j:], ')')
			if end < 0 {
				ev.fail("ValueError", "incomplete format key")
			}
			val, ok := named.getStr(format[j+1 : j+end])
			if !ok {
				ev.fail("KeyError", "'%s'", format[j+1:j+end])
			}
			v, hasV = val, true
			j += end + 1
		}
		k := j
		for k < len(format) && strings.IndexByte("-+ #0123456789.", format[k]) >= 0 {
			k++
		}
		if k >= len(format) {
			ev.fail("ValueError", "incomplete format")
		}
		flags, verb := format[j:k], format[k]
		i = k
		if verb == '%' {
			b.WriteByte('%')
			continue
		}
		if !hasV {
			if next >= len(values) {
				ev.fail("TypeError", "not enough arguments for format string")
			}
			v = values[next]
			next++
		}
		ev.printfOne(&b, flags, verb, v)
		if b.Len() > int(ev.lim.Value) {
			ev.tooBig(int64(b.Len()))
		}
	}
	if !isDict && next < len(values) {
		ev.fail("TypeError", "not all arguments converted during string formatting")
	}
	ev.grow(int64(b.Len()))
	return b.String()
}

var widthRE = regexp.MustCompile(`\d{4,}`)

func (ev *evaluator) printfOne(b *strings.Builder, flags string, verb byte, v any) {
	if widthRE.MatchString(flags) {
		ev.fail("Unsupported", "format widths or precisions of 1000 or more are not supported")
	}
	switch verb {
	case 's':
		fmt.Fprintf(b, "%"+flags+"s", ev.toStr(v))
	case 'r':
		fmt.Fprintf(b, "%"+flags+"s", ev.reprOf(v))
	case 'd', 'i', 'x', 'X', 'o':
		f, i, isInt, ok := number(v)
		if !ok {
			ev.fail("TypeError", "%%%c format: a real number is required, not %s", verb, typeName(v))
		}
		if !isInt {
			i = int64(f)
		}
		if verb == 'i' {
			verb = 'd'
		}
		fmt.Fprintf(b, "%"+flags+string(verb), i)
	case 'f', 'F', 'e', 'E', 'g', 'G':
		f, _, _, ok := number(v)
		if !ok {
			ev.fail("TypeError", "must be real number, not %s", typeName(v))
		}
		if !strings.Contains(flags, ".") && verb != 'g' && verb != 'G' {
			flags += ".6"
		}
		fmt.Fprintf(b, "%"+flags+string(verb), f)
	default:
		ev.fail("ValueError", "unsupported format character '%c'", verb)
	}
}
