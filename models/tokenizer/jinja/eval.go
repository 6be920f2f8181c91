package jinja

import (
	"fmt"
	"strings"
	"time"
)

// scope holds the variables of a template level, loop iteration, macro
// call or with block; lookups go up to the parent. Most scopes hold a few
// names (a loop's item and loop), kept in a short list that lives in the
// scope itself; a scope that grows is indexed by a map.
type scope struct {
	vars   []binding
	small  [3]binding
	index  map[string]int // set past indexFrom names
	parent *scope
}

type binding struct {
	name string
	val  any
}

const indexFrom = 16

func (s *scope) child() *scope {
	c := &scope{parent: s}
	c.vars = c.small[:0]
	return c
}

// local returns the position of name in s, or -1.
func (s *scope) local(name string) int {
	if s.index != nil {
		if i, ok := s.index[name]; ok {
			return i
		}
		return -1
	}
	for i := range s.vars {
		if s.vars[i].name == name {
			return i
		}
	}
	return -1
}

// set binds name in s.
func (s *scope) set(name string, v any) {
	if i := s.local(name); i >= 0 {
		s.vars[i].val = v
		return
	}
	s.vars = append(s.vars, binding{name, v})
	switch {
	case s.index != nil:
		s.index[name] = len(s.vars) - 1
	case len(s.vars) > indexFrom:
		s.index = make(map[string]int, len(s.vars))
		for i, b := range s.vars {
			s.index[b.name] = i
		}
	}
}

// has reports whether name is bound in s itself.
func (s *scope) has(name string) bool { return s.local(name) >= 0 }

func (s *scope) lookup(name string) (any, bool) {
	for ; s != nil; s = s.parent {
		if i := s.local(name); i >= 0 {
			return s.vars[i].val, true
		}
	}
	return nil, false
}

// ctrl is how a statement ends: normally, or by break or continue.
type ctrl int

const (
	ctrlNone ctrl = iota
	ctrlBreak
	ctrlContinue
)

// evaluator renders one template once, counting what Limits bound.
type evaluator struct {
	name    string
	lim     Limits
	steps   int64
	alloc   int64
	depth   int // macro calls in progress
	line    int
	root    *scope
	out     *strings.Builder // where output goes now
	rootOut *strings.Builder
	spans   []Span
	now     func() time.Time
}

func newEvaluator(name string, lim Limits) *evaluator {
	ev := &evaluator{name: name, lim: lim, now: time.Now}
	ev.rootOut = &strings.Builder{}
	ev.out = ev.rootOut
	globals := (*scope)(nil).child()
	for name, v := range globalFuncs() {
		globals.set(name, v)
	}
	ev.root = globals.child()
	return ev
}

// abort is how rendering errors travel up to RenderLimited.
type abort struct{ err *Error }

// fail aborts rendering with an error of class at the current line.
func (ev *evaluator) fail(class, format string, args ...any) {
	panic(abort{errorf(ev.name, ev.line, class, format, args...)})
}

// asError turns what a rendering panicked with into its error.
func (ev *evaluator) asError(r any) error {
	if a, ok := r.(abort); ok {
		return a.err
	}
	// A bug of this package: an error rather than a crash of the program
	// that renders a downloaded template.
	return errorf(ev.name, ev.line, "InternalError", "%v", r)
}

// step counts n units of work against Limits.Steps.
func (ev *evaluator) step(n int64) {
	ev.steps += n
	if ev.steps > ev.lim.Steps {
		ev.fail("LimitError", "rendering took more than %d steps (expressions, statements, loop iterations and items processed: Limits.Steps)", ev.lim.Steps)
	}
}

// scan counts the work of going through n bytes of a string.
func (ev *evaluator) scan(n int) { ev.step(int64(n) / 256) }

// grow counts a new string or list of n bytes against Limits.Value and
// Limits.Alloc.
func (ev *evaluator) grow(n int64) {
	if n > ev.lim.Value {
		ev.tooBig(n)
	}
	ev.alloc += n
	if ev.alloc > ev.lim.Alloc {
		ev.fail("LimitError", "rendering created more than %d bytes of strings and lists (Limits.Alloc)", ev.lim.Alloc)
	}
	ev.scan(int(min(n, 1<<40)))
}

