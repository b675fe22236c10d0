package msgview

import "golang.org/x/net/html/atom"

// allowedElements are the elements SanitizeHTML keeps: text structure,
// tables, lists, images and the presentational elements of mail HTML. An
// element not listed loses its tags and keeps its text, unless it is in
// dropWithContent. Not <bdo>: it shows text backwards, so that
// "moc.knab" reads as a bank's domain.
var allowedElements = map[atom.Atom]bool{
	atom.Abbr: true, atom.Acronym: true, atom.Address: true, atom.Article: true,
	atom.Aside: true, atom.B: true, atom.Bdi: true, atom.Big: true,
	atom.Blockquote: true, atom.Br: true, atom.Caption: true, atom.Center: true,
	atom.Cite: true, atom.Code: true, atom.Col: true, atom.Colgroup: true,
	atom.Dd: true, atom.Del: true, atom.Details: true, atom.Dfn: true, atom.Div: true,
	atom.Dl: true, atom.Dt: true, atom.Em: true, atom.Figcaption: true,
	atom.Figure: true, atom.Font: true, atom.Footer: true, atom.H1: true,
	atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true,
	atom.Header: true, atom.Hr: true, atom.I: true, atom.Img: true, atom.Ins: true,
	atom.Kbd: true, atom.Li: true, atom.Main: true, atom.Mark: true, atom.Nav: true,
	atom.Ol: true, atom.P: true, atom.Pre: true, atom.Q: true, atom.S: true,
	atom.Samp: true, atom.Section: true, atom.Small: true, atom.Span: true,
	atom.Strike: true, atom.Strong: true, atom.Sub: true, atom.Summary: true,
	atom.Sup: true, atom.Table: true, atom.Tbody: true, atom.Td: true,
	atom.Tfoot: true, atom.Th: true, atom.Thead: true, atom.Time: true,
	atom.Tr: true, atom.Tt: true, atom.U: true, atom.Ul: true, atom.Var: true,
	atom.Wbr: true,
}

// voidElements have no end tag.
var voidElements = map[atom.Atom]bool{
	atom.Area: true, atom.Base: true, atom.Br: true, atom.Col: true,
	atom.Embed: true, atom.Hr: true, atom.Img: true, atom.Input: true,
	atom.Keygen: true, atom.Link: true, atom.Meta: true, atom.Param: true,
	atom.Source: true, atom.Track: true, atom.Wbr: true,
}

// ignoredElements lose their tags silently: the document structure that
// a fragment does not need.
var ignoredElements = map[atom.Atom]bool{
	atom.Html: true, atom.Head: true, atom.Body: true,
}

// dropWithContent are the elements removed with everything in them:
// scripts, frames, plugins, forms' controls, media that fetch, foreign
// content (svg, math: other parsing rules, the ground of mutation XSS),
// and elements whose text is not meant to be shown (title, noscript:
// scripts are off in the frame, and the sanitizer cannot tell which
// branch a browser would take). Keyed by tag name, so that unknown
// names like "xss" that browsers treat as HTMLUnknownElement are not
// here.
var dropWithContent = map[string]bool{
	"script": true, "template": true, "svg": true, "math": true,
	"iframe": true, "frame": true, "frameset": true, "object": true,
	"embed": true, "applet": true, "noscript": true, "noembed": true,
	"noframes": true, "title": true, "textarea": true, "select": true,
	"datalist": true, "xmp": true, "plaintext": true,
	"audio": true, "video": true, "canvas": true, "map": true, "area": true,
	"base": true, "meta": true, "link": true, "input": true, "keygen": true,
	"param": true, "source": true, "track": true,
	"dialog": true, "portal": true, "fencedframe": true,
	"xml": true, "listing": true,
}

// allowedAttrs are the attributes kept on allowed elements (href, src and
// style are handled apart). No event handler (on*), no URL but those
// handled apart, no id or name (nothing for a sender's CSS or a link to
// target outside the message) and no form attributes.
var allowedAttrs = map[string]bool{
	"align": true, "alt": true, "bgcolor": true, "border": true,
	"cellpadding": true, "cellspacing": true, "class": true, "color": true,
	"colspan": true, "dir": true, "face": true, "height": true,
	"hspace": true, "lang": true, "rowspan": true, "size": true,
	"span": true, "start": true, "reversed": true, "summary": true,
	"title": true, "type": true, "valign": true, "vspace": true,
	"width": true, "nowrap": true, "scope": true, "headers": true,
	"abbr": true, "datetime": true, "open": true, "frame": true,
	"rules": true, "clear": true, "noshade": true, "value": true,
}
