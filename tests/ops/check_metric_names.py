#!/usr/bin/env python3
"""Checks berth's ops files against the one list of metrics berthd exports.

tests/metrics_names.txt lists berthd's metric families (name, type, labels and,
for closed label sets, their values). This script checks that

  * every PromQL expression in deploy/grafana/berth.json (panel targets and
    templating queries) and deploy/prometheus/berth-alerts.yml names only those
    metrics (histograms through their _bucket/_sum/_count series), only their
    labels, and only allowed values of closed labels (state="pending", ...);
  * `by`/`on`/... groupings and Grafana legends name labels the expression has;
  * the dashboard is well formed (Grafana schema, a Prometheus datasource
    variable used by every panel, unique ids, panels inside the 24-column grid
    and not overlapping) and shows every family, with p50 and p99 of every
    histogram;
  * every alert has an expr, a severity label and summary/description
    annotations;
  * docs/METRICS.md names every family and every alert.

Standard library only. Usage:

  check_metric_names.py [--repo DIR]
      all of the above (the ctest `ops_metric_names`).
  check_metric_names.py [--repo DIR] --emit-rules FILE
      also writes every dashboard expression, Grafana variables substituted, as
      a Prometheus recording rule to FILE so `promtool check rules FILE` parses
      them.
  check_metric_names.py [--repo DIR] --exposition FILE
      checks a scrape of berthd's /metrics instead: every listed family is
      exposed with its type, no unlisted berth_ family is, and every sample's
      labels (and closed label values) are the listed ones.

Exit status 0 when every check passes, 1 otherwise (each problem on stderr).
"""

import argparse
import json
import os
import re
import sys

# Labels Prometheus attaches to every scraped series.
TARGET_LABELS = {"job", "instance"}
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
SKIP_KEYWORDS = {"and", "or", "unless", "bool", "atan2", "inf", "nan"}
# Aggregation operators: `sum by (x) (...)` puts the grouping before the "(".
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
NUMBER = re.compile(
    r"(0[xX][0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)(?:ms|[smhdwy])*"
    r"(?:[0-9]+(?:ms|[smhdwy]))*")
GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[^\]]*\]\]")
MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*')


class Family:
    def __init__(self, name, kind, labels):
        self.name = name
        self.kind = kind
        self.labels = labels  # label -> set of allowed values, or None for any


def load_families(path):
    families = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            words = line.split()
            if len(words) < 2 or words[1] not in ("counter", "gauge", "histogram"):
                raise SystemExit(f"{path}:{number}: want NAME TYPE [LABEL[=V|V]]...")
            labels = {}
            for word in words[2:]:
                label, _, values = word.partition("=")
                labels[label] = set(values.split("|")) if values else None
            if words[0] in families:
                raise SystemExit(f"{path}:{number}: {words[0]} listed twice")
            families[words[0]] = Family(words[0], words[1], labels)
    if not families:
        raise SystemExit(f"{path}: no metric families")
    return families


# --- PromQL scanning -------------------------------------------------------


class Selector:
    def __init__(self, name, matchers):
        self.name = name  # None for a bare {…} selector
        self.matchers = matchers  # [(label, op, value)]


class Scan:
    """What one expression names: selectors and grouping labels."""

    def __init__(self):
        self.selectors = []
        self.groupings = []  # (keyword, [labels])


def _string_end(s, i):
    """Index just past the string literal starting at s[i]."""
    quote = s[i]
    j = i + 1
    while j < len(s):
        if s[j] == "\\" and quote != "`":
            j += 2
            continue
        if s[j] == quote:
            return j + 1
        j += 1
    raise ValueError(f"unterminated string at {i}")


def _string_value(s, i, j):
    body = s[i + 1:j - 1]
    if s[i] == "`":
        return body
    return re.sub(r"\\(.)", r"\1", body)


