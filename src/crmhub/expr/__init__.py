"""crmhub's expression language: one grammar for filters, mapping functions and calculated values.

>>> from crmhub.expr import parse, compile_python
>>> keep = compile_python(parse('AccountType__c = "customer" AND AccountStatus__c IN ("Active", "Disabled")'))
>>> keep({"AccountType__c": "Customer", "AccountStatus__c": "active"})
True

The SQL compiler lives in :mod:`crmhub.store.expr_sql` (this package imports no SQLAlchemy).
See ``docs/expressions.md`` for the language.
"""

from __future__ import annotations

from crmhub.expr import ast
from crmhub.expr.ast import Expr, unparse
from crmhub.expr.checker import check
from crmhub.expr.convert import compile_converter
from crmhub.expr.errors import (
    ExpressionEvaluationError,
    ExpressionLimitError,
    ExpressionSyntaxError,
    ExpressionTypeError,
    Problem,
    UnsupportedExpressionError,
)
from crmhub.expr.evaluate import compile_python
from crmhub.expr.functions import FUNCTIONS
from crmhub.expr.hubspot import HubSpotLimits, to_hubspot
from crmhub.expr.odata import to_odata
from crmhub.expr.optimize import fold
from crmhub.expr.parser import parse
from crmhub.expr.pushdown import PushDown
from crmhub.expr.soql import to_soql
from crmhub.expr.types import ValueType
from crmhub.expr.zoho import to_zoho_coql

__all__ = [
    "FUNCTIONS",
    "ExpressionEvaluationError",
    "ExpressionLimitError",
    "ExpressionSyntaxError",
    "ExpressionTypeError",
    "Expr",
    "HubSpotLimits",
    "Problem",
    "PushDown",
    "UnsupportedExpressionError",
    "ValueType",
    "ast",
    "check",
    "compile_converter",
    "compile_python",
    "fields",
    "fold",
    "parse",
    "to_hubspot",
    "to_odata",
    "to_soql",
    "to_zoho_coql",
    "unparse",
]


def fields(expr: Expr) -> set[str]:
    """Every field path the expression reads."""
    return {node.path for node in ast.walk(expr) if isinstance(node, ast.Field)}
