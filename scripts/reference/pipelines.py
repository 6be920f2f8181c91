"""What Hugging Face's pipelines answer on the tiny golden models: the expected outputs of models/pipeline's examples.

    HF_HUB_OFFLINE=1 .deps/venv/bin/python scripts/reference/pipelines.py      (make reference builds .deps/venv)

Runs transformers.pipeline() in float64 on the folders make_goldens.py wrote, with the inputs of
models/pipeline/example_test.go, and writes models/testdata/golden/pipelines.json:

- text-generation (golden/gpt2/pipeline): greedy, 8 new tokens, their ids (the random model's bytes are no UTF-8);
- fill-mask (golden/bert/model): the 3 best tokens and their scores;
- feature-extraction (golden/bert/model-base): the token vectors, mean-pooled over the tokens and scaled to unit
  length (the pipeline returns the token vectors; the pooling is the caller's, as in FeatureExtraction.Embed);
- text-classification (golden/bert/seqcls): every label with its score, best first;
- token-classification (golden/bert/tokcls): each word piece with its label and score;
- question answering (golden/bert/qa): Transformers 5 has no question-answering pipeline any more, so this is
  what its last one (4.x QuestionAnsweringPipeline) computed, written out here on BertForQuestionAnswering's
  logits: start and end probabilities by a softmax over the context's tokens only, the span maximizing
  P(start)·P(end) with start <= end and at most 15 tokens, and the answer as the context's characters.
"""
import json
import os

import torch
import transformers
from transformers import AutoModelForQuestionAnswering, AutoTokenizer, pipeline

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
GOLDEN = os.path.join(ROOT, "models", "testdata", "golden")

GENERATION_PROMPT = "the sea"
FILL_MASK = "paris is the [MASK] of france"
FEATURES = ["the king", "the old queen of the castle"]
CLASSIFY = ["good day", "a bad storm at sea"]
TOKENS = "the king of england"
QUESTION, CONTEXT = "what is the capital of france?", "paris is the capital of france."


def run(task, folder, inputs, **kwargs):
    p = pipeline(task, model=os.path.join(GOLDEN, folder), device="cpu", dtype=torch.float64)
    return p(inputs, **kwargs)


def question_answering():
    folder = os.path.join(GOLDEN, "bert", "qa")
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForQuestionAnswering.from_pretrained(folder, dtype=torch.float64).eval()
    enc = tok(QUESTION, CONTEXT, return_tensors="pt", return_offsets_mapping=True)
    offsets = enc.pop("offset_mapping")[0].tolist()
    with torch.no_grad():
        out = model(**enc)
    context = [i for i, s in enumerate(enc.sequence_ids(0)) if s == 1]
    mask = torch.full_like(out.start_logits[0], float("-inf"))
    mask[context] = 0
    ps, pe = (torch.softmax(x[0] + mask, -1) for x in (out.start_logits, out.end_logits))
    best = max(((ps[s] * pe[e]).item(), s, e) for s in context for e in context if s <= e < s + 15)
    score, s, e = best
    return {"answer": CONTEXT[offsets[s][0]:offsets[e][1]], "score": score, "start_token": s, "end_token": e,
            "start": offsets[s][0], "end": offsets[e][1]}


def main():
    gen = run("text-generation", "gpt2/pipeline", GENERATION_PROMPT, max_new_tokens=8, do_sample=False, return_tensors=True)
    prompt_ids = AutoTokenizer.from_pretrained(os.path.join(GOLDEN, "gpt2", "pipeline"))(GENERATION_PROMPT)["input_ids"]
    fill = run("fill-mask", "bert/model", FILL_MASK, top_k=3)
    feats = []
    for text in FEATURES:
        vecs = torch.tensor(run("feature-extraction", "bert/model-base", text)[0], dtype=torch.float64)
        mean = vecs.mean(0)
        feats.append((mean / mean.norm()).tolist())
    classes = run("text-classification", "bert/seqcls", CLASSIFY, top_k=None)
    tokens = run("token-classification", "bert/tokcls", TOKENS)
    out = {
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__},
        "text-generation": {"prompt": GENERATION_PROMPT, "max_new_tokens": 8, "new_token_ids": gen[0]["generated_token_ids"][len(prompt_ids):]},
        "fill-mask": {"text": FILL_MASK, "top": [{"token": c["token"], "token_str": c["token_str"], "score": c["score"]} for c in fill]},
        "feature-extraction": {"texts": FEATURES, "mean_normalized": feats},
        "text-classification": {"texts": CLASSIFY, "labels": [[{"label": c["label"], "score": c["score"]} for c in cs] for cs in classes]},
        "token-classification": {"text": TOKENS, "tokens": [{"index": t["index"], "word": t["word"], "entity": t["entity"], "score": float(t["score"])} for t in tokens]},
        "question-answering": {"question": QUESTION, "context": CONTEXT, **question_answering()},
    }
    path = os.path.join(GOLDEN, "pipelines.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", os.path.relpath(path, ROOT))
    print(json.dumps({k: v for k, v in out.items() if k != "feature-extraction"}, indent=1))


if __name__ == "__main__":
    main()
