package jinja

import (
	"fmt"
	"slices"
	"strings"
)

// eval evaluates an expression in sc.
func (ev *evaluator) eval(x expr, sc *scope) any {
	ev.step(1)
	switch x := x.(type) {
	case *constExpr:
		return x.v
	case *nameExpr:
		if v, ok := sc.lookup(x.name); ok {
			return v
		}
		return undefined{hint: fmt.Sprintf("'%s' is undefined", x.name)}
	case *getattrExpr:
		return ev.getattr(ev.eval(x.obj, sc), x.attr)
	case *getitemExpr:
		obj := ev.eval(x.obj, sc)
		if s, ok := x.key.(*sliceExpr); ok {
			return ev.slice(obj, s, sc)
		}
		return ev.getitem(obj, ev.eval(x.key, sc))
	case *listExpr:
		return ev.evalItems(x.items, false, sc)
	case *tupleExpr:
		return ev.evalItems(x.items, true, sc)
	case *dictExpr:
		ev.growItems(int64(len(x.keys)))
		d := newDict()
		for i, k := range x.keys {
			kv := ev.eval(k, sc)
			d.set(ev.mustHash(kv), kv, ev.eval(x.values[i], sc))
		}
		return d
	case *callExpr:
		return ev.callExpr(x, sc, nil)
	case *filterExpr:
		return ev.applyFilter(x, ev.eval(x.obj, sc), sc)
	case *testExpr:
		return ev.applyTest(x, sc)
	case *binExpr:
		return ev.binop(x.op, ev.eval(x.l, sc), ev.eval(x.r, sc))
	case *unaryExpr:
		return ev.unary(x.op, ev.eval(x.x, sc))
	case *notExpr:
		return !truth(ev.eval(x.x, sc))
	case *andExpr:
		if l := ev.eval(x.l, sc); !truth(l) {
			return l
		}
		return ev.eval(x.r, sc)
	case *orExpr:
		if l := ev.eval(x.l, sc); truth(l) {
			return l
		}
		return ev.eval(x.r, sc)
	case *compareExpr:
		l := ev.eval(x.first, sc)
		for i, op := range x.ops {
			r := ev.eval(x.rest[i], sc)
			if !ev.compare(op, l, r) {
				return false
			}
			l = r
		}
		return true
	case *condExpr:
		if truth(ev.eval(x.test, sc)) {
			return ev.eval(x.then, sc)
		}
		if x.els == nil {
			return undefined{hint: fmt.Sprintf("the inline if-expression on line %d evaluated to false and no else section was defined.", x.line)}
		}
		return ev.eval(x.els, sc)
	case *sliceExpr:
		ev.fail("TemplateSyntaxError", "a slice outside a subscript")
	}
	ev.fail("InternalError", "unknown expression %T", x)
	return nil
}

// evalItems makes a list (or tuple) of the items' values.
func (ev *evaluator) evalItems(items []expr, tuple bool, sc *scope) *list {
	ev.growItems(int64(len(items)))
	out := &list{items: make([]any, len(items)), tuple: tuple}
	for i, it := range items {
		out.items[i] = ev.eval(it, sc)
	}
	return out
}

// mustHash returns v's dict key, or fails as Python does for an
// unhashable key.
func (ev *evaluator) mustHash(v any) string {
	if u, ok := v.(undefined); ok && u.security {
		ev.failUndefined(u)
	}
	k, ok := ev.hash(v, 0)
	if !ok {
		ev.fail("TypeError", "unhashable type: '%s'", typeName(v))
	}
	return k
}

// failUndefined fails as using an undefined value does in jinja2.
func (ev *evaluator) failUndefined(u undefined) {
	if u.security {
		ev.fail("SecurityError", "%s", u.hint)
	}
	ev.fail("UndefinedError", "%s", u.hint)
}

func isDunder(name string) bool {
	return len(name) > 4 && strings.HasPrefix(name, "__") && strings.HasSuffix(name, "__")
}

