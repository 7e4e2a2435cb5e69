"""`gateway authority`: the issuing authority's admin commands.

State lives in one SQLite file (the DB argument). Every command that changes
something records ``--actor`` (default: your login name) and, for lifecycle
steps, a required ``--reason`` in the audit log. ``--now`` fixes the time for
reproducible runs; otherwise the real time is used. Errors are one line on
stderr and exit status 1.

The commands live in ``authority_lifecycle.py`` (holders and credentials),
``authority_signing.py`` (init, rotate-signer, publish) and
``authority_inspect.py`` (what changes nothing); what they share, in
``authority_options.py``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import click

from gateway.central.authority.context import AuthorityError
from gateway.central.authority.hr_import import HrImportError
from gateway.central.authority.keys import KeyFormatError
from gateway.cli import authority_inspect, authority_lifecycle, authority_serve, authority_signing


class _AuthorityGroup(click.Group):
    """Turns the errors an operator can cause into one clear line, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HrImportError as exc:
            count = len(exc.issues)
            raise click.ClickException(
                f"{count} problem{'s' if count > 1 else ''} in the HR export; nothing was "
                f"enrolled:\n  " + "\n  ".join(str(exc).splitlines())
            ) from exc
        except (AuthorityError, KeyFormatError) as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:
            raise click.ClickException(f"{exc.filename or 'file'}: {exc.strerror}") from exc
        except sqlite3.Error as exc:
            raise click.ClickException(f"database error: {exc}") from exc


@click.group(cls=_AuthorityGroup)
def authority() -> None:
    """The issuing authority: enroll, issue, revoke and publish credentials.

    One DB file is one authority (one IACA root). Changes reach the gates
    through the next published Status List Token (`publish`).
    """


# In the order of an authority's life; --help lists them alphabetically anyway.
for _command in (
    authority_signing.init,
    authority_lifecycle.enroll,
    authority_lifecycle.issue_mobile,
    authority_lifecycle.issue_card,
    authority_lifecycle.reissue,
    authority_lifecycle.lost,
    authority_lifecycle.suspend,
    authority_lifecycle.resume,
    authority_lifecycle.retire,
    authority_signing.publish,
    authority_inspect.status_token,
    authority_signing.rotate_signer,
    authority_inspect.export_anchors,
    authority_inspect.list_,
    authority_inspect.audit,
    authority_serve.serve,
    authority_serve.posture,
    authority_serve.publish_policy,
):
    authority.add_command(_command)
