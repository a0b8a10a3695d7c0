"""Generate task sets deterministically from the fact tables in ``tasks/data/facts/``.

Contents
--------
FACTS_DIR                  : where the shipped fact tables live.
read_fact_table            : read and check one CSV fact table.
generate_extended          : the ``extended`` set: recall vs reasoning, one pair per fact.
generate_surface_reasoning : the ``surface-reasoning-extended`` control: reasoning vs the
                             same question reworded (same ids, same reasoning prompts).
main                       : ``python -m tasks.generate --out FILE`` writes a set as YAML.

Template choice per pair is drawn from a generator seeded by ``(seed, pair id)``, so the
output is identical across runs, machines and ``PYTHONHASHSEED``, and adding one row to a
table leaves every other pair unchanged.
"""
from __future__ import annotations

import argparse
import csv
import os
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from tasks.errors import TaskFileError
from tasks.taskset import CATEGORIES, Prompt, TaskPair, TaskSet
from tasks.seeding import item_rng
from tasks.templates import RELATIONS, Relation

FACTS_DIR = Path(__file__).resolve().parent / "data" / "facts"


def slugify(text: str) -> str:
    """ASCII, lower-case, hyphen-separated form of `text` for pair ids.

    Examples
    --------
    >>> slugify("Les Misérables"), slugify("the Eiffel Tower")
    ('les-miserables', 'eiffel-tower')
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    # A leading article adds nothing to an id ("landmark-eiffel-tower").
    ascii_text = re.sub(r"^the\s+", "", ascii_text, flags=re.IGNORECASE)
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def read_fact_table(
    path: str | os.PathLike[str], required_columns: tuple[str, ...] = ()
) -> list[dict[str, str]]:
    """Read a CSV fact table; check the header has `required_columns`.

    Cells are stripped; a blank cell means "fact omitted" (see `Relation.requires`).
    Raises `TaskFileError` listing every problem (missing columns, ragged rows).
    """
    path = Path(path)
    problems: list[str] = []
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = list(reader.fieldnames or [])
            rows = []
            for line, row in enumerate(reader, start=2):
                if None in row or any(v is None for v in row.values()):
                    problems.append(f"line {line}: expected {len(header)} cells ({', '.join(header)})")
                    continue
                rows.append({k: v.strip() for k, v in row.items()})
    except OSError as exc:
        raise TaskFileError(str(path), [f"cannot read the fact table: {exc.strerror or exc}"]) from exc
    missing = [c for c in required_columns if c not in header]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}; header is: {', '.join(header)}")
    if problems:
        raise TaskFileError(str(path), problems)
    return rows


def _fields(row: dict[str, str]) -> dict[str, str]:
    # `the_X` = X with its article, so templates never need to know which names take "the".
    out = dict(row)
    for col in row:
        if col.endswith("_article"):
            base = col[: -len("_article")]
            out[f"the_{base}"] = f"{row[col]} {row.get(base, '')}".strip()
    return out


def _render(template: str, fields: dict[str, str]) -> str:
    text = template.format(**fields)
    return text[:1].upper() + text[1:]


def _answer(fields: dict[str, str], column: str) -> tuple[str, tuple[str, ...]]:
    aliases = tuple(a.strip() for a in fields.get(f"{column}_aliases", "").split("|") if a.strip())
    return fields[column], aliases


@dataclass(frozen=True)
class _Fact:
    """One generated fact: its id, category and the three prompt variants."""

    id: str
    category: str
    recall: Prompt
    reasoning: Prompt
    reworded: Prompt


def _relation_columns(relation: Relation) -> tuple[str, ...]:
    names = set(relation.requires) | {relation.key, relation.recall_answer, relation.reasoning_answer}
    for template in relation.recall + relation.reasoning + relation.reworded:
        names |= set(re.findall(r"{(\w+)}", template))
    # `the_X` fields come from X and X_article.
    cols = set()
    for n in names:
        cols |= {n[4:], f"{n[4:]}_article"} if n.startswith("the_") else {n}
    return tuple(sorted(cols))


def _generate_facts(seed: int, facts_dir: Path) -> list[_Fact]:
    facts: list[_Fact] = []
    seen: set[str] = set()
    for rel in RELATIONS:
        if rel.category not in CATEGORIES:
            raise ValueError(f"relation category {rel.category!r} is not in CATEGORIES")
        path = facts_dir / rel.table
        rows = read_fact_table(path, _relation_columns(rel))
        problems: list[str] = []
        for line, row in enumerate(rows, start=2):
            if not all(row.get(c) for c in rel.requires) or not row.get(rel.key):
                continue
            pair_id = f"{rel.category}-{slugify(row[rel.key])}"
            if pair_id in seen:
                problems.append(f"line {line}: {rel.key} {row[rel.key]!r} gives duplicate id {pair_id!r}")
                continue
            seen.add(pair_id)
            fields = _fields(row)
            rng = item_rng(seed, pair_id, stream="templates")
            recall_answer = _answer(fields, rel.recall_answer)
            reasoning_answer = _answer(fields, rel.reasoning_answer)
            facts.append(_Fact(
                id=pair_id,
                category=rel.category,
                recall=Prompt(_render(rng.choice(rel.recall), fields), *recall_answer, "recall"),
                reasoning=Prompt(_render(rng.choice(rel.reasoning), fields), *reasoning_answer, "reasoning"),
                reworded=Prompt(_render(rng.choice(rel.reworded), fields), *reasoning_answer,
                                "reasoning-reworded"),
            ))
        if problems:
            raise TaskFileError(str(path), problems)
    return facts


def generate_extended(*, seed: int = 0, facts_dir: str | os.PathLike[str] | None = None) -> TaskSet:
    """The extended recall/reasoning set: one pair per (relation, fact-table row).

    Parameters
    ----------
    seed : int
        Chooses each pair's recall and reasoning template; same seed, same set.
    facts_dir : path, optional
        Directory of fact tables (default: the shipped `FACTS_DIR`).

    Examples
    --------
    >>> ts = generate_extended(seed=0)
    >>> len(ts) >= 300, ts.labels
    (True, ('recall', 'reasoning'))
    """
    facts = _generate_facts(seed, Path(facts_dir) if facts_dir else FACTS_DIR)
    pairs = tuple(TaskPair(f.id, f.category, f.recall, f.reasoning) for f in facts)
    return TaskSet(
        name="extended", pairs=pairs, labels=("recall", "reasoning"),
        provenance={"generator": "tasks.generate.generate_extended", "seed": seed},
    )


def generate_surface_reasoning(*, seed: int = 0, facts_dir: str | os.PathLike[str] | None = None) -> TaskSet:
    """Surface-only control: each extended reasoning prompt vs a longer rewording of it.

    Side `a` is exactly the reasoning prompt of `generate_extended` with the same seed
    (same id); side `b` asks the same question with the same answer in other, longer words.

    Examples
    --------
    >>> ts = generate_surface_reasoning(seed=0)
    >>> ts.labels
    ('reasoning', 'reasoning-reworded')
    """
    facts = _generate_facts(seed, Path(facts_dir) if facts_dir else FACTS_DIR)
    pairs = tuple(TaskPair(f.id, f.category, f.reasoning, f.reworded) for f in facts)
    return TaskSet(
        name="surface-reasoning-extended", pairs=pairs, labels=("reasoning", "reasoning-reworded"),
        provenance={"generator": "tasks.generate.generate_surface_reasoning", "seed": seed},
    )


def main(argv: list[str] | None = None) -> int:
    """Write a generated set as a YAML task file: ``python -m tasks.generate --out x.yaml``."""
    from tasks.loader import dump_tasks

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--set", choices=("extended", "surface-reasoning-extended"),
                        default="extended", help="which set to write (default: extended)")
    parser.add_argument("--seed", type=int, default=0, help="template seed (default: 0)")
    parser.add_argument("--out", default="-", help="output file, '-' for stdout (default: -)")
    args = parser.parse_args(argv)
    build = generate_extended if args.set == "extended" else generate_surface_reasoning
    text = dump_tasks(build(seed=args.seed))
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
