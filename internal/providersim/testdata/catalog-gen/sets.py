# Hand-written DJ-set tracklists (invented set names; real, well-known artist/track names).
# A line is "Artist - Title"; lines repeated across sets are deliberate.
SETS = [
("Warehouse Warm-Up (Melodic & Breaks) 2025-10-04", """
Bicep - Glue
Four Tet - Baby
Bicep - Apricots (Extended Mix)
Overmono - So U Kno
Bicep feat. Clara La San - Saku
Jamie xx - Gosh
Floating Points - Ratio
Caribou - Never Come Back
Ross From Friends - Talk To Me You'll Understand
Peggy Gou - Starry Night
Kölsch - Grey
Âme - Rej (Original Mix)
Bonobo - Kerala
Orbital - Halcyon On + On
Fred again.. & The Blessed Madonna - Marea (We've Lost Dancing)
Leftfield - Open Up
Bicep - Atlas
ID - ID
Joy Orbison - Hyph Mngo
"""),
("Techno Peak Time Marathon 2025-02-15", """
Charlotte de Witte - Selected
Amelie Lens - Higher
Adam Beyer & Bart Skils - Your Mind
Enrico Sangiuliano - Symbiosis
Ben Klock - Subzero
Jeff Mills - The Bells
Plastikman - Spastik
Underworld - Born Slippy .NUXX
Slam - Positive Education
Green Velvet - Flash
Pan-Pot - Confronted
Joey Beltram - Energy Flash
Sven Väth - L'Esperanza
Paula Temple - Gegen
Charlotte de Witte - Doppler
Dubfire - Ribcage
Adam Beyer - Space Date
Cirez D - On Off
ID - ID
"""),
("Chicago to Detroit (Classics Hour) 2024-11-30", """
Mr. Fingers - Can You Feel It
Phuture - Acid Tracks
Rhythim Is Rhythim - Strings Of Life
Inner City - Good Life
Frankie Knuckles pres. Satoshi Tomiie - Tears
Lil Louis - French Kiss
Jeff Mills - The Bells
Robin S - Show Me Love (Stonebridge Remix)
Crystal Waters - Gypsy Woman (She's Homeless)
MK - Burning
Roy Davis Jr. feat. Peven Everett - Gabriel (Live Garage Version)
DJ Sneak - You Can't Hide From Your Bud
Masters At Work feat. India - To Be In Love
Larry Heard pres. Mr. White - The Sun Can't Compare
Ten City - Devotion
Kerri Chandler - Rain
Moodymann - Shades Of Jae
Theo Parrish - Falling Up (Carl Craig Remix)
Laurent Garnier - The Man With The Red Face
Josh Wink - Higher State Of Consciousness
"""),
("French Touch & Filter House Night 2025-05-24", """
Daft Punk - Da Funk
Stardust - Music Sounds Better With You
Modjo - Lady (Hear Me Tonight)
Cassius - 1999
Mr. Oizo - Flat Beat
Justice vs. Simian - We Are Your Friends
Daft Punk - One More Time
Laurent Garnier - Crispy Bacon
Armand Van Helden - You Don't Know Me
Basement Jaxx - Where's Your Head At
Boys Noize - & Down
Gesaffelstein - Pursuit
The Chemical Brothers - Hey Boy Hey Girl
Fatboy Slim - Right Here, Right Now
Todd Terje - Inspector Norse
Lindstrøm - I Feel Space
Röyksopp - Eple
Röyksopp & Robyn - Do It Again
Daft Punk - One More Time (Radio Edit)
"""),
("Trance Classics Throwback 2025-01-11", """
ATB - 9 PM (Till I Come)
Paul van Dyk - For An Angel
Above & Beyond pres. OceanLab - Satellite
Energy 52 - Café Del Mar
Binary Finary - 1998
Darude - Sandstorm
Faithless - Insomnia
Sasha - Xpander
BT - Flaming June
Tiësto - Adagio For Strings
Chicane - Saltwater
Eric Prydz - Opus
Underworld - Born Slippy .NUXX
Energy 52 - Cafe Del Mar (Three 'N One Remix)
The Prodigy - Out Of Space
Hardfloor - Acperience 1
Orbital - Halcyon On + On
Josh Wink - Higher State Of Consciousness
ID - ID
"""),
("Tech House Terrace Party 2025-07-19", """
FISHER - Losing It
Chris Lake - Turn Off The Lights (feat. Alexis Roberts)
CamelPhat & Elderbrook - Cola
MK & Dom Dolla - Rhyme Dust
Dom Dolla - San Frandisco
John Summit - Where You Are (feat. Hayla)
Patrick Topping - Be Sharp Say Nowt
Jamie Jones - My Paradise
Mau P - Drugs From Amsterdam
Green Velvet & Harvard Bass - Lazer Beams
Mochakk - Jealous
Eats Everything - Entrance Song
Oliver Heldens - Gecko (Overdrive)
Prospa - Prayer
Armand Van Helden - You Don't Know Me
Green Velvet - Flash
Robin S - Show Me Love (Stonebridge Remix)
FISHER - Losing It (Extended Mix)
Stardust - Music Sounds Better With You
"""),
("Melodic Techno Sunrise 2025-08-30", """
Stephan Bodzin - Singularity
Tale Of Us & Vaal - Monument
Anyma & Chris Avantgarde - Eternity
Monolink - Return To Oz (ARTBAT Remix)
ARTBAT & WhoMadeWho - Closer
Boris Brejcha - Gravity
Maceo Plex - Conjure Dreams
Rüfüs Du Sol - Innerbloom
Rüfüs Du Sol - Innerbloom (What So Not Remix)
Ben Böhmer - Beyond Beliefs
Ben Böhmer feat. Nathan Nicholson - Breathing
Lane 8 - Brightest Lights (feat. POLIÇA)
Yotto - Hyperfall
Kölsch - Grey
Âme - Rej
Henrik Schwarz, Âme & Dixon - Where We At (Version 1)
Trentemøller - Moan
Röyksopp - What Else Is There? (Trentemøller Remix)
Eric Prydz - Opus
Bicep - Glue
"""),
("UK Garage & Bass Selector 2025-04-12", """
Sammy Virji - If U Need It
Eliza Rose & Interplanetary Criminal - B.O.T.A. (Baddest Of Them All)
Disclosure - Latch (feat. Sam Smith)
Disclosure - You & Me (Flume Remix)
Duke Dumont - Ocean Drive
Joy Orbison - Hyph Mngo
Burial - Archangel
Julio Bashmore - Au Seve
Overmono - Good Lies
Overmono - So U Kno
Skrillex, Fred again.. & Flowdan - Rumble
Four Tet x Skrillex x Fred again.. - Baby again..
Fred again.. - Delilah (pull me out of this)
Denis Sulta - It's Only Real
Barry Can't Swim - Dance Of The Crab
Chaos In The CBD - Midnight In Peckham
DJ Seinfeld - Time Spent Away From U
Mall Grab - Pool Party Music
Fred again.. & The Blessed Madonna - Marea (We've Lost Dancing)
"""),
("Deep House Sunday Session 2025-03-09", """
Kerri Chandler - Bar A Thym
Dennis Ferrer - Hey Hey
Maya Jane Coles - What They Say
Art Department - Without You
Motor City Drum Ensemble - Raw Cuts #3
Larry Heard pres. Mr. White - The Sun Can't Compare
Moodymann - Shades Of Jae
Nora En Pure - Come With Me
Claptone - No Eyes (feat. Jaw)
Black Coffee feat. Bucie - Superman
&ME, Rampa & Adam Port - Muyè
Adam Port, Stryv & Keinemusik - Move (feat. Malachiii)
Dusky (2) - Nobody Else
Jayda G - Both Of Us
Kerri Chandler - Rain
Moloko - Sing It Back (Boris Musical Mix)
Solomun - Kackvogel
Âme - Rej (Original Mix)
Nicolas Jaar - Mi Mujer
"""),
("Berlin Afterhours 2024-12-28", """
Ricardo Villalobos - Dexter
Oxia - Domino
Paul & Fritz Kalkbrenner - Sky And Sand
Mathew Jonson - Decompression
Dubfire - Ribcage
Ben Klock - Subzero
Sven Väth - L'Esperanza
Adam Beyer & Bart Skils - Your Mind
Joris Voorn - Incident
Kink (3) - Perth
Daniel Avery - Drone Logic
DJ Koze - Pick Up
DJ Koze feat. Róisín Murphy - Illumination
Moderat - A New Error
Jon Hopkins - Open Eye Signal
Plastikman - Spastik
Charlotte de Witte - Selected
Gesaffelstein - Pursuit
ID - ID
"""),
("Festival Main Stage Anthems 2025-06-21", """
Swedish House Mafia - Don't You Worry Child (feat. John Martin)
Avicii - Levels
Deadmau5 - Strobe
deadmau5 & Kaskade - I Remember
Eric Prydz - Call On Me
Eric Prydz - Pjanoo
Tiësto - Adagio For Strings
Purple Disco Machine - Hypnotized
Purple Disco Machine x Sophie and the Giants - In The Dark
Duke Dumont - Ocean Drive
Disclosure - Latch (feat. Sam Smith)
CamelPhat & Elderbrook - Cola
FISHER - Losing It
Fred again.. - Delilah (pull me out of this)
Daft Punk - One More Time
Darude - Sandstorm
Faithless - Insomnia
Avicii - Levels (Radio Edit)
Eric Prydz - Opus (Extended Mix)
"""),
("Balearic Disco & Leftfield Grooves 2025-09-13", """
Peggy Gou - (It Goes Like) Nanana
Peggy Gou - It Makes You Forget (Itgehane)
Peggy Gou - Starry Night
KAYTRANADA - Glowed Up (feat. Anderson .Paak)
Todd Terje - Inspector Norse
Lindstrøm - I Feel Space
Jamie xx - Loud Places (feat. Romy)
Jamie xx - Idontknow
Caribou - Never Come Back
Floating Points - Ratio
Four Tet - Two Thousand and Seventeen
Kiasmos - Blurred
Bonobo - Kerala
Prospa (2) - Prayer
Barry Can't Swim - Dance Of The Crab
Röyksopp - Eple
Bicep - Glue (Hammer Remix)
Jayda G - Both Of Us
ID - ID (Bicep Remix)
"""),
("Rave Heritage B2B 2025-11-01", """
The Prodigy - Out Of Space
Joey Beltram - Energy Flash
Carl Cox - I Want You (Forever)
Hardfloor - Acperience 1
Phuture - Acid Tracks
Underworld - Born Slippy .NUXX
Leftfield - Open Up
Orbital - Halcyon On + On
Slam - Positive Education
Laurent Garnier - Crispy Bacon
The Chemical Brothers - Hey Boy Hey Girl
Fatboy Slim - Right Here, Right Now
Aphex Twin - Xtal
DJ Hell - My Definition Of House Music
Rhythim Is Rhythim - Strings Of Life
Jeff Mills - The Bells
Sasha - Xpander
Bicep - Glue
Bicep - ID
"""),
]
