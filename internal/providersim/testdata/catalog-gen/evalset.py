"""The labelled evaluation set (testdata/eval/cases.jsonl) and the catalog entries it needs.

build.py calls extend(globals()) after the sample world is built and before the catalog is
written, then write_cases(globals()) at the end. extend() appends the eval-only songs of
evalsongs.py (artists, recordings, releases); it never touches a sample entity, so every id
the sample relies on stays the same. write_cases() labels every case from the world model:
the expected id at each provider is that of the recording the case names, or null when that
recording does not exist there (or when the case names none: only wrong versions or wrong
artists exist). See testdata/eval/README.md.
"""
import json, os, re

from model import *
from evalsongs import SONGS, SIMPLE, HOLDOUT, COMPILATION_NAMES, DISCOGS_NAMES, PLACEHOLDERS, HOLDOUT_PLACEHOLDERS
import evalpatterns

SIMPLE_REMIXERS = ["Solomun", "Dixon", "Maceo Plex", "Joris Voorn", "Kerri Chandler", "Patrick Topping", "Adriatique",
                   "Mind Against", "Eats Everything", "Dennis Ferrer", "KETTAMA", "Mall Grab"]


def simple_song(credit, title, year, fam, kind):
    """An everyday line (evalsongs.SIMPLE) as a song spec: deterministic choices by hash."""
    name = credit if isinstance(credit, str) else "".join(n + j for n, j in credit)
    key = slug(name) + "--" + slug(title)
    pick = lambda what, n: h("simple", what, key) % n
    remixer = SIMPLE_REMIXERS[pick("remixer", len(SIMPLE_REMIXERS))]
    if remixer.lower() in name.lower():
        remixer = "Dixon"
    patterns = [["Extended Mix"], ["Radio Edit"], ["Radio Edit", "Extended Mix"], ["Dub"], [remixer + " Remix"],
                ["Radio Edit", remixer + " Remix"]]
    if kind == "pop":
        patterns = patterns[:3] + [["Extended Mix", remixer + " Remix"]]
    others = patterns[pick("pattern", len(patterns))]
    main = [v for v in others if not v.endswith("Remix")]
    rmx = [v for v in others if v.endswith("Remix")]
    rels = ["single: " + "|".join([""] + main)]
    if rmx:
        rels.append("single: " + rmx[0] + "; title=" + title + " (" + rmx[0] + "); dy=1")
    if frac("simple-comp", key) < 0.45:
        comp = COMPILATION_NAMES[pick("comp", len(COMPILATION_NAMES))]
        rels.append("comp: ; title=" + comp + "; dy=" + str(1 + pick("compyear", 3)))
    f = frac("simple-query", key)
    want = "" if f < 0.78 else others[pick("want", len(others))]
    if want == "":
        t = title + (" (Original Mix)" if frac("simple-om", key) < 0.15 else "")
        note = "everyday line: the original" + ("; '(Original Mix)' in the scrape" if t != title else "")
    elif frac("simple-dash", key) < 0.2:
        t, note = f"{title} - {want}", "everyday line: dashed version"
    else:
        t, note = f"{title} ({want})", "everyday line: " + want.lower()
    hints = {}
    g2 = frac("simple-hint", key)
    if g2 < 0.05:
        hints, note = {"isrc": "want"}, note + "; ISRC hint"
    elif g2 < 0.10:
        hints, note = {"sp": "want"}, note + "; Spotify id hint"
    elif g2 < 0.48:
        hints = {"dur": "want"}
    q = (name if frac("simple-case", key) >= 0.06 else name.upper(), t, want, hints, note)
    return dict(a=credit, t=title, y=year, fam=fam, kind=kind, v=[""] + others, r=rels, q=[q])

PROV = {"s": "spotify", "m": "musicbrainz", "d": "discogs"}
RANK = {"single": 0, "ep": 0, "album": 1, "compilation": 2}


def _providers(letters):
    return [PROV[c] for c in "smd" if c in letters]


def _split_version(spec):
    """'Extended Mix@sm' -> ('Extended Mix', 'sm'); '' -> ('', 'smd')."""
    name, _, p = spec.partition("@")
    return name.strip(), (p or "smd")


def _duration(skey, version, kind, orig, opts):
    if "d" in opts:
        return opts["d"]
    v = version.lower()
    f = frac("evaldur", skey, version)
    if v == "":
        d = 195000 + f * 60000 if kind == "pop" else 340000 + f * 130000
    elif "extended" in v:
        d = (orig or 400000) + 50000 + f * 60000 if kind != "pop" else 290000 + f * 90000
    elif "radio" in v or v == "edit" or v.endswith(" edit"):
        d = 170000 + f * 45000
    elif "instrumental" in v:
        d = orig + 2000 + f * 4000  # as long as the original: only the title tells them apart
    elif "cappella" in v or "acapella" in v:
        d = 120000 + f * 90000
    elif "vip" in v:
        d = 300000 + f * 60000
    else:
        d = 330000 + f * 140000
    return int(d) // 1000 * 1000 + h("evalms", skey, version) % 1000


