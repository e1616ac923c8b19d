"""Shared model for the sample data and the simulator catalog (deterministic)."""
import hashlib, re, unicodedata
from sets import SETS

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

def h(*parts):
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest(), "big")

def frac(*parts):
    return (h(*parts) % 1_000_000) / 1_000_000

def spotify_id(kind, key):
    n = h("spotify", kind, key); s = ""
    for _ in range(22):
        n, r = divmod(n, 62); s += B62[r]
    return s

def mbid(kind, key):
    x = bytearray(hashlib.sha256(f"mb\x1f{kind}\x1f{key}".encode()).digest()[:16])
    x[6] = (x[6] & 0x0F) | 0x40; x[8] = (x[8] & 0x3F) | 0x80
    s = x.hex()
    return f"{s[:8]}-{s[8:12]}-{s[12:16]}-{s[16:20]}-{s[20:]}"

def discogs_id(kind, key, lo=1_000_000, span=30_000_000):
    return lo + h("discogs", kind, key) % span

def slug(s):
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c)).lower()
    s = s.replace("ø", "o").replace("&", " and ")
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-")

# scraped artist string -> canonical credit [(name, joinphrase-after)]
ARTIST_OVERRIDES = {
    "Paul & Fritz Kalkbrenner": [("Paul Kalkbrenner", " & "), ("Fritz Kalkbrenner", "")],
    "Above & Beyond pres. OceanLab": [("Above & Beyond", " presents "), ("OceanLab", "")],
    "Four Tet x Skrillex x Fred again..": [("Skrillex", ", "), ("Four Tet", " & "), ("Fred again..", "")],
    "Deadmau5": [("deadmau5", "")],
    "Rüfüs Du Sol": [("RÜFÜS DU SOL", "")],
    "Dusky (2)": [("Dusky", "")],
    "Kink (3)": [("KiNK", "")],
    "Prospa (2)": [("Prospa", "")],
    "Tiësto": [("Tiësto", "")],
}
SEP = re.compile(r"( feat\. | pres\. | vs\. | x |, | & )")
JOIN_CANON = {" feat. ": " feat. ", " pres. ": " presents ", " vs. ": " vs. ", " x ": " x ", ", ": ", ", " & ": " & "}

def parse_artists(s):
    if s in ARTIST_OVERRIDES:
        return list(ARTIST_OVERRIDES[s])
    parts = SEP.split(s)
    names, joins = parts[0::2], [JOIN_CANON[j] for j in parts[1::2]] + [""]
    out = []
    for n, j in zip(names, joins):
        n = re.sub(r"\s\(\d+\)$", "", n)
        out.append((n, j))
    return out

VERSION_RE = re.compile(r"\b(mix|remix|edit|version|dub|vip|rework|instrumental)\b", re.I)

def parse_title(t):
    """-> base, version ('' = original), featured artist or None"""
    feat = None
    m = re.search(r"\s\(feat\. ([^)]+)\)", t)
    if m:
        feat = m.group(1); t = t[:m.start()] + t[m.end():]
    version = ""
    m = re.search(r"\s\(([^()]+)\)$", t)
    if m and VERSION_RE.search(m.group(1)) and not m.group(1).lower().startswith("version "):
        version = m.group(1); t = t[:m.start()]
    if version.lower() == "original mix":
        version = ""
    return t.strip(), version, feat

def remixer_of(version):
    m = re.match(r"(.+?) (Remix|Edit|Rework|Dub)$", version)
    if m and m.group(1).lower() not in ("radio", "extended", "club", "original", "dub"):
        return m.group(1)
    return None

def song_key(artists, base):
    return slug(" ".join(n for n, _ in artists if True)) + "--" + slug(base)

def rec_key(skey, version):
    return skey + "--" + (slug(version) or "original")

def isrc_for(rkey, country, year):
    reg = "".join(B62[10 + h("isrcreg", rkey[:rkey.index("--")]) // (26 ** i) % 26] for i in range(3)).upper()
    return f"{country}{reg}{year % 100:02d}{h('isrcnum', rkey) % 100000:05d}"

def lines():
    out = []
    for si, (name, block) in enumerate(SETS, 1):
        for ti, l in enumerate([x.strip() for x in block.strip().splitlines()], 1):
            artist, title = l.split(" - ", 1)
            out.append(dict(set_no=si, set_name=name, pos=ti, artist=artist, title=title))
    return out

def song_of(artist, title):
    arts = parse_artists(artist)
    base, version, feat = parse_title(title)
    if feat:
        arts[-1] = (arts[-1][0], " feat. "); arts.append((feat, ""))
    # credit: featured artists after main ones; song identity uses main artists only
    main = []
    for n, j in arts:
        main.append(n)
        if j == " feat. ":
            break
    skey = slug(" ".join(main)) + "--" + slug(base)
    return dict(artists=arts, base=base, version=version, feat_in_title=bool(feat), skey=skey,
                rkey=rec_key(skey, version))
