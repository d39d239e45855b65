"""The knowledge browser: a static HTML page of a store's skills and guardrails with their
evidence, each evidence tuple linked to the episode it came from (`steve knowledge html`).

out/
    index.html                       contents (counts, links), a filter, then guardrails and
                                     skills: conditions, remedy or steps, confidence, use
                                     counts, evidence links
    episodes/<run>__<episode>.html   every attempt of a cited episode, from the store's
                                     tuples; the cited ones highlighted, each naming the
                                     knowledge that cites it and how to replay it

Only reads the store. Run directories (`runs`) are optional: with them, an episode page also
names the run directory, so `steve replay RUN --at EPISODE:STEP` can be copied from it.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import yaml

from knowledge.schema import ExperienceTuple, Guardrail, Skill
from knowledge.store import ledger_text

Ledger = dict[tuple[str, int], dict[str, int]]  # `ExperienceStore.ledger()`

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2330; }
table { border-collapse: collapse; width: 100%; margin-bottom: 28px; }
th, td { border-bottom: 1px solid #dde1ea; padding: 4px 8px; text-align: left;
         vertical-align: top; }
th { background: #f2f4f8; }
tr.retired td { color: #9aa0ad; }
tr:target { background: #fff3c4; }
tr.cited { background: #f8f2dc; }
code { font-size: 12px; }
.ok { color: #1f8a46; } .bad { color: #c0392b; }
a { color: #2456b3; text-decoration: none; }
.small { color: #6b7385; font-size: 12px; }
nav.contents { background: #f2f4f8; padding: 8px 14px; display: inline-block; }
nav.contents ul { margin: 4px 0; padding-left: 18px; }
#filter { width: 28em; }
"""

# The filter: the page is whole without it (the box stays hidden without JS); it hides the
# rows of both tables that do not contain every word typed, and says how many are left.
FILTER = """<p id="filter-box" hidden><label>Filter rows: <input type="search" id="filter"
placeholder="words all in a row, e.g. stick near:crafting_table"></label>
<span id="shown" class="small"></span></p>"""
FILTER_JS = """<script>
(function () {
  var box = document.getElementById("filter"), shown = document.getElementById("shown");
  var rows = document.querySelectorAll("table.kb tr[id]");
  document.getElementById("filter-box").hidden = false;
  box.addEventListener("input", function () {
    var words = box.value.toLowerCase().split(/\\s+/).filter(Boolean), n = 0;
    rows.forEach(function (row) {
      var text = row.textContent.toLowerCase();
      row.hidden = !words.every(function (w) { return text.indexOf(w) >= 0; });
      n += row.hidden ? 0 : 1;
    });
    shown.textContent = words.length ? n + " of " + rows.length + " rows" : "";
  });
})();
</script>"""