// getattr is jinja2's sandboxed obj.name: an attribute (a method, a loop
// or namespace attribute), else the item name, else undefined.
func (ev *evaluator) getattr(obj any, name string) any {
	if v, ok := ev.attribute(obj, name); ok {
		return v
	}
	if d, ok := obj.(*dict); ok {
		if v, ok := d.getStr(name); ok {
			return v
		}
	}
	return undefined{hint: fmt.Sprintf("'%s object' has no attribute '%s'", typeName(obj), name)}
}

// attribute returns obj's Python attribute name: a bound method, a loop
// or namespace attribute, or the undefined value of an attribute the
// sandbox refuses. ok is false when obj has no such attribute.
func (ev *evaluator) attribute(obj any, name string) (any, bool) {
	if u, ok := obj.(undefined); ok {
		ev.failUndefined(u)
	}
	if strings.HasPrefix(name, "_") {
		if isDunder(name) {
			return undefined{security: true, hint: fmt.Sprintf("access to attribute '%s' of '%s' object is unsafe.", name, typeName(obj))}, true
		}
		return nil, false
	}
	switch o := obj.(type) {
	case *loopVal:
		return ev.loopAttr(o, name), true
	case *namespace:
		v, ok := o.attrs.getStr(name)
		return v, ok
	case *builtin:
		if o.name == "dict" && name == "fromkeys" {
			return &builtin{"fromkeys", dictFromKeys}, true
		}
		return nil, false
	}
	return ev.method(obj, name)
}

// getitem is jinja2's sandboxed obj[key]: the item, else (for a string
// key) the attribute, else undefined.
func (ev *evaluator) getitem(obj any, key any) any {
	if u, ok := obj.(undefined); ok {
		ev.failUndefined(u)
	}
	switch o := obj.(type) {
	case *dict:
		if k, ok := ev.hash(key, 0); ok {
			if v, ok := o.get(k); ok {
				return v
			}
		}
	case *list:
		if i, ok := intIndex(key, len(o.items)); ok {
			return o.items[i]
		}
	case string:
		if _, isInt := intOf(key); isInt {
			ev.grow(int64(len(o)) * 4)
			r := []rune(o)
			if i, ok := intIndex(key, len(r)); ok {
				return string(r[i])
			}
		}
	case rangeVal:
		if i, ok := intIndex(key, int(o.len())); ok {
			return o.start + int64(i)*o.step
		}
	}
	if s, ok := key.(string); ok {
		if v, ok := ev.attribute(obj, s); ok {
			return v
		}
	}
	if _, isInt := intOf(key); isInt {
		if _, ok := obj.(*list); ok {
			return undefined{hint: fmt.Sprintf("%s object has no element %s", typeName(obj), ev.toStr(key))}
		}
	}
	return undefined{hint: fmt.Sprintf("'%s object' has no attribute '%s'", typeName(obj), ev.toStr(key))}
}

// intOf returns v as an int when it is one (bool counts).
func intOf(v any) (int64, bool) {
	switch v := v.(type) {
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	case int64:
		return v, true
	}
	return 0, false
}

// intIndex resolves a Python index (negative from the end) into a
// sequence of n items.
func intIndex(key any, n int) (int, bool) {
	i, ok := intOf(key)
	if !ok {
		return 0, false
	}
	if i < 0 {
		i += int64(n)
	}
	if i < 0 || i >= int64(n) {
		return 0, false
	}
	return int(i), true
}

