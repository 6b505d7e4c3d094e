"""The emulated HubSpot object types (companies, contacts) and their property definitions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crmhub.emulators._common.responses import iso_ms


@dataclass(frozen=True)
class Option:
    label: str
    value: str


@dataclass(frozen=True)
class Prop:
    """One HubSpot property (``GET /crm/v3/properties/{type}`` lists these)."""

    name: str
    label: str
    type: str  # string, number, date, datetime, enumeration, bool
    field_type: str  # text, textarea, number, date, select, radio, checkbox, booleancheckbox, phonenumber
    group: str = "companyinformation"
    options: tuple[Option, ...] = ()
    unique: bool = False
    read_only: bool = False
    calculated: bool = False
    hubspot_defined: bool = True
    description: str = ""

    def definition(self, created_ms: int, order: int) -> dict[str, Any]:
        """The property as the properties API shows it."""
        return {
            "updatedAt": iso_ms(created_ms),
            "createdAt": iso_ms(created_ms),
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group,
            "options": [
                {"label": o.label, "value": o.value, "displayOrder": i, "hidden": False}
                for i, o in enumerate(self.options)
            ],
            "displayOrder": order,
            "calculated": self.calculated,
            "externalOptions": False,
            "hasUniqueValue": self.unique,
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "formField": not self.read_only,
        }


def _options(*pairs: tuple[str, str]) -> tuple[Option, ...]:
    return tuple(Option(label, value) for label, value in pairs)


INDUSTRIES = _options(
    ("Accounting", "ACCOUNTING"),
    ("Banking", "BANKING"),
    ("Biotechnology", "BIOTECHNOLOGY"),
    ("Computer Software", "COMPUTER_SOFTWARE"),
    ("Construction", "CONSTRUCTION"),
    ("Consumer Goods", "CONSUMER_GOODS"),
    ("Education Management", "EDUCATION_MANAGEMENT"),
    ("Financial Services", "FINANCIAL_SERVICES"),
    ("Food & Beverages", "FOOD_BEVERAGES"),
    ("Hospital & Health Care", "HOSPITAL_HEALTH_CARE"),
    ("Information Technology and Services", "INFORMATION_TECHNOLOGY_AND_SERVICES"),
    ("Insurance", "INSURANCE"),
    ("Internet", "INTERNET"),
    ("Logistics and Supply Chain", "LOGISTICS_AND_SUPPLY_CHAIN"),
    ("Management Consulting", "MANAGEMENT_CONSULTING"),
    ("Marketing and Advertising", "MARKETING_AND_ADVERTISING"),
    ("Media Production", "MEDIA_PRODUCTION"),
    ("Pharmaceuticals", "PHARMACEUTICALS"),
    ("Real Estate", "REAL_ESTATE"),
    ("Renewables & Environment", "RENEWABLES_ENVIRONMENT"),
    ("Retail", "RETAIL"),
    ("Telecommunications", "TELECOMMUNICATIONS"),
    ("Utilities", "UTILITIES"),
)
COMPANY_TYPES = _options(
    ("Prospect", "PROSPECT"),
    ("Partner", "PARTNER"),
    ("Reseller", "RESELLER"),
    ("Vendor", "VENDOR"),
    ("Other", "OTHER"),
)
LIFECYCLE = _options(
    ("Subscriber", "subscriber"),
    ("Lead", "lead"),
    ("Marketing Qualified Lead", "marketingqualifiedlead"),
    ("Sales Qualified Lead", "salesqualifiedlead"),
    ("Opportunity", "opportunity"),
    ("Customer", "customer"),
    ("Evangelist", "evangelist"),
    ("Other", "other"),
)
PARTNER_STATUSES = _options(("Active", "Active"), ("Inactive", "Inactive"), ("Pending", "Pending"))
PRODUCTS = _options(
    ("Analytics", "analytics"),
    ("CRM", "crm"),
    ("Marketing Cloud", "marketing_cloud"),
    ("Payments", "payments"),
    ("Support Desk", "support_desk"),
    ("Data Hub", "data_hub"),
)

_RO: dict[str, Any] = {"read_only": True}


def _common_tail(group: str, modified: str) -> tuple[Prop, ...]:
    return (
        Prop("createdate", "Create Date", "datetime", "date", group, **_RO),
        Prop(modified, "Last Modified Date", "datetime", "date", group, calculated=True, **_RO),
        Prop("hs_object_id", "Record ID", "number", "number", group, calculated=True, **_RO),
    )


COMPANY_PROPS: tuple[Prop, ...] = (
    Prop("name", "Name", "string", "text"),
    Prop("domain", "Company Domain Name", "string", "text"),
    Prop("website", "Website URL", "string", "text"),
    Prop("industry", "Industry", "enumeration", "select", options=INDUSTRIES),
    Prop("numberofemployees", "Number of Employees", "number", "number"),
    Prop("annualrevenue", "Annual Revenue", "number", "number"),
    Prop("city", "City", "string", "text"),
    Prop("country", "Country/Region", "string", "text"),
    Prop("phone", "Phone Number", "string", "phonenumber"),
    Prop("type", "Type", "enumeration", "select", options=COMPANY_TYPES),
    Prop("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", options=LIFECYCLE),
    Prop("hubspot_owner_id", "Company owner", "enumeration", "select"),
    Prop("description", "Description", "string", "textarea"),
    Prop(
        "partner_status",
        "Partner Status",
        "enumeration",
        "select",
        options=PARTNER_STATUSES,
        hubspot_defined=False,
    ),
    Prop("products", "Products", "enumeration", "checkbox", options=PRODUCTS, hubspot_defined=False),
    Prop("hub_id", "Hub ID", "string", "text", unique=True, hubspot_defined=False),
    Prop("customer_since", "Customer Since", "date", "date", hubspot_defined=False),
    *_common_tail("companyinformation", "hs_lastmodifieddate"),
)

CONTACT_PROPS: tuple[Prop, ...] = (
    Prop("email", "Email", "string", "text", "contactinformation"),
    Prop("firstname", "First Name", "string", "text", "contactinformation"),
    Prop("lastname", "Last Name", "string", "text", "contactinformation"),
    Prop("jobtitle", "Job Title", "string", "text", "contactinformation"),
    Prop("phone", "Phone Number", "string", "phonenumber", "contactinformation"),
    Prop("company", "Company Name", "string", "text", "contactinformation"),
    Prop("country", "Country/Region", "string", "text", "contactinformation"),
    Prop(
        "lifecyclestage", "Lifecycle Stage", "enumeration", "radio", "contactinformation", options=LIFECYCLE
    ),
    Prop("hubspot_owner_id", "Contact owner", "enumeration", "select", "contactinformation"),
    Prop("hub_id", "Hub ID", "string", "text", "contactinformation", unique=True, hubspot_defined=False),
    Prop(
        "associatedcompanyid",
        "Primary Associated Company ID",
        "number",
        "number",
        "contactinformation",
        calculated=True,
        **_RO,
    ),
    *_common_tail("contactinformation", "lastmodifieddate"),
)


@dataclass(frozen=True)
class ObjectType:
    """A HubSpot CRM object type."""

    name: str  # plural, as in /crm/v3/objects/{name}
    singular: str
    type_id: str  # "0-2"
    props: tuple[Prop, ...]
    modified_prop: str
    default_props: tuple[str, ...]
    search_text_props: tuple[str, ...]
    id_base: int

    def prop(self, name: str) -> Prop | None:
        """The property called ``name`` (names are case-sensitive in HubSpot)."""
        return _PROP_INDEX[self.name].get(name)


COMPANIES = ObjectType(
    "companies",
    "company",
    "0-2",
    COMPANY_PROPS,
    "hs_lastmodifieddate",
    ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    ("name", "domain", "website", "phone"),
    3_000_000_000,
)
CONTACTS = ObjectType(
    "contacts",
    "contact",
    "0-1",
    CONTACT_PROPS,
    "lastmodifieddate",
    ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    ("firstname", "lastname", "email", "phone", "company"),
    1_000_000,
)
OBJECT_TYPES = (COMPANIES, CONTACTS)
_PROP_INDEX = {o.name: {p.name: p for p in o.props} for o in OBJECT_TYPES}
_ALIASES = {
    alias: o
    for o in OBJECT_TYPES
    for alias in (o.name, o.singular, o.type_id, o.name.upper(), o.singular.upper())
}


def object_type(name: str) -> ObjectType | None:
    """The object type named by a path segment (``companies``, ``company``, ``0-2`` …)."""
    return _ALIASES.get(name) or _ALIASES.get(name.lower())


# HubSpot-defined association type ids (v4).
CONTACT_TO_COMPANY_PRIMARY = 1
COMPANY_TO_CONTACT_PRIMARY = 2
CONTACT_TO_COMPANY = 279
COMPANY_TO_CONTACT = 280
