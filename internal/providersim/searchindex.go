package providersim

import (
	"slices"
	"strings"
	"sync"
)

// searchIndex holds the folded words of every searchable field, computed once per
// catalog so a search costs a scan, not a re-tokenisation.
type searchIndex struct {
	spotify []spDoc // parallel to catalogIndex.spotifyTracks
	mb      []mbDoc // recordings MusicBrainz knows
	discogs []dgDoc // releases Discogs knows
}

type spDoc struct {
	name, artists, album, all []string
}

type dgDoc struct {
	rel                                 *Release
	artists, title, all, label, country []string
	artistsTitle                        []string // artists then title: the "title" parameter's field
	genres, styles, formats             []string
	tracks                              [][]string
}

type lazySearch struct {
	once sync.Once
	idx  *searchIndex
}

func (c *Catalog) search() *searchIndex {
	c.lazy.once.Do(func() { c.lazy.idx = c.buildSearchIndex() })
	return c.lazy.idx
}

func (c *Catalog) buildSearchIndex() *searchIndex {
	si := &searchIndex{}
	for _, p := range c.index.spotifyTracks {
		d := spDoc{name: words(p.rec.SpotifyTitle), album: words(p.rel.Title)}
		for _, cr := range p.rec.Artists {
			d.artists = append(d.artists, words(c.artist(cr.Artist).Name)...)
		}
		for _, id := range p.rec.Remixers {
			d.artists = append(d.artists, words(c.artist(id).Name)...)
		}
		d.all = slices.Concat(d.name, d.artists, d.album)
		si.spotify = append(si.spotify, d)
	}
	for i := range c.Recordings {
		if rec := &c.Recordings[i]; rec.Has(ProviderMusicBrainz) {
			si.mb = append(si.mb, c.mbDocOf(rec))
		}
	}
	for i := range c.Releases {
		rel := &c.Releases[i]
		if !rel.Has(ProviderDiscogs) {
			continue
		}
		d := dgDoc{rel: rel, title: words(rel.Title), label: words(rel.Label), country: words(rel.Country),
			genres: words(strings.Join(rel.Genres, " ")), styles: words(strings.Join(rel.Styles, " ")),
			formats: words(strings.Join(formatStrings(rel.Formats), " "))}
		for _, cr := range rel.Artists {
			d.artists = append(d.artists, c.dgCreditWords(cr)...)
		}
		var trackAll []string
		for _, t := range rel.Tracks {
			rec := c.index.recordings[t.Recording]
			if !rec.Has(ProviderDiscogs) {
				continue
			}
			tw := words(rec.DiscogsTitle)
			d.tracks = append(d.tracks, tw)
			trackAll = append(trackAll, tw...)
			for _, cr := range rec.Artists {
				d.artists = append(d.artists, c.dgCreditWords(cr)...)
			}
			for _, id := range rec.Remixers {
				d.artists = append(d.artists, words(c.artist(id).DiscogsName)...)
			}
		}
		d.all = slices.Concat(d.artists, d.title, trackAll, d.label, words(rel.Catno))
		d.artistsTitle = slices.Concat(d.artists, d.title)
		si.discogs = append(si.discogs, d)
	}
	return si
}

// dgCreditWords are the words a Discogs artist search finds a credit by: the artist's
// Discogs name and the name variation (ANV) the credit uses, if any.
func (c *Catalog) dgCreditWords(cr Credit) []string {
	ws := words(c.artist(cr.Artist).DiscogsName)
	if cr.Name != "" {
		ws = append(ws, words(cr.Name)...)
	}
	return ws
}
