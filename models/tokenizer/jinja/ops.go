package jinja

import (
	"math"
	"strings"
)

var opSymbols = map[string]string{"lt": "<", "lteq": "<=", "gt": ">", "gteq": ">="}

// binop applies an arithmetic operator (+ - * / // % ** ~) as Python does.
func (ev *evaluator) binop(op string, l, r any) any {
	if op == "~" {
		ls, rs := ev.toStr(l), ev.toStr(r)
		ev.grow(int64(len(ls) + len(rs)))
		return ls + rs
	}
	for _, v := range []any{l, r} {
		if u, ok := v.(undefined); ok {
			ev.failUndefined(u)
		}
	}
	if fl, il, lInt, ok := number(l); ok {
		if fr, ir, rInt, ok := number(r); ok {
			if lInt && rInt {
				return ev.intOp(op, il, ir)
			}
			return ev.floatOp(op, fl, fr)
		}
	}
	switch op {
	case "+":
		return ev.concat(l, r)
	case "*":
		if n, ok := intOf(r); ok {
			return ev.repeat(l, n)
		}
		if n, ok := intOf(l); ok {
			return ev.repeat(r, n)
		}
		if isSequence(l) || isSequence(r) {
			other := r
			if !isSequence(l) {
				other = l
			}
			ev.fail("TypeError", "can't multiply sequence by non-int of type '%s'", typeName(other))
		}
	case "%":
		if _, ok := l.(string); ok {
			return ev.printf(l.(string), r)
		}
	}
	ev.fail("TypeError", "unsupported operand type(s) for %s: '%s' and '%s'", op, typeName(l), typeName(r))
	return nil
}

func isSequence(v any) bool {
	switch v.(type) {
	case string, *list:
		return true
	}
	return false
}

// concat is + of two strings, lists or tuples.
func (ev *evaluator) concat(l, r any) any {
	switch a := l.(type) {
	case string:
		b, ok := r.(string)
		if !ok {
			ev.fail("TypeError", "can only concatenate str (not \"%s\") to str", typeName(r))
		}
		ev.grow(int64(len(a) + len(b)))
		return a + b
	case *list:
		b, ok := r.(*list)
		if !ok || a.tuple != b.tuple {
			ev.fail("TypeError", "can only concatenate %s (not \"%s\") to %s", typeName(l), typeName(r), typeName(l))
		}
		ev.growItems(int64(len(a.items) + len(b.items)))
		items := make([]any, 0, len(a.items)+len(b.items))
		return &list{items: append(append(items, a.items...), b.items...), tuple: a.tuple}
	}
	ev.fail("TypeError", "unsupported operand type(s) for +: '%s' and '%s'", typeName(l), typeName(r))
	return nil
}

// repeat is a string, list or tuple times n (nothing when n <= 0); its
// size is checked before it is made.
func (ev *evaluator) repeat(v any, n int64) any {
	n = max(n, 0)
	switch s := v.(type) {
	case string:
		if len(s) > 0 && n > ev.lim.Value/int64(len(s)) {
			ev.tooBig(ev.lim.Value + 1)
		}
		ev.grow(int64(len(s)) * n)
		return strings.Repeat(s, int(n))
	case *list:
		if len(s.items) > 0 && n > ev.lim.Value/16/int64(len(s.items)) {
			ev.tooBig(ev.lim.Value + 1)
		}
		total := int64(len(s.items)) * n
		ev.growItems(total)
		items := make([]any, 0, total)
		for range n {
			items = append(items, s.items...)
		}
		return &list{items: items, tuple: s.tuple}
	}
	ev.fail("TypeError", "can't multiply sequence by non-int of type 'int'")
	return nil
}

// intOp is an operator on two ints; results past 64 bits are an
// OverflowError (Python's integers would grow).
func (ev *evaluator) intOp(op string, a, b int64) any {
	overflow := func() {
		ev.fail("OverflowError", "integer result of %d %s %d does not fit in 64 bits", a, op, b)
	}
	switch op {
	case "+":
		c := a + b
		if (c > a) != (b > 0) {
			overflow()
		}
		return c
	case "-":
		c := a - b
		if (c < a) != (b > 0) {
			overflow()
		}
		return c
	case "*":
		if a != 0 && b != 0 {
			c := a * b
			if c/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
				overflow()
			}
			return c
		}
		return int64(0)
	case "/":
		if b == 0 {
			ev.fail("ZeroDivisionError", "division by zero")
		}
		return float64(a) / float64(b)
	case "//", "%":
		if b == 0 {
			ev.fail("ZeroDivisionError", "%s", map[string]string{"//": "integer division or modulo by zero", "%": "integer modulo by zero"}[op])
		}
		if a == math.MinInt64 && b == -1 {
			overflow()
		}
		q, m := a/b, a%b
		if m != 0 && (m < 0) != (b < 0) {
			q--
			m += b
		}
		if op == "//" {
			return q
		}
		return m
	case "**":
		if b < 0 {
			if a == 0 {
				ev.fail("ZeroDivisionError", "0.0 cannot be raised to a negative power")
			}
			return math.Pow(float64(a), float64(b))
		}
		switch {
		case b == 0 || a == 1:
			return int64(1)
		case a == 0:
			return int64(0)
		case a == -1:
			return int64(1 - 2*(b%2))
		}
		// |a| >= 2: past 62 multiplications it has overflowed.
		result := int64(1)
		for range b {
			next := result * a
			if next/a != result {
				overflow()
			}
			result = next
		}
		return result
	}
	ev.fail("InternalError", "unknown operator %s", op)
	return nil
}

