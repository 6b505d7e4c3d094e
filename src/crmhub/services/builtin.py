"""The object types every hub starts with: accounts and contacts."""

from __future__ import annotations

from crmhub.store.models import AttributeCategory as C
from crmhub.store.models import AttributeType as T
from crmhub.store.schema import AttributeSpec

BUILTIN_TYPES: dict[str, tuple[str, str, list[AttributeSpec]]] = {
    "account": (
        "Account",
        "A company: customer, prospect or partner.",
        [
            AttributeSpec("account_id", T.TEXT, "Account ID", C.SYSTEM, is_key=True),
            AttributeSpec("name", T.TEXT, "Name", C.FIRMOGRAPHICS),
            AttributeSpec("website", T.TEXT, "Website", C.FIRMOGRAPHICS),
            AttributeSpec("domain", T.TEXT, "Domain", C.FIRMOGRAPHICS),
            AttributeSpec("industry", T.TEXT, "Industry", C.FIRMOGRAPHICS),
            AttributeSpec("employees", T.NUMBER, "Employees", C.FIRMOGRAPHICS),
            AttributeSpec("annual_revenue", T.CURRENCY, "Annual revenue", C.FIRMOGRAPHICS),
            AttributeSpec("billing_country", T.TEXT, "Billing country", C.FIRMOGRAPHICS),
            AttributeSpec("billing_city", T.TEXT, "Billing city", C.FIRMOGRAPHICS),
            AttributeSpec("phone", T.TEXT, "Phone", C.FIRMOGRAPHICS),
            AttributeSpec("type", T.TEXT, "Type", C.CRM),
            AttributeSpec("partner_status", T.TEXT, "Partner status", C.CRM),
            AttributeSpec("owner_email", T.TEXT, "Owner email", C.CRM),
            AttributeSpec("products", T.MULTI_TEXT, "Products", C.TECHNOGRAPHICS),
            AttributeSpec("description", T.TEXT, "Description", C.CRM),
        ],
    ),
    "contact": (
        "Contact",
        "A person at an account.",
        [
            AttributeSpec("email", T.TEXT, "Email", C.SYSTEM, is_key=True, case_insensitive=True),
            AttributeSpec("first_name", T.TEXT, "First name", C.CRM),
            AttributeSpec("last_name", T.TEXT, "Last name", C.CRM),
            AttributeSpec("title", T.TEXT, "Title", C.CRM),
            AttributeSpec("phone", T.TEXT, "Phone", C.CRM),
            AttributeSpec("account", T.FOREIGN_KEY, "Account", C.CRM, fk_target="account"),
            AttributeSpec("lead_source", T.TEXT, "Lead source", C.CRM),
            AttributeSpec("journey_stage", T.TEXT, "Journey stage", C.JOURNEY_STAGE),
        ],
    ),
}
