// tokenizers_node.mjs writes the GPT-2 and BERT tokenizer goldens of
// models/tokenizer/testdata from independent implementations:
//
//   GPT-2: tiktoken (npm), encoding "gpt2" — OpenAI's own ranks, shipped inside
//          the package, not read from ../shared/data.
//   BERT:  tokenizers (npm), the Node binding of Hugging Face's Rust tokenizers,
//          on ../shared/data/bert-base-uncased/tokenizer.json; every case is
//          cross-checked with @huggingface/tokenizers (the pure-JS port) and any
//          disagreement between the two is recorded in the golden.
//   hf-*:  tokenizers (npm) on the small tokenizer.json files of testdata
//          (Unigram, LLaMA-2-style BPE with byte fallback, Llama-3-style
//          byte-level BPE; see tokenizers_build.mjs), and on variants of them
//          whose normalizer, pre-tokenizer, decoder, added tokens or model
//          settings are replaced (the golden holds them as "overrides"); the
//          pure-JS port is run too
//          and how often it disagrees is recorded, for information only.
//
// Run it through tokenizers_golden.sh (it installs the pinned packages into
// .deps/reference-node). Usage: node tokenizers_node.mjs REPO_ROOT DATA_DIR
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
import { createRequire } from "node:module";

const [repo, data] = process.argv.slice(2).map((p) => p && path.resolve(p));
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