def _parse_matchers(s, i):
    """s[i] == '{'; returns ([(label, op, value)], index past '}')."""
    matchers = []
    j = i + 1
    while True:
        while j < len(s) and (s[j].isspace() or s[j] == ","):
            j += 1
        if j >= len(s):
            raise ValueError("unterminated {")
        if s[j] == "}":
            return matchers, j + 1
        m = MATCHER.match(s, j)
        if not m:
            raise ValueError(f"bad label matcher at {s[j:j + 30]!r}")
        j = m.end()
        if j >= len(s) or s[j] not in "\"'`":
            raise ValueError(f"label matcher {m.group(1)} without a string value")
        end = _string_end(s, j)
        matchers.append((m.group(1), m.group(2), _string_value(s, j, end)))
        j = end


def _skip_spaces(s, i):
    while i < len(s) and s[i].isspace():
        i += 1
    return i


def scan_promql(s):
    """Returns a Scan of expression s; raises ValueError on what it cannot read."""
    out = Scan()
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c.isspace() or c in "()+-*/%^,<>=!@":
            i += 1
        elif c in "\"'`":
            i = _string_end(s, i)
        elif c == "#":
            while i < n and s[i] != "\n":
                i += 1
        elif c == "[":
            depth = 0
            while i < n:
                if s[i] == "[":
                    depth += 1
                elif s[i] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            i += 1
        elif c == "{":
            matchers, i = _parse_matchers(s, i)
            out.selectors.append(Selector(None, matchers))
        elif c == "$":
            m = GRAFANA_VAR.match(s, i)
            if not m:
                raise ValueError(f"bad Grafana variable at {s[i:i + 20]!r}")
            i = m.end()
        elif c.isdigit() or (c == "." and i + 1 < n and s[i + 1].isdigit()):
            i = NUMBER.match(s, i).end()
        elif IDENT.match(s, i):
            m = IDENT.match(s, i)
            word = m.group(0)
            low = word.lower()
            j = _skip_spaces(s, m.end())
            if low in LABEL_LIST_KEYWORDS:
                if j < n and s[j] == "(":
                    close = s.index(")", j)
                    labels = [x.strip() for x in s[j + 1:close].split(",") if x.strip()]
                    out.groupings.append((low, labels))
                    i = close + 1
                else:
                    i = j
            elif low in SKIP_KEYWORDS or word in AGGREGATIONS:
                i = j
            elif low == "offset":
                if j < n and s[j] == "-":
                    j += 1
                i = NUMBER.match(s, j).end() if NUMBER.match(s, j) else j
            elif j < n and s[j] == "(":
                i = j  # a function or an aggregation
            else:
                matchers = []
                i = m.end()
                if j < n and s[j] == "{":
                    matchers, i = _parse_matchers(s, j)
                out.selectors.append(Selector(word, matchers))
        else:
            raise ValueError(f"unexpected {c!r} at {s[i:i + 20]!r}")
    return out


def resolve(families, name):
    """(family, extra labels) for a series name, or (None, None)."""
    if name in families:
        return families[name], set()
    for suffix in HISTOGRAM_SUFFIXES:
        base = name[: -len(suffix)] if name.endswith(suffix) else None
        if base in families and families[base].kind == "histogram":
            return families[base], ({"le"} if suffix == "_bucket" else set())
    return None, None


def _literal_alternatives(regex):
    """The words of a plain a|b|c regex, or None when it is anything else."""
    if re.fullmatch(r"[A-Za-z0-9_]+(\|[A-Za-z0-9_]+)*", regex):
        return regex.split("|")
    return None


