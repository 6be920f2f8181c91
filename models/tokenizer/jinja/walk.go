package jinja

// checkNames fails, as jinja2's compiler does, on a filter or test that
// does not exist, unless it stands inside an if statement or a
// conditional expression (not inside a loop, macro or block within it),
// where jinja2 raises only when it runs.
func checkNames(name string, body []node) *Error {
	var bad *Error
	var visit func(n any, soft bool)
	visit = func(n any, soft bool) {
		if bad != nil || n == nil {
			return
		}
		switch n := n.(type) {
		case *filterExpr:
			if _, ok := filters[n.name]; !ok && !soft {
				bad = errorf(name, n.line, "TemplateAssertionError", "No filter named '%s'.", n.name)
			}
		case *testExpr:
			if _, ok := tests[n.name]; !ok && !soft {
				bad = errorf(name, n.line, "TemplateAssertionError", "No test named '%s'.", n.name)
			}
		case *condExpr:
			soft = true
		case *ifNode:
			soft = true
		case *forNode:
			visit(n.iter, soft)
			visit(n.filter, false)
			for _, b := range [][]node{n.body, n.els} {
				for _, c := range b {
					visit(c, false)
				}
			}
			return
		case *setBlockNode, *macroNode, *callBlockNode, *filterBlockNode, *withNode, *generationNode:
			soft = false
		}
		visitChildren(n, func(c any) { visit(c, soft) })
	}
	for _, n := range body {
		visit(n, false)
	}
	return bad
}

// visitChildren calls f with the statements and expressions directly
// inside n.
func visitChildren(n any, f func(any)) {
	nodes := func(body []node) {
		for _, b := range body {
			f(b)
		}
	}
	exprs := func(xs []expr) {
		for _, x := range xs {
			f(x)
		}
	}
	if x, ok := n.(expr); ok && visitExprChildren(x, f) {
		return
	}
	switch n := n.(type) {
	case *outputNode:
		f(n.x)
	case *ifNode:
		exprs(n.conds)
		for _, b := range n.bodies {
			nodes(b)
		}
		nodes(n.els)
	case *forNode:
		f(n.target)
		f(n.iter)
		f(n.filter)
		nodes(n.body)
		nodes(n.els)
	case *setNode:
		f(n.value)
	case *setBlockNode:
		for _, fl := range n.filters {
			f(fl)
		}
		nodes(n.body)
	case *macroNode:
		exprs(n.m.defaults)
		nodes(n.m.body)
	case *callBlockNode:
		f(n.call)
		nodes(n.caller.body)
	case *filterBlockNode:
		for _, fl := range n.filters {
			f(fl)
		}
		nodes(n.body)
	case *withNode:
		exprs(n.values)
		nodes(n.body)
	case *generationNode:
		nodes(n.body)
	}
}

// visitExprChildren calls f with the expressions directly inside x, and
// reports whether x is an expression with children.
func visitExprChildren(x expr, f func(any)) bool {
	exprs := func(xs []expr) {
		for _, x := range xs {
			f(x)
		}
	}
	switch n := x.(type) {
	case *getattrExpr:
		f(n.obj)
	case *getitemExpr:
		f(n.obj)
		f(n.key)
	case *sliceExpr:
		f(n.start)
		f(n.stop)
		f(n.step)
	case *listExpr:
		exprs(n.items)
	case *tupleExpr:
		exprs(n.items)
	case *dictExpr:
		exprs(n.keys)
		exprs(n.values)
	case *callExpr:
		f(n.fn)
		exprs(n.args)
		exprs(n.kwargs)
		f(n.star)
		f(n.dstar)
	case *filterExpr:
		f(n.obj)
		exprs(n.args)
		exprs(n.kwargs)
	case *testExpr:
		f(n.obj)
		exprs(n.args)
		exprs(n.kwargs)
	case *binExpr:
		f(n.l)
		f(n.r)
	case *unaryExpr:
		f(n.x)
	case *notExpr:
		f(n.x)
	case *andExpr:
		f(n.l)
		f(n.r)
	case *orExpr:
		f(n.l)
		f(n.r)
	case *compareExpr:
		f(n.first)
		exprs(n.rest)
	case *condExpr:
		f(n.test)
		f(n.then)
		f(n.els)
	default:
		return false
	}
	return true
}

// walkNames calls f with every name the statements read, through nested
// statements and expressions.
func walkNames(body []node, f func(string)) {
	var visit func(n any)
	visit = func(n any) {
		if x, ok := n.(*nameExpr); ok {
			f(x.name)
		}
		visitChildren(n, visit)
	}
	for _, n := range body {
		visit(n)
	}
}
