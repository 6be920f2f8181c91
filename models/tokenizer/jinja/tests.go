package jinja

import "unicode"

// A testFunc is a test (value is name …).
type testFunc func(ev *evaluator, v any, a *args) bool

// tests are jinja2's tests.
var tests map[string]testFunc

func init() {
	cmp := func(op string) testFunc {
		return func(ev *evaluator, v any, a *args) bool { return ev.compare(op, v, a.get(0, "other", nil)) }
	}
	tests = map[string]testFunc{
		"defined":   func(ev *evaluator, v any, a *args) bool { _, u := v.(undefined); return !u },
		"undefined": func(ev *evaluator, v any, a *args) bool { _, u := v.(undefined); return u },
		"none":      func(ev *evaluator, v any, a *args) bool { return v == nil },
		"boolean":   func(ev *evaluator, v any, a *args) bool { _, ok := v.(bool); return ok },
		"true":      func(ev *evaluator, v any, a *args) bool { return v == true },
		"false":     func(ev *evaluator, v any, a *args) bool { return v == false },
		"integer":   func(ev *evaluator, v any, a *args) bool { _, ok := v.(int64); return ok },
		"float":     func(ev *evaluator, v any, a *args) bool { _, ok := v.(float64); return ok },
		"number":    func(ev *evaluator, v any, a *args) bool { _, _, _, ok := number(v); return ok },
		"string":    func(ev *evaluator, v any, a *args) bool { _, ok := v.(string); return ok },
		"mapping":   func(ev *evaluator, v any, a *args) bool { _, ok := v.(*dict); return ok },
		"sequence": func(ev *evaluator, v any, a *args) bool {
			switch v.(type) {
			case string, *list, *dict, rangeVal:
				return true
			}
			return false
		},
		"iterable": func(ev *evaluator, v any, a *args) bool {
			switch v.(type) {
			case string, *list, *dict, rangeVal, undefined:
				return true
			}
			return false
		},
		"callable": func(ev *evaluator, v any, a *args) bool {
			switch v.(type) {
			case *macro, *builtin, *loopVal, undefined:
				return true
			}
			return false
		},
		"odd":  func(ev *evaluator, v any, a *args) bool { return ev.equal(ev.binop("%", v, int64(2)), int64(1), 0) },
		"even": func(ev *evaluator, v any, a *args) bool { return ev.equal(ev.binop("%", v, int64(2)), int64(0), 0) },
		"divisibleby": func(ev *evaluator, v any, a *args) bool {
			return ev.equal(ev.binop("%", v, a.get(0, "num", nil)), int64(0), 0)
		},
		"eq": cmp("eq"),
		"ne": cmp("ne"),
		"lt": cmp("lt"),
		"le": cmp("lteq"),
		"gt": cmp("gt"),
		"ge": cmp("gteq"),
		"in": func(ev *evaluator, v any, a *args) bool { return ev.contains(a.get(0, "seq", nil), v) },
		"sameas": func(ev *evaluator, v any, a *args) bool {
			o := a.get(0, "other", nil)
			if _, _, _, ok := number(v); ok || v == nil {
				return ev.equal(v, o, 0) && typeName(v) == typeName(o)
			}
			return v == o
		},
		"lower":   func(ev *evaluator, v any, a *args) bool { return casedAll(ev.toStr(v), unicode.IsLower) },
		"upper":   func(ev *evaluator, v any, a *args) bool { return casedAll(ev.toStr(v), unicode.IsUpper) },
		"escaped": func(ev *evaluator, v any, a *args) bool { return false },
		"filter":  func(ev *evaluator, v any, a *args) bool { s, ok := v.(string); return ok && filters[s] != nil },
		"test":    func(ev *evaluator, v any, a *args) bool { s, ok := v.(string); return ok && tests[s] != nil },
	}
	for alias, name := range map[string]string{"==": "eq", "equalto": "eq", "!=": "ne", "<": "lt", "lessthan": "lt",
		"<=": "le", ">": "gt", "greaterthan": "gt", ">=": "ge"} {
		tests[alias] = tests[name]
	}
}

// applyTest evaluates "value is name(args)".
func (ev *evaluator) applyTest(t *testExpr, sc *scope) bool {
	v := ev.eval(t.obj, sc)
	a := &args{}
	for _, e := range t.args {
		a.pos = append(a.pos, ev.eval(e, sc))
	}
	for i, e := range t.kwargs {
		a.names = append(a.names, t.kwNames[i])
		a.kw = append(a.kw, ev.eval(e, sc))
	}
	ev.line = t.line
	fn := tests[t.name]
	if fn == nil { // jinja2 defers the check inside if statements
		ev.fail("TemplateRuntimeError", "No test named '%s' found.", t.name)
	}
	return fn(ev, v, a)
}
