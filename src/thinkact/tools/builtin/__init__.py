"""The built-in tools (python, files, facts, shell, search, browse); built by name with
``thinkact.tools.registry.build_tools``. The framework they share lives one level up."""