// slice is obj[start:stop:step] of a list, tuple or string; other values
// give undefined, as jinja2's sandbox does when Python raises TypeError.
func (ev *evaluator) slice(obj any, s *sliceExpr, sc *scope) any {
	if u, ok := obj.(undefined); ok {
		ev.failUndefined(u)
	}
	bound := func(x expr) (int64, bool, bool) { // value, given, ok
		if x == nil {
			return 0, false, true
		}
		v := ev.eval(x, sc)
		if v == nil {
			return 0, false, true
		}
		i, ok := intOf(v)
		return i, true, ok
	}
	start, hasStart, ok1 := bound(s.start)
	stop, hasStop, ok2 := bound(s.stop)
	step, hasStep, ok3 := bound(s.step)
	if !ok1 || !ok2 || !ok3 {
		return undefined{hint: "slice indices must be integers or None"}
	}
	if !hasStep {
		step = 1
	}
	if step == 0 {
		ev.fail("ValueError", "slice step cannot be zero")
	}
	switch o := obj.(type) {
	case *list:
		idx := sliceIndices(int64(len(o.items)), start, stop, step, hasStart, hasStop)
		ev.growItems(int64(len(idx)))
		out := &list{items: make([]any, len(idx)), tuple: o.tuple}
		for j, i := range idx {
			out.items[j] = o.items[i]
		}
		return out
	case string:
		ev.scan(len(o))
		if isASCII(o) && step == 1 {
			idx := sliceIndices(int64(len(o)), start, stop, 1, hasStart, hasStop)
			if len(idx) == 0 {
				return ""
			}
			return o[idx[0] : idx[len(idx)-1]+1]
		}
		r := []rune(o)
		ev.grow(int64(len(o)))
		idx := sliceIndices(int64(len(r)), start, stop, step, hasStart, hasStop)
		out := make([]rune, len(idx))
		for j, i := range idx {
			out[j] = r[i]
		}
		return string(out)
	}
	return undefined{hint: fmt.Sprintf("'%s' object is not subscriptable", typeName(obj))}
}

// sliceIndices lists the indices a Python slice picks from n items.
func sliceIndices(n, start, stop, step int64, hasStart, hasStop bool) []int {
	clamp := func(v, lo, hi int64) int64 { return max(lo, min(v, hi)) }
	if step > 0 {
		if !hasStart {
			start = 0
		} else if start < 0 {
			start = clamp(start+n, 0, n)
		} else {
			start = min(start, n)
		}
		if !hasStop {
			stop = n
		} else if stop < 0 {
			stop = clamp(stop+n, 0, n)
		} else {
			stop = min(stop, n)
		}
	} else {
		if !hasStart {
			start = n - 1
		} else if start < 0 {
			start = clamp(start+n, -1, n-1)
		} else {
			start = min(start, n-1)
		}
		if !hasStop {
			stop = -1
		} else if stop < 0 {
			stop = clamp(stop+n, -1, n-1)
		} else {
			stop = min(stop, n-1)
		}
	}
	var idx []int
	for i := start; (step > 0 && i < stop) || (step < 0 && i > stop); i += step {
		idx = append(idx, int(i))
	}
	return idx
}

// callExpr evaluates a call; caller is a call block's body, passed as the
// keyword argument caller.
func (ev *evaluator) callExpr(x *callExpr, sc *scope, caller *macro) any {
	fn := ev.eval(x.fn, sc)
	a := &args{}
	for _, e := range x.args {
		a.pos = append(a.pos, ev.eval(e, sc))
	}
	if x.star != nil {
		a.pos = append(a.pos, ev.iterate(ev.eval(x.star, sc))...)
	}
	for i, e := range x.kwargs {
		a.names = append(a.names, x.kwNames[i])
		a.kw = append(a.kw, ev.eval(e, sc))
	}
	if x.dstar != nil {
		d, ok := ev.eval(x.dstar, sc).(*dict)
		if !ok {
			ev.fail("TypeError", "argument after ** must be a mapping")
		}
		for i, k := range d.keys {
			ks, ok := k.(string)
			if !ok {
				ev.fail("TypeError", "keywords must be strings")
			}
			a.names = append(a.names, ks)
			a.kw = append(a.kw, d.vals[i])
		}
	}
	if caller != nil {
		a.names = append(a.names, "caller")
		a.kw = append(a.kw, caller)
	}
	return ev.call(fn, a)
}

