package jinja

import (
	"fmt"
	"slices"
	"strings"
)

// maxNesting bounds how deeply statements and expressions nest in a
// template, chains such as a + b + c counting one level a term, so that
// rendering's recursion stays shallow (jinja2's parser and compiler are
// recursive too and end in a RecursionError).
const maxNesting = 300

// parser builds the syntax tree of jinja2's grammar from the tokens.
type parser struct {
	name  string
	toks  []token
	i     int
	depth int
	// ends are the end tags each open block waits for, for messages.
	ends [][]string
	// loops counts the for loops around the statement being parsed (reset
	// in macros), for break and continue.
	loops int
}

// syntaxError aborts parsing; parseTemplate turns it into its error.
type syntaxError struct{ err *Error }

func (p *parser) cur() token  { return p.toks[p.i] }
func (p *parser) peek() token { return p.toks[min(p.i+1, len(p.toks)-1)] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}

func (p *parser) fail(format string, args ...any) {
	panic(syntaxError{errorf(p.name, p.cur().line, "TemplateSyntaxError", format, args...)})
}

func (p *parser) failClass(class, format string, args ...any) {
	panic(syntaxError{errorf(p.name, p.cur().line, class, format, args...)})
}

// isName reports whether the current token is the name s.
func (p *parser) isName(s string) bool { t := p.cur(); return t.kind == tName && t.val == s }

// isOp reports whether the current token is the operator s.
func (p *parser) isOp(s string) bool { t := p.cur(); return t.kind == tOp && t.val == s }

func (p *parser) skipName(s string) bool {
	if p.isName(s) {
		p.next()
		return true
	}
	return false
}

func (p *parser) skipOp(s string) bool {
	if p.isOp(s) {
		p.next()
		return true
	}
	return false
}

func (p *parser) expectOp(s string) {
	if !p.skipOp(s) {
		p.fail("expected token '%s', got '%s'", s, p.cur().describe())
	}
}

func (p *parser) expectName() string {
	t := p.cur()
	if t.kind != tName {
		p.fail("expected token 'name', got '%s'", t.describe())
	}
	p.next()
	return t.val
}

func (p *parser) expectKind(k tokKind) {
	if p.cur().kind != k {
		if p.cur().kind == tEOF {
			p.fail("unexpected end of template, expected '%s'.", tokNames[k])
		}
		p.fail("expected token '%s', got '%s'", tokNames[k], p.cur().describe())
	}
	p.next()
}

// enter and leave bound the nesting of the recursive descent.
func (p *parser) enter() {
	p.depth++
	if p.depth > maxNesting {
		p.failClass("RecursionError", "the template nests more than %d levels of statements or expressions", maxNesting)
	}
}

func (p *parser) leave() { p.depth-- }

// restore sets the nesting back to depth after a loop that built a chain
// of nodes (a + b + c …), each of which nests one level deeper.
func (p *parser) restore(depth int) { p.depth = depth }

// parseTemplate parses the whole token stream.
func (p *parser) parseTemplate() (body []node, err error) {
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(syntaxError)
			if !ok {
				panic(r)
			}
			body, err = nil, se.err
		}
	}()
	body = p.subparse(nil)
	if e := checkNames(p.name, body); e != nil {
		return nil, e
	}
	return body, nil
}

// subparse parses statements until one of the end tags (a name right
// after "{%"), which it leaves as the current token.
func (p *parser) subparse(ends []string) []node {
	if ends != nil {
		p.ends = append(p.ends, ends)
		defer func() { p.ends = p.ends[:len(p.ends)-1] }()
	}
	var body []node
	for {
		t := p.cur()
		switch t.kind {
		case tEOF:
			if ends != nil {
				p.failEOF()
			}
			return body
		case tData:
			body = append(body, &textNode{pos{t.line}, t.val})
			p.next()
		case tVarBegin:
			p.next()
			body = append(body, &outputNode{pos{t.line}, p.parseTuple(false, true, nil)})
			p.expectKind(tVarEnd)
		case tBlockBegin:
			p.next()
			if ends != nil && p.cur().kind == tName && slices.Contains(ends, p.cur().val) {
				return body
			}
			body = append(body, p.parseStatement()...)
			p.expectKind(tBlockEnd)
		default:
			p.fail("unexpected '%s'", t.describe())
		}
	}
}

