"""Default outbound mapping templates per CRM object: hub account → Salesforce Account, and so on.

A template is where an outbound job's mapping starts; automap uses it before any fuzzy matching, so
the well-known fields land on the right CRM fields with full confidence. Rows whose CRM field the
org does not have (or cannot write) are dropped by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping

from crmhub.mapping.spec import MappingRow

#: (connector kind, remote object, hub object type) → hub attribute → CRM field
TEMPLATES: Mapping[tuple[str, str, str], Mapping[str, str]] = {
    ("salesforce", "Account", "account"): {
        "name": "Name",
        "website": "Website",
        "industry": "Industry",
        "employees": "NumberOfEmployees",
        "annual_revenue": "AnnualRevenue",
        "billing_country": "BillingCountry",
        "billing_city": "BillingCity",
        "phone": "Phone",
        "type": "Type",
        "partner_status": "Partner_Status__c",
        "products": "Products__c",
        "description": "Description",
    },
    ("salesforce", "Contact", "contact"): {
        "email": "Email",
        "first_name": "FirstName",
        "last_name": "LastName",
        "title": "Title",
        "phone": "Phone",
    },
    ("hubspot", "companies", "account"): {
        "name": "name",
        "domain": "domain",
        "website": "website",
        "industry": "industry",
        "employees": "numberofemployees",
        "annual_revenue": "annualrevenue",
        "billing_country": "country",
        "billing_city": "city",
        "phone": "phone",
        "type": "type",
        "description": "description",
    },
    ("hubspot", "contacts", "contact"): {
        "email": "email",
        "first_name": "firstname",
        "last_name": "lastname",
        "title": "jobtitle",
        "phone": "phone",
    },
}


def template_rows(kind: str, remote_object: str, object_type: str) -> list[MappingRow]:
    """The template's mapping rows (empty when there is none for this combination)."""
    template = TEMPLATES.get((kind, remote_object, object_type))
    if template is None:
        template = next(
            (
                t
                for (k, r, o), t in TEMPLATES.items()
                if k == kind and r.lower() == remote_object.lower() and o == object_type
            ),
            None,
        )
    return [
        MappingRow(source=attr, target=field, note="template") for attr, field in (template or {}).items()
    ]
