"""The untrusted-output envelope, importable beside the tools that use it; it lives in
``thinkact.untrusted`` (the chat format removes it too, and imports no tools)."""

from thinkact.untrusted import NOTICE, TAG, is_marked, mark_untrusted, neutralize, unmarked

__all__ = ["NOTICE", "TAG", "is_marked", "mark_untrusted", "neutralize", "unmarked"]
