"""Builds the catalog world from the sample lines (deterministic)."""
import collections
from model import *
from facts import YEARS, POP, COUNTRY

FAMILY_BY_SET = {
 1: ("Electronic", ["Breakbeat", "Techno", "Downtempo"], ["electronic", "breakbeat"]),
 2: ("Electronic", ["Techno"], ["techno"]),
 3: ("Electronic", ["House", "Deep House", "Acid House"], ["house", "chicago house"]),
 4: ("Electronic", ["French House", "Disco", "Electro"], ["french house", "house"]),
 5: ("Electronic", ["Trance", "Progressive Trance"], ["trance"]),
 6: ("Electronic", ["Tech House", "House"], ["tech house"]),
 7: ("Electronic", ["Progressive House", "Techno", "Minimal"], ["melodic techno", "progressive house"]),
 8: ("Electronic", ["UK Garage", "Bass Music", "Breakbeat"], ["uk garage", "bass"]),
 9: ("Electronic", ["Deep House", "House"], ["deep house"]),
 10: ("Electronic", ["Minimal", "Tech House", "Techno"], ["minimal techno", "techno"]),
 11: ("Electronic", ["Progressive House", "Electro House"], ["edm", "progressive house"]),
 12: ("Electronic", ["Nu-Disco", "Balearic", "Disco"], ["nu disco", "balearic"]),
 13: ("Electronic", ["Breakbeat", "Acid House", "Big Beat", "Techno"], ["rave", "breakbeat"]),
}
LABELS = {
 "bicep": "Ninja Tune", "four-tet": "Text Records", "overmono": "XL Recordings", "jamie-xx": "Young",
 "floating-points": "Ninja Tune", "caribou": "City Slang", "ross-from-friends": "Brainfeeder", "peggy-gou": "Ninja Tune",
 "kolsch": "Kompakt", "ame": "Innervisions", "bonobo": "Ninja Tune", "orbital": "FFRR", "fred-again": "Atlantic",
 "leftfield": "Hard Hands", "joy-orbison": "Hotflush Recordings", "charlotte-de-witte": "KNTXT", "amelie-lens": "Lenske",
 "adam-beyer": "Drumcode", "enrico-sangiuliano": "Drumcode", "ben-klock": "Ostgut Ton", "jeff-mills": "Axis",
 "plastikman": "Plus 8 Records", "underworld": "Junior Boy's Own", "slam": "Soma Quality Recordings",
 "green-velvet": "Relief Records", "pan-pot": "Mobilee", "joey-beltram": "R&S Records", "sven-vath": "Eye Q Records",
 "paula-temple": "R&S Records", "dubfire": "SCI+TEC", "cirez-d": "Mouseville", "mr-fingers": "Trax Records",
 "phuture": "Trax Records", "rhythim-is-rhythim": "Transmat", "inner-city": "KMS", "frankie-knuckles": "Virgin",
 "lil-louis": "FFRR", "robin-s": "Champion", "crystal-waters": "A&M Records", "mk": "Area 10", "roy-davis-jr": "XL Recordings",
 "dj-sneak": "Henry Street Music", "masters-at-work": "MAW Records", "larry-heard": "Alleviated Records",
 "ten-city": "Atlantic", "kerri-chandler": "Madhouse Records", "moodymann": "KDJ", "theo-parrish": "Sound Signature",
 "laurent-garnier": "F Communications", "josh-wink": "Ovum Recordings", "daft-punk": "Virgin", "stardust": "Roulé",
 "modjo": "Sound Of Barclay", "cassius": "Virgin", "mr-oizo": "F Communications", "justice": "Ed Banger Records",
 "armand-van-helden": "FFRR", "basement-jaxx": "XL Recordings", "boys-noize": "Boysnoize Records",
 "gesaffelstein": "Turbo Recordings", "the-chemical-brothers": "Virgin", "fatboy-slim": "Skint",
 "todd-terje": "Olsen Records", "lindstrom": "Feedelity", "royksopp": "Wall Of Sound", "atb": "Kontor Records",
 "paul-van-dyk": "MFS", "above-and-beyond": "Anjunabeats", "energy-52": "Eye Q Records", "binary-finary": "Positiva",
 "darude": "16 Inch Records", "faithless": "Cheeky Records", "sasha": "Deconstruction", "bt": "Perfecto",
 "tiesto": "Black Hole Recordings", "chicane": "Xtravaganza", "eric-prydz": "Pryda", "the-prodigy": "XL Recordings",
 "hardfloor": "Harthouse", "fisher": "Catch & Release", "chris-lake": "Black Book Records", "camelphat": "Defected Records",
 "mk-x": "Columbia", "dom-dolla": "Sweat It Out!", "john-summit": "Experts Only", "patrick-topping": "Hot Creations",
 "jamie-jones": "Hot Creations", "mau-p": "Insomniac Records", "mochakk": "Hot Creations", "eats-everything": "Dirtybird",
 "oliver-heldens": "Spinnin' Records", "prospa": "Rave Science", "stephan-bodzin": "Herzblut", "tale-of-us": "Afterlife",
 "anyma": "Afterlife", "monolink": "Embassy One", "artbat": "Diynamic", "boris-brejcha": "Fckng Serious",
 "maceo-plex": "Ellum Audio", "rufus-du-sol": "Sweat It Out!", "ben-bohmer": "Anjunadeep", "lane-8": "This Never Happened",
 "yotto": "Anjunadeep", "henrik-schwarz": "Innervisions", "trentemoller": "Poker Flat Recordings", "sammy-virji": "Warner Records",
 "eliza-rose": "Rosebud Recordings", "disclosure": "PMR Records", "duke-dumont": "Virgin EMI Records", "burial": "Hyperdub",
 "julio-bashmore": "PMR Records", "skrillex": "OWSLA", "denis-sulta": "Sulta Selects", "barry-can-t-swim": "Ninja Tune",
 "chaos-in-the-cbd": "In Hindsight", "dj-seinfeld": "Lobster Theremin", "mall-grab": "Hot Haus Recs",
 "dennis-ferrer": "Defected Records", "maya-jane-coles": "Real Tone Records", "art-department": "Crosstown Rebels",
 "motor-city-drum-ensemble": "MCDE", "nora-en-pure": "Enormous Tunes", "claptone": "Exploited", "black-coffee": "Soulistic Music",
 "and-me": "Keinemusik", "adam-port": "Keinemusik", "dusky": "17 Steps", "jayda-g": "Ninja Tune", "moloko": "Echo",
 "solomun": "Diynamic", "nicolas-jaar": "Circus Company", "ricardo-villalobos": "Perlon", "oxia": "Kompakt",
 "paul-kalkbrenner": "BPitch Control", "mathew-jonson": "Wagon Repair", "joris-voorn": "Rejected", "kink": "Running Back",
 "daniel-avery": "Phantasy Sound", "dj-koze": "Pampa Records", "moderat": "BPitch Control", "jon-hopkins": "Domino",
 "swedish-house-mafia": "Virgin", "avicii": "LE7ELS", "deadmau5": "mau5trap", "purple-disco-machine": "Columbia",
 "kaytranada": "XL Recordings", "kiasmos": "Erased Tapes", "carl-cox": "Perfecto", "aphex-twin": "Apollo",
 "dj-hell": "Disko B",
}
CATNO_PREFIX = {"Ninja Tune": "ZEN", "Drumcode": "DC", "KNTXT": "KNTXT", "Innervisions": "IV", "Kompakt": "KOMPAKT",
 "XL Recordings": "XLS", "Trax Records": "TX", "Afterlife": "AL", "Diynamic": "DIY", "Hot Creations": "HOTC",
 "Anjunadeep": "ANJDEE", "Defected Records": "DFTD", "Ostgut Ton": "O-TON", "Virgin": "VST", "Keinemusik": "KM"}
