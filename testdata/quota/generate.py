#!/usr/bin/env python3
"""Writes testdata/quota/tracks.jsonl, the task set of `make quota` (see README.md here).

Deterministic: run it again and the file is the same. It takes every distinct artist+title pair of
the sample DJ sets (first occurrence, with its hints), then the "everyday line" cases of the
labelled set that the sample lacks, then adds repeats (the same pair under a new track_id, as the
next set plays it) and spelling variants (how another scraper writes the same recording).
"""
import json, random

rng = random.Random(14)
sample = [json.loads(l) for l in open("testdata/sample/tracks.jsonl")]
cases = [json.loads(l) for l in open("testdata/eval/cases.jsonl")]

def pair(t):
    return (t["artist"].strip().lower(), t["title"].strip().lower())

out, seen = [], set()
keep = ("artist", "title", "duration_ms", "isrc", "spotify_id", "priority")
for t in sample:
    if pair(t) in seen:
        continue
    seen.add(pair(t))
    out.append({"track_id": "q-" + t["track_id"], **{k: t[k] for k in keep if k in t}, "source": "quota:sample"})
for c in cases:
    if not c["note"].startswith("everyday line") or pair(c) in seen:
        continue
    seen.add(pair(c))
    out.append({"track_id": "q-" + c["track_id"], **{k: c[k] for k in keep if k in c}, "source": "quota:everyday"})
    if len(out) >= 252:
        break
distinct = list(out)

def variant(t, i):
    a, ti = t["artist"], t["title"]
    kinds = [
        lambda: (a.upper(), ti.lower()),                       # letter case
        lambda: ("  " + a.replace(" ", "  ") + " ", ti + "  "),  # white space
        lambda: (a.replace(" feat. ", " ft. ").replace(" & ", " and "), ti),
        lambda: (a, ti.replace(" (", " - ", 1).rstrip(")") if ti.endswith(")") else ti + " (Original Mix)"),
    ]
    va, vt = kinds[i % len(kinds)]()
    return {"track_id": f"q-var{i:03d}", "artist": va, "title": vt, "source": "quota:variant"}

picks = rng.sample(distinct, 60)
for i, t in enumerate(picks[:30]):
    r = {k: v for k, v in t.items() if k in ("artist", "title", "duration_ms")}
    out.append({"track_id": f"q-rep{i:03d}", **r, "source": "quota:repeat"})
for i, t in enumerate(picks[30:]):
    out.append(variant(t, i))
rng.shuffle(out)
with open("testdata/quota/tracks.jsonl", "w") as f:
    for t in out:
        f.write(json.dumps(t, ensure_ascii=False) + "\n")
print(len(out), "tasks,", len(distinct), "distinct,", len(out) - len(distinct), "repeats and variants")
