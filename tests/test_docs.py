"""The documentation keeps its promises: links resolve, the README stays a front page, the site builds, and
the figures the pages quote are what the commands beside them make."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TEST_COMMAND = ("pip install torch==2.13.0 && pip install -r requirements.txt -r requirements-dev.txt && "
                "python -m pytest -q")
APP_COMMAND = "pip install torch==2.13.0 && pip install -r requirements.txt && python app.py"


def pages() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted(DOCS.glob("*.md"))]


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where a bracket is not a link."""
    text = re.sub(r"^\s*```.*?^\s*```", "", text, flags=re.M | re.S)
    return re.sub(r"`[^`\n]*`", "", text)


def links(text: str) -> list[str]:
    body = prose(text)
    return re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", body) + re.findall(r"<img[^>]*\ssrc=\"([^\"]+)\"", body)


def slugs(md: str) -> set[str]:
    """Heading anchors as both GitHub and MkDocs make them (a link must work on both)."""
    out = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", prose(md), re.M):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
        github = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        norm = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        mkdocs = re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", norm).strip().lower())
        out.add(github if github == mkdocs else f"{github} != {mkdocs}")
    return out


def check_target(source: Path, target: str) -> str | None:
    """None when ``target`` (relative to ``source``) exists, with its anchor; else what is wrong."""
    path, _, anchor = target.partition("#")
    file = (source.parent / path).resolve() if path else source
    if not file.exists():
        return f"{source.name}: {target}: no such file"
    if anchor and file.suffix == ".md" and anchor not in slugs(file.read_text()):
        return f"{source.name}: {target}: no heading with that anchor"
    return None


def test_every_relative_link_of_the_readme_and_the_pages_resolves():
    wrong = []
    for page in pages():
        for target in links(page.read_text()):
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            wrong.append(check_target(page, target))
    assert [w for w in wrong if w] == []


def test_the_link_checker_sees_dead_links_and_anchors(tmp_path):
    (tmp_path / "a.md").write_text("# A page\n\n## Some section: here\n\n[x](a.md#some-section-here) `[y](b.md)`\n")
    assert links((tmp_path / "a.md").read_text()) == ["a.md#some-section-here"]
    assert check_target(tmp_path / "a.md", "a.md#some-section-here") is None
    assert "anchor" in check_target(tmp_path / "a.md", "a.md#nope")
    assert "no such file" in check_target(tmp_path / "a.md", "b.md")


def test_the_guide_points_to_pages_and_anchors_that_exist():
    from lab.guide_text import GUIDE_DOCS, doc_link

    for refs in GUIDE_DOCS.values():
        for page, anchor, words in refs:
            assert check_target(DOCS / "index.md", f"{page}#{anchor}" if anchor else page) is None, (page, anchor)
            assert f"docs/{page}" in doc_link(page, anchor, words, base="")


def test_the_readme_is_a_front_page_with_the_two_commands_first():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 220
    assert readme.startswith("---\ntitle: HICRA Lab\n")  # the Space front matter comes first
    lines = readme.splitlines()
    assert APP_COMMAND in lines and TEST_COMMAND in lines
    assert lines.index(APP_COMMAND) < lines.index(TEST_COMMAND) < 60  # on the first screen
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    # CI builds the site strictly, then runs the README's test command last (pytest's summary closes the log)
    assert TEST_COMMAND in ci and any("mkdocs build --strict" in line for line in ci[:ci.index(TEST_COMMAND)])
    assert ci[-1] == TEST_COMMAND


def test_every_page_is_in_the_site_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    listed = set(re.findall(r"^\s*- [^:#]+: (\S+\.md)\s*$", nav, re.M))
    assert {p.name for p in DOCS.glob("*.md")} <= listed


def test_the_site_builds_in_strict_mode(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -r requirements-dev.txt); "
                                         "CI installs it and builds the site")
    pytest.importorskip("material", reason="mkdocs-material is not installed (pip install -r requirements-dev.txt)")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").exists() and (tmp_path / "site" / "task" / "index.html").exists()


# --- figures quoted by the pages, against the commands that make them ---------------------------------


def block(page: str, start: str, end: str = "```") -> str:
    text = (DOCS / page).read_text()
    return text.split(start, 1)[1].split(end, 1)[0]