ALBUMS = {
 "bicep--glue": ("Bicep", 2017), "bicep--apricots": ("Isles", 2021), "bicep--saku": ("Isles", 2021), "bicep--atlas": ("Isles", 2021),
 "four-tet--baby": ("Sixteen Oceans", 2020), "jamie-xx--gosh": ("In Colour", 2015), "jamie-xx--loud-places": ("In Colour", 2015),
 "caribou--never-come-back": ("Suddenly", 2020), "floating-points--ratio": ("Crush", 2019), "kolsch--grey": ("1989", 2015),
 "bonobo--kerala": ("Migration", 2017), "orbital--halcyon-on-on": ("Orbital 2", 1993), "leftfield--open-up": ("Leftism", 1995),
 "daft-punk--da-funk": ("Homework", 1997), "daft-punk--one-more-time": ("Discovery", 2001), "moderat--a-new-error": ("Moderat", 2009),
 "jon-hopkins--open-eye-signal": ("Immunity", 2013), "peggy-gou--it-goes-like-nanana": ("I Hear You", 2024),
 "rufus-du-sol--innerbloom": ("Bloom", 2016), "royksopp--eple": ("Melody A.M.", 2001), "royksopp--what-else-is-there": ("The Understanding", 2005),
 "todd-terje--inspector-norse": ("It's Album Time", 2014), "disclosure--latch": ("Settle", 2013), "disclosure--you-and-me": ("Settle", 2013),
 "avicii--levels": ("True", 2013), "deadmau5--strobe": ("For Lack Of A Better Name", 2009), "the-prodigy--out-of-space": ("Experience", 1992),
 "the-chemical-brothers--hey-boy-hey-girl": ("Surrender", 1999), "fatboy-slim--right-here-right-now": ("You've Come A Long Way, Baby", 1998),
 "basement-jaxx--where-s-your-head-at": ("Rooty", 2001), "faithless--insomnia": ("Reverence", 1996), "moloko--sing-it-back": ("I Am Not A Doctor", 1998),
 "dj-koze--pick-up": ("Knock Knock", 2018), "dj-koze--illumination": ("Knock Knock", 2018), "daniel-avery--drone-logic": ("Drone Logic", 2013),
 "ben-bohmer--beyond-beliefs": ("Breathing", 2019), "ben-bohmer--breathing": ("Breathing", 2019), "lane-8--brightest-lights": ("Brightest Lights", 2020),
 "fred-again--delilah-pull-me-out-of-this": ("Actual Life 3 (January 1 - September 9 2022)", 2022), "overmono--good-lies": ("Good Lies", 2023),
 "jamie-xx--idontknow": ("In Waves", 2024), "kiasmos--blurred": ("Kiasmos", 2014), "burial--archangel": ("Untrue", 2007),
 "trentemoller--moan": ("The Last Resort", 2006), "nicolas-jaar--mi-mujer": ("Space Is Only Noise", 2011),
 "paul-kalkbrenner-fritz-kalkbrenner--sky-and-sand": ("Berlin Calling", 2008), "underworld--born-slippy-nuxx": ("Trainspotting", 1996),
 "chicane--saltwater": ("Behind The Sun", 2000), "darude--sandstorm": ("Before The Storm", 2000), "aphex-twin--xtal": ("Selected Ambient Works 85-92", 1992),
 "four-tet--two-thousand-and-seventeen": ("New Energy", 2017), "purple-disco-machine--hypnotized": ("Exotica", 2021),
}
COMPILATIONS = [  # invented compilation titles: (title, label, year, family sets)
 ("Warehouse Anthems 2019", "Ministry Of Sound", 2019, {1, 6, 8, 11}),
 ("Club Classics Volume Three", "Defected Records", 2016, {3, 4, 9}),
 ("Techno Essentials 2021", "Drumcode", 2021, {2, 10, 13}),
 ("Deep House Selection 04", "Defected Records", 2018, {9, 3}),
 ("Ibiza Terrace Sessions 2022", "Ministry Of Sound", 2022, {6, 7, 11, 12}),
 ("Trance Nation Classics", "Ministry Of Sound", 2009, {5, 13}),
 ("Late Night Electronica", "Ninja Tune", 2020, {1, 12, 7}),
 ("Rave Heritage 1988-1999", "Virgin", 2012, {13, 3, 5, 4}),
 ("Melodic Techno Anthems 2023", "Afterlife", 2023, {7, 10}),
 ("Bass & Garage Annual 2024", "XL Recordings", 2024, {8}),
]
COMPILATION_LABEL_PREFIX = {"Ministry Of Sound": "MOSCD", "Defected Records": "ITH", "Drumcode": "DCCOMP", "Ninja Tune": "ZENCD",
 "Virgin": "VTDCD", "Afterlife": "ALCOMP", "XL Recordings": "XLCD"}
