// tokenizers_node.mjs writes the GPT-2 and BERT tokenizer goldens of
// models/tokenizer/testdata from independent implementations:
//
//   GPT-2: tiktoken (npm), encoding "gpt2" — OpenAI's own ranks, shipped inside
//          the package, not read from ../shared/data.
//   BERT:  tokenizers (npm), the Node binding of Hugging Face's Rust tokenizers,
//          on ../shared/data/bert-base-uncased/tokenizer.json; every case is
//          cross-checked with @huggingface/tokenizers (the pure-JS port) and any
//          disagreement between the two is recorded in the golden.
//
// Run it through tokenizers_golden.sh (it installs the pinned packages into
// .deps/reference-node). Usage: node tokenizers_node.mjs REPO_ROOT DATA_DIR
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
import { createRequire } from "node:module";

const [repo, data] = process.argv.slice(2);
if (!repo || !data) {
  console.error("usage: node tokenizers_node.mjs REPO_ROOT DATA_DIR");
  process.exit(2);
}
const nodeDir = path.join(repo, ".deps", "reference-node");
const require = createRequire(path.join(nodeDir, "package.json"));
const version = (name) => JSON.parse(fs.readFileSync(path.join(nodeDir, "node_modules", name, "package.json"))).version;

const inputs = loadInputs(repo, data);
const outDir = path.join(repo, "models", "tokenizer", "testdata");

// ---- GPT-2 with tiktoken -------------------------------------------------
{
  const { get_encoding } = require("tiktoken");
  const enc = get_encoding("gpt2");
  const utf8 = new TextDecoder("utf-8"); // invalid bytes become U+FFFD
  const cases = inputs.cases.map((c) => {
    // allowed_special "all": "<|endoftext|>" in the text is the special token,
    // as Hugging Face's GPT-2 tokenizer treats it.
    const ids = Array.from(enc.encode(c.text, "all"));
    return { ...c.ref, ids, decoded: utf8.decode(enc.decode(new Uint32Array(ids))) };
  });
  enc.free();
  write("gpt2.golden.json", {
    reference: `tiktoken ${version("tiktoken")} (npm), get_encoding("gpt2"), encode(text, "all")`,
    tokenizer: "gpt2/encoder.json + gpt2/vocab.bpe",
    special_tokens: "none added; <|endoftext|> in the text is id 50256",
    corpus: inputs.corpus,
    cases,
  });
}

// ---- BERT with Hugging Face tokenizers (Rust) and tokenizers.js ---------
{
  const { Tokenizer: RustTokenizer } = require("tokenizers");
  const js = await import(path.join(nodeDir, "node_modules", "@huggingface", "tokenizers", "dist", "tokenizers.mjs"));
  const file = path.join(data, "bert-base-uncased", "tokenizer.json");
  const rust = RustTokenizer.fromFile(file);
  const jsTok = new js.Tokenizer(JSON.parse(fs.readFileSync(file, "utf8")), {});
  let disagreements = 0;
  const cases = [];
  for (const c of inputs.cases) {
    const e = await rust.encode(c.text); // add_special_tokens defaults to true: [CLS] … [SEP]
    const ids = Array.from(e.getIds());
    const out = { ...c.ref, ids, decoded: await rust.decode(ids, true) };
    const jsIDs = jsTok.encode(c.text).ids;
    if (JSON.stringify(jsIDs) !== JSON.stringify(ids)) {
      out.ids_tokenizers_js = jsIDs;
      disagreements++;
    }
    cases.push(out);
  }
  const pairs = [];
  for (const [a, b] of pairInputs(inputs)) {
    const e = await rust.encode(a, b);
    pairs.push({ a, b, ids: Array.from(e.getIds()), type_ids: Array.from(e.getTypeIds()) });
  }
  write("bert-base-uncased.golden.json", {
    reference: `tokenizers ${version("tokenizers")} (npm, Hugging Face's Rust tokenizers), Tokenizer.fromFile, encode(text) with special tokens, decode(ids, skipSpecialTokens=true); cross-checked with @huggingface/tokenizers ${version("@huggingface/tokenizers")}`,
    tokenizer: "bert-base-uncased/tokenizer.json",
    special_tokens: "[CLS] … [SEP] added, as Hugging Face encodes by default",
    js_disagreements: disagreements,
    corpus: inputs.corpus,
    cases,
    pairs,
  });
}

// loadInputs returns the golden inputs: each of the first 2,000 lines of Tiny
// Shakespeare, those 2,000 lines as one multi-line chunk, and the hard strings.
// Corpus cases keep only their line numbers in the goldens (the corpus is
// never copied into the repository); hard strings keep their text.
function loadInputs(repo, data) {
  const corpusFile = path.join(data, "tinyshakespeare", "input.txt");
  const raw = fs.readFileSync(corpusFile);
  const lines = raw.toString("utf8").split("\n").slice(0, 2000);
  const cases = lines.map((text, i) => ({ text, ref: { line: i } }));
  cases.push({ text: lines.join("\n"), ref: { lines: [0, lines.length] } });
  const hard = JSON.parse(fs.readFileSync(path.join(repo, "scripts", "reference", "tokenizers_hard_strings.json"), "utf8")).strings;
  for (const text of hard) cases.push({ text, ref: { text } });
  return {
    cases,
    hard,
    corpus: {
      file: "tinyshakespeare/input.txt",
      sha256: crypto.createHash("sha256").update(raw).digest("hex"),
      lines: lines.length,
      note: "cases with line N encode line N (0-based, split on \\n, no newline); the case with lines [A, B] encodes lines A..B-1 joined with \\n",
    },
  };
}

// pairInputs returns sentence pairs for BERT's token_type_ids.
function pairInputs(inputs) {
  const pairs = [];
  for (let i = 0; i + 1 < 20; i += 2) pairs.push([inputs.hard[i + 2], inputs.hard[i + 3]]);
  pairs.push(["", ""], ["Who is there?", ""], ["", "Nobody."]);
  return pairs;
}

function write(name, obj) {
  const file = path.join(outDir, name);
  // One case per line keeps diffs of regenerated goldens readable.
  const { cases, pairs, ...header } = obj;
  let s = "{\n" + Object.entries(header).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(",\n");
  s += ',\n"cases": [\n' + cases.map((c) => JSON.stringify(c)).join(",\n") + "\n]";
  if (pairs) s += ',\n"pairs": [\n' + pairs.map((c) => JSON.stringify(c)).join(",\n") + "\n]";
  s += "\n}\n";
  fs.writeFileSync(file, s);
  console.log(`wrote ${file} (${cases.length} cases${pairs ? `, ${pairs.length} pairs` : ""}, ${s.length} bytes)`);
}
