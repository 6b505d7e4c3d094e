"""crmhub: an open-source customer data hub for revenue teams."""

__version__ = "0.1.0"
__all__ = ["__version__"]