REMIXERS = ["Solomun", "Tale Of Us", "Patrick Topping", "Dixon", "Maceo Plex", "Joris Voorn", "Ben Böhmer", "Adriatique",
            "Mind Against", "Kerri Chandler", "Dennis Ferrer", "Âme", "Kölsch", "Ewan McVicar", "KETTAMA", "Sasha", "Axwell",
            "Dubfire", "Amelie Lens", "Reinier Zonneveld", "Ame", "Claude VonStroke", "Eats Everything", "Mall Grab"]
REMIXERS = [r for r in REMIXERS if r != "Ame"]
# decoys: another artist's song with the same title, and tribute acts (invented names)
DECOYS = [
 ("Queen", "Flash", 1980, "GB", 168000), ("Craig David", "Insomnia", 2008, "GB", 214000), ("Nick Jonas", "Levels", 2015, "US", 203000),
 ("John Mayer", "Gravity", 2006, "US", 245000), ("Nine Inch Nails", "Closer", 1994, "US", 373000),
 ("Justin Bieber feat. Ludacris", "Baby", 2010, "CA", 214000), ("Coldplay", "Atlas", 2013, "GB", 236000),
 ("Lana Del Rey", "Cola", 2012, "US", 260000), ("Steely Dan", "Do It Again", 1972, "US", 356000),
 ("Röyksopp & Robyn", "Monument", 2014, "NO", 602000), ("The Beatles", "Rain", 1966, "GB", 180000),
 ("Kate Bush", "Breathing", 1980, "GB", 329000), ("OneRepublic", "Good Life", 2010, "US", 253000),
 ("Eminem", "Superman", 2002, "US", 350000), ("Robbie Williams", "Eternity", 2001, "GB", 302000),
 ("Lena", "Satellite", 2010, "DE", 174000), ("Fleetwood Mac", "Hypnotized", 1973, "US", 288000),
 ("Creed", "Higher", 1999, "US", 316000), ("Labrinth", "Jealous", 2014, "GB", 285000),
 ("Future Dance Tribute Allstars", "Levels (Tribute Version)", 2012, "GB", 198000),
 ("Future Dance Tribute Allstars", "Latch (Tribute Version)", 2014, "GB", 252000),
 ("Ibiza Lounge Collective", "Ocean Drive (Chillout Version)", 2016, "ES", 231000),
 ("Ibiza Lounge Collective", "Cola (Chillout Version)", 2018, "ES", 224000),
 ("Workout Beats Crew", "Losing It (Workout Mix)", 2019, "US", 198000),
 ("Workout Beats Crew", "Sandstorm (Workout Mix)", 2015, "US", 205000),
 ("Piano Covers Club", "Opus (Piano Version)", 2017, "GB", 251000),
 ("Piano Covers Club", "One More Time (Piano Version)", 2016, "GB", 198000),
 ("Bicep Tribute", "Glue", 2021, "GB", 247000),
 ("DJ Mixed Hits", "Glue - Mixed", 2019, "GB", 171000),
]
SCENARIO_OVERRIDE = {
 "id--id": "absent_all", "bicep--id": "absent_all", "ben-bohmer--breathing": "absent_all", "kiasmos--blurred": "absent_all",
 "bicep--glue": "full", "eric-prydz--opus": "full", "daft-punk--one-more-time": "full", "avicii--levels": "full",
 "fisher--losing-it": "full", "energy-52--cafe-del-mar": "full", "tale-of-us-vaal--monument": "no_spotify",
 "green-velvet--flash": "full", "disclosure--latch": "full", "duke-dumont--ocean-drive": "full",
 "orbital--halcyon-on-on": "full", "eric-prydz--call-on-me": "wrong_version",
}
MISSING_RECORDINGS = {"bicep--glue--hammer-remix", "id--id--bicep-remix"}