def check_expr(families, where, expr, legend=None):
    """Problems with one PromQL expression; also returns the families used."""
    problems = []
    used = set()
    try:
        scan = scan_promql(expr)
    except ValueError as e:
        return [f"{where}: cannot read {expr!r}: {e}"], used
    if not scan.selectors:
        problems.append(f"{where}: no metric in {expr!r}")
    labels_in_expr = set(TARGET_LABELS)
    for sel in scan.selectors:
        name = sel.name
        matchers = sel.matchers
        if name is None:
            names = [v for (l, op, v) in matchers if l == "__name__" and op == "="]
            if not names:
                problems.append(f"{where}: selector without a metric name in {expr!r}")
                continue
            name = names[0]
            matchers = [m for m in matchers if m[0] != "__name__"]
        family, extra = resolve(families, name)
        if family is None:
            problems.append(f"{where}: {name} is not a metric berthd exports "
                            f"(tests/metrics_names.txt)")
            continue
        used.add(family.name)
        allowed = set(family.labels) | extra | TARGET_LABELS
        labels_in_expr |= allowed
        for label, op, value in matchers:
            if label not in allowed:
                problems.append(f"{where}: {name} has no label {label!r} "
                                f"(it has {sorted(family.labels) + sorted(extra)})")
                continue
            values = family.labels.get(label)
            if values is None or "$" in value:
                continue
            if op in ("=", "!="):
                wanted = [value]
            else:
                wanted = _literal_alternatives(value) or []
            for v in wanted:
                if v not in values:
                    problems.append(f"{where}: {name}{{{label}{op}\"{value}\"}}: "
                                    f"{label} is one of {sorted(values)}")
    for keyword, labels in scan.groupings:
        for label in labels:
            if label not in labels_in_expr:
                problems.append(f"{where}: {keyword} ({label}): no metric in "
                                f"{expr!r} has label {label!r}")
    if legend:
        for label in re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", legend):
            if label not in labels_in_expr:
                problems.append(f"{where}: legend {legend!r} names {label!r}, "
                                f"which no metric in {expr!r} has")
    return problems, used


# --- The Grafana dashboard -------------------------------------------------

DASHBOARD_VARS = {
    "__rate_interval": "1m", "__interval": "15s", "__range": "1h",
    "__range_s": "3600", "__interval_ms": "15000",
}


def substitute_grafana_vars(expr):
    """expr with Grafana's variables replaced so Prometheus can parse it."""
    def repl(m):
        name = m.group(0).strip("${}[]").split(":")[0]
        return DASHBOARD_VARS.get(name, ".*")
    return GRAFANA_VAR.sub(repl, expr)


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def dashboard_queries(dash):
    """[(where, expr, legend)] for every PromQL query in the dashboard."""
    queries = []
    for p in all_panels(dash.get("panels", [])):
        for t in p.get("targets", []):
            where = f"berth.json panel {p.get('id')} \"{p.get('title')}\" target {t.get('refId')}"
            queries.append((where, t.get("expr", ""), t.get("legendFormat")))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query", "")
        where = f"berth.json variable ${v.get('name')}"
        m = re.fullmatch(r"\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", q or "",
                         re.S)
        if m:
            queries.append((where, m.group(1), "{{" + m.group(2) + "}}"))
            continue
        m = re.fullmatch(r"\s*query_result\((.*)\)\s*", q or "", re.S)
        if m:
            queries.append((where, m.group(1), None))
            continue
        queries.append((where, q or "", None))
    return queries


def datasource_uid(ds):
    return ds.get("uid") if isinstance(ds, dict) else ds


