#!/usr/bin/env node
// notebooks.js runs notebooks as a researcher does: through classic Jupyter's
// own page, in headless Chromium driven by playwright-core. For each notebook
// it opens the page, clicks Cell › Run All, waits for the kernel to finish and
// checks what the page shows:
//
//   - no error output, no console error, no uncaught exception in the page;
//   - no request to any host but the loopback server (requests elsewhere are
//     also blocked, so nothing outside is ever reached);
//   - every cell that shows a chart has one, each drawn on a canvas that is
//     not blank, fitted to its output at the window's width and again after
//     the window is narrowed to 640 px; a live chart's output holds its
//     final state;
//   - the echarts library is inlined in one output of the notebook at most.
//
// It then saves the notebook through the page's contents API to OUT (a copy:
// notebooks/ is left as it is), reopens the saved copy and checks that its
// charts draw again from the saved outputs, exports it with nbconvert to HTML
// and checks that the export's charts draw from a file:// page with every
// request blocked. Notebook 05 saved must stay under 1.5 MB. Screenshots of
// each stage are kept in OUT.
//
// A notebook that passed is not run again while nothing it depends on has
// changed, as go test caches a package's result: the notebook, this script
// and the checker (scripts/nbrun), go.mod and go.sum, the Go files of every
// package of this module it imports (transitively), the engines and models
// `make setup` installed, the test data and the environment the kernel reads.
// It prints "(cached)" then; --no-cache runs everything.
//
// Usage (make test runs it; make setup installs playwright-core into
// .deps/browser and Debian's chromium):
//
//   node scripts/browser/notebooks.js [--out build/browser] [--no-cache] [--jobs N] [NOTEBOOK.ipynb ...]
//
// --jobs runs N notebooks at once (default 2), each in its own kernel.
//
// Environment: CHROMIUM (the browser binary; else chromium on PATH), and the
// variables the notebooks read (TRUSTFORMERS_DATA, set by the Makefile).
'use strict';

