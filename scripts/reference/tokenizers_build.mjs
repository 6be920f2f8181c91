// tokenizers_build.mjs builds the three small tokenizer.json files in
// models/tokenizer/testdata that the Hugging Face pipeline goldens use, with
// Hugging Face's Rust tokenizers (npm "tokenizers") where it can:
//
//   hf-unigram.json  a Unigram model trained here on Tiny Shakespeare
//                    (UnigramTrainer's defaults: 8,000 pieces, Metaspace
//                    pre-tokenizer), cut to its 2,000 best pieces plus every
//                    single character, laid out as Hugging Face converts T5:
//                    <pad> </s> <unk> first, normalizer Sequence[Precompiled
//                    (SentencePiece's nmt_nfkc map, taken from
//                    testdata/sp-nfkc.model), Strip(right), Replace(" {2,}",
//                    "▁")], Metaspace pre-tokenizer and decoder, "$A </s>".
//   hf-llama2.json   a BPE trained here on Tiny Shakespeare (BpeTrainer's
//                    defaults behind a Metaspace pre-tokenizer), cut to its
//                    first 2,000 merges, laid out as LLaMA 2's tokenizer.json:
//                    <unk> <s> </s>, <0x00> … <0xFF>, byte_fallback, fuse_unk,
//                    normalizer Sequence[Prepend("▁"), Replace(" ", "▁")], no
//                    pre-tokenizer, decoder Sequence[Replace("▁", " "),
//                    ByteFallback, Fuse, Strip(" ", 1, 0)], "<s> $A".
//   hf-llama3.json   GPT-2's byte-level BPE (../shared/data/gpt2) cut to its
//                    first 3,000 merges, plus a few whole words that no merge
//                    reaches, laid out as Llama 3's tokenizer.json: pre-tokenizer
//                    Sequence[Split(Llama 3's pattern, Isolated),
//                    ByteLevel(use_regex false)], ignore_merges, special tokens
//                    <|begin_of_text|> … after the vocab, "<|begin_of_text|> $A".
//
// The node binding can train only with a model's default trainer
// (Tokenizer.train(files)), so vocabulary sizes are set by cutting the
// trained models, which keeps them valid models of the same kind. The BPE
// and Llama 3 files come out the same on every run; the Unigram trainer's
// scores change in their last digits from run to run (it trains on several
// threads), so rebuilding hf-unigram.json means regenerating its goldens.
//
// Run it through tokenizers_golden.sh DATA --train (which installs the
// pinned packages into .deps/reference-node).
// Usage: node tokenizers_build.mjs REPO_ROOT DATA_DIR
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";

const [repo, data] = process.argv.slice(2).map((p) => p && path.resolve(p));
if (!repo || !data) {
  console.error("usage: node tokenizers_build.mjs REPO_ROOT DATA_DIR");
  process.exit(2);
}
const require = createRequire(path.join(repo, ".deps", "reference-node", "package.json"));
const tk = require("tokenizers");
const corpus = path.join(data, "tinyshakespeare", "input.txt");
const outDir = path.join(repo, "models", "tokenizer", "testdata");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tokenizers-build-"));

// trained saves a tokenizer with Tokenizer.save and reads it back as JSON.
function trained(tokenizer) {
  const file = path.join(tmp, "trained.json");
  tokenizer.save(file);
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

const special = (id, content) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
const template = (single, pair, tokens) => ({
  type: "TemplateProcessing",
  single,
  pair,
  special_tokens: Object.fromEntries(tokens.map(([t, id]) => [t, { id: t, ids: [id], tokens: [t] }])),
});
const tok = (id, type_id = 0) => ({ SpecialToken: { id, type_id } });
const seq = (id, type_id = 0) => ({ Sequence: { id, type_id } });

// ---- Unigram, T5-style ---------------------------------------------------
{
  const t = new tk.Tokenizer(tk.Unigram.empty());
  t.setPreTokenizer(tk.metaspacePreTokenizer());
  t.train([corpus]);
  const j = trained(t);
  const pieces = j.model.vocab; // [[piece, score]], best first
  const singles = pieces.filter(([p]) => [...p].length === 1).length;
  let multi = 2000 - singles;
  const kept = pieces.filter(([p]) => [...p].length === 1 || multi-- > 0);
  const vocab = [["<pad>", 0], ["</s>", 0], ["<unk>", 0], ...kept];
  write("hf-unigram.json", {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(0, "<pad>"), special(1, "</s>"), special(2, "<unk>")],
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Precompiled", precompiled_charsmap: precompiledCharsmap(path.join(outDir, "sp-nfkc.model")).toString("base64") },
        { type: "Strip", strip_left: false, strip_right: true },
        { type: "Replace", pattern: { Regex: " {2,}" }, content: "▁" },
      ],
    },
    pre_tokenizer: { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: true },
    post_processor: template([seq("A"), tok("</s>")], [seq("A"), tok("</s>"), seq("B"), tok("</s>")], [["</s>", 1]]),
    decoder: { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: true },
    model: { type: "Unigram", unk_id: 2, vocab, byte_fallback: false },
  });
}