func (p *parser) failEOF() {
	var msg []string
	msg = append(msg, "Unexpected end of template.")
	if n := len(p.ends); n > 0 {
		var quoted []string
		for _, e := range p.ends[n-1] {
			quoted = append(quoted, "'"+e+"'")
		}
		msg = append(msg, "Jinja was looking for the following tags: "+strings.Join(quoted, " or ")+".")
	}
	p.fail("%s", strings.Join(msg, " "))
}

// parseStatements parses a block's body after its tag up to one of ends;
// the end tag's name stays current unless drop.
func (p *parser) parseStatements(ends []string, drop bool) []node {
	p.skipOp(":")
	p.expectKind(tBlockEnd)
	body := p.subparse(ends)
	if drop {
		p.next()
	}
	return body
}

// parseStatement parses the statement whose tag name is current.
func (p *parser) parseStatement() []node {
	p.enter()
	defer p.leave()
	t := p.cur()
	if t.kind != tName {
		p.fail("tag name expected")
	}
	line := pos{t.line}
	switch t.val {
	case "if":
		return []node{p.parseIf()}
	case "for":
		return []node{p.parseFor()}
	case "set":
		return []node{p.parseSet()}
	case "macro":
		return []node{p.parseMacro()}
	case "call":
		return []node{p.parseCallBlock()}
	case "filter":
		p.next()
		filters := p.parseFilterChain()
		return []node{&filterBlockNode{line, filters, p.parseStatements([]string{"endfilter"}, true)}}
	case "with":
		return []node{p.parseWith()}
	case "print":
		p.next()
		var out []node
		for p.cur().kind != tBlockEnd {
			if len(out) > 0 {
				p.expectOp(",")
			}
			out = append(out, &outputNode{line, p.parseExpression(true)})
		}
		return out
	case "block":
		p.next()
		blockName := p.expectName()
		p.skipName("scoped")
		p.skipName("required")
		body := p.parseStatements([]string{"endblock"}, true)
		p.skipName(blockName)
		return body
	case "generation":
		// The body is a caller macro in transformers' extension: loop
		// controls inside do not reach a loop outside.
		p.next()
		loops := p.loops
		p.loops = 0
		body := p.parseStatements([]string{"endgeneration"}, true)
		p.loops = loops
		return []node{&generationNode{line, body}}
	case "break", "continue":
		p.next()
		if p.loops == 0 {
			p.failClass("SyntaxError", "'%s' outside loop", t.val)
		}
		return []node{&loopControlNode{line, t.val == "break"}}
	case "extends", "include", "import", "from":
		// Parsed loosely: they fail when run, as without a loader in jinja2.
		for p.cur().kind != tBlockEnd && p.cur().kind != tEOF {
			p.next()
		}
		return []node{&noLoaderNode{line}}
	}
	p.failUnknownTag(t.val)
	return nil
}

func (p *parser) failUnknownTag(name string) {
	msg := fmt.Sprintf("Encountered unknown tag '%s'.", name)
	if n := len(p.ends); n > 0 {
		var quoted []string
		for _, e := range p.ends[n-1] {
			quoted = append(quoted, "'"+e+"'")
		}
		msg += " Jinja was looking for the following tags: " + strings.Join(quoted, " or ") + "."
	}
	p.fail("%s", msg)
}

func (p *parser) parseIf() node {
	n := &ifNode{pos: pos{p.next().line}}
	for {
		n.conds = append(n.conds, p.parseTuple(false, false, nil))
		n.bodies = append(n.bodies, p.parseStatements([]string{"elif", "else", "endif"}, false))
		switch p.next().val {
		case "elif":
			continue
		case "else":
			n.els = p.parseStatements([]string{"endif"}, true)
		}
		return n
	}
}

