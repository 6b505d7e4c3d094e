"""Validation says what the run would say: every broken input is a problem on its row, a job that does
not validate is a draft that never runs, and outbound jobs are checked against what the CRM refuses."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from crmhub.core.clock import utcnow
from crmhub.core.errors import ConfigError, JobInvalidError, NotFoundError
from crmhub.emulators import hubspot as hs
from crmhub.emulators import salesforce as sf
from crmhub.emulators.serve import serve_in_thread
from crmhub.services.jobs import JobService, errors_of
from crmhub.store import runs as run_repo
from crmhub.store import schedules as schedule_repo
from crmhub.store.jobs import get_job
from crmhub.sync.spec import JobSpec

from .conftest import inbound_spec, write_csv

HEADER = "id,name,employees,founded,country"
ROWS = ["A1,Acme,1.200,01.02.2000,de", "A2,Globex,15,03.04.1999,us"]

#: (what is broken, the mapping row that says so (1-based), words the problem must contain).
BROKEN_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown function", {"expression": "DOMIAN(name)", "target": "domain"}, "did you mean DOMAIN"),
    (
        "number compared with text",
        {"expression": 'IF(employees >= "1000", "big", "small")', "target": "type"},
        "cannot compare number with text",
    ),
    ("syntax error", {"expression": "UPPER(country", "target": "billing_country"}, "line 1"),
    (
        "bad boolean format",
        {"source": "country", "source_format": "ja", "target": "flag", "new_attribute": {"type": "boolean"}},
        "must look like yes/no",
    ),
    (
        "bad date format",
        {
            "source": "founded",
            "source_format": "QQ-XX",
            "target": "founded_on",
            "new_attribute": {"type": "date"},
        },
        "source format 'QQ-XX' is not usable",
    ),
    (
        "bad number format",
        {"source": "employees", "source_format": "1.234 5", "target": "annual_revenue"},
        "cannot be the decimal separator",
    ),
    ("constant of the wrong type", {"constant": "many", "target": "employees"}, "constant"),
    ("unknown source field", {"source": "nmae", "target": "description"}, "did you mean 'name'"),
    ("unknown attribute", {"source": "name", "target": "nmae"}, "did you mean 'name'"),
    ("unknown field in an expression", {"expression": "UPPER(contry)", "target": "type"}, "'country'"),
]


def _with_row(row: dict[str, Any], **kw: Any) -> JobSpec:
    base = [
        {"source": "id", "target": "account_id"},
        {"source": "name", "target": "name"},
    ]
    return inbound_spec(mapping=[*base, row], **kw)


@pytest.mark.parametrize(("what", "row", "words"), BROKEN_ROWS, ids=[b[0] for b in BROKEN_ROWS])
def test_given_a_broken_mapping_row_when_validated_or_previewed_then_it_is_a_problem_on_its_row(
    jobs: JobService, files: Path, what: str, row: dict[str, Any], words: str
) -> None:
    write_csv(files / "accounts.csv", HEADER, ROWS)
    spec = _with_row(row)
    problems = errors_of(jobs.validate(spec))
    assert [p.row for p in problems] == [2], [str(p) for p in problems]
    assert words in str(problems[0]) and str(problems[0]).startswith("mapping row 3:")
    # Preview compiles the mapping as a run does (without the source's types): what fails there is
    # refused with the row named; a type error or an unknown name is validation's to find.
    if what not in (
        "number compared with text",
        "unknown source field",
        "unknown attribute",
        "unknown field in an expression",
    ):
        with pytest.raises(JobInvalidError) as raised:
            jobs.preview(spec)
        assert raised.value.problems and raised.value.problems[0][0] == "mapping[3]"
    # Saved, it is a draft: disabled, its problem kept, and refused by run, enable and sync-now.
    job = jobs.create(spec)
    assert (job.enabled, len(job.problems)) == (False, 1) and words in job.problems[0]
    with pytest.raises(JobInvalidError, match="is a draft"):
        jobs.run(spec.name)
    with pytest.raises(JobInvalidError, match="is not enabled"):
        jobs.set_enabled(spec.name, True)
    with jobs.db.read() as session:
        assert run_repo.list_runs(session, job_id=job.id, limit=10) == []


def test_given_a_job_whose_format_is_broken_when_run_as_it_was_then_it_fails_naming_the_row_not_internal(
    jobs: JobService, files: Path
) -> None:
    # An older version saved before validation existed: the run must not call it an internal error.
    write_csv(files / "accounts.csv", HEADER, ROWS)
    jobs.create(inbound_spec())
    with jobs.db.begin() as session:
        job = get_job(session, "accounts-in")
        spec = dict(job.spec)
        spec["mapping"] = [
            {**row, "source_format": "QQ-XX"} if row["target"] == "founded" else row
            for row in spec["mapping"]
        ]
        from crmhub.store.jobs import update_job_spec

        update_job_spec(session, job, spec)
    _, outcome = jobs.run("accounts-in")
    assert outcome.status == "failed"
    assert "mapping row → founded" in outcome.message and "QQ-XX" in outcome.message
    assert "internal error" not in outcome.message and "retried" not in outcome.message


BROKEN_YAML = [
    ("not YAML", "name: [unclosed", "not valid YAML at line"),
    ("not a mapping", "- a\n- b\n", "must be a mapping"),
    (
        "misspelt key",
        "name: j\ndirection: inbound\nconnection: files\nremote_object: a\nobject_type: account\nmapings: []\n",
        "did you mean 'mapping'",
    ),
    (
        "misspelt setting",
        "name: j\ndirection: inbound\nconnection: files\nremote_object: a\nobject_type: account\nsettings: {delete_polcy: keep}\n",
        "did you mean 'delete_policy'",
    ),
    (
        "unknown schedule kind",
        "name: j\ndirection: inbound\nconnection: files\nremote_object: a\nobject_type: account\nschedule: {kind: dayly, at: '06:00'}\n",
        "did you mean 'daily'",
    ),
    (
        "schedule without kind",
        "name: j\ndirection: inbound\nconnection: files\nremote_object: a\nobject_type: account\nschedule: {at: '06:00'}\n",
        "Monday to Friday",
    ),
    (
        "daily schedule without a time",
        "name: j\ndirection: inbound\nconnection: files\nremote_object: a\nobject_type: account\nschedule: {kind: daily}\n",
        "a daily schedule runs every day at a time",
    ),
    (
        "bad direction",
        "name: j\ndirection: sideways\nconnection: files\nremote_object: a\nobject_type: account\n",
        "direction",
    ),
    (
        "row with two sources",
        "name: j\ndirection: inbound\nconnection: files\nremote_object: a\nobject_type: account\nmapping: [{source: a, constant: 1, target: b}]\n",
        "exactly one of",
    ),
]


@pytest.mark.parametrize(("what", "text", "words"), BROKEN_YAML, ids=[b[0] for b in BROKEN_YAML])
def test_given_broken_job_yaml_when_read_then_a_config_error_says_what_and_where(
    what: str, text: str, words: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        JobSpec.from_yaml(text)
    assert words in str(raised.value)
    assert "union_tag" not in str(raised.value) and "discriminator" not in str(raised.value)


def test_given_an_invalid_job_when_created_enabled_or_synced_now_then_nothing_is_saved(
    jobs: JobService, files: Path
) -> None:
    write_csv(files / "accounts.csv", HEADER, ROWS)
    spec = _with_row({"expression": "DOMIAN(name)", "target": "domain"})
    for kw in ({"enabled": True}, {"sync_now": True}):
        with pytest.raises(JobInvalidError, match="is not saved"):
            jobs.create(spec, **kw)
        with pytest.raises(NotFoundError):
            jobs.get(spec.name)


def test_given_an_enabled_job_when_an_invalid_version_is_saved_then_it_is_refused_unless_disabled(
    jobs: JobService, files: Path
) -> None:
    write_csv(files / "accounts.csv", HEADER, ROWS)
    jobs.create(inbound_spec(), enabled=True)
    broken = inbound_spec(
        mapping=[*inbound_spec().model_dump()["mapping"], {"constant": "x", "target": "annual_revenue"}]
    )
    with pytest.raises(JobInvalidError, match="is enabled, so the new version is not saved"):
        jobs.update("accounts-in", broken)
    job, spec = jobs.get("accounts-in")
    assert (job.version, job.enabled, job.problems) == (1, True, [])
    draft = jobs.update("accounts-in", broken, enabled=False)
    assert (draft.version, draft.enabled, len(draft.problems)) == (2, False, 1), draft.problems
    # Fixed, it is no longer a draft and runs again.
    fixed = jobs.update("accounts-in", inbound_spec())
    assert fixed.problems == []
    _, outcome = jobs.run("accounts-in")
    assert outcome.status == "succeeded", outcome.message


def test_given_an_enabled_draft_when_the_scheduler_looks_then_it_is_not_due(
    jobs: JobService, files: Path
) -> None:
    write_csv(files / "accounts.csv", HEADER, ROWS)
    jobs.create(inbound_spec(schedule={"kind": "every_minutes", "minutes": 5}), enabled=True)
    later = utcnow() + timedelta(hours=1)
    with jobs.db.read() as session:
        assert [j.id for j in schedule_repo.due_jobs(session, later)] == [get_job(session, "accounts-in").id]
    with jobs.db.begin() as session:  # a draft mark that reached an enabled job (e.g. by hand in SQL)
        get_job(session, "accounts-in").problems = ["mapping row 1: broken"]
    with jobs.db.read() as session:
        assert schedule_repo.due_jobs(session, later) == []


def test_given_one_bad_value_among_the_preview_rows_then_it_is_a_warning_and_the_job_enables(
    jobs: JobService, files: Path
) -> None:
    write_csv(files / "accounts.csv", HEADER, [*ROWS, "A3,Initech,lots,05.06.2001,fr"])
    problems = jobs.validate(inbound_spec())
    assert [(p.severity, "A3" in str(p) and "employees" in str(p)) for p in problems] == [("warning", True)]
    job = jobs.create(inbound_spec(), enabled=True)
    assert job.enabled and job.problems == []
    _, outcome = jobs.run("accounts-in")
    # The run does what the warning said: the bad record is in the ledger, the others are in.
    assert (outcome.counts.created, outcome.counts.failed, outcome.status) == (2, 1, "succeeded_with_errors")


def test_given_a_filter_with_two_unknown_fields_then_both_are_named(jobs: JobService, files: Path) -> None:
    write_csv(files / "accounts.csv", HEADER, ROWS)
    problems = errors_of(jobs.validate(inbound_spec(filter='contry = "de" AND nmae = "Acme"')))
    assert len(problems) == 1 and problems[0].field == "filter"
    assert "'contry'" in str(problems[0]) and "'country'" in str(problems[0])
    assert "'nmae'" in str(problems[0]) and "'name'" in str(problems[0])


def test_a_run_never_starts_before_it_was_created(jobs: JobService, files: Path) -> None:
    write_csv(files / "accounts.csv", HEADER, ROWS)
    jobs.create(inbound_spec())
    for _ in range(5):
        run, _outcome = jobs.run("accounts-in")
        with jobs.db.read() as session:
            row = run_repo.get_run(session, run.id)
            assert row.started_at is not None and row.started_at >= row.created_at


def test_given_a_csv_without_id_column_then_its_runs_are_full_and_warn_about_row_numbers(
    jobs: JobService, files: Path
) -> None:
    # A modstamp column gives the job a cursor, so a CRM's next run would be incremental; a file is
    # read whole every time, and its run must say "full".
    write_csv(
        files / "people.csv",
        "name,country,changed",
        ["Acme,de,2026-01-01T00:00:00Z", "Globex,us,2026-01-02T00:00:00Z"],
    )
    jobs.connections.add("stamped", "csv", {"path": str(files), "modstamp_column": "changed"}, {})
    spec = inbound_spec(
        name="people",
        connection="stamped",
        remote_object="people",
        mapping=[{"expression": "name", "target": "account_id"}, {"source": "name", "target": "name"}],
        settings={"full_sync_every": None},
    )
    jobs.create(spec)
    warnings = jobs.connections.get("stamped").warnings
    assert len(warnings) == 1 and "row numbers" in warnings[0]
    jobs.run("people")
    assert get_job_state(jobs, "people").get("cursor")  # the first run left a cursor
    second, _ = jobs.run("people")
    with jobs.db.read() as session:
        row = run_repo.get_run(session, second.id)
        events = [(e.kind, e.message) for e in run_repo.events(session, second.id)]
    assert row.mode == "full"
    assert any(kind == "warning" and "row numbers are the record ids" in m for kind, m in events), events


def get_job_state(jobs: JobService, name: str) -> dict[str, Any]:
    with jobs.db.read() as session:
        return dict(get_job(session, name).state)


# Outbound: what the destination refuses -------------------------------------------------------------


@pytest.fixture
def hubspot_jobs(jobs: JobService) -> Iterator[JobService]:
    emulator = hs.HubSpotEmulator(companies=5, contacts=5, seed=3)
    with serve_in_thread(emulator.app) as url:
        jobs.connections.add(
            "hubspot", "hubspot", {"base_url": url}, {"access_token": hs.DEFAULT_PRIVATE_APP_TOKEN}
        )
        yield jobs


def _outbound(**kw: Any) -> JobSpec:
    data: dict[str, Any] = {
        "name": "companies-out",
        "direction": "outbound",
        "connection": "hubspot",
        "remote_object": "companies",
        "object_type": "account",
        "mapping": [{"source": "name", "target": "name"}, {"source": "domain", "target": "domain"}],
    }
    data.update(kw)
    return JobSpec.model_validate(data)


def test_given_industries_that_are_not_hubspot_options_then_validation_names_them(
    hubspot_jobs: JobService,
) -> None:
    hubspot_jobs.hub.upsert(
        "account",
        [
            {"account_id": "1", "name": "A", "industry": "Banking"},
            {"account_id": "2", "name": "B", "industry": "Biotechnology"},
            {"account_id": "3", "name": "C", "industry": "BANKING"},
        ],
    )
    spec = _outbound(
        mapping=[{"source": "name", "target": "name"}, {"source": "industry", "target": "industry"}]
    )
    problems = errors_of(hubspot_jobs.validate(spec))
    assert [p.row for p in problems] == [1], [str(p) for p in problems]
    message = str(problems[0])
    assert (
        "2 value(s) of account.industry" in message
        and "'Banking'" in message
        and "'Biotechnology'" in message
    )
    assert "'BANKING'," not in message.split("Options")[0]  # a value that fits is not listed
    # Mapped to HubSpot's values, it validates.
    fixed = _outbound(
        mapping=[
            {"source": "name", "target": "name"},
            {"expression": 'IF(industry = "Banking", "BANKING", "BIOTECHNOLOGY")', "target": "industry"},
        ]
    )
    assert errors_of(hubspot_jobs.validate(fixed)) == []


def test_given_a_match_field_that_is_not_unique_or_not_mapped_then_it_is_a_problem(
    hubspot_jobs: JobService,
) -> None:
    not_unique = errors_of(hubspot_jobs.validate(_outbound(match_field="name")))
    assert [p.field for p in not_unique] == ["match_field"] and "not unique" in str(not_unique[0])
    unknown = errors_of(hubspot_jobs.validate(_outbound(match_field="domian")))
    assert "did you mean 'domain'" in str(unknown[0])


def test_given_an_outbound_filter_then_unknown_attributes_and_sql_less_functions_are_problems(
    hubspot_jobs: JobService,
) -> None:
    unknown = errors_of(hubspot_jobs.validate(_outbound(filter='industy = "x" OR tpye = "y"')))
    assert [p.field for p in unknown] == ["filter"]
    assert "'industy'" in str(unknown[0]) and "'tpye'" in str(unknown[0]) and "'industry'" in str(unknown[0])
    no_sql = errors_of(hubspot_jobs.validate(_outbound(filter='DOMAIN(website) = "acme.com"')))
    assert [p.field for p in no_sql] == ["filter"] and "DOMAIN is not translated to SQL" in str(no_sql[0])
    assert errors_of(hubspot_jobs.validate(_outbound(filter='UPPER(industry) = "BANKING"'))) == []


def test_given_a_parent_that_does_not_exist_then_it_is_a_problem(hubspot_jobs: JobService) -> None:
    spec = _outbound(
        name="contacts-out",
        remote_object="contacts",
        object_type="contact",
        mapping=[{"source": "email", "target": "email"}],
        parent_link="acount",
        parent_field="associatedcompanyid",
        parent_object="compnies",
    )
    fields = sorted(p.field or "" for p in errors_of(hubspot_jobs.validate(spec)))
    assert fields == ["parent_link", "parent_object"]
    half = _outbound(
        name="contacts-out",
        remote_object="contacts",
        object_type="contact",
        mapping=[{"source": "email", "target": "email"}],
        parent_link="account",
    )
    assert [p.field for p in errors_of(hubspot_jobs.validate(half))] == ["parent_field"]


@pytest.fixture
def salesforce_jobs(jobs: JobService) -> Iterator[JobService]:
    emulator = sf.SalesforceEmulator(accounts=3, contacts=3, seed=1)
    with serve_in_thread(emulator.app) as url:
        jobs.connections.add(
            "sf",
            "salesforce",
            {"login_url": url, "username": sf.DEFAULT_USERNAME},
            sf.default_credentials(),
        )
        yield jobs


def test_given_salesforce_accounts_without_name_when_created_then_the_required_field_is_a_problem(
    salesforce_jobs: JobService,
) -> None:
    spec = _outbound(
        connection="sf", remote_object="Account", mapping=[{"source": "industry", "target": "Industry"}]
    )
    problems = errors_of(salesforce_jobs.validate(spec))
    assert any("requires Name on create" in str(p) for p in problems), [str(p) for p in problems]
    update_only = spec.model_copy(
        update={"settings": spec.settings.model_copy(update={"create_records": False})}
    )
    assert not any("requires" in str(p) for p in errors_of(salesforce_jobs.validate(update_only)))


def test_given_a_draft_when_its_mapping_is_rebuilt_then_it_is_refused_and_its_links_stay(
    jobs: JobService, files: Path
) -> None:
    from sqlalchemy import func, select

    from crmhub.store.models import Link

    write_csv(files / "accounts.csv", HEADER, ROWS)
    jobs.create(inbound_spec())
    jobs.run("accounts-in")
    jobs.update("accounts-in", _with_row({"expression": "DOMIAN(name)", "target": "domain"}), enabled=False)
    with pytest.raises(JobInvalidError, match="is a draft"):
        jobs.rebuild_mapping("accounts-in")
    with jobs.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Link)) == 2
        assert get_job(session, "accounts-in").state.get("cursor")


def test_given_match_on_an_unknown_or_unmapped_attribute_then_it_is_a_problem(
    jobs: JobService, files: Path
) -> None:
    write_csv(files / "accounts.csv", HEADER, ROWS)
    unknown = errors_of(jobs.validate(inbound_spec(match_on=["domian"])))
    assert [p.field for p in unknown] == ["match_on"] and "did you mean 'domain'" in str(unknown[0])
    unmapped = errors_of(jobs.validate(inbound_spec(match_on=["domain"])))
    assert [p.field for p in unmapped] == ["match_on"] and "'domain' is not mapped" in str(unmapped[0])
    assert errors_of(jobs.validate(inbound_spec(match_on=["name"]))) == []


def test_given_salesforce_dot_paths_that_do_not_resolve_then_each_is_named_with_a_suggestion(
    salesforce_jobs: JobService,
) -> None:
    spec = JobSpec.model_validate(
        {
            "name": "sf-in",
            "direction": "inbound",
            "connection": "sf",
            "remote_object": "Account",
            "object_type": "account",
            "fields": ["Id", "Owner.Emial", "Ownr.Email"],
            "mapping": [
                {"source": "Id", "target": "account_id"},
                {"source": "Owner.Emial", "target": "owner_email"},
                {"source": "Nmae", "target": "name"},
            ],
        }
    )
    messages = [str(p) for p in errors_of(salesforce_jobs.validate(spec))]
    assert any("'Emial'" in m and "did you mean 'Email'" in m for m in messages), messages
    assert any("'Ownr'" in m and "did you mean 'Owner'" in m for m in messages), messages
    assert any(m.startswith("mapping row 3:") and "did you mean 'Name'" in m for m in messages), messages


def test_given_settings_that_name_missing_fields_or_attributes_then_each_is_a_problem(
    salesforce_jobs: JobService,
) -> None:
    def problems(**settings: Any) -> list[str]:
        spec = JobSpec.model_validate(
            {
                "name": "sf-in",
                "direction": "inbound",
                "connection": "sf",
                "remote_object": "Account",
                "object_type": "account",
                "mapping": [{"source": "Id", "target": "account_id"}, {"source": "Name", "target": "name"}],
                "settings": settings,
            }
        )
        return [str(p) for p in errors_of(salesforce_jobs.validate(spec, preview_rows=0))]

    assert problems(stamp_hub_id_field="Hub_ID__c") == []
    assert "did you mean 'Hub_ID__c'" in problems(stamp_hub_id_field="HubID__c")[0]
    assert "is not writable" in problems(stamp_hub_id_field="SystemModstamp")[0]
    assert "did you mean 'website'" in problems(remote_id_attribute="websit")[0]
    assert "did you mean 'industry'" in problems(write_back=["industy"])[0]


def test_given_a_draft_whose_cause_is_gone_when_run_then_it_is_validated_again_and_runs(
    jobs: JobService, files: Path
) -> None:
    # Saved while the file (the CRM's object) did not exist yet: a draft.
    job = jobs.create(inbound_spec())
    assert job.problems and "does not exist" in job.problems[0]
    with pytest.raises(JobInvalidError, match="is a draft"):
        jobs.run("accounts-in")
    write_csv(files / "accounts.csv", HEADER, ROWS)
    _, outcome = jobs.run("accounts-in")
    assert (outcome.status, outcome.counts.created) == ("succeeded", 2), outcome.message
    assert jobs.get("accounts-in")[0].problems == []


def test_given_a_job_stored_under_an_older_name_rule_then_it_loads_runs_and_only_a_rename_is_checked(
    jobs: JobService, files: Path
) -> None:
    from crmhub.core.errors import ConfigError
    from crmhub.store.models import Job

    from .conftest import inbound_spec, write_csv

    write_csv(files / "accounts.csv", "id,name,employees,founded,country", ["A1,Acme,10,01.02.2003,de"])
    jobs.create(inbound_spec())
    with jobs.hub.db.begin() as session:  # as a hub made before job names were checked holds it
        job = session.query(Job).one()
        job.name, job.spec = "Accounts In", {**job.spec, "name": "Accounts In"}
    _, spec = jobs.get("Accounts In")
    _, outcome = jobs.run("Accounts In")
    assert outcome.counts.created == 1
    jobs.update("Accounts In", spec.model_copy(update={"description": "kept its name"}))
    with pytest.raises(ConfigError, match="lower-case letters"):
        jobs.update("Accounts In", spec.model_copy(update={"name": "Still Bad"}))
    with pytest.raises(ConfigError, match="try 'eu-accounts'"):
        jobs.create(spec.model_copy(update={"name": "EU Accounts"}))
