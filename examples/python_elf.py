#!/usr/bin/env python3
"""A mycelium elf in Python, standard library only.

It serves `python/word_count` and `python/divide` through the elf protocol of
`mycelium serve` (register, claim, heartbeat, complete, fail, bye), with the
documents of schemas/. A failing task's Python traceback is recorded as the
failure's frames (file and line), beside the task's exact source.

    python3 examples/python_elf.py --url http://127.0.0.1:7070 [--token SECRET]
"""
import argparse, hashlib, inspect, json, os, signal, sys, threading, traceback
import urllib.error, urllib.request

ELF = "python"
HERE = os.path.abspath(__file__)


def word_count(text):
    """Counts the words of `text`."""
    return len(text.split())


def divide(a, b):
    """Divides `a` by `b` (a ZeroDivisionError when `b` is 0)."""
    return a / b


TASKS = {"word_count": word_count, "divide": divide}


class Api:
    def __init__(self, url, token):
        self.url, self.token = url.rstrip("/"), token

    def post(self, path, doc):
        """POSTs `doc` as JSON; returns (status, answer)."""
        req = urllib.request.Request(self.url + path, data=json.dumps(doc).encode(), method="POST")
        req.add_header("content-type", "application/json")
        if self.token:
            req.add_header("authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=60) as res:
                return res.status, json.loads(res.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


def version(name, fn):
    """The task version document (schemas/task.schema.json) of `fn`."""
    source = inspect.getsource(fn)
    rel = os.path.relpath(HERE)
    return {
        "sha": hashlib.sha256(source.encode()).hexdigest(), "elf": ELF, "name": name, "source": source,
        "file": rel if not rel.startswith("..") else os.path.basename(HERE),
        "line": inspect.getsourcelines(fn)[1], "doc": inspect.getdoc(fn) or "",
        "signature": {"params": [{"name": p, "ty": "any"} for p in inspect.signature(fn).parameters],
                      "output": "any", "is_async": False, "fallible": True},
    }


def pointer(value, path):
    """The part of `value` at the JSON pointer `path`."""
    for part in [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]] if path else []:
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def resolve(args, inputs):
    """`args` with every output reference replaced by the producer's value."""
    if isinstance(args, list):
        return [resolve(a, inputs) for a in args]
    if isinstance(args, dict):
        if "$output" in args:
            return pointer(inputs[args["$output"]], args.get("path", ""))
        return {k: resolve(v, inputs) for k, v in args.items()}
    return args


def report(exc, args, sha):
    """The failure report (schemas/failure-report.schema.json) of `exc`."""
    frames = [{"function": f.name, "file": os.path.abspath(f.filename), "line": f.lineno,
               "of_interest": os.path.abspath(f.filename) == HERE}
              for f in reversed(traceback.extract_tb(exc.__traceback__))]
    causes, cause = [], exc.__cause__ or exc.__context__
    while cause is not None:
        causes.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__ or cause.__context__
    text = json.dumps(args)
    return {"kind": "error", "message": f"{type(exc).__name__}: {exc}", "causes": causes, "frames": frames,
            "ran_sha": sha, "inputs": args, "inputs_truncated": False, "inputs_size": len(text),
            "retryable": not isinstance(exc, (TypeError, ValueError, ZeroDivisionError))}


class Elf:
    def __init__(self, api, slots):
        self.api, self.slots, self.held, self.lock = api, slots, {}, threading.Lock()
        self.stop = threading.Event()
        self.versions = {name: version(name, fn) for name, fn in TASKS.items()}

    def heartbeat(self, every):
        while not self.stop.wait(every):
            with self.lock:
                leases = list(self.held.values())
            status, answer = self.api.post(f"/api/elves/{self.instance}/heartbeat", {"held": leases})
            if status != 200:
                print(f"heartbeat refused ({status}): {answer}", file=sys.stderr)

    def run_one(self, claimed):
        lease, name = claimed["lease"], claimed["task"]
        with self.lock:
            self.held[lease["job"]] = lease
        sha = self.versions[name]["sha"]
        try:
            args = resolve(claimed["args"], {job: value for job, value in claimed["inputs"]})
            value = TASKS[name](*args) if isinstance(args, list) else TASKS[name](args)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded
            path, doc = "fail", {"lease": lease, "report": report(exc, claimed["args"], sha)}
        else:
            path, doc = "complete", {"completions": [{"lease": lease, "ran_sha": sha, "value": value}]}
        status, answer = self.api.post(f"/api/elves/{self.instance}/{path}", doc)
        if status != 200:
            print(f"{path} of job {lease['job']} refused ({status}): {answer.get('error')}", file=sys.stderr)
        with self.lock:
            self.held.pop(lease["job"], None)

    def serve(self):
        status, reg = self.api.post("/api/elves", {"elf": ELF, "tasks": list(self.versions.values()),
                                                   "slots": self.slots, "pid": os.getpid(),
                                                   "build": {"version": "0.1.0", "program": "python3 " + HERE}})
        if status != 201:
            sys.exit(f"error: registration refused ({status}): {reg.get('error')}")
        self.instance = reg["instance"]
        threading.Thread(target=self.heartbeat, args=(reg["heartbeat_ms"] / 1000,), daemon=True).start()
        print(f"elf {ELF} ready: instance {self.instance} serving {len(TASKS)} task(s)", flush=True)
        while not self.stop.is_set():
            status, answer = self.api.post(f"/api/elves/{self.instance}/claim", {"max": 1, "wait_ms": 500})
            if status != 200:
                print(f"claim refused ({status}): {answer.get('error')}", file=sys.stderr)
                self.stop.wait(1.0)
                continue
            for claimed in answer["claimed"]:
                self.run_one(claimed)
        self.api.post(f"/api/elves/{self.instance}/bye", {})


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default=os.environ.get("MYCELIUM_HTTP", "http://127.0.0.1:7070"))
    p.add_argument("--token", default=os.environ.get("MYCELIUM_TOKEN", ""))
    p.add_argument("--slots", type=int, default=1)
    a = p.parse_args()
    elf = Elf(Api(a.url, a.token), a.slots)
    signal.signal(signal.SIGTERM, lambda *_: elf.stop.set())
    try:
        elf.serve()
    except KeyboardInterrupt:
        elf.stop.set()
        elf.api.post(f"/api/elves/{elf.instance}/bye", {})


if __name__ == "__main__":
    main()
