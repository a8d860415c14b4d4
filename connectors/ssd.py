"""The Standard Safeguarding Dataset preset: point it at an SSD database and every entity is mapped.

Column names follow data-to-insight's SSD extract scripts (v1.4.x). Extracts differ between
case systems and versions, so the preset reflects what the database actually holds: a column
that is absent reads as NULL, a table that is absent means the entity is not provided.
Entities given under `entities:` in reconcile.yaml replace the preset's.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from sqlalchemy import MetaData, Table, case, func, inspect, literal, null, select
from sqlalchemy.engine import URL
from sqlalchemy.sql import ColumnElement, Select

from connectors.sql import SqlConnector
from reconcile.config import EntitySpec, SourceSpec
from reconcile.errors import SourceError

# canonical entity -> (SSD table, {canonical column: SSD column})
PRESET: dict[str, tuple[str, dict[str, str]]] = {
    "person": (
        "ssd_person",
        {
            "person_id": "pers_person_id",
            "forename": "pers_forename",
            "surname": "pers_surname",
            "dob": "pers_dob",
            "expected_dob": "pers_expected_dob",
            "sex": "pers_sex",
            "nhs_number": "pers_single_unique_id",
            "upn": "pers_upn",
            "ethnicity": "pers_ethnicity",
            "death_date": "pers_death_date",
        },
    ),
    "relationship": ("ssd_mother", {"person_id": "moth_childs_person_id", "related_person_id": "moth_person_id"}),
    "contact": (
        "ssd_contacts",
        {
            "contact_id": "cont_contact_id",
            "person_id": "cont_person_id",
            "contact_datetime": "cont_contact_date",
            "outcome": "cont_contact_outcome_json",
            "source": "cont_contact_source_desc",
        },
    ),
    "referral": (
        "ssd_cin_episodes",
        {
            "referral_id": "cine_referral_id",
            "person_id": "cine_person_id",
            "referral_date": "cine_referral_date",
            "outcome": "cine_referral_outcome_json",
        },
    ),
    "assessment": (
        "ssd_cin_assessments",
        {
            "assessment_id": "cina_assessment_id",
            "person_id": "cina_person_id",
            "start_date": "cina_assessment_start_date",
            "completed_date": "cina_assessment_auth_date",
        },
    ),
    "cp_plan": (
        "ssd_cp_plans",
        {
            "plan_id": "cppl_cp_plan_id",
            "person_id": "cppl_person_id",
            "start_date": "cppl_cp_plan_start_date",
            "end_date": "cppl_cp_plan_end_date",
            "category": "cppl_cp_plan_latest_category",
        },
    ),
    "involvement": (
        "ssd_involvements",
        {
            "involvement_id": "invo_involvements_id",
            "person_id": "invo_person_id",
            "team": "invo_professional_team",
            "worker": "invo_professional_id",
            "start_date": "invo_involvement_start_date",
            "end_date": "invo_involvement_end_date",
        },
    ),
}
# Liquidlogic's extract passes its raw gender codes through; 'I' is indeterminate.
PRESET_VALUES = {"person": {"sex": {"I": "U"}}}


class SsdConnector(SqlConnector):
    def __init__(self, name: str, spec: SourceSpec, url: URL) -> None:
        super().__init__(name, spec, url)
        self._tables = self._reflect()
        if "ssd_person" not in self._tables:
            raise SourceError(
                name, "person", "connect", "no ssd_person table: this is not an SSD database. Fix: check `url`."
            )

    def entities(self) -> dict[str, EntitySpec]:
        preset = {
            entity: EntitySpec(table=table_name, values=PRESET_VALUES.get(entity, {}))
            for entity, (table_name, _) in PRESET.items()
            if table_name in self._tables
        }
        return {**preset, **self.spec.entities}

    def read(self, entity: str, spec: EntitySpec) -> Iterator[pd.DataFrame]:
        if entity in self.spec.entities:
            yield from super().read(entity, spec)
        else:
            yield from self.stream(entity, self._preset_select(entity))

    def _reflect(self) -> dict[str, Table]:
        try:
            inspector = inspect(self.engine)
            names = [n for n in inspector.get_table_names(schema=self.spec.schema_) if n.lower().startswith("ssd_")]
            metadata = MetaData(schema=self.spec.schema_)
            return {n.lower(): Table(n, metadata, autoload_with=self.engine) for n in names}
        except Exception as exc:  # noqa: BLE001 - any driver failure here means we cannot reach the source
            raise SourceError(self.name, None, "connect", type(exc).__name__) from None

    def _column(self, table_name: str, name: str) -> ColumnElement:
        table = self._tables.get(table_name)
        if table is None:
            return null()
        by_lower = {c.name.lower(): c for c in table.columns}
        return by_lower.get(name, null())

    def _preset_select(self, entity: str) -> Select:
        table_name, mapping = PRESET[entity]
        table = self._tables[table_name]
        columns = {canonical: self._column(table_name, ssd) for canonical, ssd in mapping.items()}
        if entity == "person":
            person_id = columns["person_id"]
            columns["nhs_number"] = func.coalesce(columns["nhs_number"], self._identifier(person_id, "NHS Number"))
            columns["upn"] = func.coalesce(columns["upn"], self._identifier(person_id, "Unique Pupil Number"))
            columns["postcode"] = self._latest_address(person_id, "addr_address_postcode")
            columns["address"] = self._latest_address(person_id, "addr_address_json")
        if entity == "relationship":
            columns["relationship"] = literal("mother")
        if entity == "involvement" and "ssd_professionals" in self._tables:
            name = self._column("ssd_professionals", "prof_professional_name")
            prof_id = self._column("ssd_professionals", "prof_professional_id")
            columns["worker"] = func.coalesce(
                select(name).where(prof_id == columns["worker"]).limit(1).scalar_subquery(), columns["worker"]
            )
        return select(*(value.label(canonical) for canonical, value in columns.items())).select_from(table)

    def _identifier(self, person_id: ColumnElement, kind: str) -> ColumnElement:
        if "ssd_linked_identifiers" not in self._tables:
            return null()
        value = self._column("ssd_linked_identifiers", "link_identifier_value")
        return (
            select(value)
            .where(self._column("ssd_linked_identifiers", "link_person_id") == person_id)
            .where(self._column("ssd_linked_identifiers", "link_identifier_type") == kind)
            .limit(1)
            .scalar_subquery()
        )

    def _latest_address(self, person_id: ColumnElement, column_name: str) -> ColumnElement:
        """SSD keeps address history; the current one is the latest start.

        Undated rows sort last in every dialect (PostgreSQL would put NULLs first, and SQL Server has no
        NULLS LAST), and the row ID breaks ties, so postcode and address lines come from the same row.
        """
        if "ssd_address" not in self._tables:
            return null()
        start = self._column("ssd_address", "addr_address_start_date")
        return (
            select(self._column("ssd_address", column_name))
            .where(self._column("ssd_address", "addr_person_id") == person_id)
            .order_by(case((start.is_(None), 1), else_=0), start.desc(), self._column("ssd_address", "addr_table_id"))
            .limit(1)
            .scalar_subquery()
        )
