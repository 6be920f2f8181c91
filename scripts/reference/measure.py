"""What the Python sides of `make bench` share: the prompt ids, the timing loop and the output lines the Go side reads."""
import json
import time


def prompt_ids(b, n, vocab=50257):
    """The Go side's prompt: row i, position j holds (i*977 + j*31 + 7) mod vocab."""
    return [[(i * 977 + j * 31 + 7) % vocab for j in range(n)] for i in range(b)]


def timeit(reps, fn):
    """Runs fn once to warm up, then reps times; the durations in seconds."""
    fn()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def emitter(engine):
    """A function printing one figure as a JSON line, as `trustformers bench --json` does."""
    def emit(name, value, unit, samples=(), ids=None):
        f = {"figure": name, "engine": engine, "value": value, "unit": unit, "samples": list(samples)}
        if ids is not None:
            f["ids"] = ids
        print(json.dumps(f), flush=True)
    return emit
