"""The emulated Salesforce objects (Account, Contact, User) and their describe metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: SOAP types of field types, as describe reports them.
SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "textarea": "xsd:string",
    "picklist": "xsd:string",
    "multipicklist": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "url": "xsd:string",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}

TEXT_TYPES = frozenset({"string", "textarea", "picklist", "email", "phone", "url"})
NUMBER_TYPES = frozenset({"int", "double", "currency"})


@dataclass(frozen=True)
class SField:
    """One field of an sObject, with the describe attributes the emulator enforces."""

    name: str
    label: str
    type: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    id_lookup: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: str | None = None
    relationship_name: str | None = None
    calculated: bool = False
    custom: bool = False
    defaulted_on_create: bool = False

    @property
    def required_on_create(self) -> bool:
        """Must a create give a value (not nillable, createable, no default)?"""
        return (
            not self.nillable and self.createable and not self.defaulted_on_create and self.type != "boolean"
        )

    @property
    def category(self) -> str:
        """How SOQL compares values of this field: text, id, number, bool, date, datetime or multi."""
        if self.type in TEXT_TYPES:
            return "text"
        if self.type in ("id", "reference"):
            return "id"
        if self.type in NUMBER_TYPES:
            return "number"
        if self.type == "boolean":
            return "bool"
        if self.type == "multipicklist":
            return "multi"
        return self.type  # date, datetime

    def describe(self) -> dict[str, Any]:
        """This field as ``/sobjects/{S}/describe`` lists it."""
        number = self.type in NUMBER_TYPES
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "soapType": SOAP_TYPES[self.type],
            "length": self.length,
            "byteLength": self.length * 3,
            "precision": 18 if self.type in ("double", "currency") else 0,
            "scale": 2 if self.type == "currency" else 0,
            "digits": 9 if self.type == "int" else 0,
            "nillable": self.nillable,
            "createable": self.createable,
            "updateable": self.updateable,
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.id_lookup,
            "caseSensitive": False,
            "calculated": self.calculated,
            "custom": self.custom,
            "defaultedOnCreate": self.defaulted_on_create,
            "filterable": True,
            "sortable": self.type not in ("multipicklist", "textarea"),
            "groupable": not number and self.type not in ("multipicklist", "textarea"),
            "restrictedPicklist": self.restricted,
            "picklistValues": [
                {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
                for v in self.picklist
            ],
            "referenceTo": [self.reference_to] if self.reference_to else [],
            "relationshipName": self.relationship_name,
            "nameField": self.name == "Name",
            "autoNumber": False,
            "dependentPicklist": False,
            "htmlFormatted": False,
        }


@dataclass(frozen=True)
class SObject:
    """An sObject type: name, key prefix and fields (looked up case-insensitively)."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: tuple[SField, ...]
    createable: bool = True
    by_lower: dict[str, SField] = field(init=False, repr=False, compare=False)
    relationships: dict[str, SField] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_lower", {f.name.lower(): f for f in self.fields})
        object.__setattr__(
            self,
            "relationships",
            {f.relationship_name.lower(): f for f in self.fields if f.relationship_name},
        )

    def field(self, name: str) -> SField | None:
        """The field called ``name`` (any case)."""
        return self.by_lower.get(name.lower())

    def urls(self, version: str) -> dict[str, str]:
        """The object's REST URLs."""
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}

    def summary(self, version: str) -> dict[str, Any]:
        """This object as describeGlobal lists it."""
        return {
            "activateable": False,
            "createable": self.createable,
            "custom": False,
            "customSetting": False,
            "deletable": self.createable,
            "deprecatedAndHidden": False,
            "feedEnabled": False,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": True,
            "mergeable": self.name != "User",
            "mruEnabled": True,
            "name": self.name,
            "queryable": True,
            "replicateable": True,
            "retrieveable": True,
            "searchable": True,
            "triggerable": True,
            "undeletable": self.createable,
            "updateable": True,
            "urls": self.urls(version),
        }

    def describe(self, version: str, children: list[dict[str, Any]]) -> dict[str, Any]:
        """``/sobjects/{S}/describe``."""
        return {
            **self.summary(version),
            "fields": [f.describe() for f in self.fields],
            "childRelationships": children,
            "recordTypeInfos": [],
            "supportedScopes": [{"label": "All", "name": "everything"}],
        }


def _system_fields() -> list[SField]:
    ro: dict[str, Any] = {
        "createable": False,
        "updateable": False,
        "nillable": False,
        "defaulted_on_create": True,
    }
    return [
        SField("CreatedDate", "Created Date", "datetime", **ro),
        SField(
            "CreatedById",
            "Created By ID",
            "reference",
            18,
            reference_to="User",
            relationship_name="CreatedBy",
            **ro,
        ),
        SField("LastModifiedDate", "Last Modified Date", "datetime", **ro),
        SField(
            "LastModifiedById",
            "Last Modified By ID",
            "reference",
            18,
            reference_to="User",
            relationship_name="LastModifiedBy",
            **ro,
        ),
        SField("SystemModstamp", "System Modstamp", "datetime", **ro),
    ]


def _id_fields() -> list[SField]:
    return [
        SField(
            "Id",
            "Record ID",
            "id",
            18,
            nillable=False,
            createable=False,
            updateable=False,
            id_lookup=True,
            defaulted_on_create=True,
        ),
        SField(
            "IsDeleted",
            "Deleted",
            "boolean",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
        ),
    ]