def test_the_headroom_table_is_what_summary_prints_of_the_example_run():
    printed = subprocess.run([sys.executable, "-m", "training", "summary", "assets/example-run"], cwd=ROOT,
                             capture_output=True, text=True, check=True, timeout=120).stdout
    quoted = block("task.md", "summary assets/example-run      # or runs/headroom-grpo, for your own run\n```\n\n```\n")
    assert quoted.strip("\n") == printed.strip("\n")


def test_the_example_runs_entropy_figures_are_the_guides():
    from lab.guide_text import EDGE, phases_text
    from training.runs import read_jsonl

    words = phases_text(read_jsonl(ROOT / "assets" / "example-run" / "metrics.jsonl"))
    ex = re.search(r"token entropy \(teal\) falls from ([\d.]+) to ([\d.]+) nats", words).groups()
    sem = re.search(r"planning phrases falls from ([\d.]+) to ([\d.]+) bits", words).groups()
    page = (DOCS / "task.md").read_text().replace("\n", " ")
    assert f"last {EDGE} steps" in page
    assert f"execution-token entropy falls from {ex[0]} to {ex[1]} nats" in page
    assert f"planning phrases from {sem[0]} to {sem[1]} bits" in page


def test_the_quoted_coverage_warnings_are_what_the_guard_says():
    from training.hierarchy.coverage import coverage_warning
    from training.hierarchy.grams import SGSet, StrategicGram

    page = (DOCS / "sg-sets.md").read_text()
    low = coverage_warning(["Let me try. x = 7."] * 4, 0.005, SGSet("t", (StrategicGram("let me try"),)))
    closing = coverage_warning(["3 + 4 = 7. So the answer is 7."] * 4, 0.2,
                               SGSet("answers", (StrategicGram("so the answer is"),)))
    assert f"> {low}\n" in page and f"> {closing}\n" in page


def test_the_highlight_example_returns_what_the_page_says():
    from lab.ui import handlers

    code = block("app.md", "```python\nfrom gradio_client import Client\nhtml, stats, message = ")
    args = ast.literal_eval("(" + code.split(".predict(", 1)[1].split(", api_name=")[0].strip() + ")")
    _, stats, message = handlers.highlight(*args)
    assert "| Strategic Gram occurrences | 2 |" in stats and "HICRA behaves like GRPO" not in stats
    assert message == ""
    _, alone, _ = handlers.highlight(args[0].split(". ")[0] + ".", *args[1:])
    assert "marks only the closing sentence" in alone  # the page's second claim


def test_the_studies_summaries_are_what_the_study_commands_write():
    from training.study import phases as P
    from training.study.report import summary
    from training.study.sweep import StudyConfig

    page = (DOCS / "studies.md").read_text()
    data = json.loads((DOCS / "study" / "results.json").read_text())
    runtime = DOCS / "study" / "runtime.json"
    cfg = StudyConfig(**data["config"])
    expected = summary(data["results"], cfg, json.loads(runtime.read_text()) if runtime.exists() else None)
    assert page.split("<!-- study-summary:start -->\n")[1].split("\n<!-- study-summary:end -->")[0] == expected
    ph = json.loads((DOCS / "phases" / "results.json").read_text())
    expected = P.readme_summary(P.PhasesConfig(**ph["config"]), ph["results"])
    assert page.split("<!-- phases-summary:start -->\n")[1].split("\n<!-- phases-summary:end -->")[0] == expected
    planned = re.search(r"The planned sweep is (\d+) runs", page.replace("\n", " ")).group(1)
    assert int(planned) == len(cfg.arms())


