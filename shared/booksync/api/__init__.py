"""The practice API (/v1): Powertools HTTP resolver, pydantic validation, problem JSON."""
