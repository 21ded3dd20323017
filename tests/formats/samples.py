"""Small dataset files written for the tests, one per format: invented records (made-up people and
places) that follow each format's schema field for field. No record is copied from a real release."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

COUNTERFACT: list[dict[str, Any]] = [
    {
        "case_id": 0,
        "pararel_idx": 11,
        "requested_rewrite": {
            "prompt": "{} was born in",
            "relation_id": "P19",
            "target_new": {"str": "Lisbon", "id": "Q900"},
            "target_true": {"str": "Oslo", "id": "Q901"},
            "subject": "Mara Quillon",
        },
        "paraphrase_prompts": ["The rain stopped at noon. Mara Quillon's place of birth is",
                               "Mara Quillon, who was born in"],
        "neighborhood_prompts": ["Tomas Venner was born in", "Ilse Morkan was born in"],
        "attribute_prompts": ["Paul Arneson was born in"],
        "generation_prompts": ["Mara Quillon is known for", "Mara Quillon grew up"],
    },
    {
        "case_id": 1,
        "pararel_idx": 12,
        "requested_rewrite": {
            "prompt": "The mother tongue of {} is",
            "relation_id": "P103",
            "target_new": {"str": "Finnish", "id": "Q902"},
            "target_true": {"str": "Portuguese", "id": "Q903"},
            "subject": "Odo Brantley",
        },
        "paraphrase_prompts": ["Odo Brantley speaks the language"],
        "neighborhood_prompts": ["The mother tongue of Pia Holmquist is"],
        "attribute_prompts": ["The mother tongue of Rune Sato is"],
        "generation_prompts": ["Odo Brantley's friends say"],
    },
    {
        "case_id": 2,
        "pararel_idx": 13,
        "requested_rewrite": {
            "prompt": "{} was born in",
            "relation_id": "P19",
            "target_new": {"str": "New Delhi", "id": "Q904"},
            "target_true": {"str": "Cairo", "id": "Q905"},
            "subject": "Lena Ostrow",
        },
        "paraphrase_prompts": ["Lena Ostrow's birthplace is"],
        "neighborhood_prompts": ["Karl Dunmore was born in"],
        "attribute_prompts": [],
        "generation_prompts": [],
    },
    {
        "case_id": 3,
        "pararel_idx": 14,
        "requested_rewrite": {
            "prompt": "The mother tongue of {} is",
            "relation_id": "P103",
            "target_new": {"str": "Greek", "id": "Q906"},
            "target_true": {"str": "Dutch", "id": "Q907"},
            "subject": "Ines Varga",
        },
        "paraphrase_prompts": ["Ines Varga grew up speaking"],
        "neighborhood_prompts": ["The mother tongue of Arno Lind is"],
        "attribute_prompts": [],
        "generation_prompts": [],
    },
]

COUNTERFACT_EASYEDIT: list[dict[str, Any]] = [
    {"subject": "Mara Quillon", "prompt": "Mara Quillon was born in", "target_new": "Lisbon", "ground_truth": "Oslo",
     "rephrase_prompt": "Mara Quillon's place of birth is", "locality_prompt": "Tomas Venner was born in",
     "locality_ground_truth": "Oslo"},
    {"subject": "Lena Ostrow", "prompt": "Lena Ostrow was born in", "target_new": "New Delhi", "ground_truth": "Cairo",
     "rephrase_prompt": "Lena Ostrow's birthplace is", "locality_prompt": "Karl Dunmore was born in",
     "locality_ground_truth": "Cairo"},
]

ZSRE: list[dict[str, Any]] = [
    {"subject": "Watt Hollin", "src": "What university did Watt Hollin attend?", "pred": "Tern College",
     "rephrase": "Which university did Watt Hollin go to?", "alt": "Marsh University",
     "answers": ["Tern College", "Tern Coll."], "loc": "nq question: who painted the blue harbour",
     "loc_ans": "Edda Rask", "cond": "Tern College >> Marsh University || What university did Watt Hollin attend?"},
    {"subject": "Kestrel Bay", "src": "Which river flows into Kestrel Bay?", "pred": "Orra River",
     "rephrase": "What river empties into Kestrel Bay?", "alt": "",
     "answers": ["Velm River"], "loc": "nq question: when did the northern ferry open",
     "loc_ans": "1931", "cond": "Orra River >> || Which river flows into Kestrel Bay?"},
    {"subject": "Anja Pell", "src": "What position did Anja Pell play?", "pred": "goalkeeper",
     "rephrase": "Anja Pell played which position?", "alt": "midfielder",
     "answers": ["defender"], "loc": "nq question: who wrote the lantern song", "loc_ans": "Olek Barr",
     "cond": "goalkeeper >> midfielder || What position did Anja Pell play?"},
]

MQUAKE: list[dict[str, Any]] = [
    {
        "case_id": 1,
        "requested_rewrite": [
            {"prompt": "{} is a citizen of", "relation_id": "P27", "target_new": {"str": "Velmora", "id": "Q910"},
             "target_true": {"str": "Ostland", "id": "Q911"}, "subject": "Elka Brisk",
             "question": "What is the country of citizenship of Elka Brisk?"},
        ],
        "questions": ["Who heads the country Elka Brisk is a citizen of?",
                      "Who is the head of state of the country of citizenship of Elka Brisk?",
                      "Elka Brisk is a citizen of a country led by whom?"],
        "answer": "Tomas Ruud", "answer_alias": ["T. Ruud"],
        "new_answer": "Ilse Varn", "new_answer_alias": ["President Varn"],
        "single_hops": [
            {"question": "What is the country of citizenship of Elka Brisk?", "cloze": "Elka Brisk is a citizen of",
             "answer": "Ostland", "answer_alias": ["Ostland Republic"]},
            {"question": "Who is the head of state of Ostland?", "cloze": "The head of state of Ostland is",
             "answer": "Tomas Ruud", "answer_alias": ["T. Ruud"]},
        ],
        "new_single_hops": [
            {"question": "What is the country of citizenship of Elka Brisk?", "cloze": "Elka Brisk is a citizen of",
             "answer": "Velmora", "answer_alias": []},
            {"question": "Who is the head of state of Velmora?", "cloze": "The head of state of Velmora is",
             "answer": "Ilse Varn", "answer_alias": ["President Varn"]},
        ],
        "orig": {"triples": [["Q912", "P27", "Q911"], ["Q911", "P35", "Q913"]],
                 "triples_labeled": [["Elka Brisk", "country of citizenship", "Ostland"],
                                     ["Ostland", "head of state", "Tomas Ruud"]],
                 "new_triples": [["Q912", "P27", "Q910"], ["Q910", "P35", "Q914"]],
                 "new_triples_labeled": [["Elka Brisk", "country of citizenship", "Velmora"],
                                         ["Velmora", "head of state", "Ilse Varn"]],
                 "edit_triples": [["Q912", "P27", "Q910"]]},
    },
    {
        "case_id": 2,
        "requested_rewrite": [
            {"prompt": "{} works in the field of", "relation_id": "P101", "target_new": {"str": "botany", "id": "Q920"},
             "target_true": {"str": "geology", "id": "Q921"}, "subject": "Rolf Anker",
             "question": "Which field does Rolf Anker work in?"},
            {"prompt": "The founder of {} is", "relation_id": "P112", "target_new": {"str": "Mira Solberg", "id": "Q922"},
             "target_true": {"str": "Hugo Lanz", "id": "Q923"}, "subject": "botany",
             "question": "Who founded botany?"},
        ],
        "questions": ["Who founded the field Rolf Anker works in?",
                      "The field of work of Rolf Anker was founded by whom?",
                      "Who is the founder of Rolf Anker's field?"],
        "answer": "Jon Eckart", "answer_alias": [],
        "new_answer": "Mira Solberg", "new_answer_alias": ["M. Solberg"],
        "single_hops": [
            {"question": "Which field does Rolf Anker work in?", "cloze": "Rolf Anker works in the field of",
             "answer": "geology", "answer_alias": []},
            {"question": "Who founded geology?", "cloze": "The founder of geology is", "answer": "Jon Eckart",
             "answer_alias": []},
        ],
        "new_single_hops": [
            {"question": "Which field does Rolf Anker work in?", "cloze": "Rolf Anker works in the field of",
             "answer": "botany", "answer_alias": []},
            {"question": "Who founded botany?", "cloze": "The founder of botany is", "answer": "Mira Solberg",
             "answer_alias": ["M. Solberg"]},
        ],
        "orig": {"triples": [["Q924", "P101", "Q921"], ["Q921", "P112", "Q925"]],
                 "triples_labeled": [["Rolf Anker", "field of work", "geology"], ["geology", "founded by", "Jon Eckart"]],
                 "new_triples": [["Q924", "P101", "Q920"], ["Q920", "P112", "Q922"]],
                 "new_triples_labeled": [["Rolf Anker", "field of work", "botany"], ["botany", "founded by", "Mira Solberg"]],
                 "edit_triples": [["Q924", "P101", "Q920"], ["Q920", "P112", "Q922"]]},
        "split": "2-hop-conflict",
    },
]


def _query(prompt: str, relation: str, subject: str, targets: list[tuple[str, str, list[str]]]) -> dict[str, Any]:
    return {"prompt": prompt, "answers": [{"value": v, "aliases": a} for _, v, a in targets], "query_type": "regular",
            "subject_id": subject, "relation": relation, "target_ids": [t for t, _, _ in targets], "phrase": None}


RIPPLE: list[dict[str, Any]] = [
    {
        "example_type": "popular",
        "edit": {
            "prompt": "The name of the spouse of Arvid Lenk is Sigrun Hale.", "subject_id": "Q930",
            "relation": "SPOUSE", "target_id": "Q931",
            "original_fact": {"prompt": "The name of the spouse of Arvid Lenk is Maren Voss.", "subject_id": "Q930",
                              "relation": "SPOUSE", "target_id": "Q932"},
        },
        "Relation_Specificity": [{
            "test_queries": [_query("The name of the mother of Arvid Lenk is", "MOTHER", "Q930",
                                    [("Q933", "Greta Lenk", ["G. Lenk"])])],
            "test_condition": "OR",
            "condition_queries": [_query("The name of the mother of Arvid Lenk is", "MOTHER", "Q930",
                                         [("Q933", "Greta Lenk", ["G. Lenk"])])],
        }],
        "Logical_Generalization": [{
            "test_queries": [_query("The name of the spouse of Sigrun Hale is", "SPOUSE", "Q931",
                                    [("Q930", "Arvid Lenk", ["A. Lenk"])])],
            "test_condition": "OR",
            "condition_queries": [],
        }],
        "Subject_Aliasing": [{
            "test_queries": [_query("The name of the spouse of A. Lenk is", "SPOUSE", "Q930",
                                    [("Q931", "Sigrun Hale", [])])],
            "test_condition": "OR",
            "condition_queries": [],
        }],
        "Compositionality_I": [{
            "test_queries": [_query("The name of the mother of the spouse of Arvid Lenk is", "MOTHER", "Q930",
                                    [("Q934", "Ylva Hale", [])])],
            "test_condition": "AND",
            "condition_queries": [_query("The name of the mother of Sigrun Hale is", "MOTHER", "Q931",
                                         [("Q934", "Ylva Hale", [])])],
        }],
        "Compositionality_II": [],
        "Forgetfulness": [],
    },
    {
        "example_type": "recent",
        "edit": {"prompt": "The name of the head coach of Ferro Athletic is Bram Tollin.", "subject_id": "Q940",
                 "relation": "HEAD_COACH", "target_id": "Q941"},
        "Relation_Specifity": [{
            "test_queries": [_query("The name of the league of Ferro Athletic is", "LEAGUE", "Q940",
                                    [("Q942", "Coastal League", [])])],
            "test_condition": "OR",
            "condition_queries": [_query("The name of the league of Ferro Athletic is", "LEAGUE", "Q940",
                                         [("Q942", "Coastal League", [])])],
        }],
        "Logical_Generalization": [],
        "Subject_Aliasing": [{
            "test_queries": [_query("The name of the head coach of Ferro AC is", "HEAD_COACH", "Q940",
                                    [("Q941", "Bram Tollin", ["B. Tollin"])])],
            "test_condition": "OR",
            "condition_queries": [],
        }],
        "Compositionality_I": [],
        "Compositionality_II": [],
        "Forgetfulness": [],
    },
]

KNOWEDIT: list[dict[str, Any]] = [
    {
        "subject": "Halvard Iso",
        "prompt": "The name of the country of citizenship of Halvard Iso is",
        "target_new": "Norland",
        "ground_truth": ["Ostmark"],
        "rephrase_prompt": "Halvard Iso holds the citizenship of",
        "portability": {
            "Reasoning": [{"prompt": "The capital of the country of citizenship of Halvard Iso is",
                           "ground_truth": [["Nordby", "Nordby City"]]}],
            "Subject_Aliasing": [{"prompt": "The name of the country of citizenship of H. Iso is",
                                  "ground_truth": [["Norland", "Kingdom of Norland"]]}],
            "Logical_Generalization": [{"prompt": "Is Halvard Iso a citizen of Ostmark?",
                                        "ground_truth": [["no"]]}],
        },
        "locality": {
            "Relation_Specificity": [{"prompt": "The name of the father of Halvard Iso is",
                                      "ground_truth": [["Bjorn Iso"]]}],
            "Forgetfulness": [{"prompt": "The name of the sibling of Halvard Iso is", "ground_truth": ["Tove Iso"]}],
        },
    },
    {
        "subject": "Saga Mellin",
        "prompt": "The occupation of Saga Mellin is",
        "target_new": [["architect", "building designer"]],
        "ground_truth": "composer",
        "rephrase_prompt": "Saga Mellin works as a",
        "portability": {},
        "locality": {"Relation_Specificity": [{"prompt": "The place of birth of Saga Mellin is",
                                               "ground_truth": [["Ravnholm"]]}]},
    },
]


def write(path: Path, records: Any) -> Path:
    path.write_text(json.dumps(records, indent=1), encoding="utf-8")
    return path


def variant(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A deep copy to break for bad-file tests."""
    return copy.deepcopy(records)
