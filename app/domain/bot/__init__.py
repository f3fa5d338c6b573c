"""The FAQ bot: rules (``rules``, ``rules_yaml``), the pure matching engine (``engine``) and the turn logic.

The rules and the engine are pure: no database, no web framework.  The engine compiles a ``RuleSet``
once and then decides, per customer message, to answer, to suggest ("Did you mean …?") or to hand off.
"""
