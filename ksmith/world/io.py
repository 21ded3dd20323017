"""Reading and writing worlds: the JSON document, and triples TSV plus a relation-schema file.

JSON document (what `World.save` writes and `load_world` reads)::

    {
      "format": "ksmith.world", "version": 1,
      "domains":   ["biology", ...],
      "entities":  [{"name": "Zorbax", "type": "taxon", "domain": "biology"}, ...],
      "relations": [{"name": "habitat", "domain": "biology", "subject_type": "taxon",
                     "object_type": "habitat", "taxonomy": false, "inherited": true,
                     "functional": true, "inverse": null,
                     "templates": {"cloze": [...], "questions": [...], "reverse": [...],
                                   "held_out": 0}}, ...],
      "taxonomy":  [["Child", "is_a", "Parent"], ...],      # taxonomy edges, child -> parent
      "facts":     [["Zorbax", "habitat", "Mirel"], ...],   # stated attribute facts
      "removed":   [["Zorbax", "diet"], ...]                # tombstones left by unlearning
    }

Inherited facts are never stored: they are re-derived from the stated ones. `templates` may be
omitted for a relation: the generic patterns of its name are used ("The home city of {s} is").

TSV: one fact per line, `subject<TAB>relation<TAB>object`; blank lines and lines starting with `#`
are skipped. Taxonomy edges are facts of a taxonomy relation. The relation-schema file is JSON:
`{"relations": [...as above...], "entities": [...optional...], "domains": [...optional...]}`.
When `entities` is omitted, each entity's type and domain come from the relations it appears in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ksmith.cache import atomic_write_text
from ksmith.errors import WorldError
from ksmith.world.document import relation_from_dict
from ksmith.world.schema import Entity
from ksmith.world.world import World


def save_world(world: World, path: str | Path) -> None:
    """Write `world` as a JSON document (atomically)."""
    atomic_write_text(Path(path), json.dumps(world.to_dict(), indent=1, sort_keys=False) + "\n")


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorldError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WorldError(f"{path}: cannot read it ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorldError(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


def load_world(path: str | Path, schema: str | Path | None = None) -> World:
    """Load a world: a JSON document, or (with `schema`, or for a `.tsv` file) triples TSV plus a
    relation-schema JSON file. A `.tsv` without `schema` looks for `<name>.schema.json` beside it."""
    path = Path(path)
    if schema is None and path.suffix.lower() == ".tsv":
        schema = path.with_suffix(".schema.json")
        if not schema.exists():
            raise WorldError(f"{path}: a TSV world needs a relation-schema file; pass one or create {schema}")
    if schema is None:
        return World.from_dict(_read_json(path))
    return load_tsv(path, schema)


def load_tsv(path: str | Path, schema: str | Path) -> World:
    """A world from a triples TSV and a relation-schema JSON file (see the module docstring)."""
    path, schema = Path(path), Path(schema)
    spec = _read_json(schema)
    if not isinstance(spec, dict) or not isinstance(spec.get("relations"), list):
        raise WorldError(f"{schema}: a relation-schema file is a JSON object with a 'relations' list")
    relations = [relation_from_dict(r) for r in spec["relations"]]
    rels = {r.name: r for r in relations}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorldError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WorldError(f"{path}: cannot read it as UTF-8 text ({exc})") from None
    declared: dict[str, Entity] | None = None
    if spec.get("entities") is not None:
        try:
            declared = {str(e["name"]): Entity(str(e["name"]), str(e["type"]), str(e["domain"]))
                        for e in spec["entities"]}
        except (KeyError, TypeError) as exc:
            raise WorldError(f"{schema}: every entity needs 'name', 'type' and 'domain' ({exc})") from None
    inferred: dict[str, Entity] = {}
    triples: list[tuple[str, str, str]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 3 or not all(f.strip() for f in fields):
            raise WorldError(
                f"{path}:{lineno}: expected 3 tab-separated fields (subject, relation, object), "
                f"got {len(fields)}: {line[:80]!r}"
            )
        s, r, o = (f.strip() for f in fields)
        rel = rels.get(r)
        if rel is None:
            raise WorldError(f"{path}:{lineno}: unknown relation '{r}'; declare it in {schema}")
        for name, etype in ((s, rel.subject_type), (o, rel.object_type)):
            if declared is not None:
                if name not in declared:
                    raise WorldError(f"{path}:{lineno}: unknown entity '{name}'; declare it in {schema}")
                continue
            prev = inferred.get(name)
            if prev is None:
                inferred[name] = Entity(name, etype, rel.domain)
            elif prev.type != etype:
                raise WorldError(
                    f"{path}:{lineno}: '{name}' is used as a '{etype}' here but as a '{prev.type}' earlier"
                )
        triples.append((s, r, o))
    entities = list(declared.values()) if declared is not None else list(inferred.values())
    domains = spec.get("domains")
    return World(entities, relations, triples, (), tuple(domains) if domains else None)
