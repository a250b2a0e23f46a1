package timeline

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/agentops/progressive/rollout"
)

// pageStyle is all the styling the page has: it is inline, like everything
// else, so the file can be mailed, attached to a ticket or opened offline.
const pageStyle = `body{font-family:system-ui,sans-serif;margin:1.5rem;color:#111;background:#fff;max-width:1100px}
h1{font-size:1.3rem;margin:0 0 .3rem}h2{font-size:1.05rem;margin:1.4rem 0 .4rem}
.summary{color:#444;margin:0 0 1rem}figure{margin:0;overflow-x:auto}
ol.decisions li{margin:.15rem 0}ol.decisions .action{font-weight:600}
.rollback,.rolled-back,.aborted{color:#c62828}.advance,.promoted{color:#2e7d32}
time{font-variant-numeric:tabular-nums;color:#555}ul{padding-left:1.2rem}`

// HTML writes a self-contained page for the record: the SVG timeline inline,
// then the decisions, checks and learning as lists a person can read and
// search. It loads nothing, runs no script, and its Content-Security-Policy
// says so to the browser.
func HTML(w io.Writer, rec rollout.DecisionRecord, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	m := build(rec, opts)
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
	b.WriteString("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n")
	b.WriteString("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
	fmt.Fprintf(&b, "<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n", esc(m.title), pageStyle)
	fmt.Fprintf(&b, "<h1>%s</h1>\n", esc(m.title))
	if m.subtitle != "" {
		fmt.Fprintf(&b, "<p class=\"summary\">%s</p>\n", esc(m.subtitle))
	}
	if rec.Context.Reason != "" {
		fmt.Fprintf(&b, "<p class=\"context\">%s</p>\n", esc(rec.Context.Reason))
	}
	b.WriteString("<figure>\n")
	render(&b, m, opts)
	b.WriteString("</figure>\n")

	b.WriteString("<h2>Decisions</h2>\n<ol class=\"decisions\">\n")
	for i, d := range m.decisions {
		fmt.Fprintf(&b, "<li id=\"decision-%d\" class=\"%s\"><time datetime=\"%s\">%s</time> <span class=\"action\">%s</span>: %s</li>\n",
			i+1, esc(d.Action), d.Time.UTC().Format(time.RFC3339Nano), esc(d.Time.In(opts.Location).Format("15:04:05")), esc(d.Action), esc(d.Reason))
	}
	b.WriteString("</ol>\n")
	list(&b, "Checks", "checks", rec.Solution.Checks)
	list(&b, "Steps", "steps", rec.Solution.Steps)
	list(&b, "Learning", "learning", rec.Learning)
	b.WriteString("</body>\n</html>\n")
	_, err = io.WriteString(w, b.String())
	return err
}

func list(b *strings.Builder, title, class string, items []string) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(b, "<h2>%s</h2>\n<ul class=\"%s\">\n", title, class)
	for _, it := range items {
		fmt.Fprintf(b, "<li>%s</li>\n", esc(it))
	}
	b.WriteString("</ul>\n")
}