INDUSTRIES: tuple[str, ...] = (
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Environmental",
    "Finance",
    "Food & Beverage",
    "Government",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Machinery",
    "Manufacturing",
    "Media",
    "Not For Profit",
    "Recreation",
    "Retail",
    "Shipping",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
    "Other",
)
ACCOUNT_TYPES: tuple[str, ...] = (
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Channel Partner / Reseller",
    "Installation Partner",
    "Technology Partner",
    "Other",
)
PARTNER_STATUSES: tuple[str, ...] = ("Active", "Inactive", "Pending")
PRODUCTS: tuple[str, ...] = ("Analytics", "CRM", "Marketing Cloud", "Payments", "Support Desk", "Data Hub")

ACCOUNT = SObject(
    "Account",
    "Account",
    "Accounts",
    "001",
    (
        *_id_fields(),
        SField("Name", "Account Name", "string", 255, nillable=False, id_lookup=True),
        SField("Type", "Account Type", "picklist", 255, picklist=ACCOUNT_TYPES),
        SField("Industry", "Industry", "picklist", 255, picklist=INDUSTRIES),
        SField("Website", "Website", "url", 255),
        SField("Phone", "Account Phone", "phone", 40),
        SField("BillingCity", "Billing City", "string", 40),
        SField("BillingCountry", "Billing Country", "string", 80),
        SField("NumberOfEmployees", "Employees", "int"),
        SField("AnnualRevenue", "Annual Revenue", "currency"),
        SField("Description", "Account Description", "textarea", 32000),
        SField(
            "OwnerId",
            "Owner ID",
            "reference",
            18,
            nillable=False,
            reference_to="User",
            relationship_name="Owner",
            defaulted_on_create=True,
        ),
        SField(
            "Partner_Status__c",
            "Partner Status",
            "picklist",
            255,
            picklist=PARTNER_STATUSES,
            restricted=True,
            custom=True,
        ),
        SField("Products__c", "Products", "multipicklist", 4099, picklist=PRODUCTS, custom=True),
        SField(
            "Hub_ID__c", "Hub ID", "string", 40, external_id=True, unique=True, id_lookup=True, custom=True
        ),
        SField("Customer_Since__c", "Customer Since", "date", custom=True),
        *_system_fields(),
    ),
)

CONTACT = SObject(
    "Contact",
    "Contact",
    "Contacts",
    "003",
    (
        *_id_fields(),
        SField(
            "AccountId", "Account ID", "reference", 18, reference_to="Account", relationship_name="Account"
        ),
        SField("FirstName", "First Name", "string", 40),
        SField("LastName", "Last Name", "string", 80, nillable=False),
        SField("Name", "Full Name", "string", 121, createable=False, updateable=False, calculated=True),
        SField("Email", "Email", "email", 80, id_lookup=True),
        SField("Title", "Title", "string", 128),
        SField("Phone", "Business Phone", "phone", 40),
        SField("MailingCountry", "Mailing Country", "string", 80),
        SField("HasOptedOutOfEmail", "Email Opt Out", "boolean", nillable=False, defaulted_on_create=True),
        SField(
            "OwnerId",
            "Owner ID",
            "reference",
            18,
            nillable=False,
            reference_to="User",
            relationship_name="Owner",
            defaulted_on_create=True,
        ),
        SField(
            "Hub_ID__c", "Hub ID", "string", 40, external_id=True, unique=True, id_lookup=True, custom=True
        ),
        *_system_fields(),
    ),
)

USER = SObject(
    "User",
    "User",
    "Users",
    "005",
    (
        SField(
            "Id",
            "User ID",
            "id",
            18,
            nillable=False,
            createable=False,
            updateable=False,
            id_lookup=True,
            defaulted_on_create=True,
        ),
        SField("Username", "Username", "string", 80, nillable=False, unique=True, id_lookup=True),
        SField("FirstName", "First Name", "string", 40),
        SField("LastName", "Last Name", "string", 80, nillable=False),
        SField("Name", "Full Name", "string", 121, createable=False, updateable=False, calculated=True),
        SField("Email", "Email", "email", 128, nillable=False),
        SField("Alias", "Alias", "string", 8, nillable=False),
        SField("Title", "Title", "string", 80),
        SField("IsActive", "Active", "boolean", nillable=False, defaulted_on_create=True),
        SField(
            "CreatedDate",
            "Created Date",
            "datetime",
            createable=False,
            updateable=False,
            nillable=False,
            defaulted_on_create=True,
        ),
        SField(
            "LastModifiedDate",
            "Last Modified Date",
            "datetime",
            createable=False,
            updateable=False,
            nillable=False,
            defaulted_on_create=True,
        ),
        SField(
            "SystemModstamp",
            "System Modstamp",
            "datetime",
            createable=False,
            updateable=False,
            nillable=False,
            defaulted_on_create=True,
        ),
    ),
    createable=False,
)

SOBJECTS: dict[str, SObject] = {o.name.lower(): o for o in (ACCOUNT, CONTACT, USER)}
BY_PREFIX: dict[str, SObject] = {o.key_prefix: o for o in (ACCOUNT, CONTACT, USER)}


def child_relationships(target: str) -> list[dict[str, Any]]:
    """describe's ``childRelationships`` of ``target`` (lookups pointing at it from other objects)."""
    out = []
    plural = {"Account": "Accounts", "Contact": "Contacts"}
    for obj in (ACCOUNT, CONTACT):
        for f in obj.fields:
            if f.reference_to == target and f.name in ("AccountId", "OwnerId"):
                out.append(
                    {
                        "cascadeDelete": f.name == "AccountId",
                        "childSObject": obj.name,
                        "deprecatedAndHidden": False,
                        "field": f.name,
                        "relationshipName": plural[obj.name]
                        if f.name == "AccountId" or target == "User"
                        else None,
                        "restrictedDelete": False,
                    }
                )
    return out
