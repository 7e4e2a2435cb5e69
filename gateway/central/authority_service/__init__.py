"""The issuing authority as a running service: lifecycle, policy and posture to the gates.

See docs/authority-service.md. The viewer calls :class:`LifecycleActions` and
:class:`PostureDesk` from a :class:`RunningAuthority` (``start_authority``).
"""
