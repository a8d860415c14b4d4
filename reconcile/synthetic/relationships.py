"""Family links each system holds: child to mother and father, and between siblings.

Links are only drawn between rows of the same system (a system cannot point at the other's
IDs), only from a person's main row (duplicates are usually unlinked), and some are lost.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reconcile.synthetic import settings as S
from reconcile.synthetic.sampling import Stage

COLUMNS = ["system", "person_id", "related_person_id", "relationship"]


def relationships(stage: Stage, rows: pd.DataFrame, pop: pd.DataFrame) -> pd.DataFrame:
    """Internal relationship rows; sibling codes say brother or sister, as Mosaic records them."""
    main = rows.loc[~rows["duplicate"], ["system", "person_id", "true", "placeholder"]].copy()
    main["order"] = np.arange(len(main))
    main["household"] = pop["household"].to_numpy()[main["true"].to_numpy()]
    child = main[(pop["role"].to_numpy()[main["true"].to_numpy()] == "child")]
    links = [_parent_links(child, main, pop, "mother")]
    links.append(_parent_links(child[~child["placeholder"]], main, pop, "father"))
    born = child[~child["placeholder"]]
    pairs = born.merge(born, on=["system", "household"], suffixes=("", "_rel"))
    pairs = pairs[pairs["true"] != pairs["true_rel"]]
    sex = pop["sex"].to_numpy()[pairs["true_rel"].to_numpy()]
    links.append(
        pd.DataFrame(
            {
                "system": pairs["system"].to_numpy(),
                "person_id": pairs["person_id"].to_numpy(),
                "related_person_id": pairs["person_id_rel"].to_numpy(),
                "relationship": np.select([sex == "M", sex == "F"], ["brother", "sister"], "sibling"),
                "order": pairs["order"].to_numpy(),
                "order_rel": pairs["order_rel"].to_numpy(),
            }
        )
    )
    out = pd.concat(links, ignore_index=True).sort_values(["order", "order_rel"], kind="stable")
    kept = ~stage.pick(np.ones(len(out), dtype=bool), S.RELATIONSHIP_MISSING_RATE, at_least=0)
    return out.loc[kept, COLUMNS].reset_index(drop=True)


def _parent_links(child: pd.DataFrame, main: pd.DataFrame, pop: pd.DataFrame, parent: str) -> pd.DataFrame:
    """child -> parent links where the parent has a row in the child's system."""
    want = child.assign(parent_true=pop[parent].to_numpy()[child["true"].to_numpy()])
    found = want.merge(
        main[["system", "true", "person_id", "order"]].rename(
            columns={"true": "parent_true", "person_id": "related_person_id", "order": "order_rel"}
        ),
        on=["system", "parent_true"],
    )
    return pd.DataFrame(
        {
            "system": found["system"].to_numpy(),
            "person_id": found["person_id"].to_numpy(),
            "related_person_id": found["related_person_id"].to_numpy(),
            "relationship": parent,
            "order": found["order"].to_numpy(),
            "order_rel": found["order_rel"].to_numpy(),
        }
    )
