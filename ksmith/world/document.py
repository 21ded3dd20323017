"""A world's JSON document (see `ksmith.world.io` for its schema): relations to and from their
dictionaries, and a document checked and turned into `World`'s constructor arguments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ksmith.errors import WorldError
from ksmith.world.schema import Entity, Relation, RelationTemplates

FORMAT = "ksmith.world"
FORMAT_VERSION = 1

Document = tuple[
    list[Entity], list[Relation], list[tuple[str, str, str]], list[tuple[str, str]], "tuple[str, ...] | None",
    list[tuple[str, str, str]],
]


def parse_document(data: Any) -> Document:
    """Entities, relations, triples, removed pairs, domains and other true answers ("also") of a
    world document; anything malformed raises `WorldError` naming what is wrong."""
    if not isinstance(data, Mapping):
        raise WorldError("a world document must be a JSON object with 'entities', 'relations' and 'facts'")
    fmt = data.get("format", FORMAT)
    if fmt != FORMAT:
        raise WorldError(f"not a ksmith world document (format '{fmt}', expected '{FORMAT}')")
    for key in ("entities", "relations"):
        if not isinstance(data.get(key), list):
            raise WorldError(f"world document: '{key}' must be a list")
    try:
        entities = [
            Entity(str(e["name"]), str(e["type"]), str(e["domain"]),
                   str(e["mention"]) if e.get("mention") is not None else None)
            for e in data["entities"]
        ]
    except (KeyError, TypeError) as exc:
        raise WorldError(f"world document: every entity needs 'name', 'type' and 'domain' ({exc})") from None
    relations = [relation_from_dict(r) for r in data["relations"]]
    triples: list[tuple[str, str, str]] = []
    also: list[tuple[str, str, str]] = []
    for key, into in (("taxonomy", triples), ("facts", triples), ("also", also)):
        rows = data.get(key, [])
        if not isinstance(rows, list):
            raise WorldError(f"world document: '{key}' must be a list of [subject, relation, object]")
        for row in rows:
            if not isinstance(row, (list, tuple)) or len(row) != 3 or not all(isinstance(x, str) for x in row):
                raise WorldError(f"world document: '{key}' entry {row!r} is not [subject, relation, object]")
            into.append((row[0], row[1], row[2]))
    removed = []
    for row in data.get("removed", []):
        if not isinstance(row, (list, tuple)) or len(row) != 2:
            raise WorldError(f"world document: 'removed' entry {row!r} is not [subject, relation]")
        removed.append((str(row[0]), str(row[1])))
    domains = data.get("domains")
    return entities, relations, triples, removed, tuple(domains) if domains else None, also


def relation_to_dict(rel: Relation) -> dict[str, Any]:
    t = rel.templates
    return {
        "name": rel.name,
        "domain": rel.domain,
        "subject_type": rel.subject_type,
        "object_type": rel.object_type,
        "taxonomy": rel.taxonomy,
        "inherited": rel.inherited,
        "functional": rel.functional,
        "inverse": rel.inverse,
        **({"distractors": rel.distractors} if rel.distractors != "type" else {}),
        "templates": {
            "cloze": list(t.cloze),
            "questions": list(t.questions),
            "reverse": list(t.reverse),
            "held_out": t.held_out,
            **({"noun": t.noun} if t.noun else {}),
        },
    }


def relation_from_dict(data: Any) -> Relation:
    """A relation from its JSON form; templates default to the generic patterns of its name."""
    from ksmith.world.templates import relation_templates, taxonomy_templates

    if not isinstance(data, Mapping):
        raise WorldError(f"relation schema: {data!r} is not an object")
    try:
        name = str(data["name"])
        subject_type = str(data["subject_type"])
        object_type = str(data["object_type"])
    except KeyError as exc:
        raise WorldError(f"relation schema: {dict(data)!r} lacks {exc}; each relation needs "
                         "'name', 'subject_type' and 'object_type'") from None
    taxonomy = bool(data.get("taxonomy", False))
    inverse = data.get("inverse")
    tpl = data.get("templates")
    if tpl is None:
        keyword = name.replace("_", " ")
        templates = (
            taxonomy_templates(f"a {keyword}" if not keyword.startswith(("a ", "an ")) else keyword, 0)
            if taxonomy
            else relation_templates(keyword, 0, reverse=inverse is not None)
        )
    else:
        try:
            templates = RelationTemplates(
                cloze=tuple(str(x) for x in tpl.get("cloze", ())),
                questions=tuple(str(x) for x in tpl.get("questions", ())),
                reverse=tuple(str(x) for x in tpl.get("reverse", ())),
                held_out=int(tpl.get("held_out", 0)),
                noun=str(tpl.get("noun", "")),
            )
        except (AttributeError, TypeError, ValueError) as exc:
            raise WorldError(f"relation '{name}': bad templates ({exc})") from None
        for form in templates.cloze + templates.questions + ((templates.noun,) if templates.noun else ()):
            if "{s}" not in form:
                raise WorldError(f"relation '{name}': template {form!r} lacks the subject placeholder {{s}}")
        for form in templates.reverse:
            if "{o}" not in form:
                raise WorldError(f"relation '{name}': reverse template {form!r} lacks the object placeholder {{o}}")
    return Relation(
        name=name,
        domain=str(data.get("domain", "")),
        subject_type=subject_type,
        object_type=object_type,
        templates=templates,
        taxonomy=taxonomy,
        inherited=bool(data.get("inherited", False)),
        functional=bool(data.get("functional", True)),
        inverse=str(inverse) if inverse is not None else None,
        distractors=str(data.get("distractors", "type")),
    )
