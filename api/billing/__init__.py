"""Billing: integer-µ¥ money, pricing rules, the append-only ledger with holds, redemption codes."""
