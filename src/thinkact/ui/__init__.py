"""The web trace viewer and playground (``thinkact ui``, and ``/ui`` of ``thinkact serve``).

    app = create_ui_app(SQLiteTraceStore(path))  # an ASGI app, mounted at /ui
"""

from thinkact.ui.app import create_ui_app, ui_root

__all__ = ["create_ui_app", "ui_root"]