func (ev *evaluator) tooBig(n int64) {
	ev.fail("LimitError", "a string or list of %d bytes is larger than the %d bytes a value may hold (Limits.Value)", n, ev.lim.Value)
}

// growItems counts a new list of n items.
func (ev *evaluator) growItems(n int64) {
	if n > ev.lim.Value/16 {
		ev.tooBig(n * 16)
	}
	ev.grow(n * 16)
}

// write appends s to the current output.
func (ev *evaluator) write(s string) {
	if s == "" {
		return
	}
	if int64(ev.out.Len())+int64(len(s)) > ev.lim.Output {
		ev.fail("LimitError", "the rendered text passed %d bytes (Limits.Output)", ev.lim.Output)
	}
	ev.grow(int64(len(s)))
	ev.out.WriteString(s)
}

// capture renders body into a text of its own.
func (ev *evaluator) capture(body []node, sc *scope) (string, ctrl) {
	saved := ev.out
	ev.out = &strings.Builder{}
	c := ev.execBody(body, sc)
	text := ev.out.String()
	ev.out = saved
	return text, c
}

// execBody runs statements; a break or continue ends it early.
func (ev *evaluator) execBody(body []node, sc *scope) ctrl {
	for _, n := range body {
		if c := ev.exec(n, sc); c != ctrlNone {
			return c
		}
	}
	return ctrlNone
}

func (ev *evaluator) exec(n node, sc *scope) ctrl {
	ev.step(1)
	ev.line = n.lineOf()
	switch n := n.(type) {
	case *textNode:
		ev.write(n.text)
	case *outputNode:
		ev.write(ev.toStr(ev.eval(n.x, sc)))
	case *ifNode:
		for i, cond := range n.conds {
			if truth(ev.eval(cond, sc)) {
				return ev.execBody(n.bodies[i], sc)
			}
		}
		return ev.execBody(n.els, sc)
	case *forNode:
		ev.execFor(n, sc)
	case *setNode:
		ev.assign(n.target, ev.eval(n.value, sc), sc)
	case *setBlockNode:
		text, _ := ev.capture(n.body, sc.child())
		var v any = text
		for _, f := range n.filters {
			v = ev.applyFilter(f, v, sc)
		}
		ev.assign(n.target, v, sc)
	case *macroNode:
		sc.set(n.m.name, &macro{def: n.m, closure: sc})
	case *callBlockNode:
		caller := &macro{def: n.caller, closure: sc}
		ev.write(ev.toStr(ev.callExpr(n.call, sc, caller)))
	case *filterBlockNode:
		text, _ := ev.capture(n.body, sc.child())
		var v any = text
		for _, f := range n.filters {
			v = ev.applyFilter(f, v, sc)
		}
		ev.write(ev.toStr(v))
	case *withNode:
		inner := sc.child()
		for i, t := range n.targets {
			ev.assign(t, ev.eval(n.values[i], sc), inner)
		}
		return ev.execBody(n.body, inner)
	case *loopControlNode:
		if n.brk {
			return ctrlBreak
		}
		return ctrlContinue
	case *generationNode:
		text, c := ev.capture(n.body, sc.child())
		start := ev.rootOut.Len()
		ev.spans = append(ev.spans, Span{start, start + len(text)})
		ev.write(text)
		return c
	case *noLoaderNode:
		ev.fail("TypeError", "no loader for this environment specified")
	default:
		ev.fail("InternalError", "unknown statement %T", n)
	}
	return ctrlNone
}