func (p *parser) parseFor() node {
	n := &forNode{pos: pos{p.next().line}}
	n.target = p.parseAssignTarget([]string{"in"}, false)
	if !p.skipName("in") {
		p.fail("expected token 'in', got '%s'", p.cur().describe())
	}
	n.iter = p.parseTuple(false, false, []string{"recursive"})
	if p.skipName("if") {
		n.filter = p.parseExpression(true)
	}
	if p.isName("recursive") {
		p.failClass("Unsupported", "recursive for loops are not supported")
	}
	p.loops++
	n.body = p.parseStatements([]string{"endfor", "else"}, false)
	p.loops--
	if p.next().val == "else" {
		n.els = p.parseStatements([]string{"endfor"}, true)
	}
	return n
}

func (p *parser) parseSet() node {
	line := pos{p.next().line}
	target := p.parseAssignTarget(nil, true)
	if p.skipOp("=") {
		return &setNode{line, target, p.parseTuple(false, true, nil)}
	}
	var filters []*filterExpr
	if p.isOp("|") {
		p.next()
		filters = p.parseFilterChain()
	}
	return &setBlockNode{line, target, filters, p.parseStatements([]string{"endset"}, true)}
}

func (p *parser) parseWith() node {
	n := &withNode{pos: pos{p.next().line}}
	for p.cur().kind != tBlockEnd {
		if len(n.targets) > 0 {
			p.expectOp(",")
		}
		n.targets = append(n.targets, p.parseAssignTarget(nil, false))
		p.expectOp("=")
		n.values = append(n.values, p.parseExpression(true))
	}
	n.body = p.parseStatements([]string{"endwith"}, true)
	return n
}

func (p *parser) parseMacro() node {
	line := pos{p.next().line}
	m := &macroDef{name: p.expectName()}
	p.parseSignature(m)
	loops := p.loops
	p.loops = 0
	m.body = p.parseStatements([]string{"endmacro"}, true)
	p.loops = loops
	m.noteNames()
	return &macroNode{line, m}
}

func (p *parser) parseCallBlock() node {
	line := pos{p.next().line}
	caller := &macroDef{name: "caller"}
	if p.isOp("(") {
		p.parseSignature(caller)
	}
	call, ok := p.parseExpression(true).(*callExpr)
	if !ok {
		p.fail("expected call")
	}
	loops := p.loops
	p.loops = 0
	caller.body = p.parseStatements([]string{"endcall"}, true)
	p.loops = loops
	caller.noteNames()
	return &callBlockNode{line, caller, call}
}

// parseSignature parses "(a, b=default, …)".
func (p *parser) parseSignature(m *macroDef) {
	p.expectOp("(")
	for !p.isOp(")") {
		if len(m.params) > 0 {
			p.expectOp(",")
		}
		name := p.expectName()
		if p.skipOp("=") {
			m.defaults = append(m.defaults, p.parseExpression(true))
		} else if len(m.defaults) > 0 {
			p.fail("non-default argument follows default argument")
		}
		m.params = append(m.params, name)
	}
	p.expectOp(")")
}

// parseAssignTarget parses a name, a tuple of names, or (withNamespace)
// ns.attr.
func (p *parser) parseAssignTarget(extraEnds []string, withNamespace bool) expr {
	line := pos{p.cur().line}
	var items []expr
	for {
		if len(items) > 0 {
			p.expectOp(",")
		}
		if p.isTupleEnd(extraEnds) {
			break
		}
		t := p.cur()
		if t.kind != tName {
			what := "const"
			if t.kind == tOp {
				what = t.val
			}
			p.fail("can't assign to '%s'", what)
		}
		p.next()
		if slices.Contains([]string{"true", "false", "True", "False", "none", "None"}, t.val) {
			p.fail("can't assign to 'const'")
		}
		if withNamespace && p.isOp(".") {
			p.next()
			items = append(items, &nsRef{pos{t.line}, t.val, p.expectName()})
		} else {
			items = append(items, &nameExpr{pos{t.line}, t.val})
		}
		if !p.isOp(",") {
			break
		}
	}
	switch {
	case len(items) == 0:
		p.fail("Expected an expression, got '%s'", p.cur().describe())
	case len(items) == 1 && !p.isOp(","):
		return items[0]
	}
	for _, it := range items {
		if _, ok := it.(*nameExpr); !ok {
			p.fail("can't assign to 'tuple'")
		}
	}
	return &tupleExpr{line, items}
}

