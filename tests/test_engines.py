"""Chunked pairs and the Dask engine: neither the engine nor the chunk size changes a single pair, weight or master."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import cli
from conftest import read_frame, write_config
from reconcile.config import load_config, with_engine
from reconcile.errors import ConfigError
from reconcile.matching import load_rules, match_people
from reconcile.matching.blocking import block, chunks, plan, rule_blocks, rule_pairs, sorted_pairs
from reconcile.matching.comparisons import Prepared
from reconcile.matching.constraints import DOB_SLIP, Relatives
from reconcile.matching.engines import open_engine
from reconcile.matching.incremental import _score_among
from reconcile.matching.pipeline import score_pairs

RULES = load_rules()


@pytest.fixture(scope="module")
def synthetic_people(synthetic_run):
    """The seeded synthetic session run's person and relationship rows, as match_people takes them."""
    _, config, _ = synthetic_run
    url = config.target_url()
    return read_frame(url, "SELECT * FROM person"), read_frame(url, "SELECT * FROM relationship")


def _match(persons: pd.DataFrame, relationships: pd.DataFrame, **options: object):
    return match_people(persons, relationships, RULES, seed=5, **options)


def test_dask_on_two_workers_gives_the_local_pairs_weights_and_clusters(synthetic_people):
    """Worker processes (processes=True): the chunks really are pickled, shipped and computed elsewhere."""
    persons, relationships = synthetic_people
    local = _match(persons, relationships)
    with open_engine("dask", workers=2) as engine:
        distributed = _match(persons, relationships, engine=engine, chunk_pairs=700)
    assert len(local.pairs) > 700 * 4  # several chunks per worker
    pd.testing.assert_frame_equal(local.pairs, distributed.pairs, check_exact=True)
    pd.testing.assert_frame_equal(local.clusters, distributed.clusters, check_exact=True)
    assert local.clusters["cluster"].nunique() < len(local.clusters)  # something was linked


def test_the_chunk_size_changes_nothing(synthetic_people):
    persons, relationships = synthetic_people
    whole = _match(persons, relationships, chunk_pairs=10**9)
    small = _match(persons, relationships, chunk_pairs=500)
    pd.testing.assert_frame_equal(whole.pairs, small.pairs, check_exact=True)
    pd.testing.assert_frame_equal(whole.clusters, small.clusters, check_exact=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pairs_scored_over_only_the_records_they_name_score_as_over_all(synthetic_people, seed):
    """A night scores its pairs over the few records they name: levels, weights, probabilities and every
    flag (the twin guard reads households, `related` the relationship rows) must be those of all records."""
    persons, relationships = synthetic_people
    result = _match(persons, relationships)
    std, pairs = result.std, result.pairs
    # Near-twins of one system whom nothing but a household would put under the twin guard: give each pair a
    # common relative, a record of their system outside the pair.
    near = pairs[
        (pairs["dob"] >= DOB_SLIP) & (pairs["address"] < 3) & (pairs["surname"] < 3) & ~pairs["twin_guard"]
        & (pairs["source_system_l"] == pairs["source_system_r"])
    ]  # fmt: skip
    twins = near.sample(min(len(near), 40), random_state=seed)
    named = set(twins["person_id_l"]) | set(twins["person_id_r"])
    others = std[~std["person_id"].isin(named)]
    relative = {
        system: others.loc[others["source_system"] == system, "person_id"].iloc[0] for system in ("lcs", "mosaic")
    }
    ends = zip(twins["source_system_l"], twins["person_id_l"], twins["person_id_r"], strict=True)
    rows = [(system, person, relative[system], "mother") for system, left, right in ends for person in (left, right)]
    extra = pd.DataFrame(rows, columns=["source_system", "person_id", "related_person_id", "relationship"])
    relatives = Relatives.of(std, pd.concat([relationships, extra], ignore_index=True))
    rest = [pairs[pairs["related"]], pairs[~pairs["related"]]]
    some = pd.concat([twins, *(part.sample(min(len(part), 100), random_state=seed) for part in rest)])
    some = some.sort_values(["rid_l", "rid_r"])[["rid_l", "rid_r", "rule"]].reset_index(drop=True)
    among = _score_among(std, some, RULES, result.model, relatives)
    whole = score_pairs(Prepared(std), some, RULES, result.model, relatives)
    pd.testing.assert_frame_equal(among, whole, check_exact=True)
    raised = among.merge(twins[["rid_l", "rid_r"]], on=["rid_l", "rid_r"])["twin_guard"]
    assert raised.sum() >= 2 and among["related"].any()  # the flags that read households and relationship rows
    assert len(np.unique(some[["rid_l", "rid_r"]])) < len(std) / 2  # over a part of the records


KEYS = st.sampled_from([None, "a", "b", "c"])


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(KEYS, KEYS, KEYS), min_size=0, max_size=30),
    max_block=st.integers(2, 8),
    chunk_pairs=st.integers(1, 20),
)
def test_chunked_blocking_is_the_union_of_rules_each_pair_once_under_its_first_rule(rows, max_block, chunk_pairs):
    std = pd.DataFrame(rows, columns=["x", "y", "z"], dtype=object).assign(rid=np.arange(len(rows)))
    rules = [["x"], ["y", "z"], ["z"]]
    expected = {}
    for number, rule in enumerate(rules):
        keys = [tuple(row[k] for k in rule) for _, row in std.iterrows()]
        sizes = pd.Series(keys).value_counts()
        for i, j in itertools.combinations(range(len(rows)), 2):
            if None not in keys[i] and keys[i] == keys[j] and sizes[keys[i]] <= max_block:
                expected.setdefault((i, j), number)
    found, codes, _ = plan(std, rules, max_block)
    chunked = sorted_pairs([chunk.pairs(codes) for chunk in chunks(found, chunk_pairs)])
    got = {(int(a), int(b)): int(r) for a, b, r in chunked[["rid_l", "rid_r", "rule"]].itertuples(index=False)}
    assert got == expected
    assert len(chunked) == len(got)  # no pair twice
    whole, _ = block(std, rules, max_block)
    assert [tuple(p) for p in whole[["rid_l", "rid_r"]].to_numpy().tolist()] == sorted(expected)


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(KEYS, min_size=0, max_size=40), limit=st.integers(1, 30), seed=st.integers(0, 3))
def test_a_rules_pairs_are_sampled_by_position_without_listing_them(keys, limit, seed):
    """Training's sample: the pairs at `rng.choice` positions of the full (rid_l, rid_r)-ordered list."""
    std = pd.DataFrame({"x": keys, "rid": np.arange(len(keys))}, dtype=object).astype({"rid": np.int64})
    pairs_of = itertools.combinations(range(len(keys)), 2)
    every = [(i, j) for i, j in pairs_of if keys[i] is not None and keys[i] == keys[j]]
    pairs, count = rule_pairs(rule_blocks(std, ["x"], 100), limit, np.random.default_rng(seed))
    assert count == len(every)
    got = [tuple(p) for p in pairs.to_numpy().tolist()]
    if count <= limit:
        assert got == every
    else:
        positions = np.sort(np.random.default_rng(seed).choice(count, limit, replace=False))
        assert got == [every[k] for k in positions]