def test_the_planning_quality_tables_are_what_the_benchmark_prints():
    """docs/planning-detector.md pastes the bench's tables and summary; sg-sets.md quotes figures of them."""
    printed = subprocess.run([sys.executable, "bench/planning_quality.py"], cwd=ROOT, capture_output=True,
                             text=True, check=True, timeout=600).stdout
    page = (DOCS / "planning-detector.md").read_text()
    tables = re.findall(r"^(## [^\n]+ traces[^\n]*\n\n\| scorer \|[^\n]*\n(?:\|[^\n]*\n)+)", printed, re.M)
    assert len(tables) >= 4
    for table in tables:
        assert table in page, table.splitlines()[0]
    summary = printed.split("Summary (token level):\n")[1].strip()
    assert summary in page
    rows = {}
    for table in tables:
        head = table.split(":")[0].removeprefix("## ")
        for name, p, r in re.findall(r"^\| ([\w.-]+) \| ([\d.-]+) \| ([\d.-]+) \|", table, re.M):
            rows[head, name] = f"{p} / {r}"
    sg = (DOCS / "sg-sets.md").read_text().replace("\n", " ")
    assert "precision {}, recall {}".format(*rows["self-written held-out", "reasoning"].split(" / ")) in sg
    assert f"at {rows['genuine held-out', 'reasoning']}" in sg
    assert f"reaches {rows['genuine held-out', 'planning-detector-1.1']} there" in sg
    assert f"and {rows['genuine held-out-2', 'planning-detector-1.1']} on a fresh" in sg
    assert f"scores {rows['genuine held-out-2', 'reasoning']})" in sg
    assert f"and {rows['genuine held-out-3', 'planning-detector-1.1']} on a second" in sg
    assert f"preset scores {rows['genuine held-out-3', 'reasoning']})" in sg
    pooled_sg = " ".join(sg.split())
    assert f"it scores {rows[BLIND_ROW, 'planning-detector-1.1']} and the preset {rows[BLIND_ROW, 'reasoning']}," \
        in pooled_sg
    prose = " ".join(page.split())  # the target section quotes the clean rows
    h5, h4, h3 = "genuine held-out-5 (fresh)", "genuine held-out-4", "genuine held-out-3"
    pooled = BLIND_ROW
    for head, name, words in ((h5, "planning-detector-1.1", "held-out-5: precision {}, recall {}, 78.9%"),
                              (h4, "planning-detector-1.1", "held-out-4: {} / {}, 83.4%"),
                              (h3, "planning-detector-1.1", "held-out-3: {} / {}, 82.5%"),
                              ("genuine held-out-2", "planning-detector-1.1", "held-out-2: {} / {}, 89.3%"),
                              (pooled, "planning-detector-1.1", "four pooled: precision {}, recall {}, 83.7%"),
                              (h5, "planning-detector-1.2", "on held-out-5: {} / {}; on held-out-4"),
                              (h4, "planning-detector-1.2", "on held-out-4: {} / {}; on held-out-3"),
                              (h3, "planning-detector-1.2", "on held-out-3: {} / {}. Against"),
                              (h4, "planning-detector-1.3", "its first clean test): {} / {}"),
                              (h5, "planning-detector-1.3", "On held-out-5: {} / {}, recall"),
                              (h5, "reasoning", "preset alone: {} / {} on held-out-5"),
                              (h4, "reasoning", "on held-out-5, {} / {} on held-out-4"),
                              (h3, "reasoning", "on held-out-4, {} / {} on held-out-3")):
        assert words.format(*rows[head, name].split(" / ")) in prose, words