func (p *parser) isTupleEnd(extraEnds []string) bool {
	switch t := p.cur(); {
	case t.kind == tVarEnd || t.kind == tBlockEnd || (t.kind == tOp && t.val == ")"):
		return true
	case t.kind == tName && slices.Contains(extraEnds, t.val):
		return true
	}
	return false
}

// parseTuple parses expressions separated by commas: a tuple when there is
// a comma, else the one expression.
func (p *parser) parseTuple(explicitParens, withCond bool, extraEnds []string) expr {
	line := pos{p.cur().line}
	var items []expr
	isTuple := false
	for {
		if len(items) > 0 {
			p.expectOp(",")
		}
		if p.isTupleEnd(extraEnds) {
			break
		}
		items = append(items, p.parseExpression(withCond))
		if !p.isOp(",") {
			break
		}
		isTuple = true
	}
	if !isTuple {
		if len(items) > 0 {
			return items[0]
		}
		if !explicitParens {
			p.fail("Expected an expression, got '%s'", p.cur().describe())
		}
	}
	return &tupleExpr{line, items}
}

// parseExpression parses a conditional expression (withCond) or an "or"
// expression.
func (p *parser) parseExpression(withCond bool) expr {
	p.enter()
	defer p.leave()
	if !withCond {
		return p.parseOr()
	}
	x := p.parseOr()
	defer p.restore(p.depth)
	for p.isName("if") {
		p.enter()
		line := pos{p.next().line}
		test := p.parseOr()
		var els expr
		if p.skipName("else") {
			els = p.parseExpression(true)
		}
		x = &condExpr{line, test, x, els}
	}
	return x
}

func (p *parser) parseOr() expr {
	x := p.parseAnd()
	defer p.restore(p.depth)
	for p.isName("or") {
		p.enter()
		line := pos{p.next().line}
		x = &orExpr{line, x, p.parseAnd()}
	}
	return x
}

func (p *parser) parseAnd() expr {
	x := p.parseNot()
	defer p.restore(p.depth)
	for p.isName("and") {
		p.enter()
		line := pos{p.next().line}
		x = &andExpr{line, x, p.parseNot()}
	}
	return x
}

func (p *parser) parseNot() expr {
	if p.isName("not") {
		line := pos{p.next().line}
		p.enter()
		defer p.leave()
		return &notExpr{line, p.parseNot()}
	}
	return p.parseCompare()
}

var compareOps = map[string]string{"==": "eq", "!=": "ne", "<": "lt", "<=": "lteq", ">": "gt", ">=": "gteq"}

func (p *parser) parseCompare() expr {
	line := pos{p.cur().line}
	first := p.parseMath1()
	var ops []string
	var rest []expr
	defer p.restore(p.depth)
	for {
		p.enter()
		t := p.cur()
		switch {
		case t.kind == tOp && compareOps[t.val] != "":
			p.next()
			ops = append(ops, compareOps[t.val])
		case p.isName("in"):
			p.next()
			ops = append(ops, "in")
		case p.isName("not") && p.peek().kind == tName && p.peek().val == "in":
			p.next()
			p.next()
			ops = append(ops, "notin")
		default:
			if ops == nil {
				return first
			}
			return &compareExpr{line, first, ops, rest}
		}
		rest = append(rest, p.parseMath1())
	}
}

func (p *parser) parseMath1() expr {
	x := p.parseConcat()
	defer p.restore(p.depth)
	for p.isOp("+") || p.isOp("-") {
		p.enter()
		t := p.next()
		x = &binExpr{pos{t.line}, t.val, x, p.parseConcat()}
	}
	return x
}

func (p *parser) parseConcat() expr {
	x := p.parseMath2()
	defer p.restore(p.depth)
	for p.isOp("~") {
		p.enter()
		t := p.next()
		x = &binExpr{pos{t.line}, "~", x, p.parseMath2()}
	}
	return x
}

func (p *parser) parseMath2() expr {
	x := p.parsePow()
	defer p.restore(p.depth)
	for p.isOp("*") || p.isOp("/") || p.isOp("//") || p.isOp("%") {
		p.enter()
		t := p.next()
		x = &binExpr{pos{t.line}, t.val, x, p.parsePow()}
	}
	return x
}

