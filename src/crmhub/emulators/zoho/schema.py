"""The emulated Zoho CRM modules (Accounts, Contacts, Leads, Users) and their field metadata.

Field metadata follows ``GET /crm/v8/settings/fields?module=`` (``zoho/crm-oas`` ``v8.0/fields.json``
and the SDK's ``fields.Fields`` structure): ``api_name``, ``field_label``/``display_label``,
``data_type``, ``json_type``, ``length``, ``read_only``, ``system_mandatory``, ``custom_field``,
``pick_list_values[{display_value, actual_value, id}]``, ``lookup{module{api_name, id}}``,
``unique{casesensitive}`` (``{}``-less: absent when the field allows duplicates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: data_type → json_type (Zoho's catalogue; see CRM-PROTOCOLS.md, Zoho "Schema").
JSON_TYPES = {
    "text": "string",
    "textarea": "string",
    "email": "string",
    "phone": "string",
    "website": "string",
    "picklist": "string",
    "autonumber": "string",
    "multiselectpicklist": "jsonarray",
    "lookup": "jsonobject",
    "ownerlookup": "jsonobject",
    "integer": "integer",
    "bigint": "string",
    "double": "double",
    "currency": "double",
    "boolean": "boolean",
    "date": "string",
    "datetime": "string",
}

INDUSTRIES = (
    "Banking",
    "Insurance",
    "Retail",
    "Manufacturing",
    "Technology",
    "Healthcare",
    "Education",
    "Government/Military",
)
ACCOUNT_TYPES = ("Customer", "Partner", "Prospect", "Reseller", "Vendor", "Competitor")
PARTNER_STATUSES = ("Active", "Inactive", "Pending")
PRODUCTS = ("CRM", "Analytics", "Payments", "Desk", "Books")
LEAD_STATUSES = ("Not Contacted", "Attempted to Contact", "Contact in Future", "Contacted", "Junk Lead")
LEAD_SOURCES = ("Advertisement", "Cold Call", "Partner", "Web Download", "Trade Show")
RATINGS = ("Acquired", "Active", "Market Failed", "Project Cancelled", "Shut Down")


@dataclass(frozen=True)
class ZField:
    """One Zoho field."""

    api_name: str
    label: str
    data_type: str
    read_only: bool = False
    mandatory: bool = False
    unique: bool = False
    values: tuple[str, ...] = ()
    lookup: str | None = None  # the module a lookup points to (Users for ownerlookup)
    length: int = 255
    custom: bool = False

    @property
    def json_type(self) -> str:
        return JSON_TYPES[self.data_type]

    def metadata(self, field_id: int) -> dict[str, Any]:
        """The field as ``settings/fields`` shows it."""
        out: dict[str, Any] = {
            "id": str(field_id),
            "api_name": self.api_name,
            "field_label": self.label,
            "display_label": self.label,
            "data_type": self.data_type,
            "json_type": self.json_type,
            "length": self.length,
            "read_only": self.read_only,
            "field_read_only": self.read_only,
            "system_mandatory": self.mandatory,
            "custom_field": self.custom,
            "visible": True,
            "filterable": self.data_type != "textarea",
            "sortable": True,
            "pick_list_values": [
                {"display_value": v, "actual_value": v, "id": str(field_id * 100 + i), "sequence_number": i}
                for i, v in enumerate(self.values, start=1)
            ],
        }
        if self.unique:
            out["unique"] = {"casesensitive": "false"}
        if self.lookup is not None and self.data_type == "lookup":
            out["lookup"] = {
                "display_label": self.lookup,
                "api_name": self.api_name,
                "module": {"api_name": self.lookup, "id": str(MODULE_IDS[self.lookup])},
                "id": str(field_id + 1),
            }
        return out


MODULE_IDS = {
    "Leads": 5_725_767_000_000_002_175,
    "Accounts": 5_725_767_000_000_002_177,
    "Contacts": 5_725_767_000_000_002_179,
    "Users": 5_725_767_000_000_002_181,
}

_COMMON_TAIL = (
    ZField("Owner", "Account Owner", "ownerlookup", lookup="Users"),
    ZField("Created_Time", "Created Time", "datetime", read_only=True),
    ZField("Modified_Time", "Modified Time", "datetime", read_only=True),
)

ACCOUNT_FIELDS: tuple[ZField, ...] = (
    ZField("id", "Record Id", "bigint", read_only=True),
    ZField("Account_Name", "Account Name", "text", mandatory=True, length=200),
    ZField("Website", "Website", "website"),
    ZField("Phone", "Phone", "phone", length=30),
    ZField("Industry", "Industry", "picklist", values=INDUSTRIES),
    ZField("Account_Type", "Account Type", "picklist", values=ACCOUNT_TYPES),
    ZField("Rating", "Rating", "picklist", values=RATINGS),
    ZField("Employees", "Employees", "integer", length=9),
    ZField("Annual_Revenue", "Annual Revenue", "currency", length=16),
    ZField("Billing_City", "Billing City", "text", length=30),
    ZField("Billing_Country", "Billing Country", "text", length=30),
    ZField("Description", "Description", "textarea", length=32_000),
    ZField("Products", "Products", "multiselectpicklist", values=PRODUCTS, custom=True),
    ZField("Customer_Since", "Customer Since", "date", custom=True),
    ZField("Partner_Status", "Partner Status", "picklist", values=PARTNER_STATUSES, custom=True),
    ZField("Partner_ID", "Partner ID", "text", unique=True, length=64, custom=True),
    ZField("Hub_ID", "Hub ID", "text", unique=True, length=64, custom=True),
    *_COMMON_TAIL,
)

CONTACT_FIELDS: tuple[ZField, ...] = (
    ZField("id", "Record Id", "bigint", read_only=True),
    ZField("First_Name", "First Name", "text", length=40),
    ZField("Last_Name", "Last Name", "text", mandatory=True, length=80),
    ZField("Email", "Email", "email", unique=True, length=100),
    ZField("Phone", "Phone", "phone", length=30),
    ZField("Title", "Title", "text", length=100),
    ZField("Mailing_Country", "Mailing Country", "text", length=30),
    ZField("Account_Name", "Account Name", "lookup", lookup="Accounts"),
    ZField("Hub_ID", "Hub ID", "text", unique=True, length=64, custom=True),
    ZField("Description", "Description", "textarea", length=32_000),
    *_COMMON_TAIL,
)

LEAD_FIELDS: tuple[ZField, ...] = (
    ZField("id", "Record Id", "bigint", read_only=True),
    ZField("First_Name", "First Name", "text", length=40),
    ZField("Last_Name", "Last Name", "text", mandatory=True, length=80),
    ZField("Company", "Company", "text", mandatory=True, length=200),
    ZField("Email", "Email", "email", length=100),
    ZField("Lead_Status", "Lead Status", "picklist", values=LEAD_STATUSES),
    ZField("Lead_Source", "Lead Source", "picklist", values=LEAD_SOURCES),
    ZField("Annual_Revenue", "Annual Revenue", "currency", length=16),
    ZField("Description", "Description", "textarea", length=32_000),
    *_COMMON_TAIL,
)

USER_FIELDS: tuple[ZField, ...] = (
    ZField("id", "Record Id", "bigint", read_only=True),
    ZField("full_name", "Full Name", "text", read_only=True),
    ZField("first_name", "First Name", "text"),
    ZField("last_name", "Last Name", "text"),
    ZField("email", "Email", "email", unique=True),
    ZField("status", "Status", "picklist", values=("active", "disabled")),
    ZField("Modified_Time", "Modified Time", "datetime", read_only=True),
)

MODULES: dict[str, tuple[ZField, ...]] = {
    "Accounts": ACCOUNT_FIELDS,
    "Contacts": CONTACT_FIELDS,
    "Leads": LEAD_FIELDS,
    "Users": USER_FIELDS,
}
SINGULAR = {"Accounts": "Account", "Contacts": "Contact", "Leads": "Lead", "Users": "User"}
#: What a record's display name is (deleted records' ``display_name``, lookups' ``name``).
DISPLAY_FIELD = {
    "Accounts": "Account_Name",
    "Contacts": "Full_Name",
    "Leads": "Full_Name",
    "Users": "full_name",
}
#: Record-module api names (case-insensitive lookup of what a URL names).
RECORD_MODULES = ("Accounts", "Contacts", "Leads")


def module_metadata(name: str, sequence: int) -> dict[str, Any]:
    """A module as ``settings/modules`` shows it."""
    record_module = name in RECORD_MODULES
    return {
        "id": str(MODULE_IDS[name]),
        "api_name": name,
        "module_name": name,
        "singular_label": SINGULAR[name],
        "plural_label": name,
        "api_supported": True,
        "generated_type": "default",
        "creatable": record_module,
        "editable": record_module,
        "deletable": record_module,
        "viewable": True,
        "visible": True,
        "sequence_number": sequence,
        "status": "visible",
    }


def fields_of(module: str) -> dict[str, ZField]:
    return {f.api_name: f for f in MODULES[module]}