BLIND_ROW = "genuine blind to 1.1 (held-out-2 to held-out-5)"  # bench/planning_quality.py's pooled row
HEADLINES = [  # (words in the README, the page they come from, the same figure there)
    ("carry-safe regime +0.2 points [-0.7, +1.0] (n=10)", "studies.md",
     "`multiply-planning`: No difference detected between HICRA and GRPO: final held-out accuracy "
     "+0.2 points [-0.7, +1.0] (n=10)"),
    ("Study 2, 124 runs", "studies.md", "Runs with records: 124 of 124."),
    ("Study 3, pre-registered, 204 runs, 51 fresh seeds", "study3.md",
     "Progress: 204 of 204 planned runs have records; 51 of 51 seeds are complete"),
    ("HICRA is ahead of GRPO by +1.9 points [+1.1, +2.6]", "study3.md",
     "**HICRA (alpha 0.2) is ahead of GRPO at step 50**: +1.9 points [+1.1, +2.6] (n=51)"),
    ("ahead of its placebo by\n  +1.6 points [+1.0, +2.2]", "study3.md",
     "**HICRA (alpha 0.2) is ahead of the placebo at step 50**: +1.6 points [+1.0, +2.2] (n=51)"),
    ("MDE 1.2 and 0.9 points", "study3.md", "a difference of 1.2 points or more would have been detected"),
    ("MDE 1.2 and 0.9 points", "study3.md", "a difference of 0.9 points or more would have been detected"),
    ("alpha 1.0 leads\n  GRPO by +3.5 points [+2.5, +4.4]", "study3.md",
     "HICRA alpha 1.0 - GRPO at step 50: +3.5 points [+2.5, +4.4] (n=51)"),
    ("precision 0.802 and recall 0.628", "planning-detector.md",
     "genuine blind to 1.1 (held-out-2 to held-out-5): 116 traces, 1864 annotated phrases, 120,495 tokens\n\n"
     "| scorer | precision | recall | phrases touched | fully covered |\n|---|---|---|---|---|\n"
     "| math-compact | 0.899 |"),
    ("precision 0.802 and recall 0.628", "planning-detector.md", "| planning-detector-1.1 | 0.802 | 0.628 |"),
    ("(116 traces, 15\n  families)", "planning-detector.md", "(116 traces, 1,864 phrases)"),
    ("the newest set\n  alone: 0.731 / 0.603", "planning-detector.md", "| planning-detector-1.1 | 0.731 | 0.603 |"),
    ("preset alone there: 0.829 / 0.280", "planning-detector.md", "| reasoning | 0.829 | 0.280 |"),
    ("recall there (0.632, 0.622)", "planning-detector.md", "| planning-detector-1.2 | 0.680 | 0.632 |"),
    ("recall there (0.632, 0.622)", "planning-detector.md", "| planning-detector-1.3 | 0.723 | 0.622 |"),
    ("agree at\n  F1 0.851", "planning-detector.md", "| second annotation | first | 0.953 [0.924, 0.977] | 0.768 "
     "[0.722, 0.816] | 0.851 ["),
    ("agrees with them at 0.664 and 0.702", "planning-detector.md",
     "| planning-detector-1.1 | first | 0.779 [0.732, 0.819] | 0.578 [0.522, 0.635] | 0.664 ["),
    ("agrees with them at 0.664 and 0.702", "planning-detector.md",
     "| planning-detector-1.1 | second | 0.733 [0.678, 0.784] | 0.674 [0.626, 0.721] | 0.702 ["),
    ("dev half 0.87 / 0.76", "planning-detector.md", "genuine dev: planning-detector-1.1 P=0.87 R=0.76"),
    ("hand-written held-out traces 0.79 / 0.96", "planning-detector.md",
     "self-written held-out: planning-detector-1.1 P=0.79 R=0.96"),
    ("token precision 1.000\n  and recall 0.707", "mining.md", "| mined, KMeans seed 0 | 1.000 | 0.707 |"),
    ("2.2-2.5x faster than TRL 1.16's", "speed.md", "**2.25x** | **2.40x** | **2.49x**"),
]


def test_the_readmes_headline_figures_are_on_their_pages():
    readme = (ROOT / "README.md").read_text()
    for words, page, there in HEADLINES:
        assert words in readme, words
        assert there in (DOCS / page).read_text(), (page, there)
    phases = (DOCS / "studies.md").read_text().split("<!-- phases-summary:start -->")[1]
    regimes = phases.count("`, seeds ")
    assert regimes == 3 and phases.count("**Phase 1 does not show.**") == regimes  # "in any regime"
    assert phases.count("**Phase 2 does not show.**") + phases.count("**Phase 2 is not resolved.**") == regimes
    study = (DOCS / "studies.md").read_text()
    assert study.count("No difference detected between HICRA and GRPO") == 3  # "in any regime"


def test_the_studies_page_quotes_study3_as_its_page_computes_it():
    """Every interval the Study 3 section of studies.md quotes is on the generated page docs/study3.md."""
    section = (DOCS / "studies.md").read_text().split("## Study 3:")[1].split("\n## ")[0]
    quoted = re.findall(r"[+-]\d+\.\d+ (?:points )?\[[+-]\d+\.\d+, [+-]\d+\.\d+\]", " ".join(section.split()))
    assert len(quoted) >= 8
    page = (DOCS / "study3.md").read_text()
    for q in quoted:
        assert q.replace("points ", "") in page.replace("points ", ""), q
