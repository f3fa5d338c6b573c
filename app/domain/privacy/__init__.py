"""Privacy: the audit log, retention, and a customer's GDPR export and erasure (API.md "Privacy")."""