def check_dashboard(families, path):
    problems = []
    try:
        with open(path) as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        return [f"{path}: {e}"], set(), []
    for key in ("title", "uid", "panels", "templating", "schemaVersion"):
        if key not in dash:
            problems.append(f"{path}: no {key!r}")
    if not isinstance(dash.get("schemaVersion"), int) or dash.get("schemaVersion", 0) < 36:
        problems.append(f"{path}: schemaVersion {dash.get('schemaVersion')!r}, want >= 36")
    ds_vars = [v for v in dash.get("templating", {}).get("list", [])
               if v.get("type") == "datasource" and v.get("query") == "prometheus"]
    if len(ds_vars) != 1:
        problems.append(f"{path}: want one templating variable of type datasource "
                        f"(query prometheus), found {len(ds_vars)}")
    ds_refs = {"${%s}" % v["name"] for v in ds_vars} | {"$" + v["name"] for v in ds_vars}

    ids = set()
    boxes = []
    for p in all_panels(dash.get("panels", [])):
        pid = p.get("id")
        title = p.get("title")
        if pid in ids or not isinstance(pid, int):
            problems.append(f"{path}: panel {title!r}: id {pid!r} missing or repeated")
        ids.add(pid)
        if not title:
            problems.append(f"{path}: panel {pid}: no title")
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in "xywh"):
            problems.append(f"{path}: panel {pid}: gridPos needs x, y, w, h")
            continue
        if g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24 or g["h"] < 1:
            problems.append(f"{path}: panel {pid}: gridPos {g} outside the 24 columns")
        for other_id, o in boxes:
            if (g["x"] < o["x"] + o["w"] and o["x"] < g["x"] + g["w"] and
                    g["y"] < o["y"] + o["h"] and o["y"] < g["y"] + g["h"]):
                problems.append(f"{path}: panels {other_id} and {pid} overlap")
        boxes.append((pid, g))
        if p.get("type") == "row":
            continue
        if datasource_uid(p.get("datasource")) not in ds_refs:
            problems.append(f"{path}: panel {pid}: datasource {p.get('datasource')!r} "
                            f"is not the datasource variable")
        targets = p.get("targets", [])
        if not targets:
            problems.append(f"{path}: panel {pid} \"{title}\": no targets")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or None in refs:
            problems.append(f"{path}: panel {pid}: refIds {refs} missing or repeated")
        for t in targets:
            if "datasource" in t and datasource_uid(t["datasource"]) not in ds_refs:
                problems.append(f"{path}: panel {pid} target {t.get('refId')}: "
                                f"datasource is not the datasource variable")
            if not t.get("expr", "").strip():
                problems.append(f"{path}: panel {pid} target {t.get('refId')}: no expr")

    used = set()
    queries = dashboard_queries(dash)
    for where, expr, legend in queries:
        p, u = check_expr(families, where, expr, legend)
        problems += p
        used |= u
    for name in sorted(set(families) - used):
        problems.append(f"{path}: no panel shows {name}")
    for f in families.values():
        if f.kind != "histogram":
            continue
        for q in ("0.5", "0.99"):
            pattern = (r"histogram_quantile\(\s*%s\s*,.*\b%s_bucket\b" %
                       (re.escape(q), re.escape(f.name)))
            if not any(re.search(pattern, e, re.S) for _, e, _ in queries):
                problems.append(f"{path}: no p{q[2:].ljust(2, '0')} panel query "
                                f"(histogram_quantile({q}, ...{f.name}_bucket...))")
    return problems, used, queries


# --- The alert rules -------------------------------------------------------


def yaml_scalar(lines, k, indent, rest):
    """The value of a `key: rest` YAML entry at lines[k]: a plain, quoted or
    block scalar (the subset deploy/prometheus uses). Returns (value, next k)."""
    rest = rest.strip()
    k += 1
    if rest[:1] in ("|", ">"):
        body = []
        while k < len(lines) and (not lines[k].strip() or
                                  len(lines[k]) - len(lines[k].lstrip()) > indent):
            body.append(lines[k].strip())
            k += 1
        return "\n".join(body).strip(), k
    if rest.startswith('"'):
        return json.loads(rest), k
    if rest.startswith("'"):
        return rest[1:-1].replace("''", "'"), k
    body = [rest]
    while k < len(lines) and lines[k].strip() and \
            len(lines[k]) - len(lines[k].lstrip()) > indent and \
            not re.match(r"\s*[\w-]+:", lines[k]):
        body.append(lines[k].strip())
        k += 1
    return " ".join(body), k


def alert_rules(path):
    """[{alert/record, expr, severity, summary, description}] from a rules file."""
    with open(path) as f:
        lines = f.read().split("\n")
    rules = []
    k = 0
    while k < len(lines):
        line = lines[k]
        m = re.match(r"(\s*)(?:- )?(\s*)(alert|record|expr|severity|summary|description):(.*)$",
                     line)
        if not m or line.lstrip().startswith("#"):
            k += 1
            continue
        key = m.group(3)
        indent = m.start(3)  # the key's column: its value's lines sit right of it
        value, k = yaml_scalar(lines, k, indent, m.group(4))
        if key in ("alert", "record"):
            rules.append({key: value})
        elif not rules:
            raise SystemExit(f"{path}: {key} before any alert")
        elif key in rules[-1]:
            raise SystemExit(f"{path}: rule {rules[-1]} has two {key}s")
        else:
            rules[-1][key] = value
    return rules