func (p *parser) parsePow() expr {
	x := p.parseUnary(true)
	defer p.restore(p.depth)
	for p.isOp("**") {
		p.enter()
		t := p.next()
		x = &binExpr{pos{t.line}, "**", x, p.parseUnary(true)}
	}
	return x
}

func (p *parser) parseUnary(withFilter bool) expr {
	p.enter()
	defer p.leave()
	var x expr
	switch t := p.cur(); {
	case p.isOp("-") || p.isOp("+"):
		p.next()
		x = &unaryExpr{pos{t.line}, t.val, p.parseUnary(false)}
	default:
		x = p.parsePrimary()
	}
	x = p.parsePostfix(x)
	if withFilter {
		x = p.parseFilterExpr(x)
	}
	return x
}

func (p *parser) parsePrimary() expr {
	t := p.cur()
	line := pos{t.line}
	switch t.kind {
	case tName:
		p.next()
		switch t.val {
		case "true", "True":
			return &constExpr{line, true}
		case "false", "False":
			return &constExpr{line, false}
		case "none", "None":
			return &constExpr{line, nil}
		}
		return &nameExpr{line, t.val}
	case tString:
		p.next()
		s := t.val
		for p.cur().kind == tString {
			s += p.next().val
		}
		return &constExpr{line, s}
	case tInt:
		p.next()
		return &constExpr{line, t.num}
	case tFloat:
		p.next()
		return &constExpr{line, t.flt}
	case tOp:
		switch t.val {
		case "(":
			p.next()
			x := p.parseTuple(true, true, nil)
			p.expectOp(")")
			return x
		case "[":
			return p.parseList()
		case "{":
			return p.parseDict()
		}
	}
	if t.kind == tVarEnd || t.kind == tBlockEnd || t.kind == tEOF {
		p.fail("unexpected '%s'", t.describe())
	}
	p.fail("unexpected '%s'", t.describe())
	return nil
}

func (p *parser) parseList() expr {
	line := pos{p.next().line}
	var items []expr
	for !p.isOp("]") {
		if len(items) > 0 {
			p.expectOp(",")
		}
		if p.isOp("]") {
			break
		}
		items = append(items, p.parseExpression(true))
	}
	p.expectOp("]")
	return &listExpr{line, items}
}

func (p *parser) parseDict() expr {
	line := pos{p.next().line}
	d := &dictExpr{pos: line}
	for !p.isOp("}") {
		if len(d.keys) > 0 {
			p.expectOp(",")
		}
		if p.isOp("}") {
			break
		}
		d.keys = append(d.keys, p.parseExpression(true))
		p.expectOp(":")
		d.values = append(d.values, p.parseExpression(true))
	}
	p.expectOp("}")
	return d
}

func (p *parser) parsePostfix(x expr) expr {
	defer p.restore(p.depth)
	for {
		p.enter()
		switch {
		case p.isOp(".") || p.isOp("["):
			x = p.parseSubscript(x)
		case p.isOp("("):
			x = p.parseCall(x)
		default:
			return x
		}
	}
}

func (p *parser) parseFilterExpr(x expr) expr {
	defer p.restore(p.depth)
	for {
		p.enter()
		switch {
		case p.isOp("|"):
			p.next()
			chain := p.parseFilterChain()
			for _, f := range chain {
				f.obj = x
				x = f
			}
		case p.isName("is"):
			x = p.parseTest(x)
		case p.isOp("("):
			x = p.parseCall(x)
		default:
			return x
		}
	}
}

func (p *parser) parseSubscript(x expr) expr {
	t := p.next()
	line := pos{t.line}
	if t.val == "." {
		a := p.cur()
		p.next()
		switch a.kind {
		case tName:
			return &getattrExpr{line, x, a.val}
		case tInt:
			return &getitemExpr{line, x, &constExpr{line, a.num}}
		}
		p.fail("expected name or number")
	}
	var args []expr
	for !p.isOp("]") {
		if len(args) > 0 {
			p.expectOp(",")
		}
		args = append(args, p.parseSubscribed())
	}
	p.expectOp("]")
	if len(args) == 1 {
		return &getitemExpr{line, x, args[0]}
	}
	return &getitemExpr{line, x, &tupleExpr{line, args}}
}

