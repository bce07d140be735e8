"""Accounts: sign-up, log in/out, passwords, profile with API token, account deletion."""
