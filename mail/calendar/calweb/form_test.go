package calweb

import (
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// pageForm returns what a browser sends of the form with id on page:
// its fields with their values (checked boxes and radios only, a
// select's chosen option, a textarea's text), no submit button.
func pageForm(t testing.TB, page, id string) url.Values {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	form := find(doc, func(n *html.Node) bool { return n.Data == "form" && attr(n, "id") == id })
	if form == nil {
		t.Fatalf("no form #%s on the page:\n%s", id, page)
	}
	v := url.Values{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			name := attr(n, "name")
			switch {
			case name == "":
			case n.Data == "input" && (attr(n, "type") == "checkbox" || attr(n, "type") == "radio"):
				if has(n, "checked") {
					v.Add(name, attr(n, "value"))
				}
			case n.Data == "input":
				v.Add(name, attr(n, "value"))
			case n.Data == "textarea":
				v.Add(name, text(n))
			case n.Data == "select":
				v.Add(name, selected(n))
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(form)
	return v
}

func selected(sel *html.Node) string {
	first := find(sel, func(n *html.Node) bool { return n.Data == "option" })
	if o := find(sel, func(n *html.Node) bool { return n.Data == "option" && has(n, "selected") }); o != nil {
		return attr(o, "value")
	}
	if first != nil {
		return attr(first, "value")
	}
	return ""
}

func find(n *html.Node, ok func(*html.Node) bool) *html.Node {
	if n.Type == html.ElementNode && ok(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, ok); f != nil {
			return f
		}
	}
	return nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func has(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

func text(n *html.Node) string {
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return b.String()
}
