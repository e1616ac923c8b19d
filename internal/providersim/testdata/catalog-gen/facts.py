# Approximate first-release years and a per-song "kind" (pop = radio-length plain title,
# club = long Original Mix). Years are approximate; the catalog is illustrative.
YEARS = {
"bicep--glue":2017,"four-tet--baby":2019,"bicep--apricots":2020,"overmono--so-u-kno":2020,"bicep--saku":2021,
"jamie-xx--gosh":2015,"floating-points--ratio":2019,"caribou--never-come-back":2019,
"ross-from-friends--talk-to-me-you-ll-understand":2016,"peggy-gou--starry-night":2019,"kolsch--grey":2015,
"ame--rej":2006,"bonobo--kerala":2017,"orbital--halcyon-on-on":1992,"fred-again-the-blessed-madonna--marea-we-ve-lost-dancing":2020,
"leftfield--open-up":1993,"bicep--atlas":2020,"joy-orbison--hyph-mngo":2009,"charlotte-de-witte--selected":2018,
"amelie-lens--higher":2019,"adam-beyer-bart-skils--your-mind":2018,"enrico-sangiuliano--symbiosis":2017,
"ben-klock--subzero":2009,"jeff-mills--the-bells":1997,"plastikman--spastik":1993,"underworld--born-slippy-nuxx":1996,
"slam--positive-education":1993,"green-velvet--flash":1995,"pan-pot--confronted":2008,"joey-beltram--energy-flash":1990,
"sven-vath--l-esperanza":1993,"paula-temple--gegen":2013,"charlotte-de-witte--doppler":2020,"dubfire--ribcage":2006,
"adam-beyer--space-date":2014,"cirez-d--on-off":2009,"mr-fingers--can-you-feel-it":1986,"phuture--acid-tracks":1987,
"rhythim-is-rhythim--strings-of-life":1987,"inner-city--good-life":1988,"frankie-knuckles-satoshi-tomiie--tears":1989,
"lil-louis--french-kiss":1989,"robin-s--show-me-love":1993,"crystal-waters--gypsy-woman-she-s-homeless":1991,
"mk--burning":1991,"roy-davis-jr--gabriel":1996,"dj-sneak--you-can-t-hide-from-your-bud":1996,
"masters-at-work--to-be-in-love":1997,"larry-heard-mr-white--the-sun-can-t-compare":2005,"ten-city--devotion":1987,
"kerri-chandler--rain":1998,"moodymann--shades-of-jae":1999,"theo-parrish--falling-up":2003,
"laurent-garnier--the-man-with-the-red-face":2000,"josh-wink--higher-state-of-consciousness":1995,
"daft-punk--da-funk":1995,"stardust--music-sounds-better-with-you":1998,"modjo--lady-hear-me-tonight":2000,
"cassius--1999":1999,"mr-oizo--flat-beat":1999,"justice-simian--we-are-your-friends":2006,"daft-punk--one-more-time":2000,
"laurent-garnier--crispy-bacon":1997,"armand-van-helden--you-don-t-know-me":1999,"basement-jaxx--where-s-your-head-at":2001,
"boys-noize--and-down":2007,"gesaffelstein--pursuit":2013,"the-chemical-brothers--hey-boy-hey-girl":1999,
"fatboy-slim--right-here-right-now":1999,"todd-terje--inspector-norse":2012,"lindstrom--i-feel-space":2005,
"royksopp--eple":2001,"royksopp-robyn--do-it-again":2014,"atb--9-pm-till-i-come":1998,"paul-van-dyk--for-an-angel":1994,
"above-and-beyond-oceanlab--satellite":2004,"energy-52--cafe-del-mar":1993,"binary-finary--1998":1998,
"darude--sandstorm":1999,"faithless--insomnia":1995,"sasha--xpander":1999,"bt--flaming-june":1997,
"tiesto--adagio-for-strings":2004,"chicane--saltwater":1999,"eric-prydz--opus":2015,"the-prodigy--out-of-space":1992,
"hardfloor--acperience-1":1992,"fisher--losing-it":2018,"chris-lake--turn-off-the-lights":2017,"camelphat-elderbrook--cola":2017,
"mk-dom-dolla--rhyme-dust":2023,"dom-dolla--san-frandisco":2019,"john-summit--where-you-are":2023,
"patrick-topping--be-sharp-say-nowt":2015,"jamie-jones--my-paradise":2015,"mau-p--drugs-from-amsterdam":2022,
"green-velvet-harvard-bass--lazer-beams":2011,"mochakk--jealous":2023,"eats-everything--entrance-song":2011,
"oliver-heldens--gecko-overdrive":2014,"prospa--prayer":2020,"stephan-bodzin--singularity":2015,
"tale-of-us-vaal--monument":2017,"anyma-chris-avantgarde--eternity":2021,"monolink--return-to-oz":2018,
"artbat-whomadewho--closer":2022,"boris-brejcha--gravity":2018,"maceo-plex--conjure-dreams":2012,
"rufus-du-sol--innerbloom":2015,"ben-bohmer--beyond-beliefs":2019,"ben-bohmer--breathing":2019,"lane-8--brightest-lights":2020,
"yotto--hyperfall":2017,"henrik-schwarz-ame-dixon--where-we-at-version-1":2007,"trentemoller--moan":2006,
"royksopp--what-else-is-there":2005,"sammy-virji--if-u-need-it":2022,
"eliza-rose-interplanetary-criminal--b-o-t-a-baddest-of-them-all":2022,"disclosure--latch":2012,"disclosure--you-and-me":2013,
"duke-dumont--ocean-drive":2015,"burial--archangel":2007,"julio-bashmore--au-seve":2011,"overmono--good-lies":2023,
"skrillex-fred-again-flowdan--rumble":2022,"skrillex-four-tet-fred-again--baby-again":2023,
"fred-again--delilah-pull-me-out-of-this":2022,"denis-sulta--it-s-only-real":2016,"barry-can-t-swim--dance-of-the-crab":2023,
"chaos-in-the-cbd--midnight-in-peckham":2015,"dj-seinfeld--time-spent-away-from-u":2017,"mall-grab--pool-party-music":2016,
"kerri-chandler--bar-a-thym":2006,"dennis-ferrer--hey-hey":2009,"maya-jane-coles--what-they-say":2010,
"art-department--without-you":2011,"motor-city-drum-ensemble--raw-cuts-3":2008,"nora-en-pure--come-with-me":2013,
"claptone--no-eyes":2013,"black-coffee--superman":2009,"and-me-rampa-adam-port--muye":2022,
"adam-port-stryv-keinemusik--move":2024,"dusky--nobody-else":2014,"jayda-g--both-of-us":2020,"moloko--sing-it-back":1999,
"solomun--kackvogel":2009,"nicolas-jaar--mi-mujer":2011,"ricardo-villalobos--dexter":2003,"oxia--domino":2007,
"paul-kalkbrenner-fritz-kalkbrenner--sky-and-sand":2008,"mathew-jonson--decompression":2004,"joris-voorn--incident":2004,
"kink--perth":2012,"daniel-avery--drone-logic":2013,"dj-koze--pick-up":2018,"dj-koze--illumination":2018,
"moderat--a-new-error":2009,"jon-hopkins--open-eye-signal":2013,"swedish-house-mafia--don-t-you-worry-child":2012,
"avicii--levels":2011,"deadmau5--strobe":2009,"deadmau5-kaskade--i-remember":2008,"eric-prydz--call-on-me":2004,
"eric-prydz--pjanoo":2008,"purple-disco-machine--hypnotized":2020,"purple-disco-machine-sophie-and-the-giants--in-the-dark":2022,
"peggy-gou--it-goes-like-nanana":2023,"peggy-gou--it-makes-you-forget-itgehane":2018,"kaytranada--glowed-up":2016,
"jamie-xx--loud-places":2015,"jamie-xx--idontknow":2020,"four-tet--two-thousand-and-seventeen":2017,"kiasmos--blurred":2014,
"carl-cox--i-want-you-forever":1991,"aphex-twin--xtal":1992,"dj-hell--my-definition-of-house-music":1992,
}
POP = set("""disclosure--latch duke-dumont--ocean-drive swedish-house-mafia--don-t-you-worry-child avicii--levels
eric-prydz--call-on-me modjo--lady-hear-me-tonight stardust--music-sounds-better-with-you daft-punk--one-more-time
robin-s--show-me-love crystal-waters--gypsy-woman-she-s-homeless royksopp-robyn--do-it-again
purple-disco-machine-sophie-and-the-giants--in-the-dark purple-disco-machine--hypnotized camelphat-elderbrook--cola
john-summit--where-you-are chris-lake--turn-off-the-lights eliza-rose-interplanetary-criminal--b-o-t-a-baddest-of-them-all
fred-again--delilah-pull-me-out-of-this peggy-gou--it-goes-like-nanana kaytranada--glowed-up jamie-xx--loud-places
darude--sandstorm faithless--insomnia atb--9-pm-till-i-come fatboy-slim--right-here-right-now
the-chemical-brothers--hey-boy-hey-girl basement-jaxx--where-s-your-head-at armand-van-helden--you-don-t-know-me
moloko--sing-it-back black-coffee--superman adam-port-stryv-keinemusik--move claptone--no-eyes ben-bohmer--breathing
lane-8--brightest-lights royksopp--eple mk-dom-dolla--rhyme-dust fisher--losing-it sammy-virji--if-u-need-it
skrillex-fred-again-flowdan--rumble the-prodigy--out-of-space dom-dolla--san-frandisco oliver-heldens--gecko-overdrive
mau-p--drugs-from-amsterdam disclosure--you-and-me inner-city--good-life chicane--saltwater""".split())
COUNTRY = {"GB": "bicep four-tet overmono jamie-xx floating-points ross-from-friends kolsch orbital fred-again leftfield joy-orbison underworld slam dubfire basement-jaxx the-chemical-brothers fatboy-slim chicane sasha the-prodigy camelphat patrick-topping jamie-jones eats-everything disclosure duke-dumont burial julio-bashmore denis-sulta barry-can-t-swim chaos-in-the-cbd mall-grab maya-jane-coles art-department dusky jayda-g moloko daniel-avery jon-hopkins eric-prydz-x above-and-beyond faithless",
           "US": "jeff-mills green-velvet joey-beltram mr-fingers phuture inner-city frankie-knuckles lil-louis robin-s crystal-waters mk roy-davis-jr dj-sneak masters-at-work larry-heard ten-city kerri-chandler moodymann theo-parrish josh-wink armand-van-helden bt chris-lake john-summit dom-dolla mau-p skrillex kaytranada dennis-ferrer",
           "DE": "sven-vath paula-temple boris-brejcha ben-bohmer ame henrik-schwarz solomun moderat dj-koze paul-kalkbrenner stephan-bodzin atb paul-van-dyk dj-hell hardfloor nora-en-pure claptone and-me adam-port",
           "FR": "daft-punk stardust modjo cassius mr-oizo justice laurent-garnier gesaffelstein oxia",
           "SE": "adam-beyer eric-prydz cirez-d swedish-house-mafia avicii",
           "BE": "charlotte-de-witte amelie-lens",
           "NO": "todd-terje lindstrom royksopp",
           "NL": "joris-voorn tiesto oliver-heldens binary-finary energy-52 pan-pot",
           "AU": "fisher prospa rufus-du-sol",
           "CA": "deadmau5 caribou"}