def artist_slug(name):
    return slug(name)

def country_of(skey):
    a = skey.split("--")[0]
    for c, names in COUNTRY.items():
        for n in names.split():
            if a == n or a.startswith(n + "-"):
                return c
    return ["GB", "US", "DE", "NL", "FR", "SE", "BE", "AU"][h("country", a) % 8]

def label_of(skey, set_no):
    a = skey.split("--")[0]
    for k in sorted(LABELS, key=len, reverse=True):
        if a == k or a.startswith(k + "-"):
            return LABELS[k]
    pool = ["Defected Records", "Toolroom", "Kompakt", "Ninja Tune", "Hot Creations", "Drumcode"]
    return pool[h("label", skey) % len(pool)]

def scenario_of(skey):
    if skey in SCENARIO_OVERRIDE:
        return SCENARIO_OVERRIDE[skey]
    f = frac("scenario", skey)
    for lim, s in ((0.07, "no_spotify"), (0.15, "no_discogs"), (0.21, "no_musicbrainz"), (0.24, "absent_all"), (0.30, "wrong_version")):
        if f < lim:
            return s
    return "full"

def duration_for(skey, version, orig_dur=None):
    pop = skey in POP
    v = version.lower()
    f = frac("dur", skey, version)
    if v == "":
        d = 195000 + f * 65000 if pop else 330000 + f * 150000
    elif v == "extended mix":
        d = 300000 + f * 120000 if pop else (orig_dur or 400000) + 45000 + f * 65000
    elif v == "radio edit":
        d = 165000 + f * 50000
    else:
        d = 300000 + f * 160000
    return int(d) // 1000 * 1000 + h("ms", skey, version) % 1000