def write_knowledge_html(
    store_path: str | Path, out: str | Path, runs: list[Path] | None = None
) -> Path:
    """Write the browser for `store_path` into `out`; returns the index page."""
    from knowledge.store import ExperienceStore

    out = Path(out)
    (out / "episodes").mkdir(parents=True, exist_ok=True)
    run_dirs = _run_dirs(runs or [])
    store = ExperienceStore(store_path)
    try:
        skills = store.skills(include_retired=True)
        rails = store.guardrails(include_retired=True)
        cited: dict[int, list[str]] = defaultdict(list)  # tuple id -> knowledge citing it
        for s in skills:
            for tid in s.evidence:
                cited[tid].append(f"skill #{s.id}")
        for g in rails:
            for tid in g.evidence:
                cited[tid].append(f"guardrail #{g.id}")
        evidence = {t.id: t for t in store.get_tuples(sorted(cited)) if t.id is not None}
        pages: dict[tuple[str, str], str] = {}
        for t in evidence.values():
            key = (t.run_id, t.episode_id)
            if key not in pages:
                pages[key] = _page_name(*key)
                episode = store.tuples(episode_id=t.episode_id)
                episode = [e for e in episode if e.run_id == t.run_id]
                page = _episode_page(t.run_id, t.episode_id, episode, cited, run_dirs)
                (out / "episodes" / pages[key]).write_text(page)
        stats = store.stats()
        ledger = store.ledger()
    finally:
        store.close()

    def links(ids: list[int]) -> str:
        parts = []
        for i in ids:
            t = evidence.get(i)
            if t is None:
                parts.append(f'<span class="small">#{i} (not in store)</span>')
                continue
            href = f"episodes/{pages[(t.run_id, t.episode_id)]}#t{i}"
            title = html.escape(f"{t.episode_id} step {t.step}: {t.action.text()}")
            parts.append(f'<a href="{href}" title="{title}">#{i}</a>')
        return " ".join(parts) or "-"

    # guardrails first: fewer, and what a reader of a run's failures looks for
    body = [
        f"<h1>Knowledge in <code>{html.escape(str(store_path))}</code></h1>",
        "<p class=small>"
        + _e(", ".join(f"{k} {v}" for k, v in stats.items()))
        + ". Evidence links open the attempt each item was distilled from.</p>",
        _contents([("guardrails", "Guardrails", rails), ("skills", "Skills", skills)]),
        FILTER,
        f'<h2 id="guardrails">Guardrails ({len(rails)})</h2>',
        _rails_table(rails, links, ledger),
        f'<h2 id="skills">Skills ({len(skills)})</h2>',
        _skills_table(skills, links, ledger),
        FILTER_JS,
    ]
    index = out / "index.html"
    index.write_text(_doc("knowledge", "\n".join(body)))
    return index


def _contents(sections: list[tuple[str, str, list[Skill] | list[Guardrail]]]) -> str:
    """The contents block: each section's count (active and retired) and a link to it, so a
    long table of skills does not hide the guardrails below it."""
    items = []
    for anchor, title, rows in sections:
        retired = sum(1 for r in rows if r.retired)
        items.append(
            f'<li><a href="#{anchor}">{title}</a>: {len(rows)}'
            f" ({len(rows) - retired} active, {retired} retired)</li>"
        )
    return f"<nav class=contents><b>Contents</b><ul>{''.join(items)}</ul></nav>"


def _skills_table(skills: list[Skill], links: Callable[[list[int]], str], ledger: Ledger) -> str:
    rows = [
        '<table class="kb"><tr><th>id</th><th>skill</th><th>needs</th><th>steps</th>'
        "<th>verifies</th><th>conf.</th><th>uses / ok</th><th>v</th><th>ledger</th>"
        "<th>evidence</th></tr>"
    ]
    for s in skills:
        rows.append(
            f'<tr id="s{s.id}" class="{"retired" if s.retired else ""}">'
            f"<td>{s.id}</td><td><b>{_e(s.name)}</b>{' (retired)' if s.retired else ''}</td>"
            f"<td>{_e(', '.join(s.preconditions) or '-')}</td>"
            f"<td>{'<br>'.join(_e(st.text()) for st in s.steps)}</td>"
            f"<td>{_e(', '.join(f'{k} >= {v}' for k, v in s.verification.items()) or '-')}</td>"
            f"<td>{s.confidence:.2f}</td><td>{s.uses} / {s.successes}</td><td>{s.version}</td>"
            f"<td>{_e(ledger_text(ledger.get(('skill', int(s.id or 0)))))}</td>"
            f"<td>{links(s.evidence)}</td></tr>"
        )
    return "\n".join([*rows, "</table>"])