// assign binds target (a name, a tuple of names, or ns.attr) in sc.
func (ev *evaluator) assign(target expr, v any, sc *scope) {
	switch t := target.(type) {
	case *nameExpr:
		sc.set(t.name, v)
	case *tupleExpr:
		items := ev.iterate(v)
		if len(items) != len(t.items) {
			if len(items) > len(t.items) {
				ev.fail("ValueError", "too many values to unpack (expected %d)", len(t.items))
			}
			ev.fail("ValueError", "not enough values to unpack (expected %d, got %d)", len(t.items), len(items))
		}
		for i, it := range t.items {
			ev.assign(it, items[i], sc)
		}
	case *nsRef:
		obj, _ := sc.lookup(t.name)
		ns, ok := obj.(*namespace)
		if !ok {
			ev.fail("TemplateRuntimeError", "cannot assign attribute on non-namespace object")
		}
		checkNamespaceName(ev, t.attr)
		ns.attrs.setStr(t.attr, v)
	default:
		ev.fail("InternalError", "cannot assign to %T", target)
	}
}

// checkNamespaceName refuses the names transformers' namespace refuses.
func checkNamespaceName(ev *evaluator, name string) {
	if strings.HasPrefix(name, "_") {
		ev.fail("SecurityError", "chat templates cannot store underscore-prefixed attributes on a namespace, but got %q", name)
	}
}

// loopVal is the loop variable of a for loop over n items.
type loopVal struct {
	n       int
	at      func(i int) any
	index   int
	changed struct {
		set  bool
		last any
	}
}

// loopStep is what an iteration counts against Limits.Steps: it costs
// about three expressions' time (a scope, the loop variables).
const loopStep = 3

// execFor runs a for loop: the items (filtered), an iteration scope each,
// the else branch when no item was run. A range is not made into a list.
func (ev *evaluator) execFor(n *forNode, sc *scope) {
	loop := &loopVal{}
	it := ev.eval(n.iter, sc)
	if r, ok := it.(rangeVal); ok && n.filter == nil {
		loop.n, loop.at = int(r.len()), func(i int) any { return r.start + int64(i)*r.step }
	} else {
		items := ev.iterate(it)
		if n.filter != nil {
			var kept []any
			for _, x := range items {
				ev.step(1)
				inner := sc.child()
				ev.assign(n.target, x, inner)
				if truth(ev.eval(n.filter, inner)) {
					kept = append(kept, x)
				}
			}
			items = kept
		}
		loop.n, loop.at = len(items), func(i int) any { return items[i] }
	}
	if loop.n == 0 {
		ev.execBody(n.els, sc.child())
		return
	}
	for i := range loop.n {
		ev.step(loopStep)
		loop.index = i
		inner := sc.child()
		inner.set("loop", loop)
		ev.assign(n.target, loop.at(i), inner)
		if ev.execBody(n.body, inner) == ctrlBreak {
			break
		}
	}
}

// loopAttr returns the loop variable's attribute name.
func (ev *evaluator) loopAttr(l *loopVal, name string) any {
	n := int64(l.n)
	i := int64(l.index)
	switch name {
	case "index":
		return i + 1
	case "index0":
		return i
	case "revindex":
		return n - i
	case "revindex0":
		return n - i - 1
	case "first":
		return i == 0
	case "last":
		return i == n-1
	case "length":
		return n
	case "depth":
		return int64(1)
	case "depth0":
		return int64(0)
	case "previtem":
		if i == 0 {
			return undefined{hint: "there is no previous item"}
		}
		return l.at(l.index - 1)
	case "nextitem":
		if i == n-1 {
			return undefined{hint: "there is no next item"}
		}
		return l.at(l.index + 1)
	case "cycle":
		return &builtin{"cycle", func(ev *evaluator, a *args) any {
			if len(a.pos) == 0 {
				ev.fail("TypeError", "no items for cycling given")
			}
			return a.pos[l.index%len(a.pos)]
		}}
	case "changed":
		return &builtin{"changed", func(ev *evaluator, a *args) any {
			v := &list{items: a.pos, tuple: true}
			if l.changed.set && ev.equal(l.changed.last, v, 0) {
				return false
			}
			l.changed.set, l.changed.last = true, v
			return true
		}}
	}
	return undefined{hint: fmt.Sprintf("'LoopContext object' has no attribute '%s'", name)}
}