// call calls a macro or function.
func (ev *evaluator) call(fn any, a *args) any {
	switch f := fn.(type) {
	case *macro:
		return ev.callMacro(f, a)
	case *builtin:
		return f.fn(ev, a)
	case undefined:
		ev.failUndefined(f)
	}
	ev.fail("TypeError", "'%s' object is not callable", typeName(fn))
	return nil
}

// callMacro renders a macro's body with its arguments bound, as jinja2's
// Macro does: extra positional arguments go to varargs and unknown
// keyword arguments to kwargs when the body reads them, and are a
// TypeError otherwise; a missing argument without a default is undefined.
func (ev *evaluator) callMacro(m *macro, a *args) any {
	d := m.def
	ev.depth++
	if ev.depth > ev.lim.Depth {
		ev.fail("RecursionError", "macro calls nest deeper than %d (Limits.Depth): '%s' calls itself without end?", ev.lim.Depth, d.name)
	}
	sc := m.closure.child()
	filled := map[string]bool{}
	for i, v := range a.pos {
		if i >= len(d.params) {
			if !d.usesVarargs {
				ev.fail("TypeError", "macro '%s' takes not more than %d argument(s)", d.name, len(d.params))
			}
			break
		}
		sc.set(d.params[i], v)
		filled[d.params[i]] = true
	}
	kwargs := newDict()
	for i, name := range a.names {
		switch {
		case slices.Contains(d.params, name):
			if filled[name] {
				ev.fail("TypeError", "macro '%s' got multiple values for argument '%s'", d.name, name)
			}
			sc.set(name, a.kw[i])
			filled[name] = true
		case name == "caller" && d.usesCaller:
			sc.set("caller", a.kw[i])
		case d.usesKwargs:
			kwargs.setStr(name, a.kw[i])
		default:
			ev.fail("TypeError", "macro '%s' takes no keyword argument '%s'", d.name, name)
		}
	}
	firstDefault := len(d.params) - len(d.defaults)
	for i, p := range d.params {
		switch {
		case filled[p]:
		case i >= firstDefault:
			sc.set(p, ev.eval(d.defaults[i-firstDefault], sc))
		default:
			sc.set(p, undefined{hint: fmt.Sprintf("parameter '%s' was not provided", p)})
		}
	}
	if d.usesVarargs {
		var extra []any
		if len(a.pos) > len(d.params) {
			extra = a.pos[len(d.params):]
		}
		sc.set("varargs", &list{items: extra, tuple: true})
	}
	if d.usesKwargs {
		sc.set("kwargs", kwargs)
	}
	if d.usesCaller && !sc.has("caller") {
		sc.set("caller", undefined{hint: "No caller defined"})
	}
	text, _ := ev.capture(d.body, sc)
	ev.depth--
	return text
}

// iterate returns the items a for loop goes through: a list's items, a
// dict's keys, a string's characters, a range's numbers; none for an
// undefined value; a TypeError for anything else.
func (ev *evaluator) iterate(v any) []any {
	switch v := v.(type) {
	case *list:
		return v.items
	case *dict:
		return v.keys
	case string:
		n := runeCount(v)
		ev.growItems(int64(n))
		out := make([]any, 0, n)
		for _, r := range v {
			out = append(out, string(r))
		}
		return out
	case rangeVal:
		n := v.len()
		ev.growItems(n)
		out := make([]any, n)
		for i := range out {
			out[i] = v.start + int64(i)*v.step
		}
		return out
	case undefined:
		return nil
	}
	ev.fail("TypeError", "'%s' object is not iterable", typeName(v))
	return nil
}

// length is Python's len(v).
func (ev *evaluator) length(v any) int64 {
	switch v := v.(type) {
	case string:
		ev.scan(len(v))
		return int64(runeCount(v))
	case *list:
		return int64(len(v.items))
	case *dict:
		return int64(len(v.keys))
	case rangeVal:
		return v.len()
	case undefined:
		return 0
	}
	ev.fail("TypeError", "object of type '%s' has no len()", typeName(v))
	return 0
}
