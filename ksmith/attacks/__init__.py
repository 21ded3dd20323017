"""Attacks on an unlearned model: what brings forgotten knowledge back.

An attack changes the weights a method left, like an update does, but is never a method: it runs on a
copy of the updated weights that the harness restores and verifies afterwards, and then once more on
the unedited model as a control (`ksmith.fixtures.attacks`). Two kinds, each cheap for an attacker:

- `quantise`: weight quantisation, round-to-nearest (Zhang et al., ICLR 2025, arXiv 2410.16454);
- `relearn`: a few fine-tuning steps on facts related to the forgotten ones in the knowledge graph,
  never the forgotten facts themselves (Hu et al., arXiv 2406.13356; Deeb and Roger, arXiv 2410.08827).

The attacks are data (`ATTACKS`), chosen per run with `--ksmith-attacks`.
"""

from ksmith.attacks.specs import ATTACKS, Attack, AttackError, parse_attacks

__all__ = ["ATTACKS", "Attack", "AttackError", "parse_attacks"]