def test_engine_settings_are_checked_and_named(tmp_path):
    base = {"sources": {"a": {"connector": "files", "entities": {"person": {"path": "p.csv"}}}}}
    path = write_config(tmp_path, {**base, "matching": {"engine": "spark"}})
    with pytest.raises(ConfigError, match=r"matching\.engine"):
        load_config(path)
    path = write_config(tmp_path, {**base, "matching": {"scheduler": "tcp://10.0.0.1:8786"}})
    with pytest.raises(ConfigError, match="scheduler.*engine: dask"):
        load_config(path)
    path = write_config(tmp_path, {**base, "matching": {"chunk_pairs": 0}})
    with pytest.raises(ConfigError, match=r"matching\.chunk_pairs"):
        load_config(path)
    config = load_config(write_config(tmp_path, {**base, "matching": {"rules": "r.yaml", "chunk_pairs": 5}}))
    switched = with_engine(config, "dask")
    assert (switched.matching.engine, switched.matching.rules, switched.matching.chunk_pairs) == ("dask", "r.yaml", 5)
    assert switched.path == config.path


def test_an_unreachable_scheduler_is_a_config_error_naming_the_setting():
    with (
        pytest.raises(ConfigError, match="matching.scheduler"),
        open_engine("dask", scheduler="tcp://127.0.0.1:9", connect_timeout=2),
    ):
        pass


def test_reconcile_match_engine_dask_publishes_what_the_local_engine_does(tmp_path):
    from reconcile.synthetic import write_demo

    files = write_demo(tmp_path / "demo", people=150, seed=3)
    runner = CliRunner()
    assert runner.invoke(cli, ["extract", "--config", str(files.config), "--quiet"]).exit_code == 0
    published = {}
    for engine in ("local", "dask"):
        result = runner.invoke(cli, ["match", "--config", str(files.config), "--engine", engine])
        assert result.exit_code == 0, result.output
        url = load_config(files.config).target_url()
        published[engine] = read_frame(
            url, "SELECT * FROM match_pair ORDER BY source_system_l, source_id_l, source_system_r, source_id_r"
        ).drop(columns="run_id")
    assert len(published["local"]) > 0
    pd.testing.assert_frame_equal(published["local"], published["dask"], check_exact=True)