const { spawn, spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const { chromium } = require(path.join(root, '.deps', 'browser', 'node_modules', 'playwright-core'));

const savedLimit = { '05_attention.ipynb': 1.5e6 }; // bytes, after Run All and save
const cellTimeoutMs = 10 * 60 * 1000; // the longest one cell may run (as nbrun's default)
const narrowWidth = 640;

function parseArgs(argv) {
  const args = { out: path.join(root, 'build', 'browser'), notebooks: [], jobs: 2 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') args.out = path.resolve(argv[++i]);
    else if (argv[i] === '--self-test') args.selfTest = true;
    else if (argv[i] === '--no-cache') args.noCache = true;
    else if (argv[i] === '--jobs') args.jobs = Math.max(1, parseInt(argv[++i], 10) || 1);
    else if (argv[i] === '-h' || argv[i] === '--help') {
      console.log('usage: node scripts/browser/notebooks.js [--out DIR] [--self-test] [--no-cache] [--jobs N] [NOTEBOOK.ipynb ...]');
      process.exit(0);
    } else args.notebooks.push(path.resolve(argv[i]));
  }
  if (args.selfTest) args.notebooks = [path.join(__dirname, 'testdata', 'broken.ipynb')];
  else if (args.notebooks.length === 0) {
    const dir = path.join(root, 'notebooks');
    args.notebooks = fs.readdirSync(dir).filter((f) => f.endsWith('.ipynb')).sort().map((f) => path.join(dir, f));
  }
  return args;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  throw new Error('no Chromium on PATH (make setup installs Debian\'s chromium; or set CHROMIUM)');
}

// startJupyter serves the repository root on a loopback port behind a fresh
// token, so that the notebooks run from notebooks/ (as make notebook serves
// them) and the saved copies can be written under OUT.
async function startJupyter() {
  const port = await freePort();
  const token = crypto.randomBytes(24).toString('hex');
  const flags = ['notebook', '--no-browser', '--ip=127.0.0.1', `--port=${port}`, `--notebook-dir=${root}`];
  if (process.getuid && process.getuid() === 0) flags.push('--allow-root');
  const proc = spawn('jupyter', flags, {
    env: { ...process.env, JUPYTER_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  const deadline = Date.now() + 60000;
  for (;;) {
    const up = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.end(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline || proc.exitCode !== null) {
      throw new Error(`Jupyter did not listen on 127.0.0.1:${port}:\n${log}`);
    }
    await sleep(200);
  }
  return {
    base: `http://127.0.0.1:${port}`,
    token,
    log: () => log,
    stop: () => { try { process.kill(-proc.pid, 'SIGTERM'); } catch (e) { /* already gone */ } },
  };
}

// nbrunBinary builds scripts/nbrun once, into out.
let nbrunBuilt = '';
function nbrunBinary(out) {
  if (nbrunBuilt) return nbrunBuilt;
  const bin = path.join(out, 'nbrun');
  const r = spawnSync('go', ['build', '-o', bin, './scripts/nbrun'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`go build ./scripts/nbrun: ${r.stderr}`);
  nbrunBuilt = bin;
  return bin;
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// watch records what a page does that a test must see: console errors,
// uncaught exceptions and requests to hosts other than the loopback server
// (which it blocks).
async function watch(page, problems, where) {
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`${where}: console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`${where}: uncaught exception in the page: ${err.message}`));
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    const local = url.protocol === 'data:' || url.protocol === 'blob:' || url.protocol === 'file:' ||
      url.hostname === '127.0.0.1' || url.hostname === 'localhost';
    if (local) return route.continue();
    problems.push(`${where}: request to a non-loopback host: ${route.request().url()}`);
    return route.abort('blockedbyclient');
  });
}

// inspectCharts runs in the page: for every chart wrapper under scope, is
// its canvas drawn, and does the chart fit its wrapper and the output area?
function inspectCharts(scopeSelector) {
  const results = [];
  for (const box of document.querySelectorAll(`${scopeSelector} .trustformers-chart`)) {
    const el = box.firstElementChild;
    const canvas = el && el.querySelector('canvas');
    const r = { id: el ? el.id : '', drawn: false, coloured: 0, fits: true, why: '' };
    if (!canvas) { r.why = 'no canvas'; results.push(r); continue; }
    const ctx = canvas.getContext('2d');
    const { width, height } = canvas;
    const px = ctx.getImageData(0, 0, width, height).data;
    let coloured = 0;
    let painted = 0;
    for (let i = 0; i < px.length; i += 4 * 7) { // every 7th pixel is plenty
      if (px[i + 3] < 16) continue;
      painted++;
      const [rr, g, b] = [px[i], px[i + 1], px[i + 2]];
      if (Math.max(rr, g, b) - Math.min(rr, g, b) > 40) coloured++;
    }
    const samples = px.length / (4 * 7);
    r.coloured = coloured / samples;
    r.drawn = painted / samples > 0.005 && r.coloured > 0.001;
    if (!r.drawn) r.why = `canvas blank (${(100 * painted / samples).toFixed(2)}% painted, ${(100 * r.coloured).toFixed(3)}% coloured)`;
    const b = box.getBoundingClientRect();
    const c = el.getBoundingClientRect();
    const area = box.closest('.output_subarea') || box.parentElement;
    if (c.width > b.width + 1 || c.right > b.right + 1 || c.left < b.left - 1) {
      r.fits = false;
      r.why += ` chart ${c.width.toFixed(0)} px wide in a ${b.width.toFixed(0)}-px wrapper`;
    }
    if (area && area.scrollWidth > area.clientWidth + 1) {
      r.fits = false;
      r.why += ` output area scrolls (${area.scrollWidth} > ${area.clientWidth} px)`;
    }
    results.push(r);
  }
  return results;
}

// screenshots keeps the whole notebook (classic Jupyter scrolls it inside
// #site, which a full-page screenshot would cut) and each chart, as
// OUT/STEM[SUFFIX].png and OUT/STEM-chartN[SUFFIX].png.
async function screenshots(page, out, stem, suffix) {
  const charts = page.locator('.trustformers-chart');
  const n = await charts.count();
  for (let i = 0; i < n; i++) {
    await charts.nth(i).screenshot({ path: path.join(out, `${stem}-chart${i + 1}${suffix}.png`) });
  }
  await page.addStyleTag({ content: '#site { height: auto !important; overflow: visible !important; }' });
  await page.screenshot({ path: path.join(out, `${stem}${suffix}.png`), fullPage: true });
}

function checkCharts(results, where, problems) {
  for (const r of results) {
    if (!r.drawn || !r.fits) problems.push(`${where}: chart ${r.id}: ${r.why.trim()}`);
  }
}

// runNotebook runs one notebook through the page and returns its problems.
async function runNotebook(browser, server, nbPath, out, log) {
  const name = path.basename(nbPath);
  const stem = name.replace(/\.ipynb$/, '');
  const rel = path.relative(root, nbPath).split(path.sep).map(encodeURIComponent).join('/');
  const savedRel = path.relative(root, path.join(out, name)).split(path.sep).join('/');
  const problems = [];
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  await watch(page, problems, `${name} (live)`);

  await page.goto(`${server.base}/notebooks/${rel}?token=${server.token}`);
  await page.waitForFunction(() => window.Jupyter && Jupyter.notebook && Jupyter.notebook._fully_loaded &&
    Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected() &&
    document.querySelector('#kernel_indicator_icon.kernel_idle_icon'), null, { timeout: 120000 });

  // Cell › Run All, through the menu.
  await page.click('#menus a.dropdown-toggle:text-is("Cell")');
  await page.click('#run_all_cells > a');

  // Wait until no cell is queued or running and the kernel is idle; a cell
  // that makes no progress for cellTimeoutMs fails the notebook.
  let last = '';
  let since = Date.now();
  let idleSince = 0;
  for (;;) {
    const state = await page.evaluate(() => {
      const code = Jupyter.notebook.get_cells().filter((c) => c.cell_type === 'code');
      return {
        prompts: code.map((c) => c.input_prompt_number),
        idle: !!document.querySelector('#kernel_indicator_icon.kernel_idle_icon'),
      };
    });
    const key = JSON.stringify(state.prompts);
    if (key !== last) { last = key; since = Date.now(); }
    const busy = state.prompts.some((p) => p === '*');
    if (!busy && state.idle) {
      if (!idleSince) idleSince = Date.now();
      if (Date.now() - idleSince > 1500) break;
    } else idleSince = 0;
    if (Date.now() - since > cellTimeoutMs) {
      problems.push(`${name}: no progress for ${cellTimeoutMs / 60000} min; cell prompts ${key}`);
      break;
    }
    await sleep(500);
  }

  // What the page shows, cell by cell.
  const cells = await page.evaluate(() => Jupyter.notebook.get_cells().map((c, i) => {
    const el = c.element[0];
    return {
      index: i + 1,
      type: c.cell_type,
      source: c.get_text(),
      prompt: c.input_prompt_number,
      errors: Array.from(el.querySelectorAll('.output_error')).map((e) => e.innerText.slice(0, 400)),
      charts: el.querySelectorAll('.trustformers-chart').length,
      liveFinal: el.querySelectorAll('[data-trustformers-live="final"]').length,
      livePartial: el.querySelectorAll('[data-trustformers-live="partial"]').length,
    };
  }));
  for (const c of cells) {
    if (c.type !== 'code') continue;
    const where = `${name}: cell ${c.index} (${JSON.stringify(c.source.split('\n')[0].slice(0, 60))})`;
    if (typeof c.prompt !== 'number') problems.push(`${where}: did not run (prompt ${JSON.stringify(c.prompt)})`);
    for (const e of c.errors) problems.push(`${where}: error output: ${e}`);
    // What the cell runs: GoNB executes the part after its "%%" line; the
    // rest declares functions that other cells call.
    const runs = c.source.includes('\n%%') || c.source.startsWith('%%') ? c.source.slice(c.source.indexOf('%%')) : '';
    if (/viz\.(Show|NewLiveLoss)\(/.test(runs) && c.charts === 0) problems.push(`${where}: shows a chart, but its output holds none`);
    if (/viz\.NewLiveLoss\(/.test(runs) && c.liveFinal === 0) problems.push(`${where}: the live chart's final state is not in its output`);
    if (c.livePartial > 0) problems.push(`${where}: a live chart was left at an intermediate redraw (its final state, drawn by Close, is missing)`);
  }
  const charts = cells.reduce((n, c) => n + c.charts, 0);
  // Let the last charts draw (their scripts wait for the library).
  await sleep(500);
  checkCharts(await page.evaluate(inspectCharts, '#notebook'), `${name} (live, 1280 px)`, problems);
  await screenshots(page, out, stem, '');
  await page.setViewportSize({ width: narrowWidth, height: 1000 });
  await sleep(500);
  checkCharts(await page.evaluate(inspectCharts, '#notebook'), `${name} (live, ${narrowWidth} px)`, problems);
  await screenshots(page, out, stem, '-narrow');

  // The library reaches the notebook once.
  const nb = await page.evaluate(() => Jupyter.notebook.toJSON());
  const carriers = nb.cells.flatMap((c) => c.outputs || [])
    .filter((o) => o.data && [].concat(o.data['text/html'] || []).join('').includes('(function(define, exports, module) {')).length;
  if (charts > 0 && carriers !== 1) problems.push(`${name}: the echarts library is inlined in ${carriers} outputs, want 1`);

  // Save a copy through the page, as File › Save would, and stop the kernel.
  await page.evaluate(async ({ p }) => {
    await Jupyter.notebook.contents.save(p, { type: 'notebook', content: Jupyter.notebook.toJSON() });
  }, { p: savedRel });
  await page.evaluate(() => Jupyter.notebook.session.delete());
  await context.close();
  const saved = path.join(out, name);
  const size = fs.statSync(saved).size;
  log(`  ${name}: ${cells.filter((c) => c.type === 'code').length} code cells, ${charts} charts, saved ${(size / 1e6).toFixed(2)} MB`);
  // The saved outputs, checked as nbrun checks an executed notebook
  // (stderr lines with a panic, an exit status or a signal).
  const check = spawnSync(nbrunBinary(out), ['-check', saved], { encoding: 'utf8' });
  for (const line of (check.stdout || '').split('\n').filter((l) => l.trim())) problems.push(line.trim());
  if (check.status !== 0 && !(check.stdout || '').trim()) problems.push(`${name}: nbrun -check failed: ${check.stderr}`);
  if (savedLimit[name] && size > savedLimit[name]) {
    problems.push(`${name}: saved after Run All it is ${(size / 1e6).toFixed(2)} MB, over ${(savedLimit[name] / 1e6).toFixed(1)} MB`);
  }

  if (charts > 0) {
    await reopen(browser, server, savedRel, name, stem, out, charts, problems);
    await exported(browser, saved, name, stem, out, charts, problems);
  }
  return problems;
}

// reopen opens the saved copy in a fresh page and checks its charts draw
// from the saved outputs alone.
async function reopen(browser, server, savedRel, name, stem, out, charts, problems) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  const where = `${name} (saved and reopened)`;
  await watch(page, problems, where);
  await page.goto(`${server.base}/notebooks/${savedRel}?token=${server.token}`);
  await page.waitForFunction(() => window.Jupyter && Jupyter.notebook && Jupyter.notebook._fully_loaded, null, { timeout: 60000 });
  if (!(await page.evaluate(() => Jupyter.notebook.trusted))) problems.push(`${where}: not trusted, so its charts' scripts would not run`);
  await page.waitForTimeout(1500);
  const results = await page.evaluate(inspectCharts, '#notebook');
  if (results.length !== charts) problems.push(`${where}: ${results.length} charts, the live page had ${charts}`);
  checkCharts(results, where, problems);
  await screenshots(page, out, stem, '-reopened');
  await page.evaluate(() => Jupyter.notebook.session && Jupyter.notebook.session.delete());
  await context.close();
}

// exported converts the saved copy to HTML with nbconvert and checks its
// charts draw offline from a file:// page.
async function exported(browser, saved, name, stem, out, charts, problems) {
  const where = `${name} (nbconvert HTML)`;
  const dir = path.join(out, 'html');
  const r = spawnSync('jupyter', ['nbconvert', '--to', 'html', '--output-dir', dir, saved], { encoding: 'utf8' });
  if (r.status !== 0) {
    problems.push(`${where}: jupyter nbconvert failed: ${r.stderr.slice(-800)}`);
    return;
  }
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  await watch(page, problems, where);
  await page.goto('file://' + path.join(dir, `${stem}.html`));
  await page.waitForTimeout(1500);
  const results = await page.evaluate(inspectCharts, 'body');
  if (results.length !== charts) problems.push(`${where}: ${results.length} charts, the live page had ${charts}`);
  checkCharts(results, where, problems);
  await screenshots(page, out, stem, '-export');
  await context.close();
}

// selfTestWants is what the run of testdata/broken.ipynb must report: one
// problem for each rule its cells break.
const selfTestWants = [
  /chart blank: canvas blank/,
  /chart wide: chart \d+ px wide in a \d+-px wrapper/,
  /request to a non-loopback host: http:\/\/192\.0\.2\.1\/pixel\.png/,
  /console error: deliberate console error/,
  /a live chart was left at an intermediate redraw/,
  /stderr: panic: deliberate panic/,
];

const modulePath = 'github.com/trustformers/trustformers-go';

// inputsKey is a hash of everything the result of running nb depends on
// (see the comment at the top); a change to any of it runs nb again.
function inputsKey(nb) {
  const h = crypto.createHash('sha256');
  const add = (name, data) => h.update(`${name}\0${data.length}\0`).update(data);
  const addFile = (f) => add(path.relative(root, f), fs.readFileSync(f));
  const text = fs.readFileSync(nb, 'utf8');
  addFile(nb);
  addFile(__filename);
  for (const f of fs.readdirSync(path.join(root, 'scripts', 'nbrun')).sort()) {
    if (f.endsWith('.go')) addFile(path.join(root, 'scripts', 'nbrun', f));
  }
  addFile(path.join(root, 'go.mod'));
  addFile(path.join(root, 'go.sum'));
  const imports = [...new Set((text.match(/github\.com\/trustformers\/trustformers-go(\/[A-Za-z0-9_.\/-]+)?/g) || [])
    .map((p) => p.replace(/[/.]+$/, '')))].filter((p) => p !== modulePath).sort();
  if (imports.length) {
    const r = spawnSync('go', ['list', '-deps', '-f',
      '{{if not .Standard}}{{.ImportPath}}\t{{.Dir}}\t{{join .GoFiles " "}} {{join .CgoFiles " "}} {{join .EmbedFiles " "}}{{end}}',
      ...imports], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`go list ${imports.join(' ')}: ${r.stderr}`);
    for (const line of r.stdout.split('\n')) {
      const [pkg, dir, files] = line.split('\t');
      if (!pkg || !pkg.startsWith(modulePath)) continue; // other modules: pinned by go.sum
      for (const f of files.split(' ').filter(Boolean).sort()) addFile(path.join(dir, f));
    }
  }
  for (const v of ['GOTOOLCHAIN', 'GOEXPERIMENT', 'GOFLAGS', 'ONNXRUNTIME_SHARED_LIBRARY_PATH', 'PJRT_PLUGIN_LIBRARY_PATH',
    'TRUSTFORMERS_DATA', 'TRUSTFORMERS_MODELS', 'TRUSTFORMERS_BACKEND', 'TRUSTFORMERS_ECHARTS_JS']) {
    add(v, process.env[v] || '');
  }
  // What make setup installed and the test data: names, sizes and times.
  const walk = (dir) => {
    let entries;
    try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) { if (e.name !== 'node_modules' && e.name !== 'venv' && !e.name.startsWith('venv-')) walk(p); continue; }
      const st = fs.statSync(p, { throwIfNoEntry: false });
      if (st) add(p, `${st.size} ${st.mtimeMs}`);
    }
  };
  for (const d of ['pjrt', 'onnxruntime', 'models', 'echarts', 'bin']) walk(path.join(root, '.deps', d));
  walk(process.env.TRUSTFORMERS_DATA || path.join(root, '..', 'shared', 'data'));
  return h.digest('hex');
}

// passedCache reads and writes out/passed.json: each notebook that passed,
// with the inputsKey it passed with.
function passedCache(out) {
  const file = path.join(out, 'passed.json');
  let passed = {};
  try { passed = JSON.parse(fs.readFileSync(file, 'utf8')); } catch { /* none yet */ }
  return {
    hit: (nb, key) => passed[path.relative(root, nb)] === key,
    set: (nb, key) => {
      if (key) passed[path.relative(root, nb)] = key;
      else delete passed[path.relative(root, nb)];
      fs.writeFileSync(file + '.tmp', JSON.stringify(passed, null, 1));
      fs.renameSync(file + '.tmp', file);
    },
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  fs.mkdirSync(args.out, { recursive: true });
  if (path.relative(root, args.out).startsWith('..')) {
    throw new Error(`--out ${args.out} must be inside the repository (Jupyter serves the repository)`);
  }
  const cache = passedCache(args.out);
  const keys = new Map(args.notebooks.map((nb) => [nb, inputsKey(nb)]));
  const todo = args.noCache ? args.notebooks : args.notebooks.filter((nb) => !cache.hit(nb, keys.get(nb)));
  for (const nb of args.notebooks) {
    if (todo.includes(nb)) continue;
    console.log(`ok   ${args.selfTest ? 'self-test' : path.relative(root, nb)} (cached: nothing it depends on changed since it passed)`);
  }
  if (todo.length === 0) {
    if (!args.selfTest) console.log(`browser: ${args.notebooks.length} passed (cached), 0 failed`);
    return;
  }
  const server = await startJupyter();
  const browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
  let failed = 0;
  // One notebook after another leaves a core idle much of the time (the
  // browser waits, a kernel starts, a cell links): args.jobs run at once,
  // each notebook's report printed whole when it ends.
  const queue = [...todo];
  const worker = async () => {
    for (let nb = queue.shift(); nb; nb = queue.shift()) {
      const start = Date.now();
      const lines = [];
      const log = (line) => lines.push(line);
      console.log(`browser: ${path.relative(root, nb)} ...`);
      let problems;
      try {
        problems = await runNotebook(browser, server, nb, args.out, log);
      } catch (e) {
        problems = [`${path.basename(nb)}: ${e.stack || e}`];
      }
      const secs = ((Date.now() - start) / 1000).toFixed(1);
      if (args.selfTest) {
        const missed = selfTestWants.filter((re) => !problems.some((p) => re.test(p)));
        log(`${missed.length ? 'FAIL' : 'ok  '} self-test (${secs}s): ${problems.length} problems reported`);
        for (const p of problems) log(`  reported: ${p.split('\n')[0]}`);
        for (const re of missed) log(`  NOT reported: ${re}`);
        if (missed.length) failed++;
        cache.set(nb, missed.length ? '' : keys.get(nb));
      } else {
        if (problems.length) {
          failed++;
          log(`FAIL ${path.relative(root, nb)} (${secs}s; screenshots in ${path.relative(root, args.out)})`);
          for (const p of problems) log(`  ${p.replace(/\n/g, '\n    ')}`);
        } else log(`ok   ${path.relative(root, nb)} (${secs}s)`);
        cache.set(nb, problems.length ? '' : keys.get(nb));
      }
      console.log(lines.join('\n'));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(args.jobs, todo.length) }, worker));
  } finally {
    await browser.close();
    server.stop();
  }
  if (!args.selfTest) console.log(`browser: ${args.notebooks.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(`browser: ${e.stack || e}`);
  process.exit(2);
});