def extend(g):
    """Adds the eval-only songs to the world held in build.py's globals g."""
    recordings, releases, artists = g["recordings"], g["releases"], g["artists"]
    add_artist, mk_release = g["add_artist"], g["mk_release"]
    used_keys = {r["key"] for r in releases}
    sample_songs = set(g["songs"])
    comp_names = iter(COMPILATION_NAMES)
    comps = {}  # compilation title -> release dict
    g["eval_songs"] = songs = []
    tagged = [(spec, None) for spec in SONGS + [simple_song(*x) for x in SIMPLE] + HOLDOUT]
    tagged += [(spec, "sealed") for spec in evalpatterns.SEALED] + [(spec, "tuning") for spec in evalpatterns.TUNING]
    for spec, part in tagged:
        if "a" not in spec:
            # lines about recordings that other songs define ("@<recording key>")
            songs.append(dict(skey=None, spec=spec, credit=[], base=None, recs={}, part=part))
            continue
        credit_spec = parse_artists(spec["a"]) if isinstance(spec["a"], str) else list(spec["a"])
        base, year, fam, kind = spec["t"], spec["y"], spec["fam"], spec.get("kind", "club")
        main = []
        for n, j in credit_spec:
            main.append(n)
            if j == " feat. ":
                break
        skey = spec.get("key") or slug(" ".join(main)) + "--" + slug(base)
        assert skey not in sample_songs, "eval song collides with a sample song: " + skey
        assert skey not in {s["skey"] for s in songs}, "duplicate eval song " + skey
        credit = [dict(artist=add_artist(n), join=j) for n, j in credit_spec]
        # "cred": how this song's records name an artist (a former name, a name variation):
        # MusicBrainz's credited name and Discogs' ANV; Spotify shows today's name.
        for c, (n, _) in zip(credit, credit_spec):
            if n in spec.get("cred", {}):
                c["name"] = spec["cred"][n]
        # every name after "feat.": "Moss Kena & The Knocks"
        fi = next((i for i, (n, j) in enumerate(credit_spec) if j == " feat. "), None)
        feat_name = "".join(n + j for n, j in credit_spec[fi + 1:]).strip() if fi is not None else None
        song = dict(skey=skey, spec=spec, credit=credit, base=base, recs={}, part=part)
        songs.append(song)
        orig = _duration(skey, "", kind, 0, {})
        for vspec in spec.get("v", []):
            opts = {}
            if isinstance(vspec, tuple):
                vspec, opts = vspec
            version, letters = _split_version(vspec)
            rk = rec_key(skey, opts.get("as", version))
            assert rk not in recordings, "duplicate recording " + rk
            rmx = opts["rmx"] if "rmx" in opts else remixer_of(version)
            if opts.get("plain"):
                rmx = None
            remixers = []
            if rmx:
                for n, _ in parse_artists(rmx):
                    remixers.append(add_artist(n))
            d = _duration(skey, version, kind, orig, opts)
            if version == "":
                orig = d
            sp_base = base + (f" (feat. {feat_name})" if feat_name and spec.get("feat_in_title") else "")
            title = f"{base} ({version})" if version and not opts.get("plain") else base
            st = f"{sp_base} - {version}" if version and not opts.get("plain") else sp_base
            if version == "" and spec.get("sp_original_mix"):
                st = f"{sp_base} - Original Mix"
            dt = title
            if version == "" and spec.get("dg_original_mix"):
                dt = f"{base} (Original Mix)"
            if spec.get("dg_feat_in_title") and feat_name:
                dt = dt.replace(base, f"{base} (feat. {feat_name})", 1)
            ry = year + opts.get("year_offset", 0 if version in ("", "Extended Mix", "Radio Edit") else 1)
            recordings[rk] = dict(
                key=rk, song=skey, base=base, version=version, remixer=rmx, duration_ms=d, year=ry,
                isrc=isrc_for(rk, spec.get("country", "GB"), ry),
                title=opts.get("mt", title), spotify_title=opts.get("st", st), discogs_title=opts.get("dt", dt),
                credit=credit, remixers=remixers, providers=_providers(letters),
                mb_has_isrc=opts.get("mbisrc", frac("evalmbisrc", rk) < 0.75),
                popularity=int((55 if kind == "pop" else 25) + 30 * frac("evalpop", skey)) - (0 if version == "" else 8 + h("evalpv", rk) % 12),
                tags=g["FAMILY_BY_SET"][fam][2], mbid=mbid("recording", rk), eval=True)
            song["recs"][version] = rk
            if "as" in opts:
                song["recs"][opts["as"]] = rk
        label = spec.get("label") or g["label_of"](skey, fam)
        for i, rspec in enumerate(spec.get("r", [])):
            parts = [p.strip() for p in rspec.split(";")]
            rkind, _, vers = parts[0].partition(":")
            rkind = rkind.strip()
            vlist = [v.strip() for v in vers.split("|")] if vers.strip() or "|" in vers else [""]
            ropts = dict(p.split("=", 1) for p in parts[1:])
            recs = [song["recs"][v] for v in vlist if v in song["recs"]]
            assert len(recs) == len(vlist), f"{skey}: release {rspec!r} names a missing version"
            prov = _providers(ropts.get("p", "smd"))
            ryear = year + int(ropts.get("dy", "0"))
            if rkind == "comp":
                ctitle = ropts.get("title") or next(comp_names)
                rel = comps.get(ctitle)
                if rel is None:
                    key = "eval-compilation--" + slug(ctitle)
                    rel = mk_release(key, ctitle, "compilation", [dict(artist=g["various"], join="")], ryear,
                                     ropts.get("label", "Ministry Of Sound"), fam, [], prov)
                    rel["catno"] = "EVCD" + str(100 + h("evcat", key) % 800)
                    comps[ctitle] = rel
                for rk in recs:
                    rel["tracks"].append(dict(recording=rk, position=str(len(rel["tracks"]) + 1),
                                              spotify_id=spotify_id("track", rel["key"] + "|" + rk),
                                              mb_track_id=mbid("track", rel["key"] + "|" + rk)))
            else:
                key = f"{skey}--{rkind}--{i}"
                assert key not in used_keys
                used_keys.add(key)
                rtitle = ropts.get("title") or (base + (" EP" if rkind == "ep" else ""))
                rcredit = credit if rkind != "album" else [credit[0] | {"join": ""}]
                if "credit" in ropts:
                    rcredit = [dict(artist=add_artist(n), join=j) for n, j in parse_artists(ropts["credit"])]
                rel = mk_release(key, rtitle, rkind, rcredit, ryear, ropts.get("label", label), fam, recs, prov,
                                 precise=True, master=skey if i == 0 else None)
            if "have" in ropts:
                rel["have"] = int(ropts["have"])
    for name, dname in DISCOGS_NAMES.items():
        artists[slug(name)]["discogs_name"] = dname
    for name, aliases in evalpatterns.ALIASES.items():
        assert slug(name) in artists, "aliases of an unknown artist " + name
        artists[slug(name)]["aliases"] = aliases


