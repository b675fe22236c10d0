package ui

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/internal/i18n"
)

// Party is the party's own look and language, set by the admin in the
// configuration ([party] name, logo_file, accent, language, time_zone):
// its name and logo in the page header, on the public link pages and in
// mail, its accent colour, and the language of people caucus knows
// nothing about yet.
type Party struct {
	Name     string         // e.g. "Partito Esempio"; "" shows "caucus"
	Language string         // default language, e.g. "it"; "" or unknown: English
	TimeZone *time.Location // nil: the server's local zone
	Accent   string         // "#rrggbb" or "#rgb"; "" keeps caucus's blue
	Logo     []byte         // PNG, JPEG, GIF or WebP; nil for none
	LogoType string         // its media type, set by ReadLogo
}

// MaxLogo bounds the size of the party's logo file.
const MaxLogo = 512 << 10

// ErrBadLogo reports a logo file that is too large or not an image caucus
// serves (PNG, JPEG, GIF, WebP; SVG is refused, as it may carry script).
var ErrBadLogo = errors.New("ui: the logo must be a PNG, JPEG, GIF or WebP file of at most 512 KiB")

var accentRE = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// ValidAccent reports whether s is a colour the accent may be: "#rgb" or
// "#rrggbb".
func ValidAccent(s string) bool { return accentRE.MatchString(s) }

// ReadLogo reads the logo file at path into p, checking its size and kind.
func (p *Party) ReadLogo(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("ui: logo: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxLogo+1))
	if err != nil {
		return fmt.Errorf("ui: logo: %w", err)
	}
	typ, ok := logoType(data)
	if !ok {
		return ErrBadLogo
	}
	p.Logo, p.LogoType = data, typ
	return nil
}

// logoType sniffs data (the WHATWG MIME Sniffing algorithm, as
// net/http does) and accepts only raster images within MaxLogo.
func logoType(data []byte) (string, bool) {
	if len(data) == 0 || len(data) > MaxLogo {
		return "", false
	}
	switch t := http.DetectContentType(data); t {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return t, true
	}
	return "", false
}

func (p Party) withDefaults() Party {
	if p.TimeZone == nil {
		p.TimeZone = time.Local
	}
	if !i18n.Builtin().Supported(p.Language) {
		p.Language = i18n.Fallback
	}
	if !ValidAccent(p.Accent) {
		p.Accent = ""
	}
	if _, ok := logoType(p.Logo); !ok {
		p.Logo, p.LogoType = nil, ""
	}
	return p
}

// DisplayName is the party's name, or "caucus" when it has none.
func (p Party) DisplayName() string {
	if p.Name == "" {
		return "caucus"
	}
	return p.Name
}

// Localizer is a localizer in the party's default language and zone.
func (p Party) Localizer() *i18n.Localizer {
	p = p.withDefaults()
	return i18n.Builtin().Localizer(p.Language, p.TimeZone)
}

// partyFuncs are the layout's functions about the party: its name, and
// whether it has a logo and an accent colour (served by [StaticFor]).
func partyFuncs(p Party) template.FuncMap {
	return template.FuncMap{
		"party":      p.DisplayName,
		"partyLogo":  func() bool { return p.Logo != nil },
		"partyStyle": func() bool { return p.Accent != "" },
	}
}

// StaticFor serves the shared stylesheet and script, and the party's
// accent colour (/static/party.css) and logo (/static/party-logo); mount
// it at /static/.
func StaticFor(p Party) http.Handler {
	p = p.withDefaults()
	files := Static()
	css := []byte(":root{--accent:" + p.Accent + ";--on-accent:" + onAccent(p.Accent) + "}\n")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/static/party.css":
			if p.Accent == "" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/css; charset=utf-8")
			w.Header().Set("Cache-Control", "public, max-age=3600")
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(css))
		case "/static/party-logo":
			if p.Logo == nil {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", p.LogoType)
			w.Header().Set("Content-Security-Policy", "sandbox; default-src 'none'")
			w.Header().Set("Cache-Control", "public, max-age=3600")
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(p.Logo))
		default:
			files.ServeHTTP(w, r)
		}
	})
}

// onAccent is the text colour that reads on the accent: black on a light
// colour, white on a dark one (relative luminance, WCAG 2.2 section 1.4.3).
func onAccent(accent string) string {
	if !ValidAccent(accent) {
		return "#fff"
	}
	h := accent[1:]
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	lum := 0.0
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, _ := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		c := float64(v) / 255
		if c <= 0.04045 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		lum += w * c
	}
	// Contrast with white (1.05/(L+0.05)) against black ((L+0.05)/0.05).
	if 1.05/(lum+0.05) >= (lum+0.05)/0.05 {
		return "#fff"
	}
	return "#000"
}

// PartyOf is the party of the configuration's [party] table, its logo
// read from party.logo_file: what cmd/caucus passes to login.WithParty.
func PartyOf(c config.Config) (Party, error) {
	p := Party{Name: c.PartyName(), Language: c.Party.Language, Accent: c.Party.Accent, TimeZone: c.Location()}
	if c.Party.LogoFile != "" {
		if err := p.ReadLogo(c.Party.LogoFile); err != nil {
			return Party{}, fmt.Errorf("party.logo_file: %w", err)
		}
	}
	return p, nil
}