func (p *parser) parseSubscribed() expr {
	line := pos{p.cur().line}
	s := &sliceExpr{pos: line}
	if !p.isOp(":") {
		x := p.parseExpression(true)
		if !p.isOp(":") {
			return x
		}
		s.start = x
	}
	p.next() // ':'
	if !p.isOp(":") && !p.isOp("]") && !p.isOp(",") {
		s.stop = p.parseExpression(true)
	}
	if p.skipOp(":") && !p.isOp("]") && !p.isOp(",") {
		s.step = p.parseExpression(true)
	}
	return s
}

// parseArgs parses a call's "(args, name=kwargs, *star, **dstar)".
func (p *parser) parseArgs() (args []expr, kwNames []string, kwargs []expr, star, dstar expr) {
	p.expectOp("(")
	ensure := func(ok bool) {
		if !ok {
			p.fail("invalid syntax for function call expression")
		}
	}
	for first := true; !p.isOp(")"); first = false {
		if !first {
			p.expectOp(",")
			if p.isOp(")") {
				break
			}
		}
		switch {
		case p.isOp("*"):
			ensure(star == nil && dstar == nil)
			p.next()
			star = p.parseExpression(true)
		case p.isOp("**"):
			ensure(dstar == nil)
			p.next()
			dstar = p.parseExpression(true)
		case p.cur().kind == tName && p.peek().kind == tOp && p.peek().val == "=":
			ensure(dstar == nil)
			kwNames = append(kwNames, p.next().val)
			p.next()
			kwargs = append(kwargs, p.parseExpression(true))
		default:
			ensure(star == nil && dstar == nil && kwargs == nil)
			args = append(args, p.parseExpression(true))
		}
	}
	p.expectOp(")")
	return
}

func (p *parser) parseCall(fn expr) expr {
	c := &callExpr{pos: pos{p.cur().line}, fn: fn}
	c.args, c.kwNames, c.kwargs, c.star, c.dstar = p.parseArgs()
	return c
}

// parseFilterChain parses "name(args) | name …" after a "|" (or in a
// filter block), checking each filter exists.
func (p *parser) parseFilterChain() []*filterExpr {
	var chain []*filterExpr
	defer p.restore(p.depth)
	for {
		p.enter()
		t := p.cur()
		name := p.expectName()
		for p.skipOp(".") {
			name += "." + p.expectName()
		}
		f := &filterExpr{pos: pos{t.line}, name: name}
		if p.isOp("(") {
			var star, dstar expr
			f.args, f.kwNames, f.kwargs, star, dstar = p.parseArgs()
			if star != nil || dstar != nil {
				p.failClass("Unsupported", "*args and **kwargs in filter calls are not supported")
			}
		}
		chain = append(chain, f)
		if !p.isOp("|") {
			return chain
		}
		p.next()
	}
}

func (p *parser) parseTest(x expr) expr {
	line := pos{p.next().line}
	negated := p.skipName("not")
	name := p.expectName()
	for p.skipOp(".") {
		name += "." + p.expectName()
	}
	te := &testExpr{pos: line, obj: x, name: name}
	t := p.cur()
	switch {
	case p.isOp("("):
		var star, dstar expr
		te.args, te.kwNames, te.kwargs, star, dstar = p.parseArgs()
		if star != nil || dstar != nil {
			p.failClass("Unsupported", "*args and **kwargs in test calls are not supported")
		}
	case (t.kind == tName || t.kind == tString || t.kind == tInt || t.kind == tFloat ||
		(t.kind == tOp && (t.val == "[" || t.val == "{"))) &&
		!(t.kind == tName && (t.val == "else" || t.val == "or" || t.val == "and")):
		if p.isName("is") {
			p.fail("You cannot chain multiple tests with is")
		}
		te.args = []expr{p.parsePostfix(p.parsePrimary())}
	}
	if negated {
		return &notExpr{line, te}
	}
	return te
}

// noteNames records which of varargs, kwargs and caller the macro's body
// reads.
func (m *macroDef) noteNames() {
	walkNames(m.body, func(name string) {
		switch name {
		case "varargs":
			m.usesVarargs = true
		case "kwargs":
			m.usesKwargs = true
		case "caller":
			m.usesCaller = true
		}
	})
}