def _rails_table(rails: list[Guardrail], links: Callable[[list[int]], str], ledger: Ledger) -> str:
    rows = [
        '<table class="kb"><tr><th>id</th><th>forbids</th><th>when</th><th>unless</th>'
        "<th>root cause</th><th>remedy</th><th>reason</th><th>scope</th><th>conf.</th>"
        "<th>blocks / violations</th><th>ledger</th><th>evidence</th></tr>"
    ]
    for g in rails:
        scope = g.scope + (f" ({g.task_goal})" if g.task_goal else "")
        rows.append(
            f'<tr id="g{g.id}" class="{"retired" if g.retired else ""}">'
            f"<td>{g.id}</td><td><b>{_e(g.forbidden)}</b>{' (retired)' if g.retired else ''}"
            f"</td><td>{_e(' & '.join(g.when) or '-')}</td>"
            f"<td>{_e(' & '.join(g.unless) or '-')}</td>"
            f'<td class="bad">{g.root_cause.value}</td>'
            f"<td>{'<br>'.join(_e(r.text()) for r in g.remedy) or 'replan'}"
            f"{' (learned from ' + links(g.remedy_evidence) + ')' if g.remedy else ''}</td>"
            f"<td>{_e(g.reason)}</td><td>{_e(scope)}</td><td>{g.confidence:.2f}</td>"
            f"<td>{g.blocks} / {g.violations}</td>"
            f"<td>{_e(ledger_text(ledger.get(('guardrail', int(g.id or 0)))))}</td>"
            f"<td>{links(g.evidence)}</td></tr>"
        )
    return "\n".join([*rows, "</table>"])


def _episode_page(
    run_id: str,
    episode_id: str,
    tuples: list[ExperienceTuple],
    cited: dict[int, list[str]],
    run_dirs: dict[str, Path],
) -> str:
    run_dir = run_dirs.get(run_id)
    where = (
        f"run directory <code>{_e(str(run_dir))}</code>; replay an attempt with "
        f"<code>steve replay {_e(str(run_dir))} --at {_e(episode_id)}:STEP</code>"
        if run_dir
        else f"run <code>{_e(run_id)}</code> (pass its directory with --runs to link it)"
    )
    rows = [
        "<table><tr><th>tuple</th><th>step</th><th>subgoal</th><th>diagnosis</th>"
        "<th>evidence</th><th>task progress</th><th>cited by</th></tr>"
    ]
    for t in sorted(tuples, key=lambda t: t.step):
        d = t.diagnosis
        verdict = "ok" if d.success else d.cause.value
        css = "ok" if d.success else "bad"
        by = ", ".join(
            f'<a href="../index.html#{c[0]}{c.split("#")[1]}">{c}</a>'
            for c in cited.get(t.id or -1, [])
        )
        rows.append(
            f'<tr id="t{t.id}" class="{"cited" if by else ""}"><td>#{t.id}</td><td>{t.step}</td>'
            f"<td>{_e(t.action.text())}</td>"
            f'<td><span class="{css}">{verdict}</span> {_e(d.diff.text())}</td>'
            f"<td>{_e('; '.join(d.evidence))}</td><td>{d.task_progress:.0%}</td>"
            f"<td>{by or '-'}</td></tr>"
        )
    body = [
        f"<p><a href='../index.html'>knowledge</a></p><h1>{_e(episode_id)}</h1>",
        f"<p class=small>{where}</p>",
        "\n".join([*rows, "</table>"]),
    ]
    return _doc(episode_id, "\n".join(body))


def _run_dirs(paths: list[Path]) -> dict[str, Path]:
    """run id -> run directory, from each directory's config.yaml (eval folders expanded)."""
    out: dict[str, Path] = {}
    for p in paths:
        candidates = [p] if (p / "config.yaml").exists() else sorted(p.glob("runs/*"))
        for c in candidates:
            cfg = c / "config.yaml"
            if cfg.exists():
                run_id = (yaml.safe_load(cfg.read_text()) or {}).get("run_id", c.name)
                out[str(run_id)] = c
    return out


def _page_name(run_id: str, episode_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{run_id}__{episode_id}") + ".html"


def _e(s: str) -> str:
    return html.escape(s)


def _doc(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
    )