// ---- tokenizer.json pipelines with Hugging Face tokenizers (Rust) -------
{
  const { Tokenizer: RustTokenizer } = require("tokenizers");
  const js = await import(path.join(nodeDir, "node_modules", "@huggingface", "tokenizers", "dist", "tokenizers.mjs"));
  const mistralPre = { type: "Metaspace", replacement: "▁", prepend_scheme: "first", split: false };
  const legacyMetaspace = { type: "Metaspace", replacement: "▁", add_prefix_space: true };
  const replace = (from, to, regex = false) => ({ type: "Replace", pattern: regex ? { Regex: from } : { String: from }, content: to });
  const gpt4oSplit = "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  const gpt2Split = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
  const byteLevelSplit = (regex, addPrefixSpace) => ({
    type: "Sequence",
    pretokenizers: [
      { type: "Split", pattern: { Regex: regex }, behavior: "Isolated", invert: false },
      { type: "ByteLevel", add_prefix_space: addPrefixSpace, trim_offsets: true, use_regex: false },
    ],
  });
  const goldens = [
    // name, file, what the golden covers, overrides of the file's top-level fields
    ["hf-unigram", "hf-unigram.json", "all"],
    ["hf-llama2", "hf-llama2.json", "all"],
    ["hf-llama3", "hf-llama3.json", "all"],
    ["hf-unigram-t5", "hf-unigram.json", "some", {
      // t5-small's layout: WhitespaceSplit then Metaspace with the older add_prefix_space field
      pre_tokenizer: { type: "Sequence", pretokenizers: [{ type: "WhitespaceSplit" }, legacyMetaspace] },
      decoder: legacyMetaspace,
    }],
    ["hf-unigram-albert", "hf-unigram.json", "some", {
      // ALBERT's normalizers (without its Precompiled), no post-processor
      normalizer: { type: "Sequence", normalizers: [replace("``", '"'), replace("''", '"'), { type: "NFKD" }, { type: "StripAccents" }, { type: "Lowercase" }, replace(" {2,}", " ", true)] },
      pre_tokenizer: legacyMetaspace,
      post_processor: null,
      decoder: legacyMetaspace,
    }],
    ["hf-unigram-nmt", "hf-unigram.json", "some", {
      normalizer: { type: "Sequence", normalizers: [{ type: "Nmt" }, { type: "NFKC" }, { type: "Strip", strip_left: true, strip_right: true }, replace(" {2,}", "▁", true)] },
    }],
    ["hf-mistral", "hf-llama2.json", "some", {
      // LlamaConverter with legacy=false: no normalizer, Metaspace(prepend_scheme "first", split false)
      normalizer: null,
      pre_tokenizer: mistralPre,
    }],
    ["hf-gpt4o-split", "hf-llama3.json", "some", { pre_tokenizer: byteLevelSplit(gpt4oSplit, false) }],
    ["hf-gpt2-split", "hf-llama3.json", "some", { pre_tokenizer: byteLevelSplit(gpt2Split, true) }],
    ["hf-llama2-unk", "hf-llama2.json", "some", { model: { byte_fallback: false } }], // unknown characters fused into one <unk>
    ["hf-llama3-merges", "hf-llama3.json", "some", { model: { ignore_merges: false } }],
    ["hf-unigram-nfd", "hf-unigram.json", "some", {
      // NFD and NFC, and added tokens matched after normalization (one of them not special)
      normalizer: { type: "Sequence", normalizers: [{ type: "NFD" }, { type: "StripAccents" }, { type: "NFC" }, replace(" {2,}", " ", true)] },
      added_tokens: [
        { id: 0, content: "<pad>", single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
        { id: 1, content: "</s>", single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
        { id: 2, content: "<unk>", single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
        { id: 2003, content: "Citizen", single_word: false, lstrip: false, rstrip: false, normalized: true, special: false },
      ],
    }],
  ];
  // Inputs for the pipelines only, besides the shared ones: where Hugging
  // Face's Precompiled reads SentencePiece's map its own way (a cluster
  // under 6 bytes replaced by its shortest key's text: "ª̀" becomes "a"),
  // other grapheme clusters, what the split patterns treat specially, and
  // text right after special tokens (Metaspace's prepend_scheme "first").
  const pipelineStrings = [
    "ª̀ º̀ ſ́ ʰ̂ ϵ̀ ᴬ̀ ᴭ́ and A\u0308\u0301 x\u0301\u0301 e\u0301",
    "jamo \u1100\u1161\u11A8 \u1100\u1161 가\u11A8 prepend \u0600\u0661\u0662 conjunct क्ष",
    "keycap 1\uFE0F\u20E3 zwj a\u200Db ©\u200D© thai กำ lao ຄຳ",
    "\r\n\r\n \r \n\r x\r\ny",
    "HELLO's I'M WE'LL don’t ſ's 'S",
    "camelCaseWORD HTTPServer iPhone x86_64 /path/to/file 12345678 ١٢٣٤",
    "nbsp\u00A0x thin\u2009y ideographic\u3000z nel\u0085w  \n  x",
    "▁ leading metaspace ▁▁ and <0x41> literal",
    "<s>Hello</s>world <s> after<|begin_of_text|>text<unk>x",
  ];
  const pipelineCases = pipelineStrings.map((text) => ({ text, ref: { text } }));
  for (const [name, file, cover, overrides] of goldens) {
    // Overrides replace top-level fields, but for "model", whose fields they replace.
    const base = JSON.parse(fs.readFileSync(path.join(outDir, file), "utf8"));
    const doc = { ...base, ...overrides };
    if (overrides?.model) doc.model = { ...base.model, ...overrides.model };
    const rust = RustTokenizer.fromString(JSON.stringify(doc));
    let jsTok, jsNote;
    try {
      jsTok = new js.Tokenizer(doc, {});
    } catch (e) {
      jsNote = `cannot load it: ${e.message}`;
    }
    const cases = [];
    let disagreements = 0;
    for (const c of [...inputs.cases, ...pipelineCases]) {
      if (cover === "some" && !(c.ref.text !== undefined || (c.ref.line !== undefined && c.ref.line < 300))) continue;
      const ids = Array.from((await rust.encode(c.text)).getIds());
      const out = { ...c.ref, ids, decoded: await rust.decode(ids, true) };
      const raw = await rust.decode(ids, false);
      if (raw !== out.decoded) out.decoded_with_special = raw;
      if (jsTok) {
        let jsIDs;
        try {
          jsIDs = jsTok.encode(c.text).ids;
        } catch (e) {
          jsIDs = String(e);
        }
        if (JSON.stringify(jsIDs) !== JSON.stringify(ids)) disagreements++;
      }
      cases.push(out);
    }
    // Decoding alone: random id sequences (a fixed seed) whose text is
    // valid UTF-8 (for ids that cut characters, Decode's U+FFFD differ from
    // Hugging Face's by design; see the package documentation).
    const decodes = [];
    if (cover === "all") {
      const random = mulberry32(7);
      const size = rust.getVocabSize(true);
      while (decodes.length < 200) {
        const ids = Array.from({ length: 1 + Math.floor(random() * 12) }, () => Math.floor(random() * size));
        const raw = await rust.decode(ids, false);
        if (raw.includes("\uFFFD")) continue;
        const out = { ids, decoded: await rust.decode(ids, true) };
        if (raw !== out.decoded) out.decoded_with_special = raw;
        decodes.push(out);
      }
    }
    const pairs = [];
    if (cover === "all") {
      for (const [a, b] of pairInputs(inputs)) {
        const e = await rust.encode(a, b);
        pairs.push({ a, b, ids: Array.from(e.getIds()), type_ids: Array.from(e.getTypeIds()) });
      }
    }
    write(`${name}.golden.json`, {
      reference: `tokenizers ${version("tokenizers")} (npm, Hugging Face's Rust tokenizers), Tokenizer.fromString, encode(text) with special tokens, decode(ids, skipSpecialTokens=true) (decoded_with_special: decode(ids, false) where it differs)`,
      tokenizer: `models/tokenizer/testdata/${file}`,
      overrides: overrides ?? null,
      vocab_size: rust.getVocabSize(true),
      inputs: `${cover === "all" ? "every case" : "the hard strings and the first 300 corpus lines"}, and ${pipelineStrings.length} strings for the pipelines`,
      js_disagreements: `@huggingface/tokenizers ${version("@huggingface/tokenizers")} ${jsNote ?? `gives other ids (or fails) on ${disagreements} of ${cases.length} inputs`} (not used)`,
      corpus: inputs.corpus,
      cases,
      decodes: decodes.length ? decodes : undefined,
      pairs: pairs.length ? pairs : undefined,
    });
  }
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
  const { cases, decodes, pairs, ...header } = obj;
  let s = "{\n" + Object.entries(header).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(",\n");
  s += ',\n"cases": [\n' + cases.map((c) => JSON.stringify(c)).join(",\n") + "\n]";
  if (decodes) s += ',\n"decodes": [\n' + decodes.map((c) => JSON.stringify(c)).join(",\n") + "\n]";
  if (pairs) s += ',\n"pairs": [\n' + pairs.map((c) => JSON.stringify(c)).join(",\n") + "\n]";
  s += "\n}\n";
  fs.writeFileSync(file, s);
  console.log(`wrote ${file} (${cases.length} cases${pairs ? `, ${pairs.length} pairs` : ""}, ${s.length} bytes)`);
}

// mulberry32 returns a small seeded random number generator.
function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