def _pick(placements):
    """The preferred placement: single or EP before album before compilation, then earliest."""
    return min(placements, key=lambda p: (RANK[p[0]["type"]], p[0]["date"], p[1]))


def expect_for(g, rk):
    """Expected ids of recording rk at each provider (None where it does not exist)."""
    out = {"spotify": None, "musicbrainz": None, "discogs": None}
    if rk is None or rk not in g["recordings"]:
        return out
    rec = g["recordings"][rk]
    placed = {p: [] for p in out}
    for idx, rel in enumerate(g["releases"]):
        for t in rel["tracks"]:
            if t["recording"] == rk:
                for p in out:
                    if p in rel["providers"] and p in rec["providers"]:
                        placed[p].append((rel, idx, t))
    if placed["spotify"]:
        rel, _, t = min(placed["spotify"], key=lambda x: (RANK[x[0]["type"]], x[0]["date"], x[1]))
        out["spotify"] = t["spotify_id"]
    if "musicbrainz" in rec["providers"]:
        out["musicbrainz"] = rec["mbid"]
    if placed["discogs"]:
        rel, _, _ = min(placed["discogs"], key=lambda x: (RANK[x[0]["type"]], x[0]["date"], x[1]))
        out["discogs"] = rel["discogs_id"]
    return out


def _hint_values(g, rk, hints, case_key, song=None):
    out = {}
    rec = g["recordings"].get(rk) if rk else None
    for k, v in hints.items():
        if k == "dur":
            if isinstance(v, int):
                out["duration_ms"] = v
            elif isinstance(v, str) and v.startswith("@"):
                # the length of another recording (a trap: the line names another one)
                out["duration_ms"] = round(g["recordings"][v[1:]]["duration_ms"] / 1000) * 1000
            elif isinstance(v, str) and v.startswith("v:"):
                # the length of another version of the song (a trap: the line names none)
                out["duration_ms"] = round(g["recordings"][song["recs"][v[2:]]]["duration_ms"] / 1000) * 1000
            else:
                off = v[1] if isinstance(v, tuple) else 0
                out["duration_ms"] = round((rec["duration_ms"] + off) / 1000) * 1000
        elif k == "isrc":
            out["isrc"] = rec["isrc"] if v == "want" else v
        elif k == "sp":
            if v == "stale":
                out["spotify_id"] = spotify_id("stale", case_key)
            else:
                out["spotify_id"] = expect_for(g, rk)["spotify"]
                assert out["spotify_id"], case_key + ": spotify hint for a track Spotify lacks"
        elif k == "mb":
            out["musicbrainz_id"] = rec["mbid"]
        else:
            raise ValueError("unknown hint " + k)
    return out