def check_alerts(families, path):
    problems = []
    rules = alert_rules(path)
    alerts = [r for r in rules if "alert" in r]
    if not alerts:
        problems.append(f"{path}: no alerts")
    for r in rules:
        name = r.get("alert") or r.get("record")
        if "expr" not in r:
            problems.append(f"{path}: {name}: no expr")
            continue
        p, _ = check_expr(families, f"berth-alerts.yml {name}", r["expr"])
        problems += p
        if "alert" in r:
            if r.get("severity") not in ("critical", "warning", "info"):
                problems.append(f"{path}: {name}: severity {r.get('severity')!r}, want "
                                f"critical, warning or info")
            for key in ("summary", "description"):
                if not r.get(key):
                    problems.append(f"{path}: {name}: no {key} annotation")
    return problems, [r["alert"] for r in alerts]


# --- A scrape of berthd ----------------------------------------------------

SAMPLE = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?\s*$")
LABEL_PAIR = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def check_exposition(families, path):
    problems = []
    types = {}
    samples = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            if line.startswith("# TYPE "):
                words = line.split()
                if len(words) != 4:
                    problems.append(f"{path}:{number}: bad TYPE line {line!r}")
                else:
                    types[words[2]] = words[3]
                continue
            if line.startswith("#"):
                continue
            m = SAMPLE.match(line)
            if not m:
                problems.append(f"{path}:{number}: cannot read {line!r}")
                continue
            labels = {}
            body = m.group(3) or ""
            pos = 0
            while pos < len(body):
                lm = LABEL_PAIR.match(body, pos)
                if not lm:
                    problems.append(f"{path}:{number}: cannot read labels {body!r}")
                    break
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
            samples.setdefault(m.group(1), []).append((number, labels))

    for f in families.values():
        exposed = types.get(f.name)
        if exposed is None and f.kind == "counter" and f.name.endswith("_total"):
            exposed = types.get(f.name[: -len("_total")])
        if exposed is None:
            problems.append(f"{path}: {f.name} is not exposed (no # TYPE line)")
        elif exposed != f.kind:
            problems.append(f"{path}: {f.name} is a {exposed}, want {f.kind}")
    for name in sorted(types):
        if name.startswith("berth_") and name not in families and \
                name + "_total" not in families:
            problems.append(f"{path}: {name} is exposed but not in tests/metrics_names.txt")
    for name, rows in sorted(samples.items()):
        if not name.startswith("berth_"):
            continue
        family, extra = resolve(families, name)
        if family is None:
            problems.append(f"{path}: sample {name} is not in tests/metrics_names.txt")
            continue
        want = set(family.labels) | extra
        for number, labels in rows:
            if set(labels) != want:
                problems.append(f"{path}:{number}: {name} has labels {sorted(labels)}, "
                                f"want {sorted(want)}")
                continue
            for label, value in labels.items():
                allowed = family.labels.get(label)
                if allowed is not None and value not in allowed:
                    problems.append(f"{path}:{number}: {name}{{{label}=\"{value}\"}}: "
                                    f"{label} is one of {sorted(allowed)}")
    return problems


# --- The checker checks itself ---------------------------------------------