// floatOp is an operator with a float operand.
func (ev *evaluator) floatOp(op string, a, b float64) any {
	switch op {
	case "+":
		return a + b
	case "-":
		return a - b
	case "*":
		return a * b
	case "/":
		if b == 0 {
			ev.fail("ZeroDivisionError", "float division by zero")
		}
		return a / b
	case "//", "%":
		if b == 0 {
			ev.fail("ZeroDivisionError", "%s", map[string]string{"//": "float floor division by zero", "%": "float modulo"}[op])
		}
		m := math.Mod(a, b)
		if m != 0 && (m < 0) != (b < 0) {
			m += b
		}
		if op == "%" {
			return m
		}
		return math.Floor((a - m) / b)
	case "**":
		if a == 0 && b < 0 {
			ev.fail("ZeroDivisionError", "0.0 cannot be raised to a negative power")
		}
		return math.Pow(a, b)
	}
	ev.fail("InternalError", "unknown operator %s", op)
	return nil
}

// unary is - or + of a number.
func (ev *evaluator) unary(op string, v any) any {
	if u, ok := v.(undefined); ok {
		ev.failUndefined(u)
	}
	f, i, isInt, ok := number(v)
	if !ok {
		ev.fail("TypeError", "bad operand type for unary %s: '%s'", op, typeName(v))
	}
	switch {
	case op == "+" && isInt:
		return i
	case op == "+":
		return f
	case isInt:
		if i == math.MinInt64 {
			ev.fail("OverflowError", "integer result of -%d does not fit in 64 bits", i)
		}
		return -i
	}
	return -f
}

// compare applies a comparison (eq ne lt lteq gt gteq in notin).
func (ev *evaluator) compare(op string, l, r any) bool {
	switch op {
	case "eq":
		return ev.equal(l, r, 0)
	case "ne":
		return !ev.equal(l, r, 0)
	case "in":
		return ev.contains(r, l)
	case "notin":
		return !ev.contains(r, l)
	}
	c, ok := ev.order(l, r, opSymbols[op], 0)
	if !ok {
		return false // NaN
	}
	switch op {
	case "lt":
		return c < 0
	case "lteq":
		return c <= 0
	case "gt":
		return c > 0
	}
	return c >= 0
}

// order compares two values for <: -1, 0 or 1; ok is false when a NaN
// makes every comparison false. Values Python cannot order are a
// TypeError naming sym.
func (ev *evaluator) order(a, b any, sym string, depth int) (int, bool) {
	if depth > ev.lim.Depth {
		ev.fail("RecursionError", "values nest deeper than %d levels (Limits.Depth)", ev.lim.Depth)
	}
	ev.step(1)
	for _, v := range []any{a, b} {
		if u, ok := v.(undefined); ok {
			ev.failUndefined(u)
		}
	}
	if fa, ia, aInt, ok := number(a); ok {
		if fb, ib, bInt, ok := number(b); ok {
			switch {
			case aInt && bInt:
				return cmp3(ia < ib, ia > ib), true
			case math.IsNaN(fa) || math.IsNaN(fb):
				return 0, false
			}
			return cmp3(fa < fb, fa > fb), true
		}
	}
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			ev.scan(min(len(x), len(y)))
			return strings.Compare(x, y), true
		}
	case *list:
		if y, ok := b.(*list); ok && x.tuple == y.tuple {
			for i := 0; i < len(x.items) && i < len(y.items); i++ {
				if !ev.equal(x.items[i], y.items[i], depth+1) {
					return ev.order(x.items[i], y.items[i], sym, depth+1)
				}
			}
			return cmp3(len(x.items) < len(y.items), len(x.items) > len(y.items)), true
		}
	}
	ev.fail("TypeError", "'%s' not supported between instances of '%s' and '%s'", sym, typeName(a), typeName(b))
	return 0, false
}

func cmp3(less, greater bool) int {
	switch {
	case less:
		return -1
	case greater:
		return 1
	}
	return 0
}

// contains is Python's item in container.
func (ev *evaluator) contains(container, item any) bool {
	switch c := container.(type) {
	case string:
		s, ok := item.(string)
		if !ok {
			if u, isU := item.(undefined); isU && u.security {
				ev.failUndefined(u)
			}
			ev.fail("TypeError", "'in <string>' requires string as left operand, not %s", typeName(item))
		}
		ev.scan(len(c))
		return strings.Contains(c, s)
	case *list:
		for _, it := range c.items {
			if ev.equal(it, item, 0) {
				return true
			}
		}
		return false
	case *dict:
		_, ok := c.get(ev.mustHash(item))
		return ok
	case rangeVal:
		i, ok := intOf(item)
		if !ok {
			return false
		}
		for _, v := range ev.iterate(c) {
			if v.(int64) == i {
				return true
			}
		}
		return false
	case undefined:
		return false
	}
	ev.fail("TypeError", "argument of type '%s' is not iterable", typeName(container))
	return false
}
