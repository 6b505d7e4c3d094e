import pytest

from crmhub.core.errors import NotFoundError, ValidationError
from crmhub.store.schema import AttributeSpec


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "is empty"),
        ("Health score", "contains spaces"),
        ("hub_id", "is reserved"),
        ("values", "is reserved"),
        ("1st", "must start with a letter"),
        ("Name", "lower-case"),
        ("x" * 64, "at most 63"),
    ],
    ids=["empty", "spaces", "reserved hub_id", "reserved values", "leading digit", "upper case", "too long"],
)
def test_given_a_bad_attribute_name_when_added_then_a_clear_error_says_why(
    hub, name: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        hub.add_attribute("account", AttributeSpec(name, "text"))


def test_given_an_existing_attribute_when_added_again_then_it_is_refused(hub) -> None:
    with pytest.raises(ValidationError, match="already has an attribute 'industry'"):
        hub.add_attribute("account", AttributeSpec("industry", "text"))


def test_given_an_existing_object_type_when_defined_again_then_it_is_refused(hub) -> None:
    with pytest.raises(ValidationError, match="already exists"):
        hub.define_object_type("account")


def test_given_a_foreign_key_without_target_when_added_then_refused(hub) -> None:
    with pytest.raises(ValidationError, match="names no target"):
        hub.add_attribute("contact", AttributeSpec("employer", "foreign_key"))
    with pytest.raises(ValidationError, match="does not exist"):
        hub.add_attribute("contact", AttributeSpec("employer", "foreign_key", fk_target="company"))


def test_given_unknown_type_or_category_when_added_then_refused_listing_the_choices(hub) -> None:
    with pytest.raises(ValidationError, match="use one of text, number"):
        hub.add_attribute("account", AttributeSpec("score", "float"))
    with pytest.raises(ValidationError, match="unknown category"):
        hub.add_attribute("account", AttributeSpec("score", "number", category="misc"))


def test_given_a_new_object_type_with_attributes_when_defined_then_it_is_listed_with_its_key(hub) -> None:
    hub.define_object_type(
        "opportunity",
        attributes=[
            AttributeSpec("opportunity_id", "text", is_key=True),
            AttributeSpec("amount", "currency"),
            AttributeSpec("account", "foreign_key", fk_target="account"),
        ],
    )
    ot = hub.object_type("opportunity")
    assert [a.name for a in ot.attributes] == ["opportunity_id", "amount", "account"]
    assert hub.schema("opportunity").key == "opportunity_id"
    assert {o.name for o in hub.object_types()} == {"account", "contact", "opportunity"}


def test_built_in_types_have_their_keys_and_contact_email_is_case_insensitive(hub) -> None:
    account, contact = hub.schema("account"), hub.schema("contact")
    assert account.key == "account_id" and not account.key_case_insensitive
    assert contact.key == "email" and contact.key_case_insensitive
    assert account.types["annual_revenue"] == "currency"
    assert contact.types["account"] == "foreign_key"


def test_unknown_object_type_names_the_known_ones(hub) -> None:
    with pytest.raises(NotFoundError, match="known object types: account, contact"):
        hub.schema("company")


def test_configuration_changes_are_audited(hub) -> None:
    from crmhub.store import audit

    hub.add_attribute("account", AttributeSpec("health", "number", category="scores"), actor="alice")
    with hub.db.read() as session:
        events = audit.list_events(session)
    assert events[0].actor == "alice"
    assert (events[0].action, events[0].object_kind, events[0].object_name) == (
        "create",
        "attribute",
        "account.health",
    )
