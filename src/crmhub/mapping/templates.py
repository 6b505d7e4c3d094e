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
    ("zoho", "Accounts", "account"): {
        "name": "Account_Name",
        "website": "Website",
        "industry": "Industry",
        "employees": "Employees",
        "annual_revenue": "Annual_Revenue",
        "billing_country": "Billing_Country",
        "billing_city": "Billing_City",
        "phone": "Phone",
        "type": "Account_Type",
        "partner_status": "Partner_Status",
        "partner_id": "Partner_ID",
        "products": "Products",
        "description": "Description",
    },
    ("zoho", "Contacts", "contact"): {
        "email": "Email",
        "first_name": "First_Name",
        "last_name": "Last_Name",
        "title": "Title",
        "phone": "Phone",
        "country": "Mailing_Country",
    },
}

#: (connector kind, remote object, hub object type) → (hub foreign key, CRM parent field): an outbound
#: job of that shape sets ``parent_link`` / ``parent_field`` to these (a contact under its account).
PARENTS: Mapping[tuple[str, str, str], tuple[str, str]] = {
    ("salesforce", "Contact", "contact"): ("account", "AccountId"),
    ("hubspot", "contacts", "contact"): ("account", "associatedcompanyid"),
    ("zoho", "Contacts", "contact"): ("account", "Account_Name"),
}


def template_parent(kind: str, remote_object: str, object_type: str) -> tuple[str, str] | None:
    """(parent_link, parent_field) of the template, or ``None`` when the object has no parent."""
    return next(
        (
            parent
            for (k, r, o), parent in PARENTS.items()
            if k == kind and r.lower() == remote_object.lower() and o == object_type
        ),
        None,
    )


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