SELF_TEST_BAD = [
    'berth_gpu_util{node="a"}',  # unknown metric
    'up',  # not berthd's
    'berth_jobs{state="PENDING"}',  # closed value, wrong case
    'berth_jobs{state=~"pending|queued"}',  # one alternative unknown
    'berth_gpus{gpu="0"}',  # label of another family
    'sum by (reason) (berth_jobs)',  # grouping label nobody has
    'rate(berth_queue_wait_seconds_total[5m])',  # a histogram has no _total
    'rate(berth_heartbeats_total_bucket[5m])',  # a counter has no buckets
    '{state="down"}',  # no metric name
    'berth_nodes{state="down"',  # unterminated
]
SELF_TEST_GOOD = [
    'sum by (gpu_type, state) (berth_gpus{gpu_type=~"$pool", state!="down"})',
    'histogram_quantile(0.99, sum by (le) (rate(berth_sqlite_commit_seconds_bucket[$__rate_interval])))',
    '{__name__="berth_nodes", state="down"} > 0',
    'time() - berth_start_time_seconds offset 5m',
    'sum(berth_gpu_utilization_ratio) / on (node) group_left sum by (node) (berth_gpus) '
    'and on (instance) berth_agents_connected > bool 0',
    'label_replace(berth_jobs, "x", "$1", "team", "(.*)") # a comment with no_metric',
    'berth_jobs{state=~"pending|running", team=~"${team:regex}"} * 1e3 + 0x1f',
]


def self_test(families):
    problems = []
    for expr in SELF_TEST_BAD:
        if not check_expr(families, "self-test", expr)[0]:
            problems.append(f"self-test: {expr!r} passed, want a problem")
    for expr in SELF_TEST_GOOD:
        p, _ = check_expr(families, "self-test", expr)
        problems += [f"self-test (good): {x}" for x in p]
    rules = alert_rules_from_text(
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: |\n      berth_nodes\n"
        "        > 0\n    labels:\n      severity: critical\n    annotations:\n"
        "      summary: \"s\"\n      description: >-\n        d\n        e\n")
    if rules != [{"alert": "A", "expr": "berth_nodes\n> 0", "severity": "critical",
                  "summary": "s", "description": "d\ne"}]:
        problems.append(f"self-test: YAML reader read {rules}")
    return problems


def alert_rules_from_text(text):
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        f.write(text)
    try:
        return alert_rules(f.name)
    finally:
        os.unlink(f.name)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repo", default=os.path.normpath(os.path.join(here, "..", "..")))
    ap.add_argument("--emit-rules", metavar="FILE")
    ap.add_argument("--exposition", metavar="FILE")
    args = ap.parse_args()
    repo = args.repo
    families = load_families(os.path.join(repo, "tests", "metrics_names.txt"))

    if args.exposition:
        problems = check_exposition(families, args.exposition)
        for p in problems:
            print("FAIL:", p, file=sys.stderr)
        if not problems:
            print(f"{args.exposition}: all {len(families)} metric families exposed as listed")
        return 1 if problems else 0

    problems = self_test(families)
    dash_problems, _, queries = check_dashboard(
        families, os.path.join(repo, "deploy", "grafana", "berth.json"))
    problems += dash_problems
    alert_problems, alerts = check_alerts(
        families, os.path.join(repo, "deploy", "prometheus", "berth-alerts.yml"))
    problems += alert_problems

    docs = os.path.join(repo, "docs", "METRICS.md")
    try:
        with open(docs) as f:
            text = f.read()
        for name in list(families) + alerts:
            if not re.search(r"\b%s\b" % re.escape(name), text):
                problems.append(f"{docs}: does not mention {name}")
    except OSError as e:
        problems.append(f"{docs}: {e}")

    if args.emit_rules:
        with open(args.emit_rules, "w") as f:
            f.write("# Generated by tests/ops/check_metric_names.py --emit-rules:\n"
                    "# every query of deploy/grafana/berth.json, for promtool to parse.\n"
                    "groups:\n  - name: berth_dashboard_queries\n    rules:\n")
            for n, (where, expr, _) in enumerate(queries):
                f.write(f"      # {where}\n      - record: berth_dashboard:query_{n}\n"
                        f"        expr: {json.dumps(substitute_grafana_vars(expr))}\n")

    for p in problems:
        print("FAIL:", p, file=sys.stderr)
    if problems:
        print(f"check_metric_names: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_metric_names: {len(queries)} dashboard queries and {len(alerts)} alerts "
          f"name only the {len(families)} families in tests/metrics_names.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