// ---- BPE with byte fallback, LLaMA-2-style --------------------------------
{
  const t = new tk.Tokenizer(tk.BPE.init({}, [], { byteFallback: true, unkToken: "<unk>", fuseUnk: true }));
  t.setPreTokenizer(tk.metaspacePreTokenizer());
  t.train([corpus]);
  const j = trained(t);
  const merges = j.model.merges.slice(0, 2000);
  const trainedIDs = Object.entries(j.model.vocab).sort((a, b) => a[1] - b[1]).map(([p]) => p);
  const alphabet = trainedIDs.slice(0, trainedIDs.length - j.model.merges.length);
  const vocab = { "<unk>": 0, "<s>": 1, "</s>": 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`] = 3 + b;
  for (const p of [...alphabet, ...merges.map(([a, b]) => a + b)]) if (!(p in vocab)) vocab[p] = Object.keys(vocab).length;
  write("hf-llama2.json", {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")],
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Prepend", prepend: "▁" },
        { type: "Replace", pattern: { String: " " }, content: "▁" },
      ],
    },
    pre_tokenizer: null,
    post_processor: template([tok("<s>"), seq("A")], [tok("<s>"), seq("A"), tok("<s>", 1), seq("B", 1)], [["<s>", 1]]),
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "▁" }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        { type: "Strip", content: " ", start: 1, stop: 0 },
      ],
    },
    model: {
      type: "BPE", dropout: null, unk_token: "<unk>", continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges,
    },
  });
}

// ---- Byte-level BPE with Llama 3's split, from GPT-2's files -------------
{
  const encoder = JSON.parse(fs.readFileSync(path.join(data, "gpt2", "encoder.json"), "utf8"));
  const lines = fs.readFileSync(path.join(data, "gpt2", "vocab.bpe"), "utf8").split("\n").filter((l) => l && !l.startsWith("#version"));
  const nMerges = 3000;
  const merges = lines.slice(0, nMerges).map((l) => l.split(" "));
  const vocab = Object.fromEntries(Object.entries(encoder).filter(([, id]) => id < 256 + nMerges));
  merges.forEach(([a, b], i) => {
    if (vocab[a + b] !== 256 + i) throw new Error(`GPT-2 merge ${i} (${a} ${b}) is not id ${256 + i}`);
  });
  // Whole words no merge reaches: only ignore_merges finds them.
  for (const w of ["ĠCitizen", "ĠMENENIUS", "ĠCORIOLANUS", "ĠVOLUMNIA", "ĠSICINIUS", "Ġpatricians", "Ġbelly", "ĠCapitol"]) {
    if (!(w in vocab)) vocab[w] = Object.keys(vocab).length;
  }
  const n = Object.keys(vocab).length;
  const llama3Split = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  write("hf-llama3.json", {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(n, "<|begin_of_text|>"), special(n + 1, "<|end_of_text|>"), special(n + 2, "<|eot_id|>")],
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: llama3Split }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: "Sequence",
      processors: [
        { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
        template([tok("<|begin_of_text|>"), seq("A")], [tok("<|begin_of_text|>"), seq("A"), tok("<|begin_of_text|>", 1), seq("B", 1)], [["<|begin_of_text|>", n]]),
      ],
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: true, vocab, merges,
    },
  });
}
fs.rmSync(tmp, { recursive: true });

// write checks that the reference library loads the file (and round-trips
// it), then writes it with one vocab entry or merge per line.
function write(name, doc) {
  tk.Tokenizer.fromString(JSON.stringify(doc));
  const { model, ...rest } = doc;
  const { vocab, merges, ...modelRest } = model;
  const entries = Array.isArray(vocab) ? vocab.map((e) => JSON.stringify(e)) : Object.entries(vocab).map(([k, v]) => `${JSON.stringify(k)}: ${v}`);
  let s = JSON.stringify(rest, null, 1).replace(/\n}$/, ",\n");
  s += ` "model": ${JSON.stringify(modelRest).replace(/}$/, "")},\n  "vocab": ${Array.isArray(vocab) ? "[" : "{"}\n`;
  s += entries.join(",\n") + `\n  ${Array.isArray(vocab) ? "]" : "}"}`;
  if (merges) s += `,\n  "merges": [\n` + merges.map((m) => JSON.stringify(m)).join(",\n") + "\n  ]";
  s += "\n }\n}\n";
  JSON.parse(s); // the layout above must stay JSON
  fs.writeFileSync(path.join(outDir, name), s);
  console.log(`wrote ${path.join(outDir, name)} (vocab ${entries.length}${merges ? `, ${merges.length} merges` : ""}, ${s.length} bytes)`);
}

// precompiledCharsmap returns normalizer_spec.precompiled_charsmap of a
// SentencePiece model (ModelProto field 3, NormalizerSpec field 2).
function precompiledCharsmap(modelFile) {
  const field = (buf, want) => {
    for (let i = 0; i < buf.length; ) {
      const [key, a] = varint(buf, i);
      const num = key >> 3, wire = key & 7;
      i = a;
      if (wire === 0) i = varint(buf, i)[1];
      else if (wire === 1) i += 8;
      else if (wire === 5) i += 4;
      else if (wire === 2) {
        const [len, b] = varint(buf, i);
        if (num === want) return buf.subarray(b, b + len);
        i = b + len;
      } else throw new Error(`${modelFile}: unexpected protobuf wire type ${wire}`);
    }
    throw new Error(`${modelFile}: protobuf field ${want} missing`);
  };
  return field(field(fs.readFileSync(modelFile), 3), 2);
}

function varint(buf, i) {
  let v = 0, shift = 0;
  for (;;) {
    const b = buf[i++];
    v += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [v, i];
    shift += 7;
  }
}