def write_cases(g):
    root = g["ROOT"]
    cases = []
    # 1. Every distinct artist+title of the sample, with the hints of its first line.
    seen = set()
    sample = {}
    with open(root + "/testdata/sample/tracks.jsonl") as fh:
        for line in fh:
            m = json.loads(line)
            sample[m["track_id"]] = m
    for l in g["L"]:
        tid = f"set{l['set_no']:02d}-t{l['pos']:02d}"
        pair = (l["artist"], l["title"])
        if pair in seen:
            continue
        seen.add(pair)
        m = sample[tid]
        rk = l["rkey"]
        placeholder = g["is_id"](l["skey"])
        song = g["songs"][l["skey"]]
        exp = expect_for(g, None if placeholder else rk)
        if placeholder:
            note = "sample; placeholder: no provider request"
        elif rk not in g["recordings"]:
            sc = song.get("scenario")
            note = {"absent_all": "sample; absent everywhere (only same-title songs by others, if any)",
                    "wrong_version": "sample; only other versions exist"}.get(sc, "sample; requested version does not exist")
        else:
            sc = song.get("scenario")
            missing = [p for p, v in exp.items() if v is None]
            note = "sample" + (f"; missing at {', '.join(missing)}" if missing else "")
            if l["version"]:
                note += f"; version {l['version']}"
        c = {"track_id": tid, "artist": l["artist"], "title": l["title"]}
        for k in ("duration_ms", "isrc", "spotify_id"):
            if k in m:
                c[k] = m[k]
        if placeholder:
            c["placeholder"] = True
        c["expect"] = exp
        c["note"] = note
        cases.append(c)
    # 2. The eval-only songs' queries; those of the tuning set and the sealed hold-out of
    # issue 16 (evalpatterns.py) go to files of their own.
    n = 0
    parts = {"sealed": ("hold", []), "tuning": ("tune", [])}
    for song in g["eval_songs"]:
        for q in song["spec"].get("q", []):
            artist, title, want = q[0], q[1], q[2]
            hints = q[3] if len(q) > 3 else {}
            note = q[4] if len(q) > 4 else ""
            if song["part"]:
                prefix, out = parts[song["part"]]
                tid = f"{prefix}-{len(out) + 1:03d}"
            else:
                n += 1
                tid = f"eval-{n:03d}"
                out = cases
            if want is not None and want.startswith("@"):
                rk = want[1:]
                assert rk in g["recordings"], f"{artist} - {title}: no recording {rk}"
            else:
                rk = song["recs"].get(want) if want is not None else None
            assert want is None or rk, f"{tid}: {artist} - {title}: no recording {want!r}"
            c = {"track_id": tid, "artist": artist, "title": title}
            c.update(_hint_values(g, rk, hints, tid, song))
            c["expect"] = expect_for(g, rk)
            c["note"] = note
            out.append(c)
    for artist, title, note in PLACEHOLDERS + HOLDOUT_PLACEHOLDERS:
        n += 1
        cases.append({"track_id": f"eval-{n:03d}", "artist": artist, "title": title, "placeholder": True,
                      "expect": expect_for(g, None), "note": note + ": no provider request"})
    for part, (prefix, out) in parts.items():
        for artist, title, note in (evalpatterns.SEALED_PLACEHOLDERS if part == "sealed" else evalpatterns.TUNING_PLACEHOLDERS):
            out.append({"track_id": f"{prefix}-{len(out) + 1:03d}", "artist": artist, "title": title, "placeholder": True,
                        "expect": expect_for(g, None), "note": note + ": no provider request"})
    os.makedirs(root + "/testdata/eval", exist_ok=True)
    with open(root + "/testdata/eval/cases.jsonl", "w") as fh:
        for c in cases:
            fh.write(json.dumps(c, ensure_ascii=False) + "\n")
    for name, (_, out) in (("holdout", parts["sealed"]), ("tuning", parts["tuning"])):
        with open(root + f"/testdata/eval/{name}.jsonl", "w") as fh:
            for c in out:
                fh.write(json.dumps(c, ensure_ascii=False) + "\n")
        nm = sum(1 for c in out if any(v is None for v in c["expect"].values()))
        print(name, len(out), "cases, with a no-match provider", nm)
    nomatch = sum(1 for c in cases if any(v is None for v in c["expect"].values()))
    print("eval cases", len(cases), "sample", len(seen), "eval-only", n, "with a no-match provider", nomatch)
