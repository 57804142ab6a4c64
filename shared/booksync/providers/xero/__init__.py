"""Xero: Accounting API 2.0 contacts and Payroll UK employees (client, mapping, adapters)."""
